/*
 * virtagent - two channels over a socketpair, through the GLib adapter
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "va-errors.h"
#include "va-glib.h"
#include "va-test-util.h"

typedef struct Pair {
    VAGlibChannel *a;
    VAGlibChannel *b;
    int closed_a;
    int closed_b;
} Pair;

static void on_closed(VAGlibChannel *gc, const char *reason, void *opaque)
{
    (*(int *)opaque)++;
}

static xmlrpc_value *slow_sleep(xmlrpc_env *env, xmlrpc_value *params,
                                void *server_info, void *call_info)
{
    g_usleep(300 * 1000);
    return xmlrpc_string_new(env, "slept");
}

static void connect_pair(Pair *p)
{
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    va_glib_channel_set_fd(p->a, sv[0], true);
    va_glib_channel_set_fd(p->b, sv[1], true);
}

static void pair_init(Pair *p, const VAChannelConfig *cfg)
{
    static const char *const slow[] = { "test.sleep", NULL };
    VAChannelConfig def;

    memset(p, 0, sizeof(*p));
    va_channel_config_init(&def);
    p->a = va_glib_channel_new(NULL, cfg ? cfg : &def, on_closed,
                               &p->closed_a, NULL);
    p->b = va_glib_channel_new(NULL, cfg ? cfg : &def, on_closed,
                               &p->closed_b, NULL);
    for (int i = 0; i < 2; i++) {
        VAGlibChannel *gc = i ? p->b : p->a;
        VAChannel *ch = va_glib_channel_get(gc);

        va_test_add_method(ch, "va.ping", va_test_ping, NULL, "s:");
        va_test_add_method(ch, "test.echo", va_test_echo, NULL, NULL);
        va_test_add_method(ch, "test.sleep", slow_sleep, NULL, "s:");
        va_glib_channel_set_slow_methods(gc, slow);
    }
    connect_pair(p);
}

static void pair_destroy(Pair *p)
{
    va_glib_channel_free(p->a);
    va_glib_channel_free(p->b);
}

static gboolean deadline_hit(gpointer opaque)
{
    *(bool *)opaque = true;
    return G_SOURCE_REMOVE;
}

/* Run the default context until *count reaches @want (or fail at 10 s). */
static void run_until(const int *count, int want)
{
    bool expired = false;
    guint guard = g_timeout_add(10000, deadline_hit, &expired);

    while (*count < want && !expired) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_false(expired);
    g_source_remove(guard);
}

static int completions(VATestResult *r, int n)
{
    int sum = 0;

    for (int i = 0; i < n; i++) {
        sum += r[i].completions;
    }
    return sum;
}

/* The counter the test waits on: all completions of both arrays. */
typedef struct Both {
    VATestResult *a;
    VATestResult *b;
    int n;
    int total;
} Both;

static gboolean count_both(gpointer opaque)
{
    Both *both = opaque;

    both->total = completions(both->a, both->n) +
                  completions(both->b, both->n);
    return G_SOURCE_CONTINUE;
}

static void test_many_calls_both_ways(void)
{
    enum { N = 100 };
    VAChannelConfig cfg;
    Pair p;
    Both both = { g_new0(VATestResult, N), g_new0(VATestResult, N), N, 0 };
    guint counter;

    va_channel_config_init(&cfg);
    cfg.max_queued_calls = N;
    pair_init(&p, &cfg);
    for (int i = 0; i < N; i++) {
        va_test_call_echo(va_glib_channel_get(p.a), i, &both.a[i]);
        va_test_call_echo(va_glib_channel_get(p.b), 1000 + i, &both.b[i]);
    }
    counter = g_idle_add(count_both, &both);
    run_until(&both.total, 2 * N);
    g_source_remove(counter);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(both.a[i].completions, ==, 1);
        g_assert_cmpint(va_test_result_int(&both.a[i]), ==, i);
        g_assert_cmpint(va_test_result_int(&both.b[i]), ==, 1000 + i);
        va_test_result_clear(&both.a[i]);
        va_test_result_clear(&both.b[i]);
    }
    g_free(both.a);
    g_free(both.b);
    pair_destroy(&p);
}

/* The peer goes away mid-call, then comes back on a new stream. */
static void test_peer_restart(void)
{
    Pair p;
    VATestResult r[2] = { 0 };
    VAChannelStats st;

    pair_init(&p, NULL);
    /* b runs the call in its pool, so it is pending when b goes away. */
    g_assert_cmpuint(va_channel_call(va_glib_channel_get(p.a), "test.sleep",
                                     NULL, -1, va_test_result_done, &r[0], NULL),
                     !=, 0);
    /* Let the call reach b, then drop b's end. */
    do {
        g_main_context_iteration(NULL, TRUE);
        va_channel_get_stats(va_glib_channel_get(p.b), &st);
    } while (st.executing == 0);
    va_glib_channel_set_fd(p.b, -1, false);
    run_until(&r[0].completions, 1);
    g_assert_error(r[0].err, VA_ERROR, VA_ERROR_DISCONNECTED);
    g_assert_cmpint(p.closed_a, ==, 1);

    connect_pair(&p);
    va_test_call_echo(va_glib_channel_get(p.a), 7, &r[1]);
    run_until(&r[1].completions, 1);
    g_assert_cmpint(va_test_result_int(&r[1]), ==, 7);
    g_assert_cmpint(r[0].completions, ==, 1);
    va_test_result_clear(&r[0]);
    va_test_result_clear(&r[1]);
    pair_destroy(&p);
}

