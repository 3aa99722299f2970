/*
 * virtagent - tests of two channels talking in memory
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "va-errors.h"
#include "va-frame.h"
#include "va-manager.h"
#include "va-test-util.h"

static VACallId call(VAChannel *ch, const char *method, VATestResult *r)
{
    g_autoptr(GError) err = NULL;
    VACallId id = va_channel_call(ch, method, NULL, -1, va_test_result_done,
                                  r, &err);

    g_assert_no_error(err);
    g_assert_cmpuint(id, !=, 0);
    return id;
}

static void check_pong(VATestResult *r)
{
    g_autofree char *s = va_test_result_string(r);

    g_assert_cmpint(r->completions, ==, 1);
    g_assert_no_error(r->err);
    g_assert_cmpstr(s, ==, "pong");
}

static void test_ping_both_ways(void)
{
    static const size_t chunks[] = { 0, 1, 5 };

    for (size_t i = 0; i < G_N_ELEMENTS(chunks); i++) {
        VATestLink l;
        VATestResult ra = { 0 }, rb = { 0 };
        VAChannelStats st;

        va_test_link_init(&l, NULL, NULL);
        l.chunk = chunks[i];
        call(l.a, "va.ping", &ra);
        call(l.b, "va.ping", &rb);
        va_test_link_run(&l);
        check_pong(&ra);
        check_pong(&rb);
        va_channel_get_stats(l.a, &st);
        g_assert_cmpuint(st.calls_sent, ==, 1);
        g_assert_cmpuint(st.replies, ==, 1);
        g_assert_cmpuint(st.calls_served, ==, 1);
        g_assert_cmpuint(st.in_flight, ==, 0);
        g_assert_cmpuint(st.bad_frames, ==, 0);
        va_test_result_clear(&ra);
        va_test_result_clear(&rb);
        va_test_link_destroy(&l);
    }
}

/* The seed's deadlock: both call at once with a window of one. */
static void test_crossed_calls_window_one(void)
{
    VAChannelConfig cfg;
    VATestLink l;
    VATestResult ra[3] = { 0 }, rb[3] = { 0 };

    va_channel_config_init(&cfg);
    cfg.window = 1;
    cfg.max_executing = 1;
    va_test_link_init(&l, &cfg, &cfg);
    l.chunk = 1;
    for (int i = 0; i < 3; i++) {
        va_test_call_echo(l.a, i, &ra[i]);
        va_test_call_echo(l.b, 100 + i, &rb[i]);
    }
    va_test_link_run(&l);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(ra[i].completions, ==, 1);
        g_assert_cmpint(rb[i].completions, ==, 1);
        g_assert_cmpint(va_test_result_int(&ra[i]), ==, i);
        g_assert_cmpint(va_test_result_int(&rb[i]), ==, 100 + i);
        va_test_result_clear(&ra[i]);
        va_test_result_clear(&rb[i]);
    }
    va_test_link_destroy(&l);
}

/* 100 calls each way, several in flight: every answer to its caller. */
static void test_many_in_flight(void)
{
    enum { N = 100 };
    VATestLink l;
    VATestResult *ra = g_new0(VATestResult, N);
    VATestResult *rb = g_new0(VATestResult, N);
    VAChannelConfig cfg;

    va_channel_config_init(&cfg);
    cfg.max_queued_calls = N;
    va_test_link_init(&l, &cfg, &cfg);
    l.chunk = 333;
    for (int i = 0; i < N; i++) {
        va_test_call_echo(l.a, i, &ra[i]);
        va_test_call_echo(l.b, -i, &rb[i]);
    }
    va_test_link_run(&l);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(ra[i].completions, ==, 1);
        g_assert_cmpint(va_test_result_int(&ra[i]), ==, i);
        g_assert_cmpint(va_test_result_int(&rb[i]), ==, -i);
        va_test_result_clear(&ra[i]);
        va_test_result_clear(&rb[i]);
    }
    g_free(ra);
    g_free(rb);
    va_test_link_destroy(&l);
}

