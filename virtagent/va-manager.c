/*
 * virtagent - the job manager
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "va-errors.h"
#include "va-manager.h"

typedef enum VAClientState {
    VA_CLIENT_NEW,
    VA_CLIENT_SENDING,
    VA_CLIENT_SENT,
} VAClientState;

struct VAClientJob {
    uint64_t id;            /* also the hash key */
    char tag[VA_TAG_MAX_LEN + 1];
    GBytes *request;
    int64_t deadline;       /* -1: none */
    VAClientFinish *finish;
    void *opaque;
    VAClientState state;
    GList link;             /* in the send queue while new */
};

struct VAManager {
    VAManagerLimits lim;
    char session[VA_SESSION_LEN + 1];
    uint64_t next_id;
    GHashTable *calls;      /* id -> VAClientJob, every pending call */
    GQueue send_queue;      /* new calls, FIFO */
    unsigned in_flight;     /* sending + sent */
    GQueue exec_queue;      /* server jobs waiting for a slot */
    GQueue running;         /* server jobs handed out for execution */
    GQueue orphans;         /* handed out, then dropped by a reset */
    GQueue ready_queue;     /* server jobs with an answer to send */
    GQueue sending;         /* answers handed to the writer */
    unsigned server_jobs;
    unsigned executing;
    unsigned replies_in_row;
    VAManagerStats stats;
};

/* Client tokens are odd, server tokens are (aligned) job pointers. */
#define CALL_TOKEN(id) (((uintptr_t)(id) << 1) | 1)

VAManager *va_manager_new(const VAManagerLimits *lim)
{
    VAManager *m = g_new0(VAManager, 1);

    m->lim = *lim;
    m->next_id = 1;
    m->calls = g_hash_table_new(g_int64_hash, g_int64_equal);
    va_manager_new_session(m);
    return m;
}

static void client_job_free(VAClientJob *job)
{
    g_bytes_unref(job->request);
    g_free(job);
}

static void server_job_free(VAServerJob *job)
{
    g_free(job->request);
    if (job->response) {
        g_bytes_unref(job->response);
    }
    g_free(job);
}

static void free_queue(GQueue *q)
{
    GList *l;

    while ((l = g_queue_pop_head_link(q))) {
        server_job_free(l->data);
    }
}

void va_manager_free(VAManager *m)
{
    GHashTableIter it;
    gpointer job;

    g_hash_table_iter_init(&it, m->calls);
    while (g_hash_table_iter_next(&it, NULL, &job)) {
        client_job_free(job);
    }
    g_hash_table_destroy(m->calls);
    free_queue(&m->running);
    free_queue(&m->orphans);
    free_queue(&m->exec_queue);
    free_queue(&m->ready_queue);
    free_queue(&m->sending);
    g_free(m);
}

const char *va_manager_session(VAManager *m)
{
    return m->session;
}

void va_manager_new_session(VAManager *m)
{
    /* GLib's generator is seeded from /dev/urandom, not rand(). */
    snprintf(m->session, sizeof(m->session), "%08" PRIx32 "%08" PRIx32,
             g_random_int(), g_random_int());
}

uint64_t va_manager_add_call(VAManager *m, GBytes *body, int64_t deadline,
                             VAClientFinish *fn, void *opaque,
                             GError **errp)
{
    VAClientJob *job;

    if (m->send_queue.length >= m->lim.max_queued_calls) {
        g_set_error(errp, VA_ERROR, VA_ERROR_QUEUE_FULL,
                    "too many calls waiting (%u)", m->lim.max_queued_calls);
        return 0;
    }
    job = g_new0(VAClientJob, 1);
    job->id = m->next_id++;
    snprintf(job->tag, sizeof(job->tag), "%s.%" PRIu64, m->session, job->id);
    job->request = g_bytes_ref(body);
    job->deadline = deadline;
    job->finish = fn;
    job->opaque = opaque;
    job->state = VA_CLIENT_NEW;
    job->link.data = job;
    g_queue_push_tail_link(&m->send_queue, &job->link);
    g_hash_table_insert(m->calls, &job->id, job);
    return job->id;
}

/* Take a job out of every table, keeping the counters right. */
static void client_job_detach(VAManager *m, VAClientJob *job)
{
    if (job->state == VA_CLIENT_NEW) {
        g_queue_unlink(&m->send_queue, &job->link);
    } else {
        m->in_flight--;
    }
    g_hash_table_remove(m->calls, &job->id);
}

static void client_job_finish(VAClientJob *job, const uint8_t *body,
                              size_t len, const GError *err)
{
    job->finish(job->id, body, len, err, job->opaque);
    client_job_free(job);
}