/* A slow method runs in the pool: a ping behind it is answered first. */
static void test_slow_method_does_not_block(void)
{
    Pair p;
    VATestResult r[2] = { 0 };

    pair_init(&p, NULL);
    g_assert_cmpuint(va_channel_call(va_glib_channel_get(p.a), "test.sleep",
                                     NULL, -1, va_test_result_done, &r[0], NULL),
                     !=, 0);
    g_assert_cmpuint(va_channel_call(va_glib_channel_get(p.a), "va.ping",
                                     NULL, -1, va_test_result_done, &r[1], NULL),
                     !=, 0);
    run_until(&r[1].completions, 1);
    g_assert_cmpint(r[0].completions, ==, 0);
    run_until(&r[0].completions, 1);
    g_assert_no_error(r[0].err);
    va_test_result_clear(&r[0]);
    va_test_result_clear(&r[1]);
    pair_destroy(&p);
}

/* A peer that never answers: the adapter's timer fires the timeout. */
static void test_timeout_timer(void)
{
    VAChannelConfig cfg;
    VAGlibChannel *gc;
    VATestResult r = { 0 };
    int sv[2];
    gint64 start_ms;

    va_channel_config_init(&cfg);
    gc = va_glib_channel_new(NULL, &cfg, NULL, NULL, NULL);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    va_glib_channel_set_fd(gc, sv[0], true);
    /* The channel's clock: milliseconds, truncated. */
    start_ms = g_get_monotonic_time() / 1000;
    g_assert_cmpuint(va_channel_call(va_glib_channel_get(gc), "va.ping",
                                     NULL, 100, va_test_result_done, &r, NULL),
                     !=, 0);
    run_until(&r.completions, 1);
    g_assert_error(r.err, VA_ERROR, VA_ERROR_TIMEOUT);
    g_assert_cmpint(g_get_monotonic_time() / 1000 - start_ms, >=, 100);
    va_test_result_clear(&r);
    va_glib_channel_free(gc);
    close(sv[1]);
}

typedef struct Forward {
    GQueue jobs;
} Forward;

static void hold_job(VAGlibChannel *gc, VAServerJob *job, void *opaque)
{
    g_queue_push_tail(&((Forward *)opaque)->jobs, job);
}

/* An executor answers jobs later, with answers made elsewhere. */
static void test_executor(void)
{
    static const char answer[] =
        "<?xml version=\"1.0\"?><methodResponse><params><param><value>"
        "<string>forwarded</string></value></param></params>"
        "</methodResponse>";
    Pair p;
    Forward fwd = { G_QUEUE_INIT };
    VATestResult r = { 0 };
    VAServerJob *job;
    size_t len;
    const char *body;

    pair_init(&p, NULL);
    va_glib_channel_set_executor(p.b, hold_job, &fwd);
    g_assert_cmpuint(va_channel_call(va_glib_channel_get(p.a), "va.ping",
                                     NULL, -1, va_test_result_done, &r,
                                     NULL), !=, 0);
    while (!fwd.jobs.length) {
        g_main_context_iteration(NULL, TRUE);
    }
    job = g_queue_pop_head(&fwd.jobs);
    body = va_server_job_body(job, &len);
    g_assert_nonnull(g_strstr_len(body, len, "va.ping"));
    g_assert_cmpstr(va_server_job_method(job), ==, "va.ping");
    va_server_job_set_response(job, answer, sizeof(answer) - 1);
    va_channel_job_executed(va_glib_channel_get(p.b), job);
    run_until(&r.completions, 1);
    {
        g_autofree char *s = va_test_result_string(&r);

        g_assert_cmpstr(s, ==, "forwarded");
    }
    va_test_result_clear(&r);
    pair_destroy(&p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/socketpair/many-calls-both-ways",
                    test_many_calls_both_ways);
    g_test_add_func("/socketpair/peer-restart", test_peer_restart);
    g_test_add_func("/socketpair/slow-method-does-not-block",
                    test_slow_method_does_not_block);
    g_test_add_func("/socketpair/timeout-timer", test_timeout_timer);
    g_test_add_func("/socketpair/executor", test_executor);
    return g_test_run();
}