static void test_timeout_and_late_reply(void)
{
    VATestLink l;
    VATestResult r = { 0 };
    VAChannelStats st;

    va_test_link_init(&l, NULL, NULL);
    g_assert_cmpuint(va_channel_call(l.a, "va.ping", NULL, 50,
                                     va_test_result_done, &r, NULL), !=, 0);
    g_assert_cmpint(va_channel_deadline(l.a), ==, l.now + 50);
    /* The call is written but the peer never reads it in time. */
    {
        size_t len;
        const uint8_t *buf = va_channel_output(l.a, &len);
        g_autofree uint8_t *copy = g_memdup2(buf, len);

        va_channel_output_done(l.a, len);
        va_test_link_advance(&l, 49);
        g_assert_cmpint(r.completions, ==, 0);
        va_test_link_advance(&l, 1);
        g_assert_cmpint(r.completions, ==, 1);
        g_assert_error(r.err, VA_ERROR, VA_ERROR_TIMEOUT);
        /* Now it arrives and is answered: the answer is a stray. */
        va_channel_input(l.b, copy, len);
    }
    va_test_link_run(&l);
    g_assert_cmpint(r.completions, ==, 1);
    va_channel_get_stats(l.a, &st);
    g_assert_cmpuint(st.timed_out, ==, 1);
    g_assert_cmpuint(st.stray_replies, ==, 1);
    g_assert_cmpuint(st.in_flight, ==, 0);
    va_test_result_clear(&r);
    va_test_link_destroy(&l);
}

static void test_cancel(void)
{
    VATestLink l;
    VATestResult r[2] = { 0 };
    VACallId id;

    va_test_link_init(&l, NULL, NULL);
    id = call(l.a, "va.ping", &r[0]);
    g_assert_true(va_channel_cancel(l.a, id));
    g_assert_false(va_channel_cancel(l.a, id));
    g_assert_cmpint(r[0].completions, ==, 1);
    g_assert_error(r[0].err, VA_ERROR, VA_ERROR_CANCELLED);
    call(l.a, "va.ping", &r[1]);
    va_test_link_run(&l);
    g_assert_cmpint(r[0].completions, ==, 1);
    check_pong(&r[1]);
    va_test_result_clear(&r[0]);
    va_test_result_clear(&r[1]);
    va_test_link_destroy(&l);
}

/* Reset mid-call: the disconnect error once, then calls work again. */
static void test_reset_mid_call(void)
{
    VATestLink l;
    VATestResult r[3] = { 0 };
    g_autofree char *old = NULL;

    va_test_link_init(&l, NULL, NULL);
    call(l.a, "va.ping", &r[0]);
    call(l.a, "va.ping", &r[1]);
    old = g_strdup(va_channel_session(l.a));
    va_channel_reset(l.a, "peer closed");
    va_channel_reset(l.b, "peer closed");
    for (int i = 0; i < 2; i++) {
        g_assert_cmpint(r[i].completions, ==, 1);
        g_assert_error(r[i].err, VA_ERROR, VA_ERROR_DISCONNECTED);
        g_assert_nonnull(strstr(r[i].err->message, "agent disconnected"));
    }
    g_assert_cmpstr(old, !=, va_channel_session(l.a));
    call(l.a, "va.ping", &r[2]);
    va_test_link_run(&l);
    check_pong(&r[2]);
    g_assert_cmpint(r[0].completions, ==, 1);
    for (int i = 0; i < 3; i++) {
        va_test_result_clear(&r[i]);
    }
    va_test_link_destroy(&l);
}

/* A callback that starts a call from inside a reset lands in the new session. */
static void recall_done(VAChannel *ch, VACallId id, xmlrpc_value *result,
                        const GError *err, void *opaque)
{
    VATestResult *r = opaque;

    va_test_result_done(ch, id, result, err, opaque);
    if (err) {
        call(ch, "va.ping", r + 1);
    }
}

static void test_reset_callback_reenters(void)
{
    VATestLink l;
    VATestResult r[2] = { 0 };

    va_test_link_init(&l, NULL, NULL);
    g_assert_cmpuint(va_channel_call(l.a, "va.ping", NULL, -1, recall_done,
                                     r, NULL), !=, 0);
    va_test_link_run(&l);   /* delivered and answered */
    va_test_result_clear(&r[0]);
    g_assert_cmpuint(va_channel_call(l.a, "va.ping", NULL, -1, recall_done,
                                     r, NULL), !=, 0);
    va_channel_reset(l.a, "test");
    va_channel_reset(l.b, "test");
    g_assert_cmpint(r[0].completions, ==, 1);
    va_test_link_run(&l);
    check_pong(&r[1]);
    va_test_result_clear(&r[0]);
    va_test_result_clear(&r[1]);
    va_test_link_destroy(&l);
}

