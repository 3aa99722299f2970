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
 * all reach real code. Build with "make fuzz" (clang, libFuzzer).
 */
#include <stdint.h>
#include <stdlib.h>

#include "va-channel.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const VAChannelOps ops = { .now_ms = now_ms };
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
    ch = va_channel_new(&cfg, &ops, NULL, NULL);
    xmlrpc_env_init(&env);
    xmlrpc_registry_add_method3(&env, va_channel_registry(ch), &info);
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
    va_channel_free(ch);
    if (completions != 3) {
        abort();    /* every call completes exactly once */
    }
    return 0;
}
