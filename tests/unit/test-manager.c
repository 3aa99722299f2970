/*
 * virtagent - tests of the job manager's state machines
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "va-errors.h"
#include "va-manager.h"

typedef struct Outcome {
    int calls;              /* completions seen */
    char *body;
    int error;              /* VA_ERROR code, -1 if none */
} Outcome;

static void finish(uint64_t id, const uint8_t *body, size_t len,
                   const GError *err, void *opaque)
{
    Outcome *o = opaque;

    o->calls++;
    g_free(o->body);
    o->body = body ? g_strndup((const char *)body, len) : NULL;
    o->error = err ? err->code : -1;
    if (err) {
        g_assert_true(err->domain == VA_ERROR);
    }
}

static VAManager *manager_new(unsigned window, unsigned queued)
{
    VAManagerLimits lim = {
        .window = window,
        .max_executing = 2,
        .max_queued_calls = queued,
        .max_server_jobs = 3,
        .reply_burst = 2,
    };

    return va_manager_new(&lim);
}

static uint64_t add_call(VAManager *m, int64_t deadline, Outcome *o)
{
    g_autoptr(GBytes) body = g_bytes_new_static("<call/>", 7);
    g_autoptr(GError) err = NULL;
    uint64_t id = va_manager_add_call(m, body, deadline, finish, o, &err);

    g_assert_no_error(err);
    g_assert_cmpuint(id, !=, 0);
    return id;
}

/* Take every frame the writer may send now and mark it written. */
static int send_all(VAManager *m, GPtrArray *tags)
{
    VAOutFrame f;
    int n = 0;

    while (va_manager_next_frame(m, &f)) {
        if (tags) {
            g_ptr_array_add(tags, g_strdup_printf("%c%s",
                            f.kind == VA_FRAME_CALL ? 'C' : 'R', f.tag));
        }
        va_manager_frame_sent(m, f.token);
        n++;
    }
    return n;
}

static void outcome_clear(Outcome *o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        g_free(o[i].body);
    }
}

static void test_window(void)
{
    VAManager *m = manager_new(2, 10);
    g_autoptr(GPtrArray) tags = g_ptr_array_new_with_free_func(g_free);
    Outcome o[5] = { 0 };
    VAManagerStats st;

    for (int i = 0; i < 5; i++) {
        add_call(m, -1, &o[i]);
    }
    g_assert_cmpint(send_all(m, tags), ==, 2);
    va_manager_get_stats(m, &st);
    g_assert_cmpuint(st.in_flight, ==, 2);
    g_assert_cmpuint(st.queued, ==, 3);

    /* One answer frees one slot: exactly one more call goes. */
    g_assert_true(va_manager_reply(m, (char *)tags->pdata[0] + 1,
                                   (const uint8_t *)"ok", 2));
    g_assert_cmpint(o[0].calls, ==, 1);
    g_assert_cmpstr(o[0].body, ==, "ok");
    g_assert_cmpint(send_all(m, tags), ==, 1);
    g_assert_cmpint(send_all(m, tags), ==, 0);
    va_manager_free(m);
    outcome_clear(o, 5);
}

static void test_queue_full(void)
{
    VAManager *m = manager_new(1, 2);
    g_autoptr(GBytes) body = g_bytes_new_static("x", 1);
    g_autoptr(GError) err = NULL;
    Outcome o[3] = { 0 };

    add_call(m, -1, &o[0]);
    add_call(m, -1, &o[1]);
    g_assert_cmpuint(va_manager_add_call(m, body, -1, finish, &o[2], &err),
                     ==, 0);
    g_assert_error(err, VA_ERROR, VA_ERROR_QUEUE_FULL);
    /* Sending one makes room in the queue again. */
    g_assert_cmpint(send_all(m, NULL), ==, 1);
    add_call(m, -1, &o[2]);
    va_manager_free(m);
    g_assert_cmpint(o[2].calls, ==, 0);
    outcome_clear(o, 3);
}

static void test_timeout(void)
{
    VAManager *m = manager_new(1, 10);
    Outcome o[3] = { 0 };
    VAManagerStats st;

    add_call(m, 500, &o[0]);
    add_call(m, 200, &o[1]);
    add_call(m, -1, &o[2]);
    g_assert_cmpint(va_manager_deadline(m), ==, 200);
    g_assert_cmpint(send_all(m, NULL), ==, 1);  /* o[0] in flight */
    va_manager_expire(m, 199);
    g_assert_cmpint(o[1].calls, ==, 0);
    va_manager_expire(m, 200);
    g_assert_cmpint(o[1].calls, ==, 1);
    g_assert_cmpint(o[1].error, ==, VA_ERROR_TIMEOUT);
    g_assert_cmpint(va_manager_deadline(m), ==, 500);
    va_manager_expire(m, 1000);
    g_assert_cmpint(o[0].calls, ==, 1);
    g_assert_cmpint(o[0].error, ==, VA_ERROR_TIMEOUT);
    g_assert_cmpint(va_manager_deadline(m), ==, -1);
    va_manager_get_stats(m, &st);
    g_assert_cmpuint(st.timed_out, ==, 2);
    /* The timed-out call freed its window slot. */
    g_assert_cmpuint(st.in_flight, ==, 0);
    g_assert_cmpint(send_all(m, NULL), ==, 1);
    va_manager_free(m);
    outcome_clear(o, 3);
}