static void test_peer_restart(void)
{
    VATestLink l;
    VATestResult r[2] = { 0 };

    va_test_link_init(&l, NULL, NULL);
    g_assert_false(va_channel_peer_session(l.a, "0000000000000001"));
    g_assert_false(va_channel_peer_session(l.a, "0000000000000001"));
    call(l.a, "va.ping", &r[0]);
    g_assert_true(va_channel_peer_session(l.a, "0000000000000002"));
    g_assert_cmpint(r[0].completions, ==, 1);
    g_assert_error(r[0].err, VA_ERROR, VA_ERROR_DISCONNECTED);
    call(l.a, "va.ping", &r[1]);
    va_test_link_run(&l);
    check_pong(&r[1]);
    g_assert_cmpint(r[0].completions, ==, 1);
    va_test_result_clear(&r[0]);
    va_test_result_clear(&r[1]);
    va_test_link_destroy(&l);
}

/* Write raw bytes into a channel as if the peer sent them. */
static void inject(VAChannel *ch, const char *bytes, size_t len)
{
    va_channel_input(ch, (const uint8_t *)bytes, len);
}

static void test_garbage_between_calls(void)
{
    static const char noise[] = "\x01\x02garbage\r\n\r\n\xff\xffPOST x";
    VATestLink l;
    VATestResult r[2] = { 0 };
    VAChannelStats st;

    va_test_link_init(&l, NULL, NULL);
    call(l.a, "va.ping", &r[0]);
    inject(l.b, noise, sizeof(noise) - 1);
    va_test_link_run(&l);
    inject(l.b, noise, sizeof(noise) - 1);
    call(l.a, "va.ping", &r[1]);
    va_test_link_run(&l);
    check_pong(&r[0]);
    check_pong(&r[1]);
    va_channel_get_stats(l.b, &st);
    g_assert_cmpuint(st.garbage_bytes, >, 0);
    g_assert_cmpuint(st.bad_frames, >=, 2);
    va_test_result_clear(&r[0]);
    va_test_result_clear(&r[1]);
    va_test_link_destroy(&l);
}

/* A truncated call with a readable tag is answered with a fault. */
static void test_truncated_call_gets_fault(void)
{
    static const char cut[] = "\xffPOST /RPC2 HTTP/1.1\r\n"
                              "Content-Length: 500\r\n"
                              "X-Virtagent-Client-Tag: peer.7\r\n\r\n"
                              "<methodCall>";
    VATestLink l;
    VAChannelStats st;
    g_autoptr(GByteArray) next = g_byte_array_new();
    size_t len;
    const uint8_t *out;

    va_test_link_init(&l, NULL, NULL);
    inject(l.b, cut, sizeof(cut) - 1);
    va_frame_encode(next, VA_FRAME_CALL, "peer.8", "", 0);
    va_channel_input(l.b, next->data, next->len);
    out = va_channel_output(l.b, &len);
    g_assert_nonnull(g_strstr_len((const char *)out, len,
                                  "X-Virtagent-Client-Tag: peer.7"));
    g_assert_nonnull(g_strstr_len((const char *)out, len,
                                  "<i4>1001</i4>"));
    /* And the empty call after it got its own (parse) fault. */
    g_assert_nonnull(g_strstr_len((const char *)out, len,
                                  "X-Virtagent-Client-Tag: peer.8"));
    va_channel_get_stats(l.b, &st);
    g_assert_cmpuint(st.bad_frames, ==, 1);
    va_test_link_destroy(&l);
}

/* A call over the peer's size limit: the caller gets the fault. */
static void test_oversized_call(void)
{
    VAChannelConfig small;
    VATestLink l;
    VATestResult r[2] = { 0 };
    g_autofree char *big = g_strnfill(2000, 'x');
    xmlrpc_env env;
    xmlrpc_value *params;

    va_channel_config_init(&small);
    small.max_body = 1024;
    va_test_link_init(&l, NULL, &small);
    xmlrpc_env_init(&env);
    params = xmlrpc_build_value(&env, "(s)", big);
    g_assert_cmpuint(va_channel_call(l.a, "test.echo", params, -1,
                                     va_test_result_done, &r[0], NULL),
                     !=, 0);
    call(l.a, "va.ping", &r[1]);
    va_test_link_run(&l);
    g_assert_cmpint(r[0].completions, ==, 1);
    g_assert_error(r[0].err, VA_FAULT, VA_FAULT_TOO_LARGE);
    check_pong(&r[1]);

    /* Locally, a call over our own limit is refused at once. */
    {
        g_autoptr(GError) err = NULL;

        g_assert_cmpuint(va_channel_call(l.b, "test.echo", params, -1,
                                         va_test_result_done, &r[0], &err),
                         ==, 0);
        g_assert_error(err, VA_ERROR, VA_ERROR_TOO_BIG);
    }
    xmlrpc_DECREF(params);
    xmlrpc_env_clean(&env);
    va_test_result_clear(&r[0]);
    va_test_result_clear(&r[1]);
    va_test_link_destroy(&l);
}