static void count_failure(VAManager *m, const GError *err)
{
    if (err->domain != VA_ERROR) {
        return;
    }
    switch (err->code) {
    case VA_ERROR_TIMEOUT:
        m->stats.timed_out++;
        break;
    case VA_ERROR_CANCELLED:
        m->stats.cancelled++;
        break;
    case VA_ERROR_DISCONNECTED:
        m->stats.disconnected++;
        break;
    default:
        break;
    }
}

bool va_manager_fail_call(VAManager *m, uint64_t id, const GError *err)
{
    VAClientJob *job = g_hash_table_lookup(m->calls, &id);

    if (!job) {
        return false;
    }
    client_job_detach(m, job);
    count_failure(m, err);
    client_job_finish(job, NULL, 0, err);
    return true;
}

uint64_t va_manager_call_by_tag(VAManager *m, const char *tag)
{
    size_t n = strlen(m->session);
    const char *num = tag + n + 1;
    char *end;
    uint64_t id;
    VAClientJob *job;

    if (strncmp(tag, m->session, n) || tag[n] != '.' ||
        !g_ascii_isdigit(*num)) {
        return 0;
    }
    id = g_ascii_strtoull(num, &end, 10);
    if (*end) {
        return 0;
    }
    job = g_hash_table_lookup(m->calls, &id);
    /* An answer to a call we have not finished sending is not one. */
    return job && job->state != VA_CLIENT_NEW ? id : 0;
}

const char *va_manager_call_tag(VAManager *m, uint64_t id)
{
    VAClientJob *job = g_hash_table_lookup(m->calls, &id);

    return job ? job->tag : NULL;
}

bool va_manager_reply(VAManager *m, const char *tag, const uint8_t *body,
                      size_t len)
{
    uint64_t id = va_manager_call_by_tag(m, tag);
    VAClientJob *job;

    if (!id) {
        m->stats.stray_replies++;
        return false;
    }
    job = g_hash_table_lookup(m->calls, &id);
    client_job_detach(m, job);
    m->stats.replies++;
    client_job_finish(job, body, len, NULL);
    return true;
}

void va_manager_fail_calls(VAManager *m, const GError *err)
{
    GHashTableIter it;
    gpointer job;
    GSList *jobs = NULL;

    /* Detach first: a callback may queue new calls. */
    g_hash_table_iter_init(&it, m->calls);
    while (g_hash_table_iter_next(&it, NULL, &job)) {
        jobs = g_slist_prepend(jobs, job);
    }
    g_hash_table_remove_all(m->calls);
    g_queue_init(&m->send_queue);
    m->in_flight = 0;
    for (GSList *l = jobs; l; l = l->next) {
        count_failure(m, err);
        client_job_finish(l->data, NULL, 0, err);
    }
    g_slist_free(jobs);
}

int64_t va_manager_deadline(VAManager *m)
{
    GHashTableIter it;
    gpointer p;
    int64_t first = -1;

    /* Asked after every call served: an empty table's walk is not free. */
    if (!g_hash_table_size(m->calls)) {
        return -1;
    }
    g_hash_table_iter_init(&it, m->calls);
    while (g_hash_table_iter_next(&it, NULL, &p)) {
        VAClientJob *job = p;

        if (job->deadline >= 0 && (first < 0 || job->deadline < first)) {
            first = job->deadline;
        }
    }
    return first;
}

void va_manager_expire(VAManager *m, int64_t now)
{
    GHashTableIter it;
    gpointer p;
    GSList *due = NULL;

    g_hash_table_iter_init(&it, m->calls);
    while (g_hash_table_iter_next(&it, NULL, &p)) {
        VAClientJob *job = p;

        if (job->deadline >= 0 && job->deadline <= now) {
            due = g_slist_prepend(due, job);
        }
    }
    for (GSList *l = due; l; l = l->next) {
        client_job_detach(m, l->data);
    }
    for (GSList *l = due; l; l = l->next) {
        g_autoptr(GError) err = g_error_new(VA_ERROR, VA_ERROR_TIMEOUT,
                                            "timed out");

        m->stats.timed_out++;
        client_job_finish(l->data, NULL, 0, err);
    }
    g_slist_free(due);
}

static VAServerJob *server_job_new(VAManager *m, const char *tag)
{
    VAServerJob *job;
    size_t n;

    if (m->server_jobs >= m->lim.max_server_jobs) {
        return NULL;
    }
    /*
     * Not g_new0(): glibc's calloc() bypasses its per-thread cache, and
     * cost, with g_strlcpy(), a thirtieth of a ping. Nor all of it
     * cleared: the method name's buffer, last, is set when asked for.
     */
    job = g_new(VAServerJob, 1);
    memset(job, 0, offsetof(VAServerJob, method));
    job->link.data = job;
    job->method[0] = '\0';
    n = strnlen(tag, VA_TAG_MAX_LEN);
    memcpy(job->tag, tag, n);
    job->tag[n] = '\0';
    m->server_jobs++;
    return job;
}

