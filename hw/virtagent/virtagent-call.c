/*
 * virtagent - our calls into the guest
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Completions never run inside the chardev's I/O callbacks (chr_write
 * holds chr_write_lock and may run in a vCPU thread): the channel's
 * callback queues them, and the chardev's bottom half runs them.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/coroutine.h"
#include "qemu/main-loop.h"
#include "hw/virtagent/virtagent-internal.h"
#include "trace.h"

void virtagent_run_completed(VirtagentChardev *va)
{
    VirtagentCall *c;

    while ((c = g_queue_pop_head(&va->completed))) {
        trace_virtagent_call_done(va_label(va), c->id,
                                  c->err ? error_get_pretty(c->err) : "ok");
        c->done(c->result, c->err, c->opaque);
        if (c->result) {
            xmlrpc_DECREF(c->result);
        }
        g_free(c);
    }
}

static Error *va_call_error(VirtagentChardev *va, const GError *gerr)
{
    Error *err = NULL;

    if (gerr->domain == VA_FAULT) {
        error_setg(&err, "guest fault %d: %s", gerr->code, gerr->message);
    } else if (gerr->domain == VA_ERROR && gerr->code == VA_ERROR_TIMEOUT) {
        error_setg(&err, "virtagent '%s': timed out waiting for the guest "
                   "agent", va_label(va));
    } else if (gerr->domain == VA_ERROR &&
               gerr->code == VA_ERROR_DISCONNECTED) {
        error_setg(&err, "virtagent '%s': guest agent disconnected during "
                   "the call (%s)", va_label(va), gerr->message);
    } else {
        error_setg(&err, "virtagent '%s': %s", va_label(va), gerr->message);
    }
    return err;
}

static void va_call_finished(VAChannel *ch, VACallId id,
                             xmlrpc_value *result, const GError *gerr,
                             void *opaque)
{
    VirtagentChardev *va = va_channel_opaque(ch);
    VirtagentCall *c = opaque;

    if (gerr) {
        c->err = va_call_error(va, gerr);
    } else {
        xmlrpc_INCREF(result);
        c->result = result;
    }
    g_queue_push_tail(&va->completed, c);
    qemu_bh_schedule(va->bh);
}

bool virtagent_call(VirtagentChardev *va, const char *method,
                    xmlrpc_value *params, int64_t timeout_ms,
                    VirtagentDone *done, void *opaque, Error **errp)
{
    g_autoptr(GError) gerr = NULL;
    VirtagentCall *c;

    /*
     * After chardev-change a virtserialport that the guest holds open
     * reports no open until the guest reopens it; it takes bytes only
     * while the guest listens, though.
     */
    if (!va->fe_open && qemu_chr_be_can_write(CHARDEV(va)) <= 0) {
        error_setg(errp, "virtagent '%s': guest agent not connected "
                   "(port closed)", va_label(va));
        return false;
    }
    c = g_new0(VirtagentCall, 1);
    c->done = done;
    c->opaque = opaque;
    c->id = va_channel_call(va->ch, method, params, timeout_ms,
                            va_call_finished, c, &gerr);
    if (!c->id) {
        error_setg(errp, "virtagent '%s': %s", va_label(va), gerr->message);
        g_free(c);
        return false;
    }
    trace_virtagent_call(va_label(va), method, c->id);
    return true;
}

typedef struct VirtagentCoWait {
    Coroutine *co;
    bool done;
    xmlrpc_value *result;
    Error *err;
} VirtagentCoWait;

static void va_co_done(xmlrpc_value *result, Error *err, void *opaque)
{
    VirtagentCoWait *w = opaque;

    if (result) {
        xmlrpc_INCREF(result);
    }
    w->result = result;
    w->err = err;
    w->done = true;
    /*
     * Deferred: this may run inside a chardev's finalize or the shutdown
     * notifier, where re-entering the caller's coroutine is unexpected.
     */
    aio_co_schedule(qemu_get_aio_context(), w->co);
}

xmlrpc_value *coroutine_fn virtagent_co_call(VirtagentChardev *va,
                                             const char *method,
                                             xmlrpc_value *params,
                                             int64_t timeout_ms,
                                             Error **errp)
{
    VirtagentCoWait w = { .co = qemu_coroutine_self() };

    if (!virtagent_call(va, method, params, timeout_ms, va_co_done, &w,
                        errp)) {
        return NULL;
    }
    while (!w.done) {
        qemu_coroutine_yield();
    }
    if (w.err) {
        error_propagate(errp, w.err);
        return NULL;
    }
    return w.result;
}

int64_t virtagent_timeout_ms(bool has_timeout, double timeout, Error **errp)
{
    if (!has_timeout) {
        return -1;
    }
    /* Also refuses NaN. A call waiting forever would hold the monitor. */
    if (!(timeout > 0 && timeout <= VA_TIMEOUT_MAX_S)) {
        error_setg(errp, "timeout must be more than 0 and at most %d "
                   "seconds", VA_TIMEOUT_MAX_S);
        return 0;
    }
    return MAX((int64_t)(timeout * 1000), 1);
}