/* More peer calls than max_server_jobs: the excess gets "busy". */
static void test_busy(void)
{
    VAChannelConfig cfg_b;
    VAChannelConfig cfg_a;
    VATestLink l;
    VATestResult r[6] = { 0 };
    int busy = 0, ok = 0;

    va_channel_config_init(&cfg_a);
    va_channel_config_init(&cfg_b);
    cfg_b.max_server_jobs = 2;
    va_test_link_init(&l, &cfg_a, &cfg_b);
    for (int i = 0; i < 6; i++) {
        call(l.a, "va.ping", &r[i]);
    }
    /* Deliver a's calls before b may answer anything. */
    {
        size_t len;
        const uint8_t *buf = va_channel_output(l.a, &len);
        g_autofree uint8_t *copy = g_memdup2(buf, len);

        va_channel_output_done(l.a, len);
        va_channel_input(l.b, copy, len);
    }
    va_test_link_run(&l);
    for (int i = 0; i < 6; i++) {
        g_assert_cmpint(r[i].completions, ==, 1);
        if (g_error_matches(r[i].err, VA_FAULT, VA_FAULT_BUSY)) {
            busy++;
        } else {
            check_pong(&r[i]);
            ok++;
        }
        va_test_result_clear(&r[i]);
    }
    /*
     * All six arrive in one input: b accepts two before it runs any (it
     * executes after parsing the chunk) and answers the rest "busy".
     */
    g_assert_cmpint(ok, ==, 2);
    g_assert_cmpint(busy, ==, 4);
    va_test_link_destroy(&l);
}

static void test_rate_limited(void)
{
    VAChannelConfig cfg_b;
    VATestLink l;
    VATestResult r[5] = { 0 };
    VAChannelStats st;

    va_channel_config_init(&cfg_b);
    cfg_b.peer_call_rate = 1;
    cfg_b.peer_call_burst = 3;
    va_test_link_init(&l, NULL, &cfg_b);
    for (int i = 0; i < 4; i++) {
        call(l.a, "va.ping", &r[i]);
    }
    va_test_link_run(&l);
    for (int i = 0; i < 3; i++) {
        check_pong(&r[i]);
    }
    g_assert_error(r[3].err, VA_FAULT, VA_FAULT_RATE_LIMITED);
    va_test_link_advance(&l, 1000);
    call(l.a, "va.ping", &r[4]);
    va_test_link_run(&l);
    check_pong(&r[4]);
    va_channel_get_stats(l.b, &st);
    g_assert_cmpuint(st.peer_rejected, ==, 1);
    for (int i = 0; i < 5; i++) {
        va_test_result_clear(&r[i]);
    }
    va_test_link_destroy(&l);
}

static int64_t clock_zero(void *opaque)
{
    return 0;
}

/* An echo of @size bytes from @from to @to, its answer in @r. */
static VACallId call_echo_big(VAChannel *from, size_t size, VATestResult *r)
{
    g_autofree char *big = g_strnfill(size, 'x');
    xmlrpc_env env;
    xmlrpc_value *params;
    VACallId id;

    xmlrpc_env_init(&env);
    params = xmlrpc_build_value(&env, "(s)", big);
    g_assert_false(env.fault_occurred);
    id = va_channel_call(from, "test.echo", params, -1, va_test_result_done,
                         r, NULL);
    g_assert_cmpuint(id, !=, 0);
    xmlrpc_DECREF(params);
    xmlrpc_env_clean(&env);
    return id;
}

/*
 * The peer's calls have a limit of their own, below the one for answers:
 * a host keeps the guest's calls small, yet reads large answers.
 */