/* Cancel in each state keeps the counters right. */
static void test_cancel(void)
{
    VAManager *m = manager_new(1, 10);
    g_autoptr(GError) cancel = g_error_new(VA_ERROR, VA_ERROR_CANCELLED,
                                           "cancelled");
    Outcome o[3] = { 0 };
    uint64_t sent, queued;
    VAManagerStats st;
    VAOutFrame f;

    sent = add_call(m, -1, &o[0]);
    queued = add_call(m, -1, &o[1]);
    add_call(m, -1, &o[2]);
    g_assert_true(va_manager_next_frame(m, &f));   /* sending, unsent */
    g_assert_true(va_manager_fail_call(m, sent, cancel));
    g_assert_true(va_manager_fail_call(m, queued, cancel));
    g_assert_false(va_manager_fail_call(m, queued, cancel));
    /* The writer finishing the cancelled frame is harmless. */
    va_manager_frame_sent(m, f.token);
    va_manager_get_stats(m, &st);
    g_assert_cmpuint(st.in_flight, ==, 0);
    g_assert_cmpuint(st.queued, ==, 1);
    g_assert_cmpuint(st.cancelled, ==, 2);
    g_assert_cmpint(o[0].calls, ==, 1);
    g_assert_cmpint(o[1].calls, ==, 1);
    g_assert_cmpint(o[1].error, ==, VA_ERROR_CANCELLED);
    /* The window is free for the third call. */
    g_assert_cmpint(send_all(m, NULL), ==, 1);
    va_manager_free(m);
    outcome_clear(o, 3);
}

static void test_stray_and_duplicate(void)
{
    VAManager *m = manager_new(4, 10);
    g_autoptr(GPtrArray) tags = g_ptr_array_new_with_free_func(g_free);
    Outcome o = { 0 };
    VAManagerStats st;
    const char *tag;

    add_call(m, -1, &o);
    send_all(m, tags);
    tag = (char *)tags->pdata[0] + 1;
    g_assert_false(va_manager_reply(m, "nobody.1", (const uint8_t *)"", 0));
    g_assert_true(va_manager_reply(m, tag, (const uint8_t *)"a", 1));
    g_assert_false(va_manager_reply(m, tag, (const uint8_t *)"b", 1));
    g_assert_cmpint(o.calls, ==, 1);
    g_assert_cmpstr(o.body, ==, "a");
    va_manager_get_stats(m, &st);
    g_assert_cmpuint(st.stray_replies, ==, 2);
    g_assert_cmpuint(st.replies, ==, 1);
    va_manager_free(m);
    outcome_clear(&o, 1);
}

/* An answer to a call still waiting for the window is not accepted. */
static void test_reply_before_send(void)
{
    VAManager *m = manager_new(1, 10);
    Outcome o[2] = { 0 };
    g_autofree char *tag = NULL;
    uint64_t id;

    add_call(m, -1, &o[0]);
    id = add_call(m, -1, &o[1]);
    tag = g_strdup_printf("%s.%" G_GUINT64_FORMAT, va_manager_session(m), id);
    g_assert_false(va_manager_reply(m, tag, (const uint8_t *)"", 0));
    g_assert_cmpint(o[1].calls, ==, 0);
    va_manager_free(m);
    outcome_clear(o, 2);
}

/* New sessions never reuse a tag, and old tags become strays. */
static void test_tags_unique(void)
{
    VAManager *m = manager_new(100, 100);
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash,
                                                       g_str_equal,
                                                       g_free, NULL);
    g_autoptr(GError) reset = g_error_new(VA_ERROR, VA_ERROR_DISCONNECTED,
                                          "reset");
    g_autoptr(GPtrArray) tags = g_ptr_array_new_with_free_func(g_free);
    Outcome o[30] = { 0 };
    g_autofree char *old_session = g_strdup(va_manager_session(m));

    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 10; i++) {
            add_call(m, -1, &o[s * 10 + i]);
        }
        send_all(m, tags);
        va_manager_fail_calls(m, reset);
        va_manager_new_session(m);
    }
    g_assert_cmpstr(old_session, !=, va_manager_session(m));
    for (guint i = 0; i < tags->len; i++) {
        g_assert_true(g_hash_table_add(seen, g_strdup(tags->pdata[i])));
        g_assert_cmpuint(strlen(tags->pdata[i]) - 1, <=, VA_TAG_MAX_LEN);
    }
    g_assert_cmpuint(g_hash_table_size(seen), ==, 30);
    for (int i = 0; i < 30; i++) {
        g_assert_cmpint(o[i].calls, ==, 1);
        g_assert_cmpint(o[i].error, ==, VA_ERROR_DISCONNECTED);
    }
    va_manager_free(m);
    outcome_clear(o, 30);
}

