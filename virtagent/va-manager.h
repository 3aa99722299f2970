/*
 * virtagent - the job manager: our calls (client jobs) and the peer's
 * calls (server jobs) on one channel
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Client job: new -> sending -> sent -> replied -> callback -> freed.
 * Server job: new -> executing -> executed -> sending -> sent -> freed.
 *
 * The writer asks the manager for the next frame. Answers to the peer go
 * before our new calls, so two peers calling each other at once with full
 * windows still make progress; but after VAManagerLimits.reply_burst
 * answers in a row, a waiting call of ours goes next, so a stream of peer
 * calls cannot starve ours. The send window bounds our calls in flight,
 * max_executing the peer's calls running at once, and both queues are
 * bounded: a full one refuses instead of growing.
 */
#ifndef VIRTAGENT_MANAGER_H
#define VIRTAGENT_MANAGER_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "va-frame.h"

typedef struct VAManager VAManager;
typedef struct VAClientJob VAClientJob;
typedef struct VAServerJob VAServerJob;

typedef enum VAServerState {
    VA_SERVER_NEW,
    VA_SERVER_EXECUTING,
    VA_SERVER_EXECUTED,
    VA_SERVER_SENDING,
} VAServerState;

/* A peer's call; the channel reads and fills these fields. */
struct VAServerJob {
    void *owner;            /* the channel */
    char tag[VA_TAG_MAX_LEN + 1];
    /* The call, a copy the job owns until it is executed; else NULL. */
    uint8_t *request;
    size_t request_len;
    GBytes *response;
    /* The channel's entry for the method name, found with it, or NULL. */
    const void *method_entry;
    bool method_known;
    VAServerState state;
    bool orphaned;          /* reset while executing: free, don't answer */
    bool refused;           /* the input boundary refused the request */
    GList link;             /* in the exec or ready queue */
    /* Cached by va_server_job_method() once method_known; last. */
    char method[VA_XML_NAME_MAX + 1];
};

/*
 * Completion of a client job, run exactly once: the answer's body, or
 * @err (VA_ERROR domain) with @body NULL.
 */
typedef void VAClientFinish(uint64_t id, const uint8_t *body, size_t len,
                            const GError *err, void *opaque);

typedef struct VAManagerLimits {
    unsigned window;
    unsigned max_executing;
    unsigned max_queued_calls;
    unsigned max_server_jobs;
    unsigned reply_burst;
} VAManagerLimits;

typedef struct VAManagerStats {
    uint64_t calls_sent;
    uint64_t replies;
    uint64_t timed_out;
    uint64_t cancelled;
    uint64_t disconnected;
    uint64_t stray_replies;
    uint64_t calls_served;
    unsigned queued;
    unsigned in_flight;
    unsigned executing;
    unsigned server_jobs;
} VAManagerStats;

/* What the writer sends next; @token goes back in va_manager_frame_sent. */
typedef struct VAOutFrame {
    VAFrameKind kind;
    const char *tag;
    GBytes *body;
    uintptr_t token;
} VAOutFrame;

VAManager *va_manager_new(const VAManagerLimits *lim);
/* Frees every job without running callbacks: fail them first. */
void va_manager_free(VAManager *m);

/* Tags are "<session>.<id>"; a new session makes old tags stray. */
const char *va_manager_session(VAManager *m);
void va_manager_new_session(VAManager *m);

/* Queue a call; 0 with VA_ERROR_QUEUE_FULL when the queue is full. */
uint64_t va_manager_add_call(VAManager *m, GBytes *body, int64_t deadline,
                             VAClientFinish *fn, void *opaque,
                             GError **errp);
/* Fail one call with @err; false if it is not pending. */
bool va_manager_fail_call(VAManager *m, uint64_t id, const GError *err);
/* An answer arrived: complete its call, or count it as stray. */
bool va_manager_reply(VAManager *m, const char *tag, const uint8_t *body,
                      size_t len);
/* Map one of our tags to its call id; 0 if not ours or not pending. */
uint64_t va_manager_call_by_tag(VAManager *m, const char *tag);
/* The tag of pending call @id, or NULL. */
const char *va_manager_call_tag(VAManager *m, uint64_t id);
/* Fail every pending call with @err. */
void va_manager_fail_calls(VAManager *m, const GError *err);

/* Earliest call deadline, or -1; fail calls due at @now. */
int64_t va_manager_deadline(VAManager *m);
void va_manager_expire(VAManager *m, int64_t now);

/*
 * A peer's call arrived. NULL when max_server_jobs are already pending:
 * the caller answers "busy" some other way.
 */
VAServerJob *va_manager_add_server_job(VAManager *m, const char *tag,
                                       const void *request, size_t len);
/* An answer with no execution (a fault for a bad call); same bound. */
bool va_manager_add_answer(VAManager *m, const char *tag, GBytes *response);
/* The next job to execute within max_executing, or NULL. */
VAServerJob *va_manager_next_execution(VAManager *m);
/* The job has its response: queue it for sending, or free an orphan. */
void va_manager_job_executed(VAManager *m, VAServerJob *job);
/* Drop the peer's calls; running ones become orphans. */
void va_manager_drop_server_jobs(VAManager *m);

/* The writer has room: the next frame by priority, window and fairness. */
bool va_manager_next_frame(VAManager *m, VAOutFrame *out);
/*
 * The frame's last byte was written. A reset must fail the calls and drop
 * the server jobs together with the writer's unsent frames.
 */
void va_manager_frame_sent(VAManager *m, uintptr_t token);

void va_manager_get_stats(VAManager *m, VAManagerStats *st);

#endif
