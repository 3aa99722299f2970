/*
 * virtagent - fuzz target: untrusted bytes into a channel
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input is what a hostile peer writes. The first byte picks how it is
 * chunked; the rest goes through framing, codec and manager with a method
 * registered and calls of our own pending, so replies, calls and garbage
 * all reach real code. A call of t.put or t.get gets an upload or a
 * download stream, answered when the stream ends, so DATA and CREDIT
 * frames with the peer's tags reach the streams too, raw DATA bodies
 * accepted as a host accepts them. Build with "make
 * fuzz" (clang, libFuzzer).
 */
#include <stdint.h>
#include <stdlib.h>

#include <string.h>

#include "va-channel.h"
#include "va-stream.h"

static int64_t fuzz_now;

static int64_t now_ms(void *opaque)
{
    return fuzz_now;
}

static xmlrpc_value *echo(xmlrpc_env *env, xmlrpc_value *params,
                          void *server_info, void *call_info)
{
    xmlrpc_INCREF(params);
    return params;
}

static void done(VAChannel *ch, VACallId id, xmlrpc_value *result,
                 const GError *err, void *opaque)
{
    (*(int *)opaque)++;
}

/* Jobs whose stream is open, answered when it ends or at the end. */
static GPtrArray *held;

static void stream_data(VAStream *s, const uint8_t *buf, size_t len,
                        void *opaque)
{
    /* Consume every other frame at once, to move the credit both ways. */
    if (len & 1) {
        va_stream_consumed(s, len);
    }
}

static void stream_writable(VAStream *s, void *opaque)
{
    static const uint8_t bytes[4096] = { 0xfe, 0xff, 0x7e };
    size_t room = va_stream_room(s);

    if (!va_stream_send(s, bytes, MIN(room, sizeof(bytes)))) {
        abort();    /* room is what send takes */
    }
}

static void stream_end(VAStream *s, VAStreamEnd how, void *opaque)
{
    VAServerJob *job = opaque;

    if (g_ptr_array_remove_fast(held, job)) {
        va_server_job_set_fault(job, 1008, "ended");
        va_channel_job_executed(va_stream_channel(s), job);
    }
}

static const VAStreamOps stream_ops = {
    .data = stream_data,
    .writable = stream_writable,
    .end = stream_end,
};

static void execute(VAChannel *ch, VAServerJob *job, void *opaque)
{
    const char *m = va_server_job_method(job);
    bool put = !strcmp(m, "t.put");
    VAStream *s;

    if (put || !strcmp(m, "t.get")) {
        g_ptr_array_add(held, job);
        s = va_server_job_stream(job, put ? VA_STREAM_UPLOAD
                                          : VA_STREAM_DOWNLOAD,
                                 &stream_ops, job);
        if (!s) {
            g_ptr_array_remove_fast(held, job);
        } else if (!put) {
            stream_writable(s, NULL);
            return;
        } else {
            return;
        }
    }
    va_server_job_execute(job);
    va_channel_job_executed(ch, job);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const VAChannelOps ops = { .now_ms = now_ms, .execute = execute };
    struct xmlrpc_method_info3 info = {
        .methodName = "test.echo",
        .methodFunction = echo,
    };
    VAChannelConfig cfg;
    VAChannel *ch;
    xmlrpc_env env;
    int completions = 0;
    size_t chunk;

    if (size < 1) {
        return 0;
    }
    chunk = data[0] ? data[0] : size;
    data++;
    size--;
    va_channel_config_init(&cfg);
    cfg.max_body = 4096;
    cfg.accept_raw_data = true;     /* as a host, which the peer attacks */
    held = g_ptr_array_new();
    ch = va_channel_new(&cfg, &ops, NULL, NULL);
    xmlrpc_env_init(&env);
    va_channel_add_method(ch, &env, &info);
    xmlrpc_env_clean(&env);
    for (int i = 0; i < 3; i++) {
        va_channel_call(ch, "test.echo", NULL, 100, done, &completions, NULL);
    }
    while (size) {
        size_t n = size < chunk ? size : chunk;
        size_t out_len;

        va_channel_input(ch, data, n);
        va_channel_output(ch, &out_len);
        va_channel_output_done(ch, out_len);
        data += n;
        size -= n;
    }
    fuzz_now += 1000;
    va_channel_run_timers(ch);
    /* Answering a job ends its stream, whose callback forgets the job. */
    while (held->len) {
        VAServerJob *job = held->pdata[0];

        g_ptr_array_remove_index_fast(held, 0);
        va_server_job_set_fault(job, 1008, "done");
        va_channel_job_executed(ch, job);
    }
    va_channel_free(ch);
    g_ptr_array_unref(held);
    if (completions != 3) {
        abort();    /* every call completes exactly once */
    }
    return 0;
}
