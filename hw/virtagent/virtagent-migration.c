/*
 * virtagent - the chardev across migration, save/restore and snapshots
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Nothing of the chardev goes into the migration stream: no vmstate
 * section, so any build may migrate to any other. What each piece of
 * state becomes (docs/usage.md, "Migration", says it for users):
 *
 * - Our calls: on the source, when a migration completes (and at the
 *   switch to postcopy), every call the channel holds ends with "guest
 *   agent disconnected during the call (VM migrated)", queued ones
 *   included; answers already received complete normally. A migration
 *   that fails or is cancelled changes nothing. A call that reached the
 *   guest before the switch may still run there; its answer reaches the
 *   destination tagged with the source's session, which the destination
 *   (a new channel, a new random session) drops as a stray. New calls on
 *   the source fail at once with "VM migrated" until it runs again.
 * - The guest's calls: the source answers those it received; an answer
 *   the switch cut off is lost, and the guest's own timeout ends the call
 *   (qemu-va says hello again after 5 s; va-call gives up after -t).
 * - Bytes half-way through a frame: bytes the guest wrote that the
 *   source had not read reach the destination's parser, which skips to
 *   the next 0xFF sentinel; the virtserialport's reopen on the
 *   destination starts the stream over anyway.
 * - The agent's session: the destination starts with none (and the
 *   source, after completing, forgets its own). Once the VM runs with the
 *   port open, the host calls va.info (version, session) and
 *   va.capabilities (methods, features), and on both answers marks the agent
 *   connected and emits VA_AGENT_CONNECTED: qemu-va need not restart. The
 *   same happens on the source when it resumes after completing (a
 *   memory snapshot, a save that keeps the VM running). If the agent
 *   does not answer, it is connected at its next hello instead.
 */
#include "qemu/osdep.h"
#include "migration/misc.h"
#include "qapi/error.h"
#include "qapi/qapi-events-virtagent.h"
#include "qemu/main-loop.h"
#include "system/runstate.h"
#include "hw/virtagent/virtagent-internal.h"
#include "trace.h"

#define VA_MIGRATED "VM migrated"

/* va.info and va.capabilities of one relearning, and what they said. */
typedef struct VirtagentProbe {
    VirtagentChardev *va;
    uint64_t resets;            /* va->resets when it started */
    unsigned pending;
    bool failed;
    char *version;
    char *session;
    GStrv methods;
    GStrv features;
} VirtagentProbe;

static NotifierWithReturn va_migration_notifier;

static void va_probe_finish(VirtagentProbe *p)
{
    VirtagentChardev *va = p->va;

    va->probing = false;
    if (p->resets != va->resets) {
        /* The port was reset meanwhile: try again if it is still time. */
        trace_virtagent_relearn(va_label(va), "port reset meanwhile");
        if (va->relearn) {
            qemu_bh_schedule(va->bh);
        }
    } else if (p->failed) {
        /* No agent, or one that will not say: wait for its hello. */
        trace_virtagent_relearn(va_label(va), "no answer");
        va->relearn = false;
    } else if (va->connected) {
        /* Its hello came first and says the same or newer. */
        trace_virtagent_relearn(va_label(va), "agent said hello");
        va->relearn = false;
    } else {
        trace_virtagent_relearn(va_label(va), "agent connected");
        va->relearn = false;
        /* A later hello of another session is a restart. */
        va_channel_peer_session(va->ch, p->session);
        va->connected = true;
        va->agent_version = g_steal_pointer(&p->version);
        va->agent_session = g_steal_pointer(&p->session);
        va->agent_methods = g_steal_pointer(&p->methods);
        va->agent_features = g_steal_pointer(&p->features);
        qapi_event_send_va_agent_connected(va_label(va), va->agent_version,
                                           va->agent_session);
    }
    g_free(p->version);
    g_free(p->session);
    g_strfreev(p->methods);
    g_strfreev(p->features);
    g_free(p);
}

