/*
 * virtagent - the QEMU chardev's state, shared by its source files
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * virtagent.c is the chardev backend, virtagent-host-methods.c serves the
 * guest's calls, virtagent-call.c makes ours, virtagent-query.c finds and
 * describes the chardevs. Not for the monitor commands: they use
 * hw/virtagent/virtagent.h.
 */
#ifndef HW_VIRTAGENT_INTERNAL_H
#define HW_VIRTAGENT_INTERNAL_H

#include "chardev/char.h"
#include "qemu/queue.h"
#include "qemu/timer.h"
#include "hw/virtagent/virtagent.h"
#include "va-channel.h"

#define TYPE_CHARDEV_VIRTAGENT "chardev-virtagent"
OBJECT_DECLARE_SIMPLE_TYPE(VirtagentChardev, CHARDEV_VIRTAGENT)

/* Longest timeout, from the chardev option or a monitor command. */
#define VA_TIMEOUT_MAX_S 3600

struct VirtagentChardev {
    Chardev parent;
    VAChannel *ch;
    VAMethodPolicy *policy;
    /* Runs completions, flushes output, re-arms the timer. */
    QEMUBH *bh;
    QEMUTimer *timer;
    VMChangeStateEntry *vm_state;
    /* Largest answer accepted (max-message). */
    size_t max_body;
    /* Our calls not completed yet, oldest first. */
    QTAILQ_HEAD(, VirtagentCall) calls;
    /* VirtagentCall answered or failed, waiting for the bottom half. */
    GQueue completed;
    /* Guest calls (VAServerJob) waiting for the bottom half to start. */
    GQueue to_execute;
    /* Times the stream started over: guest calls from before are stale. */
    uint64_t resets;
    /* The guest side of the port is open. */
    bool fe_open;
    /* Guards against the frontend asking for more output while we write. */
    bool flushing;
    /* The agent said hello in this session; what it said. */
    bool connected;
    char *agent_version;
    char *agent_session;
    GStrv agent_methods;
    GStrv agent_features;
    /*
     * After a migration the agent is learnt again by calling it, once the
     * VM runs with the port open (virtagent-migration.c); @probing while
     * those calls are out.
     */
    bool relearn;
    bool probing;
    /* The VM completed a migration and has not run here since. */
    bool migrated;
    VARateLimit notify_rate;
    uint64_t notify_dropped;
    bool listed;
    QTAILQ_ENTRY(VirtagentChardev) next;
};

typedef struct VirtagentDecode VirtagentDecode;

/*
 * One of our calls, from virtagent_call() until its completion has run:
 * waiting for the guest (@ch_id set), then answered (@answer) or failed
 * (@err) and queued for the bottom half, then decoding in the thread
 * pool (@decode). Or a job of calls (@cancel set: virtagent_job_start()),
 * listed and cancelled the same way, which only its owner ends.
 */
typedef struct VirtagentCall {
    VirtagentChardev *va;
    /* Unique among every chardev's calls: what the monitor shows. */
    uint64_t id;
    /* The channel's id while the channel holds the call, else 0. */
    VACallId ch_id;
    char *method;
    int64_t start_ms;
    VirtagentDone *done;
    VirtagentDoneQObject *done_qobject;
    void *opaque;
    GBytes *answer;
    int64_t copy_us;
    VirtagentDecode *decode;
    Error *err;
    VirtagentJobCancel *cancel;
    bool cancelled;
    QTAILQ_ENTRY(VirtagentCall) next;
} VirtagentCall;

typedef QTAILQ_HEAD(, VirtagentChardev) VirtagentList;

/* Every virtagent chardev, in creation order. */
extern VirtagentList virtagents;

static inline const char *va_label(VirtagentChardev *va)
{
    return CHARDEV(va)->label;
}

static inline int64_t va_now_ms(void *opaque)
{
    return qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
}

/* virtagent.c: the agent is gone or restarted; tell the management layer. */
void virtagent_agent_gone(VirtagentChardev *va, const char *reason);

/*
 * virtagent.c: the byte stream starts over: calls in flight fail with
 * @reason, the guest's are dropped, a new session begins.
 */
void virtagent_reset(VirtagentChardev *va, const char *reason);

/*
 * virtagent-host-methods.c: what the guest may call here (system.multicall
 * would evade the limits), and the methods themselves.
 */
#define VA_HOST_METHODS \
    "va.hello,va.ping,va.capabilities,va.notify,va.exec_done"
bool virtagent_register_methods(VirtagentChardev *va, Error **errp);

/*
 * virtagent-host-methods.c: member @key of an agent's struct as a bounded
 * printable name, or as an optional list of names (NULL-terminated:
 * "methods", "features"), with the limits a hello has; NULL with @env
 * faulted when they are broken.
 */
char *virtagent_struct_name(xmlrpc_env *env, xmlrpc_value *st,
                            const char *key);
GStrv virtagent_struct_names(xmlrpc_env *env, xmlrpc_value *st,
                             const char *key);

/*
 * virtagent-migration.c: follow migrations (from va_chr_open, once the
 * chardev is listed; and from finalize), and start learning the agent
 * again when it is time (from the bottom half).
 */
void virtagent_migration_init(VirtagentChardev *va);
void virtagent_migration_cleanup(VirtagentChardev *va);
void virtagent_relearn(VirtagentChardev *va);

/*
 * virtagent.c: in a guest call's method, under the BQL: the port was reset
 * since the call arrived, so it must change nothing.
 */
bool virtagent_job_stale(VirtagentChardev *va);

/* Give the frontend what the channel has to send, as much as it takes. */
void virtagent_flush(VirtagentChardev *va);

/*
 * virtagent-call.c: start decoding or complete the calls queued by the
 * channel (from the bottom half); complete every call of a chardev that
 * goes away at once, with @reason unless it already failed.
 */
void virtagent_run_completed(VirtagentChardev *va);
void virtagent_abandon_calls(VirtagentChardev *va, const char *reason);

#endif