static void add_server_jobs(VAManager *m, int n)
{
    for (int i = 0; i < n; i++) {
        g_autofree char *tag = g_strdup_printf("peer.%d", i);

        g_assert_nonnull(va_manager_add_server_job(m, tag, "<call/>", 7));
    }
}

static void execute(VAManager *m, VAServerJob *job)
{
    job->response = g_bytes_new_static("<answer/>", 9);
    va_manager_job_executed(m, job);
}

static void test_execution_limit(void)
{
    VAManager *m = manager_new(1, 10);
    g_autoptr(GBytes) req = g_bytes_new_static("<call/>", 7);
    VAServerJob *a, *b;
    VAManagerStats st;

    add_server_jobs(m, 3);
    /* max_server_jobs is 3: the fourth is refused. */
    g_assert_null(va_manager_add_server_job(m, "peer.x", "<call/>", 7));
    g_assert_false(va_manager_add_answer(m, "peer.y", req));
    a = va_manager_next_execution(m);
    b = va_manager_next_execution(m);
    g_assert_nonnull(a);
    g_assert_nonnull(b);
    g_assert_null(va_manager_next_execution(m));     /* max_executing 2 */
    execute(m, a);
    g_assert_nonnull((a = va_manager_next_execution(m)));
    execute(m, a);
    execute(m, b);
    va_manager_get_stats(m, &st);
    g_assert_cmpuint(st.executing, ==, 0);
    g_assert_cmpuint(st.server_jobs, ==, 3);
    g_assert_cmpint(send_all(m, NULL), ==, 3);
    va_manager_get_stats(m, &st);
    g_assert_cmpuint(st.server_jobs, ==, 0);
    g_assert_cmpuint(st.calls_served, ==, 3);
    va_manager_free(m);
}

/*
 * Answers go first, but a waiting call goes out after at most
 * reply_burst of them, however many answers are ready.
 */
static void test_no_starvation(void)
{
    VAManager *m = manager_new(4, 10);
    g_autoptr(GPtrArray) tags = g_ptr_array_new_with_free_func(g_free);
    VAServerJob *job;
    Outcome o[2] = { 0 };

    add_server_jobs(m, 3);
    while ((job = va_manager_next_execution(m))) {
        execute(m, job);
    }
    add_call(m, -1, &o[0]);
    add_call(m, -1, &o[1]);
    send_all(m, tags);
    g_assert_cmpuint(tags->len, ==, 5);
    /* reply_burst is 2. */
    g_assert_cmpint(((char *)tags->pdata[0])[0], ==, 'R');
    g_assert_cmpint(((char *)tags->pdata[1])[0], ==, 'R');
    g_assert_cmpint(((char *)tags->pdata[2])[0], ==, 'C');
    g_assert_cmpint(((char *)tags->pdata[3])[0], ==, 'R');
    g_assert_cmpint(((char *)tags->pdata[4])[0], ==, 'C');
    va_manager_free(m);
    outcome_clear(o, 2);
}

/* With no call waiting, answers do not count toward the burst. */
static void test_replies_first(void)
{
    VAManager *m = manager_new(4, 10);
    g_autoptr(GPtrArray) tags = g_ptr_array_new_with_free_func(g_free);
    VAServerJob *job;
    Outcome o = { 0 };

    add_server_jobs(m, 1);
    job = va_manager_next_execution(m);
    execute(m, job);
    add_call(m, -1, &o);
    send_all(m, tags);
    g_assert_cmpuint(tags->len, ==, 2);
    g_assert_cmpint(((char *)tags->pdata[0])[0], ==, 'R');
    g_assert_cmpint(((char *)tags->pdata[1])[0], ==, 'C');
    va_manager_free(m);
    outcome_clear(&o, 1);
}

/* A reset while a job runs: it comes back later and is freed unanswered. */
static void test_orphan(void)
{
    VAManager *m = manager_new(4, 10);
    VAServerJob *running;
    VAManagerStats st;

    add_server_jobs(m, 3);
    running = va_manager_next_execution(m);
    va_manager_drop_server_jobs(m);
    va_manager_get_stats(m, &st);
    g_assert_cmpuint(st.server_jobs, ==, 0);
    g_assert_cmpuint(st.executing, ==, 0);
    execute(m, running);
    g_assert_cmpint(send_all(m, NULL), ==, 0);
    add_server_jobs(m, 3);
    va_manager_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/manager/window", test_window);
    g_test_add_func("/manager/queue-full", test_queue_full);
    g_test_add_func("/manager/timeout", test_timeout);
    g_test_add_func("/manager/cancel", test_cancel);
    g_test_add_func("/manager/stray-and-duplicate", test_stray_and_duplicate);
    g_test_add_func("/manager/reply-before-send", test_reply_before_send);
    g_test_add_func("/manager/tags-unique", test_tags_unique);
    g_test_add_func("/manager/execution-limit", test_execution_limit);
    g_test_add_func("/manager/no-starvation", test_no_starvation);
    g_test_add_func("/manager/replies-first", test_replies_first);
    g_test_add_func("/manager/orphan", test_orphan);
    return g_test_run();
}
