/*
 * virtagent - a channel: the one object an embedder uses
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A channel joins the framing layer, the XML-RPC codec and the job manager
 * over one byte stream. It owns no file descriptor, thread or main loop:
 * the embedder feeds it bytes (va_channel_input), drains the bytes it wants
 * to send (va_channel_output / va_channel_output_done) and fires its timers
 * (va_channel_deadline / va_channel_run_timers). QEMU's chardev and the
 * guest daemon's GLib loop embed the same code.
 *
 * All functions must be called from one thread, the channel's; only the
 * XML-RPC methods may run elsewhere (see VAChannelOps.execute).
 */
#ifndef VIRTAGENT_CHANNEL_H
#define VIRTAGENT_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>
#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>

#include "va-errors.h"
#include "va-limits.h"
#include "va-policy.h"

typedef struct VAChannel VAChannel;
typedef struct VAServerJob VAServerJob;

/* Identifies one of our calls; 0 is never a valid id. */
typedef uint64_t VACallId;

/*
 * Completion of a call, run exactly once: with @result (borrowed; INCREF it
 * to keep it) and @err NULL, or with @result NULL and @err set. Peer faults
 * come in the VA_FAULT domain (code = faultCode); local failures in the
 * VA_ERROR domain (VAErrorCode). It may start new calls or cancel others;
 * it must not free the channel.
 */
typedef void VACallDone(VAChannel *ch, VACallId id, xmlrpc_value *result,
                        const GError *err, void *opaque);

typedef struct VAChannelOps {
    /* Monotonic clock in milliseconds. */
    int64_t (*now_ms)(void *opaque);
    /*
     * Output became available or the next deadline moved. Called from
     * inside channel functions: it must only schedule work (a write
     * watch, a timer), never call back into the channel.
     */
    void (*wakeup)(void *opaque);
    /*
     * Optional: run a peer's call elsewhere (a thread pool). The embedder
     * calls va_server_job_execute() in any thread, then
     * va_channel_job_executed() in the channel's thread. NULL runs calls
     * synchronously inside va_channel_input().
     */
    void (*execute)(VAChannel *ch, VAServerJob *job, void *opaque);
} VAChannelOps;

typedef struct VAChannelConfig {
    /* Our calls sent and not yet answered (send window). */
    unsigned window;
    /* Peer calls executing at once. */
    unsigned max_executing;
    /* Our calls waiting for the window; a full queue refuses new calls. */
    unsigned max_queued_calls;
    /* Peer calls accepted and not yet answered; beyond: fault busy. */
    unsigned max_server_jobs;
    /* Largest message body, either way. */
    size_t max_body;
    /*
     * Largest body of a call from the peer (0: max_body). A host keeps it
     * small: the guest's calls are parsed on its main loop.
     */
    size_t max_peer_call;
    /* Timeout of a call when the caller gives none (milliseconds). */
    int64_t default_timeout_ms;
    /* Replies sent in a row while one of our calls waits (anti-starvation). */
    unsigned reply_burst;
    /* Peer calls per second accepted on average, and the burst; 0 = off. */
    double peer_call_rate;
    double peer_call_burst;
    /* Bytes of peer calls per second on average, and the burst; 0 = off. */
    double peer_byte_rate;
    double peer_byte_burst;
    /* Which methods the peer may call; NULL allows all. Not owned. */
    const VAMethodPolicy *policy;
    /*
     * Take raw DATA bodies from the peer (docs/protocol.md §1.1), which
     * are trusted by their length. A host does, from its guest, which can
     * write it any frame anyway; a guest does not, from its host, lest a
     * file's content be read as calls after a desync.
     */
    bool accept_raw_data;
} VAChannelConfig;

typedef struct VAChannelStats {
    uint64_t calls_sent;        /* our calls whose last byte was written */
    uint64_t replies;           /* answers to our calls, faults included */
    uint64_t timed_out;         /* our calls that timed out */
    uint64_t cancelled;         /* our calls cancelled */
    uint64_t disconnected;      /* our calls failed by a reset */
    uint64_t rejected;          /* our calls refused: queue full, too big */
    uint64_t stray_replies;     /* replies matching no pending call */
    uint64_t calls_served;      /* peer calls answered */
    uint64_t peer_rejected;     /* peer calls answered busy/rate-limited */
    uint64_t bad_frames;        /* malformed, oversized, truncated frames */
    uint64_t refused_documents; /* calls and answers the boundary refused */
    uint64_t garbage_bytes;     /* bytes skipped while resynchronising */
    uint64_t resets;
    uint64_t stray_data;        /* DATA, aborts for no open stream */
    uint64_t streams_failed;    /* streams the peer broke (bad offset...) */
    uint64_t data_sent;         /* stream bytes queued for writing */
    uint64_t data_received;     /* stream bytes delivered */
    uint64_t data_received_raw; /* of which came in raw DATA bodies */
    unsigned queued;            /* our calls waiting for the window */
    unsigned in_flight;         /* our calls sent, not answered */
    unsigned executing;         /* peer calls executing */
    unsigned server_jobs;       /* peer calls not yet answered */
    unsigned streams;           /* streams open, either side */
} VAChannelStats;

void va_channel_config_init(VAChannelConfig *cfg);

/*
 * Methods are added by the embedder, with va_channel_add_method() (found
 * in a hash table) or to the channel's registry (va_channel_registry,
 * its linear list); each receives the VAChannel as its callInfo.
 */