VAServerJob *va_manager_add_server_job(VAManager *m, const char *tag,
                                       const void *request, size_t len)
{
    VAServerJob *job = server_job_new(m, tag);

    if (job) {
        /*
         * A plain copy, not a GBytes: a GBytes' allocations and its
         * free cost a twentieth of a ping.
         */
        job->request = g_malloc(len);
        if (len) {
            memcpy(job->request, request, len);
        }
        job->request_len = len;
        job->state = VA_SERVER_NEW;
        g_queue_push_tail_link(&m->exec_queue, &job->link);
    }
    return job;
}

bool va_manager_add_answer(VAManager *m, const char *tag, GBytes *response)
{
    VAServerJob *job = server_job_new(m, tag);

    if (!job) {
        return false;
    }
    job->response = g_bytes_ref(response);
    job->state = VA_SERVER_EXECUTED;
    g_queue_push_tail_link(&m->ready_queue, &job->link);
    return true;
}

VAServerJob *va_manager_next_execution(VAManager *m)
{
    GList *l;

    if (m->executing >= m->lim.max_executing ||
        !(l = g_queue_pop_head_link(&m->exec_queue))) {
        return NULL;
    }
    m->executing++;
    ((VAServerJob *)l->data)->state = VA_SERVER_EXECUTING;
    g_queue_push_tail_link(&m->running, l);
    return l->data;
}

void va_manager_job_executed(VAManager *m, VAServerJob *job)
{
    if (job->orphaned) {
        g_queue_unlink(&m->orphans, &job->link);
        server_job_free(job);
        return;
    }
    g_assert(job->state == VA_SERVER_EXECUTING && job->response);
    g_queue_unlink(&m->running, &job->link);
    m->executing--;
    job->state = VA_SERVER_EXECUTED;
    g_queue_push_tail_link(&m->ready_queue, &job->link);
}

void va_manager_drop_server_jobs(VAManager *m)
{
    GList *l;

    /*
     * The embedder still holds running jobs and hands them back through
     * va_manager_job_executed(), which then frees them unanswered.
     */
    while ((l = g_queue_pop_head_link(&m->running))) {
        ((VAServerJob *)l->data)->orphaned = true;
        g_queue_push_tail_link(&m->orphans, l);
    }
    free_queue(&m->exec_queue);
    free_queue(&m->ready_queue);
    free_queue(&m->sending);
    m->server_jobs = 0;
    m->executing = 0;
    m->replies_in_row = 0;
}

bool va_manager_next_frame(VAManager *m, VAOutFrame *out)
{
    bool call_ready = m->send_queue.length && m->in_flight < m->lim.window;
    bool reply_ready = m->ready_queue.length != 0;

    if (reply_ready &&
        (!call_ready || m->replies_in_row < m->lim.reply_burst)) {
        VAServerJob *job = g_queue_pop_head_link(&m->ready_queue)->data;

        if (call_ready) {
            m->replies_in_row++;
        }
        job->state = VA_SERVER_SENDING;
        g_queue_push_tail_link(&m->sending, &job->link);
        out->kind = VA_FRAME_REPLY;
        out->tag = job->tag;
        out->body = job->response;
        out->token = (uintptr_t)job;
        return true;
    }
    if (call_ready) {
        VAClientJob *job = g_queue_pop_head_link(&m->send_queue)->data;

        m->replies_in_row = 0;
        m->in_flight++;
        job->state = VA_CLIENT_SENDING;
        out->kind = VA_FRAME_CALL;
        out->tag = job->tag;
        out->body = job->request;
        out->token = CALL_TOKEN(job->id);
        return true;
    }
    return false;
}

void va_manager_frame_sent(VAManager *m, uintptr_t token)
{
    if (token & 1) {
        uint64_t id = token >> 1;
        VAClientJob *job = g_hash_table_lookup(m->calls, &id);

        /* Gone already if it timed out or was cancelled meanwhile. */
        if (job) {
            job->state = VA_CLIENT_SENT;
            m->stats.calls_sent++;
        }
    } else {
        VAServerJob *job = (VAServerJob *)token;

        g_queue_unlink(&m->sending, &job->link);
        m->server_jobs--;
        m->stats.calls_served++;
        server_job_free(job);
    }
}

void va_manager_get_stats(VAManager *m, VAManagerStats *st)
{
    *st = m->stats;
    st->queued = m->send_queue.length;
    st->in_flight = m->in_flight;
    st->executing = m->executing;
    st->server_jobs = m->server_jobs;
}