static void test_peer_call_limit(void)
{
    VAChannelConfig cfg_b;
    VATestLink l;
    VATestResult r[3] = { 0 };
    VAChannelStats st;

    va_channel_config_init(&cfg_b);
    cfg_b.max_body = 64 * 1024;
    cfg_b.max_peer_call = 1024;
    va_test_link_init(&l, NULL, &cfg_b);

    call_echo_big(l.a, 2000, &r[0]);        /* a's call to b: too big */
    call_echo_big(l.b, 20000, &r[1]);       /* b's call, a big answer */
    call(l.a, "va.ping", &r[2]);
    va_test_link_run(&l);
    g_assert_cmpint(r[0].completions, ==, 1);
    g_assert_error(r[0].err, VA_FAULT, VA_FAULT_TOO_LARGE);
    g_assert_cmpint(r[1].completions, ==, 1);
    g_assert_no_error(r[1].err);
    check_pong(&r[2]);
    va_channel_get_stats(l.b, &st);
    g_assert_cmpuint(st.bad_frames, ==, 1);
    for (int i = 0; i < 3; i++) {
        va_test_result_clear(&r[i]);
    }
    va_test_link_destroy(&l);
}

/* Bytes of peer calls are budgeted as well as their number. */
static void test_byte_budget(void)
{
    VAChannelConfig cfg_b;
    VATestLink l;
    VATestResult r[4] = { 0 };
    VAChannelStats st;
    g_autoptr(GError) err = NULL;

    va_channel_config_init(&cfg_b);
    cfg_b.max_peer_call = 4096;
    cfg_b.peer_byte_rate = 1000;
    cfg_b.peer_byte_burst = 100;        /* below the call limit: refused */
    g_assert_null(va_channel_new(&cfg_b, &(VAChannelOps) {
                                     .now_ms = clock_zero,
                                 }, NULL, &err));
    g_assert_error(err, VA_ERROR, VA_ERROR_INVALID);
    cfg_b.peer_byte_burst = 4096;
    va_test_link_init(&l, NULL, &cfg_b);

    /* Each call is over 2000 bytes: the burst takes one, not two. */
    call_echo_big(l.a, 2000, &r[0]);
    call_echo_big(l.a, 2000, &r[1]);
    call(l.a, "va.ping", &r[2]);            /* small: still fits */
    va_test_link_run(&l);
    g_assert_no_error(r[0].err);
    g_assert_error(r[1].err, VA_FAULT, VA_FAULT_RATE_LIMITED);
    check_pong(&r[2]);
    /* Refilled at 1000 bytes a second. */
    va_test_link_advance(&l, 3000);
    call_echo_big(l.a, 2000, &r[3]);
    va_test_link_run(&l);
    g_assert_no_error(r[3].err);
    va_channel_get_stats(l.b, &st);
    g_assert_cmpuint(st.peer_rejected, ==, 1);
    for (int i = 0; i < 4; i++) {
        va_test_result_clear(&r[i]);
    }
    va_test_link_destroy(&l);
}

static void keep_job(VAChannel *ch, VAServerJob *job, void *opaque)
{
    *(VAServerJob **)opaque = job;
}

/*
 * A peer that sends a call and never reads the answer must not pin the
 * call's body: it is freed once the call has executed.
 */
static void test_request_freed_when_executed(void)
{
    VAServerJob *job = NULL;
    static const VAChannelOps ops = {
        .now_ms = clock_zero,
        .execute = keep_job,
    };
    VAChannelConfig cfg;
    g_autoptr(GByteArray) in = g_byte_array_new();
    static const char body[] = "<?xml version=\"1.0\"?><methodCall>"
                               "<methodName>va.ping</methodName>"
                               "<params/></methodCall>";
    VAChannel *ch;
    size_t len;

    va_channel_config_init(&cfg);
    ch = va_channel_new(&cfg, &ops, &job, NULL);
    va_test_add_method(ch, "va.ping", va_test_ping, NULL, "s:");
    va_frame_encode(in, VA_FRAME_CALL, "peer.1", body, strlen(body));
    va_channel_input(ch, in->data, in->len);
    g_assert_nonnull(job);
    g_assert_nonnull(job->request);
    va_server_job_execute(job);
    va_channel_job_executed(ch, job);
    /* The answer waits for a reader; the request is gone already. */
    g_assert_null(job->request);
    va_channel_output(ch, &len);
    g_assert_cmpuint(len, >, 0);
    va_channel_free(ch);
}