/*
 * One answer. On an error it reads nothing but the chardev's fields: it
 * may run inside the chardev's finalize.
 */
static void va_probe_done(VirtagentProbe *p, xmlrpc_value *result,
                          Error *err, bool info)
{
    xmlrpc_env env;

    if (err) {
        error_free(err);
        p->failed = true;
    } else if (xmlrpc_value_type(result) != XMLRPC_TYPE_STRUCT) {
        p->failed = true;
    } else {
        xmlrpc_env_init(&env);
        if (info) {
            p->version = virtagent_struct_name(&env, result, "version");
            if (p->version) {
                p->session = virtagent_struct_name(&env, result, "session");
            }
        } else {
            p->methods = virtagent_struct_names(&env, result, "methods");
            if (!env.fault_occurred) {
                p->features = virtagent_struct_names(&env, result,
                                                     "features");
            }
        }
        p->failed |= env.fault_occurred;
        xmlrpc_env_clean(&env);
    }
    if (!--p->pending) {
        va_probe_finish(p);
    }
}

static void va_probe_info_done(xmlrpc_value *result, Error *err,
                               void *opaque)
{
    va_probe_done(opaque, result, err, true);
}

static void va_probe_capabilities_done(xmlrpc_value *result, Error *err,
                                       void *opaque)
{
    va_probe_done(opaque, result, err, false);
}

void virtagent_relearn(VirtagentChardev *va)
{
    VirtagentProbe *p;
    Error *err = NULL;

    if (va->connected) {
        va->relearn = false;
    }
    if (!va->relearn || va->probing || !va->fe_open ||
        !runstate_is_running()) {
        return;
    }
    p = g_new0(VirtagentProbe, 1);
    p->va = va;
    p->resets = va->resets;
    if (virtagent_call(va, "va.info", NULL, -1, va_probe_info_done, p,
                       &err)) {
        p->pending++;
        if (virtagent_call(va, "va.capabilities", NULL, -1,
                           va_probe_capabilities_done, p, &err)) {
            p->pending++;
        } else {
            p->failed = true;
        }
    }
    if (!p->pending) {
        trace_virtagent_relearn(va_label(va), error_get_pretty(err));
        va->relearn = false;
        g_free(p);
    } else {
        trace_virtagent_relearn(va_label(va), "calling the agent");
        va->probing = true;
    }
    error_free(err);
}

/* On the source: the guest now runs elsewhere (precopy or postcopy). */
static int va_migration_notify(NotifierWithReturn *n, MigrationEvent *e,
                               Error **errp)
{
    VirtagentChardev *va;

    if (e->type != MIG_EVENT_PRECOPY_DONE) {
        /* Set-up and failure change nothing: the source keeps going. */
        return 0;
    }
    QTAILQ_FOREACH(va, &virtagents, next) {
        trace_virtagent_migrated(va_label(va));
        virtagent_reset(va, VA_MIGRATED);
        /* Until it runs here again, a call could only wait for nothing. */
        va->migrated = true;
        /* Should it run again, its agent is asked who it is. */
        va->relearn = true;
    }
    return 0;
}

static void va_vm_state_change(void *opaque, bool running, RunState state)
{
    VirtagentChardev *va = opaque;

    if (!running) {
        return;
    }
    va->migrated = false;
    if (va->relearn) {
        qemu_bh_schedule(va->bh);
    }
}

void virtagent_migration_init(VirtagentChardev *va)
{
    /* A destination: the guest and its agent were running elsewhere. */
    va->relearn = runstate_check(RUN_STATE_INMIGRATE);
    va->vm_state = qemu_add_vm_change_state_handler(va_vm_state_change, va);
    if (!va_migration_notifier.notify) {
        migration_add_notifier(&va_migration_notifier, va_migration_notify);
    }
}

void virtagent_migration_cleanup(VirtagentChardev *va)
{
    va->relearn = false;
    g_clear_pointer(&va->vm_state, qemu_del_vm_change_state_handler);
}