VAChannel *va_channel_new(const VAChannelConfig *cfg, const VAChannelOps *ops,
                          void *opaque, GError **errp);
void va_channel_free(VAChannel *ch);
xmlrpc_registry *va_channel_registry(VAChannel *ch);
/*
 * Adds a method to the registry, with xmlrpc_registry_add_method3()'s
 * faults; its calls are then dispatched without the registry's linear
 * walk of its methods (the same pre-invoke policy check runs). Add
 * methods before calls run: they are looked up from any thread.
 */
void va_channel_add_method(VAChannel *ch, xmlrpc_env *env,
                           const struct xmlrpc_method_info3 *info);
void *va_channel_opaque(VAChannel *ch);

/* Bytes from the peer; all are consumed. */
void va_channel_input(VAChannel *ch, const uint8_t *buf, size_t len);

/*
 * Bytes to send (a contiguous run: ask again after writing it, until the
 * length is 0), and how many of them were written.
 */
const uint8_t *va_channel_output(VAChannel *ch, size_t *len);
void va_channel_output_done(VAChannel *ch, size_t len);

/* Earliest timer in now_ms() time, or -1; then fire what is due. */
int64_t va_channel_deadline(VAChannel *ch);
void va_channel_run_timers(VAChannel *ch);

/*
 * Call @method with @params (an XML-RPC array, borrowed; NULL = none).
 * @timeout_ms < 0 takes the configured default, 0 waits forever.
 * Returns the call id, or 0 with @errp set (queue full, message too big);
 * @done is then never run. @done never runs before this returns.
 */
VACallId va_channel_call(VAChannel *ch, const char *method,
                         xmlrpc_value *params, int64_t timeout_ms,
                         VACallDone *done, void *opaque, GError **errp);

/*
 * A call already encoded as XML-RPC (a forwarder's). @done gets the raw
 * answer body (faults included) or, on local failure, @err.
 */
typedef void VACallDoneXml(VAChannel *ch, VACallId id, const char *xml,
                           size_t len, const GError *err, void *opaque);
VACallId va_channel_call_xml(VAChannel *ch, const char *xml, size_t len,
                             int64_t timeout_ms, VACallDoneXml *done,
                             void *opaque, GError **errp);

/* Complete a pending call with VA_ERROR_CANCELLED. False if unknown. */
bool va_channel_cancel(VAChannel *ch, VACallId id);

/*
 * The stream was broken (peer closed, port reset): fail every pending call
 * with VA_ERROR_DISCONNECTED, drop the peer's calls, clear both
 * directions' buffers and start a new session. @reason is for the message.
 */
void va_channel_reset(VAChannel *ch, const char *reason);

/*
 * The peer announced its session id (its hello). A different id from the
 * one seen before means the peer restarted: our calls sent to the old
 * instance fail with VA_ERROR_DISCONNECTED. Returns true in that case.
 */
bool va_channel_peer_session(VAChannel *ch, const char *session);

/*
 * Run @fn once the answers to every peer call accepted so far, the one
 * executing now included, have been written out (@written true), or when
 * the channel is reset or freed first (@written false). For an action
 * that must follow its own reply, such as a shutdown.
 */
typedef void VAWrittenFunc(VAChannel *ch, bool written, void *opaque);
void va_channel_after_answers(VAChannel *ch, VAWrittenFunc *fn,
                              void *opaque);

/*
 * An embedder that decodes answers itself (va_channel_call_xml) counts
 * those it refused as not XML-RPC or unsafe in refused_documents.
 */
void va_channel_count_refused(VAChannel *ch);

/* Our session id: tags are "<session>.<counter>", never reused. */
const char *va_channel_session(VAChannel *ch);
void va_channel_get_stats(VAChannel *ch, VAChannelStats *st);

/*
 * Server jobs handed to VAChannelOps.execute. The embedder answers each
 * job in one of three ways, then calls va_channel_job_executed():
 * va_server_job_execute() (dispatch through the registry; thread-safe),
 * va_server_job_set_response() (an answer from elsewhere, a forwarder's)
 * or va_server_job_set_fault().
 *
 * va_server_job_method() reads the method name without parsing the
 * document: good for choosing where to run the job, not for security
 * decisions (the registry's pre-invoke check makes those on the parsed
 * call).
 */
const char *va_server_job_method(VAServerJob *job);
/*
 * The method va_channel_add_method() added under the job's quick name,
 * or NULL (then only the registry may know it).
 */
const struct xmlrpc_method_info3 *va_server_job_method_info(VAServerJob *job);
const char *va_server_job_body(VAServerJob *job, size_t *len);
void va_server_job_execute(VAServerJob *job);
void va_server_job_set_response(VAServerJob *job, const char *xml,
                                size_t len);
void va_server_job_set_fault(VAServerJob *job, int code, const char *msg);
/*
 * The channel was reset since it handed out @job: its answer will be
 * dropped, so it need not run. Read in the channel's thread only.
 */
bool va_server_job_orphaned(const VAServerJob *job);
/*
 * Back in the channel's thread: queue the answer. Jobs of a channel that
 * was reset meanwhile are freed here without an answer. Before
 * va_channel_free(), every job handed out must have come back here or be
 * forgotten by the embedder (a thread pool joined, say).
 */
void va_channel_job_executed(VAChannel *ch, VAServerJob *job);

#endif