/* What the input boundary refuses is answered, and counted. */
static void test_refused_documents_counted(void)
{
    static const char evil[] = "<?xml version=\"1.0\"?>"
        "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><methodCall>"
        "<methodName>va.ping</methodName></methodCall>";
    VATestLink l;
    VATestResult r = { 0 };
    VAChannelStats st;
    g_autoptr(GByteArray) in = g_byte_array_new();
    VACallId id;
    size_t len;
    const uint8_t *out;
    char tag[VA_TAG_MAX_LEN + 1];

    va_test_link_init(&l, NULL, NULL);
    va_frame_encode(in, VA_FRAME_CALL, "peer.1", evil, strlen(evil));
    va_channel_input(l.b, in->data, in->len);
    out = va_channel_output(l.b, &len);
    g_assert_nonnull(g_strstr_len((const char *)out, len, "<i4>1003</i4>"));
    va_channel_output_done(l.b, len);

    /* The same document as the answer to one of b's calls. */
    id = call(l.b, "va.ping", &r);
    out = va_channel_output(l.b, &len);
    g_assert_cmpuint(len, >, 0);
    {
        const char *t = g_strstr_len((const char *)out, len,
                                     "X-Virtagent-Client-Tag: ");
        const char *e;
        size_t n;

        g_assert_nonnull(t);
        t += strlen("X-Virtagent-Client-Tag: ");
        e = strchr(t, '\r');
        g_assert_nonnull(e);
        /* Not g_strlcpy: the output is not NUL-terminated. */
        n = MIN((size_t)(e - t), sizeof(tag) - 1);
        memcpy(tag, t, n);
        tag[n] = '\0';
    }
    va_channel_output_done(l.b, len);
    g_byte_array_set_size(in, 0);
    va_frame_encode(in, VA_FRAME_REPLY, tag, evil, strlen(evil));
    va_channel_input(l.b, in->data, in->len);
    g_assert_cmpint(r.completions, ==, 1);
    g_assert_error(r.err, VA_ERROR, VA_ERROR_PROTOCOL);
    g_assert_cmpuint(id, !=, 0);

    va_channel_get_stats(l.b, &st);
    g_assert_cmpuint(st.refused_documents, ==, 2);
    va_test_result_clear(&r);
    va_test_link_destroy(&l);
}

static void test_policy(void)
{
    VAMethodPolicy *policy = va_method_policy_new(NULL, "test.echo");
    VAChannelConfig cfg_b;
    VATestLink l;
    VATestResult r[3] = { 0 };
    xmlrpc_env env;
    xmlrpc_value *params;

    va_channel_config_init(&cfg_b);
    cfg_b.policy = policy;
    va_test_link_init(&l, NULL, &cfg_b);
    va_test_call_echo(l.a, 1, &r[0]);
    call(l.a, "va.ping", &r[1]);
    /* system.multicall must not be a way around the block list. */
    xmlrpc_env_init(&env);
    params = xmlrpc_build_value(&env, "(({s:s,s:(i)}))", "methodName",
                                "test.echo", "params", 5);
    g_assert_cmpuint(va_channel_call(l.a, "system.multicall", params, -1,
                                     va_test_result_done, &r[2], NULL),
                     !=, 0);
    va_test_link_run(&l);
    g_assert_error(r[0].err, VA_FAULT, VA_FAULT_DISABLED);
    check_pong(&r[1]);
    g_assert_cmpint(r[2].completions, ==, 1);
    g_assert_no_error(r[2].err);
    {
        xmlrpc_value *item = NULL;
        xmlrpc_value *fault_code = NULL;
        int code = 0;

        /* Each sub-call's answer is its own fault struct. */
        xmlrpc_array_read_item(&env, r[2].value, 0, &item);
        g_assert_false(env.fault_occurred);
        xmlrpc_struct_find_value(&env, item, "faultCode", &fault_code);
        g_assert_nonnull(fault_code);
        xmlrpc_read_int(&env, fault_code, &code);
        g_assert_cmpint(code, ==, VA_FAULT_DISABLED);
        xmlrpc_DECREF(fault_code);
        xmlrpc_DECREF(item);
    }
    xmlrpc_DECREF(params);
    xmlrpc_env_clean(&env);
    for (int i = 0; i < 3; i++) {
        va_test_result_clear(&r[i]);
    }
    va_test_link_destroy(&l);
    va_method_policy_free(policy);
}

/*
 * A flood of peer calls does not starve ours: our call goes out behind at
 * most what the writer already held (VA_WRITER_LOW_WATER bytes) and
 * reply_burst more answers, not behind every answer still to come.
 */
static void test_no_starvation(void)
{
    enum { N = 60, SIZE = 4000 };
    VAChannelConfig cfg;
    VATestLink l;
    VATestResult mine = { 0 };
    VATestResult *theirs = g_new0(VATestResult, N);
    g_autofree char *text = g_strnfill(SIZE, 'x');
    VAFrameParser parser;
    size_t len, off = 0;
    const uint8_t *buf;
    int index = 0, call_index = -1;
    xmlrpc_env env;
    xmlrpc_value *params;

    va_channel_config_init(&cfg);
    cfg.max_queued_calls = N;
    cfg.max_server_jobs = N;
    cfg.window = N;
    va_test_link_init(&l, &cfg, &cfg);
    xmlrpc_env_init(&env);
    params = xmlrpc_build_value(&env, "(s)", text);
    for (int i = 0; i < N; i++) {
        g_assert_cmpuint(va_channel_call(l.b, "test.echo", params, -1,
                                         va_test_result_done, &theirs[i],
                                         NULL), !=, 0);
    }
    xmlrpc_DECREF(params);
    xmlrpc_env_clean(&env);
    /* a reads every call before it can write a single answer. */
    while ((buf = va_channel_output(l.b, &len)) && len) {
        g_autofree uint8_t *copy = g_memdup2(buf, len);

        va_channel_output_done(l.b, len);
        va_channel_input(l.a, copy, len);
    }
    call(l.a, "va.ping", &mine);

    /* Drain a's output a frame at a time and find our call. */
    va_frame_parser_init(&parser, VA_DEFAULT_MAX_BODY);
    while ((buf = va_channel_output(l.a, &len)) && len) {
        g_autofree uint8_t *copy = g_memdup2(buf, len);

        va_channel_output_done(l.a, len);
        off = 0;
        while (off < len) {
            VAFrame f;
            VAFrameError e;
            size_t used;

            if (va_frame_parser_feed(&parser, copy + off, len - off, &used,
                                     &f, &e) == VA_PARSE_FRAME) {
                if (f.kind == VA_FRAME_CALL && call_index < 0) {
                    call_index = index;
                }
                index++;
            }
            off += used;
        }
    }
    va_frame_parser_destroy(&parser);
    g_assert_cmpint(index, ==, N + 1);
    g_assert_cmpint(call_index, >=, 0);
    g_assert_cmpint(call_index, <=,
                    VA_WRITER_LOW_WATER / SIZE + 1 + VA_DEFAULT_REPLY_BURST);
    g_assert_cmpint(call_index, <, N);
    /* b never got the answers: closing fails its calls, once each. */
    va_test_link_destroy(&l);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(theirs[i].completions, ==, 1);
        g_assert_error(theirs[i].err, VA_ERROR, VA_ERROR_DISCONNECTED);
        va_test_result_clear(&theirs[i]);
    }
    g_free(theirs);
    va_test_result_clear(&mine);
}

/*
 * Random bytes, mangled frames and valid calls mixed, from a seeded
 * generator: nothing crashes or leaks, and afterwards a ping still works.
 */
static void test_random_input(void)
{
    VATestLink l;
    VATestResult r = { 0 };
    g_autoptr(GByteArray) good = g_byte_array_new();
    static const char call_xml[] =
        "<?xml version=\"1.0\"?><methodCall><methodName>test.echo"
        "</methodName><params><param><value><i4>7</i4></value></param>"
        "</params></methodCall>";

    va_frame_encode(good, VA_FRAME_CALL, "fuzz.1", call_xml,
                    sizeof(call_xml) - 1);
    va_test_link_init(&l, NULL, NULL);
    for (int round = 0; round < 2000; round++) {
        g_autoptr(GByteArray) in = g_byte_array_new();
        int pieces = g_test_rand_int_range(1, 6);
        size_t out_len;

        for (int i = 0; i < pieces; i++) {
            int kind = g_test_rand_int_range(0, 3);

            if (kind == 0) {
                /* A valid call, maybe cut short. */
                g_byte_array_append(in, good->data,
                                    g_test_rand_int_range(1, good->len + 1));
            } else if (kind == 1) {
                /* A valid call with one byte changed. */
                size_t at = g_test_rand_int_range(0, good->len);
                size_t start = in->len;

                g_byte_array_append(in, good->data, good->len);
                in->data[start + at] = g_test_rand_int_range(0, 256);
            } else {
                int n = g_test_rand_int_range(1, 64);

                for (int j = 0; j < n; j++) {
                    guint8 b = g_test_rand_int_range(0, 256);

                    g_byte_array_append(in, &b, 1);
                }
            }
        }
        va_channel_input(l.b, in->data, in->len);
        va_channel_output(l.b, &out_len);
        va_channel_output_done(l.b, out_len);
    }
    va_channel_reset(l.b, "end of garbage");
    call(l.a, "va.ping", &r);
    va_test_link_run(&l);
    check_pong(&r);
    va_test_result_clear(&r);
    va_test_link_destroy(&l);
}

typedef struct AfterState {
    int runs;
    bool written;
} AfterState;

static void after_written(VAChannel *ch, bool written, void *opaque)
{
    AfterState *st = opaque;

    st->runs++;
    st->written = written;
}

static xmlrpc_value *method_after(xmlrpc_env *env, xmlrpc_value *params,
                                  void *server_info, void *call_info)
{
    va_channel_after_answers(call_info, after_written, server_info);
    return xmlrpc_string_new(env, "later");
}

/*
 * A method's after-answers callback runs once its own answer is written,
 * not before; on a reset it runs with written = false.
 */
static void test_after_answers(void)
{
    VATestLink l;
    AfterState st = { 0 };
    VATestResult r[2] = { 0 };

    va_test_link_init(&l, NULL, NULL);
    va_test_add_method(l.b, "test.after", method_after, &st, "s:");
    call(l.a, "test.after", &r[0]);
    l.chunk = 1;
    while (!r[0].completions) {
        size_t len;
        const uint8_t *buf = va_channel_output(l.a, &len);
        g_autofree uint8_t *copy = NULL;

        if (len) {
            copy = g_memdup2(buf, 1);
            va_channel_output_done(l.a, 1);
            va_channel_input(l.b, copy, 1);
            continue;
        }
        buf = va_channel_output(l.b, &len);
        g_assert_cmpuint(len, >, 0);
        /* Not run while a byte of the answer is still unwritten. */
        g_assert_cmpint(st.runs, ==, 0);
        copy = g_memdup2(buf, 1);
        va_channel_output_done(l.b, 1);
        va_channel_input(l.a, copy, 1);
    }
    g_assert_cmpint(st.runs, ==, 1);
    g_assert_true(st.written);

    /* Registered, then the channel is reset before the answer goes. */
    st.runs = 0;
    call(l.a, "test.after", &r[1]);
    {
        size_t len;
        const uint8_t *buf = va_channel_output(l.a, &len);
        g_autofree uint8_t *copy = g_memdup2(buf, len);

        va_channel_output_done(l.a, len);
        va_channel_input(l.b, copy, len);
    }
    g_assert_cmpint(st.runs, ==, 0);
    va_channel_reset(l.b, "gone");
    g_assert_cmpint(st.runs, ==, 1);
    g_assert_false(st.written);
    va_test_link_destroy(&l);
    g_assert_cmpint(st.runs, ==, 1);
    va_test_result_clear(&r[0]);
    va_test_result_clear(&r[1]);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/channel/ping-both-ways", test_ping_both_ways);
    g_test_add_func("/channel/crossed-calls-window-one",
                    test_crossed_calls_window_one);
    g_test_add_func("/channel/many-in-flight", test_many_in_flight);
    g_test_add_func("/channel/timeout-and-late-reply",
                    test_timeout_and_late_reply);
    g_test_add_func("/channel/cancel", test_cancel);
    g_test_add_func("/channel/reset-mid-call", test_reset_mid_call);
    g_test_add_func("/channel/reset-callback-reenters",
                    test_reset_callback_reenters);
    g_test_add_func("/channel/peer-restart", test_peer_restart);
    g_test_add_func("/channel/garbage-between-calls",
                    test_garbage_between_calls);
    g_test_add_func("/channel/truncated-call-gets-fault",
                    test_truncated_call_gets_fault);
    g_test_add_func("/channel/oversized-call", test_oversized_call);
    g_test_add_func("/channel/busy", test_busy);
    g_test_add_func("/channel/rate-limited", test_rate_limited);
    g_test_add_func("/channel/peer-call-limit", test_peer_call_limit);
    g_test_add_func("/channel/byte-budget", test_byte_budget);
    g_test_add_func("/channel/request-freed-when-executed",
                    test_request_freed_when_executed);
    g_test_add_func("/channel/refused-documents-counted",
                    test_refused_documents_counted);
    g_test_add_func("/channel/policy", test_policy);
    g_test_add_func("/channel/no-starvation", test_no_starvation);
    g_test_add_func("/channel/random-input", test_random_input);
    g_test_add_func("/channel/after-answers", test_after_answers);
    return g_test_run();
}
