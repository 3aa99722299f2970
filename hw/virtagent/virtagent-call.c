/*
 * virtagent - our calls into the guest
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The channel hands us each answer as raw XML, inside chr_write (which
 * holds chr_write_lock and may run in a vCPU thread). Up to max-message
 * bytes of guest-controlled XML are too much to parse there, under the
 * BQL: the answer is queued, the chardev's bottom half submits it to
 * QEMU's thread pool (or, when it is small, decodes it itself, see
 * VA_INLINE_DECODE_MAX), and the worker checks and parses it (va-codec,
 * xmlrpc-c: thread-safe once va_codec_init() ran) and converts it to a
 * QObject when the caller wants one (plain refcounted data, no BQL
 * needed). The completion then runs in the main loop, from the thread
 * pool's bottom half: never inside the chardev's I/O callbacks.
 */
#include "qemu/osdep.h"
#include "block/thread-pool.h"
#include "qapi/error.h"
#include "qemu/coroutine.h"
#include "qemu/main-loop.h"
#include "qobject/qobject.h"
#include "hw/virtagent/virtagent-internal.h"
#include "trace.h"
#include "va-codec.h"
#include "va-errors.h"
#include "va-stream.h"

/*
 * Answers up to this size are decoded in the main loop, without the
 * round trip through the thread pool (a worker's wake-up and a second
 * bottom half: most of what QEMU's main thread spent on a va-ping). Their
 * cost is bounded: bench-core decodes the slowest 512-byte answer it
 * knows (hundreds of empty values) in 25-30 us, a 4 KiB one in 200 us,
 * so 512 bytes keeps the worst inline decode well under 0.1 ms.
 */
#define VA_INLINE_DECODE_MAX 512

/* Work for the thread pool; outlives its call if the chardev goes away. */
struct VirtagentDecode {
    VirtagentCall *call;        /* NULL once the call was abandoned */
    GBytes *answer;
    size_t max_len;
    bool want_qobject;
    /* The worker's output. */
    xmlrpc_value *result;
    QObject *qresult;
    GError *gerr;
    Error *err;
    /* What the worker spent, and the main loop copying the answer. */
    int64_t worker_us;
    int64_t copy_us;
};

static uint64_t va_next_call_id = 1;

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
    } else if (gerr->domain == VA_ERROR &&
               gerr->code == VA_ERROR_CANCELLED) {
        error_setg(&err, "virtagent '%s': cancelled by va-cancel",
                   va_label(va));
    } else {
        error_setg(&err, "virtagent '%s': %s", va_label(va), gerr->message);
    }
    return err;
}

/* Run the completion once, then forget the call. */
static void va_call_complete(VirtagentCall *c, xmlrpc_value *result,
                             QObject *qresult)
{
    VirtagentChardev *va = c->va;

    trace_virtagent_call_done(va_label(va), c->id,
                              c->err ? error_get_pretty(c->err) : "ok");
    QTAILQ_REMOVE(&va->calls, c, next);
    if (c->done_qobject) {
        c->done_qobject(c->err ? NULL : qresult, c->err, c->opaque);
    } else {
        c->done(c->err ? NULL : result, c->err, c->opaque);
    }
    g_clear_pointer(&c->answer, g_bytes_unref);
    g_free(c->method);
    g_free(c);
}

static int va_decode_work(void *opaque)
{
    VirtagentDecode *d = opaque;
    int64_t start = g_get_monotonic_time();
    size_t len;
    const char *xml = g_bytes_get_data(d->answer, &len);

    d->result = va_codec_decode_reply(xml ? xml : "", len, d->max_len,
                                      &d->gerr);
    if (d->result && d->want_qobject) {
        d->qresult = virtagent_to_qobject(d->result, &d->err);
        g_clear_pointer(&d->result, xmlrpc_DECREF);
    }
    d->worker_us = g_get_monotonic_time() - start;
    return 0;
}

/* Back in the main loop, from the thread pool's bottom half. */
static void va_decode_done(void *opaque, int ret)
{
    VirtagentDecode *d = opaque;
    VirtagentCall *c = d->call;
    int64_t start = g_get_monotonic_time();

    if (c) {
        const char *label = va_label(c->va);
        uint64_t id = c->id;

        c->decode = NULL;
        if (g_error_matches(d->gerr, VA_ERROR, VA_ERROR_PROTOCOL)) {
            /* The boundary refused it, or it is no XML-RPC answer. */
            va_channel_count_refused(c->va->ch);
        }
        /* An error already set is va-cancel's, which wins. */
        if (!c->err && d->gerr) {
            c->err = va_call_error(c->va, d->gerr);
        } else if (!c->err && d->err) {
            c->err = g_steal_pointer(&d->err);
        }
        va_call_complete(c, d->result, d->qresult);
        trace_virtagent_answer_decoded(label, id, g_bytes_get_size(d->answer),
                                       d->worker_us, d->copy_us,
                                       g_get_monotonic_time() - start);
    }
    if (d->result) {
        xmlrpc_DECREF(d->result);
    }
    qobject_unref(d->qresult);
    g_clear_error(&d->gerr);
    error_free(d->err);
    g_bytes_unref(d->answer);
    g_free(d);
}

static void va_decode_start(VirtagentCall *c)
{
    VirtagentDecode *d = g_new0(VirtagentDecode, 1);

    d->call = c;
    d->answer = g_steal_pointer(&c->answer);
    d->copy_us = c->copy_us;
    d->max_len = c->va->max_body;
    d->want_qobject = c->done_qobject != NULL;
    if (g_bytes_get_size(d->answer) <= VA_INLINE_DECODE_MAX) {
        va_decode_work(d);
        va_decode_done(d, 0);
        return;
    }
    c->decode = d;
    thread_pool_submit_aio(va_decode_work, d, va_decode_done, d);
}

void virtagent_run_completed(VirtagentChardev *va)
{
    VirtagentCall *c;

    while ((c = g_queue_pop_head(&va->completed))) {
        if (c->err) {
            va_call_complete(c, NULL, NULL);
        } else {
            va_decode_start(c);
        }
    }
}

void virtagent_abandon_calls(VirtagentChardev *va, const char *reason)
{
    VirtagentCall *c, *tmp;

    g_queue_clear(&va->completed);
    QTAILQ_FOREACH_SAFE(c, &va->calls, next, tmp) {
        if (c->cancel) {
            /* Its calls fail here too: the owner learns it from them. */
            QTAILQ_REMOVE(&va->calls, c, next);
            trace_virtagent_job_end(va_label(va), c->id, reason);
            if (!c->cancelled) {
                c->cancel(reason, c->opaque);
            }
            g_free(c->method);
            g_free(c);
            continue;
        }
        /* The channel was reset first: no call is left in it. */
        assert(!c->ch_id);
        if (c->decode) {
            c->decode->call = NULL;
            c->decode = NULL;
        }
        if (!c->err) {
            error_setg(&c->err, "virtagent '%s': %s", va_label(va), reason);
        }
        va_call_complete(c, NULL, NULL);
    }
}

/* Called from inside the channel (chr_write, timers, reset): only queue. */
static void va_call_answered(VAChannel *ch, VACallId id, const char *xml,
                             size_t len, const GError *gerr, void *opaque)
{
    VirtagentChardev *va = va_channel_opaque(ch);
    VirtagentCall *c = opaque;

    c->ch_id = 0;
    if (gerr) {
        c->err = va_call_error(va, gerr);
    } else {
        int64_t start = g_get_monotonic_time();

        c->answer = g_bytes_new(xml, len);
        c->copy_us = g_get_monotonic_time() - start;
    }
    g_queue_push_tail(&va->completed, c);
    qemu_bh_schedule(va->bh);
}

static VirtagentCall *va_call_start(VirtagentChardev *va,
                                    const char *method,
                                    xmlrpc_value *params,
                                    int64_t timeout_ms, VirtagentDone *done,
                                    VirtagentDoneQObject *done_qobject,
                                    void *opaque, Error **errp)
{
    g_autoptr(GError) gerr = NULL;
    g_autoptr(GBytes) body = NULL;
    const char *xml;
    size_t len;
    VirtagentCall *c;

    if (va->migrated) {
        error_setg(errp, "virtagent '%s': VM migrated", va_label(va));
        return NULL;
    }
    /*
     * After chardev-change a virtserialport that the guest holds open
     * reports no open until the guest reopens it; it takes bytes only
     * while the guest listens, though.
     */
    if (!va->fe_open && qemu_chr_be_can_write(CHARDEV(va)) <= 0) {
        error_setg(errp, "virtagent '%s': guest agent not connected "
                   "(port closed)", va_label(va));
        return NULL;
    }
    body = va_codec_encode_call(method, params, &gerr);
    if (!body) {
        error_setg(errp, "virtagent '%s': %s", va_label(va), gerr->message);
        return NULL;
    }
    c = g_new0(VirtagentCall, 1);
    c->va = va;
    c->method = g_strdup(method);
    c->start_ms = va_now_ms(NULL);
    c->done = done;
    c->done_qobject = done_qobject;
    c->opaque = opaque;
    xml = g_bytes_get_data(body, &len);
    c->ch_id = va_channel_call_xml(va->ch, xml, len, timeout_ms,
                                   va_call_answered, c, &gerr);
    if (!c->ch_id) {
        error_setg(errp, "virtagent '%s': %s", va_label(va), gerr->message);
        g_free(c->method);
        g_free(c);
        return NULL;
    }
    c->id = va_next_call_id++;
    QTAILQ_INSERT_TAIL(&va->calls, c, next);
    trace_virtagent_call(va_label(va), method, c->id);
    /*
     * To the guest now, not from the bottom half a main-loop iteration
     * later: the guest starts on it meanwhile. Every caller runs in the
     * main loop, under the BQL.
     */
    virtagent_flush(va);
    return c;
}

uint64_t virtagent_call(VirtagentChardev *va, const char *method,
                        xmlrpc_value *params, int64_t timeout_ms,
                        VirtagentDone *done, void *opaque, Error **errp)
{
    VirtagentCall *c = va_call_start(va, method, params, timeout_ms, done,
                                     NULL, opaque, errp);

    return c ? c->id : 0;
}

uint64_t virtagent_call_qobject(VirtagentChardev *va, const char *method,
                                xmlrpc_value *params, int64_t timeout_ms,
                                VirtagentDoneQObject *done, void *opaque,
                                Error **errp)
{
    VirtagentCall *c = va_call_start(va, method, params, timeout_ms, NULL,
                                     done, opaque, errp);

    return c ? c->id : 0;
}

bool virtagent_cancel(const char *chardev, uint64_t id, Error **errp)
{
    VirtagentChardev *va;
    VirtagentCall *c;

    QTAILQ_FOREACH(va, &virtagents, next) {
        if (chardev && strcmp(va_label(va), chardev)) {
            continue;
        }
        QTAILQ_FOREACH(c, &va->calls, next) {
            if (c->id != id) {
                continue;
            }
            if (c->cancel) {
                if (!c->cancelled) {
                    c->cancelled = true;
                    c->cancel("cancelled by va-cancel", c->opaque);
                }
            } else if (c->ch_id) {
                /* Completes through va_call_answered(). */
                va_channel_cancel(va->ch, c->ch_id);
            } else if (!c->err) {
                /* Answered: drop the answer, decoded or not. */
                error_setg(&c->err, "virtagent '%s': cancelled by "
                           "va-cancel", va_label(va));
            }
            return true;
        }
    }
    if (chardev) {
        error_setg(errp, "virtagent '%s' has no pending call %" PRIu64,
                   chardev, id);
    } else {
        error_setg(errp, "no pending virtagent call %" PRIu64, id);
    }
    return false;
}

uint64_t virtagent_job_start(VirtagentChardev *va, const char *what,
                             VirtagentJobCancel *cancel, void *opaque)
{
    VirtagentCall *c = g_new0(VirtagentCall, 1);

    c->va = va;
    c->id = va_next_call_id++;
    c->method = g_strdup(what);
    c->start_ms = va_now_ms(NULL);
    c->cancel = cancel;
    c->opaque = opaque;
    QTAILQ_INSERT_TAIL(&va->calls, c, next);
    trace_virtagent_call(va_label(va), what, c->id);
    return c->id;
}

void virtagent_job_end(uint64_t id)
{
    VirtagentChardev *va;
    VirtagentCall *c;

    QTAILQ_FOREACH(va, &virtagents, next) {
        QTAILQ_FOREACH(c, &va->calls, next) {
            if (c->id == id && c->cancel) {
                QTAILQ_REMOVE(&va->calls, c, next);
                trace_virtagent_job_end(va_label(va), id, c->cancelled ?
                                        "cancelled" : "ended");
                g_free(c->method);
                g_free(c);
                return;
            }
        }
    }
}

typedef struct VirtagentCoWait {
    Coroutine *co;
    bool done;
    xmlrpc_value *result;
    QObject *qresult;
    Error *err;
} VirtagentCoWait;

static void va_co_wake(VirtagentCoWait *w, Error *err)
{
    w->err = err;
    w->done = true;
    /*
     * Deferred: this may run inside a chardev's finalize or the shutdown
     * notifier, where re-entering the caller's coroutine is unexpected.
     */
    aio_co_schedule(qemu_get_aio_context(), w->co);
}

static void va_co_done(xmlrpc_value *result, Error *err, void *opaque)
{
    VirtagentCoWait *w = opaque;

    if (result) {
        xmlrpc_INCREF(result);
    }
    w->result = result;
    va_co_wake(w, err);
}

static void va_co_done_qobject(QObject *result, Error *err, void *opaque)
{
    VirtagentCoWait *w = opaque;

    w->qresult = qobject_ref(result);
    va_co_wake(w, err);
}

static bool coroutine_fn va_co_wait(VirtagentCoWait *w, Error **errp)
{
    while (!w->done) {
        qemu_coroutine_yield();
    }
    if (w->err) {
        error_propagate(errp, w->err);
        return false;
    }
    return true;
}

xmlrpc_value *coroutine_fn virtagent_co_call(VirtagentChardev *va,
                                             const char *method,
                                             xmlrpc_value *params,
                                             int64_t timeout_ms,
                                             Error **errp)
{
    uint64_t id;

    return virtagent_co_call_id(va, method, params, timeout_ms, &id, errp);
}

xmlrpc_value *coroutine_fn virtagent_co_call_id(VirtagentChardev *va,
                                                const char *method,
                                                xmlrpc_value *params,
                                                int64_t timeout_ms,
                                                uint64_t *id, Error **errp)
{
    VirtagentCoWait w = { .co = qemu_coroutine_self() };
    bool ok;

    *id = virtagent_call(va, method, params, timeout_ms, va_co_done, &w,
                         errp);
    if (!*id) {
        return NULL;
    }
    ok = va_co_wait(&w, errp);
    *id = 0;
    return ok ? w.result : NULL;
}

QObject *coroutine_fn virtagent_co_call_qobject(VirtagentChardev *va,
                                                const char *method,
                                                xmlrpc_value *params,
                                                int64_t timeout_ms,
                                                Error **errp)
{
    VirtagentCoWait w = { .co = qemu_coroutine_self() };

    if (!virtagent_call_qobject(va, method, params, timeout_ms,
                                va_co_done_qobject, &w, errp)) {
        return NULL;
    }
    return va_co_wait(&w, errp) ? w.qresult : NULL;
}

bool virtagent_has_method(VirtagentChardev *va, const char *method)
{
    return va->agent_methods &&
        g_strv_contains((const char *const *)va->agent_methods, method);
}

bool virtagent_has_feature(VirtagentChardev *va, const char *feature)
{
    return va->agent_features &&
        g_strv_contains((const char *const *)va->agent_features, feature);
}

/*
 * A call with a data stream, driven from a coroutine in the main loop.
 * The stream's callbacks run in the channel's thread (under the BQL,
 * maybe inside chr_write in a vCPU thread): they only record and wake
 * the coroutine. @s is NULL once the stream ended; while it is not, the
 * channel, and so @va, is alive.
 */
struct VirtagentStream {
    VirtagentChardev *va;
    VAStream *s;
    uint64_t id;
    Coroutine *co;
    bool waiting;
    /* Download: what arrived and was not taken yet (at most the window). */
    GByteArray *in;
    /* The call's outcome. */
    bool done;
    xmlrpc_value *result;
    Error *err;
};

/*
 * What a download may send ahead of what QEMU wrote into the host's fd.
 * The first window, 256 KiB, kept a guest that sends as fast as its port
 * takes waiting for credit: each wait an idle vCPU woken by an interrupt,
 * dear under TCG. With 1 MiB a get ran at 240 MB/s instead of 198 beside
 * cat into a raw port, 334 alone (medians of eight, one VM); QEMU holds at
 * most this much per transfer.
 */
#define VA_DOWNLOAD_WINDOW (1024 * 1024)

static void va_stream_wake(VirtagentStream *st)
{
    if (st->waiting) {
        st->waiting = false;
        aio_co_schedule(qemu_get_aio_context(), st->co);
    }
}

static void coroutine_fn va_stream_wait(VirtagentStream *st)
{
    st->co = qemu_coroutine_self();
    st->waiting = true;
    qemu_coroutine_yield();
}

static void va_stream_data(VAStream *s, const uint8_t *buf, size_t len,
                           void *opaque)
{
    VirtagentStream *st = opaque;

    g_byte_array_append(st->in, buf, len);
    va_stream_wake(st);
}

static void va_stream_writable(VAStream *s, void *opaque)
{
    va_stream_wake(opaque);
}

static void va_stream_ended(VAStream *s, VAStreamEnd how, void *opaque)
{
    VirtagentStream *st = opaque;

    trace_virtagent_stream_end(va_label(st->va), st->id,
                               how == VA_STREAM_END_OK ? "ok" : "abort",
                               va_stream_offset(s));
    st->s = NULL;
    va_stream_wake(st);
}

static void va_stream_call_done(xmlrpc_value *result, Error *err,
                                void *opaque)
{
    VirtagentStream *st = opaque;

    if (result) {
        xmlrpc_INCREF(result);
    }
    st->result = result;
    st->err = err;
    st->done = true;
    va_stream_wake(st);
}

static const VAStreamOps va_stream_ops = {
    .data = va_stream_data,
    .writable = va_stream_writable,
    .end = va_stream_ended,
};

VirtagentStream *virtagent_stream_call(VirtagentChardev *va,
                                       const char *method,
                                       xmlrpc_value *params,
                                       int64_t timeout_ms, bool upload,
                                       uint64_t *id, Error **errp)
{
    VirtagentStream *st = g_new0(VirtagentStream, 1);
    VirtagentCall *c;

    st->va = va;
    st->in = g_byte_array_new();
    c = va_call_start(va, method, params, timeout_ms, va_stream_call_done,
                      NULL, st, errp);
    if (!c) {
        g_byte_array_unref(st->in);
        g_free(st);
        return NULL;
    }
    /* Still under the BQL since the call went out: no data came yet. */
    st->s = va_channel_call_stream(va->ch, c->ch_id,
                                   upload ? VA_STREAM_UPLOAD
                                          : VA_STREAM_DOWNLOAD,
                                   &va_stream_ops, st);
    if (!st->s && c->ch_id) {
        /* Not to be: the call was just made. It ends, whatever it was. */
        va_channel_cancel(va->ch, c->ch_id);
    }
    if (st->s && !upload) {
        va_stream_set_window(st->s, VA_DOWNLOAD_WINDOW);
    }
    st->id = *id = c->id;
    return st;
}

GBytes *coroutine_fn virtagent_stream_receive(VirtagentStream *st)
{
    GBytes *b;

    while (!st->in->len && st->s && !st->done) {
        va_stream_wait(st);
    }
    if (!st->in->len) {
        return NULL;
    }
    b = g_byte_array_free_to_bytes(st->in);
    st->in = g_byte_array_new();
    return b;
}

void virtagent_stream_consumed(VirtagentStream *st, size_t len)
{
    if (st->s) {
        va_stream_consumed(st->s, len);
        virtagent_flush(st->va);
    }
}

size_t coroutine_fn virtagent_stream_send(VirtagentStream *st,
                                          const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t sent = 0;

    while (sent < len && st->s && !st->done) {
        size_t n = MIN(va_stream_room(st->s), len - sent);

        if (!n) {
            va_stream_wait(st);
            continue;
        }
        va_stream_send(st->s, p + sent, n);
        virtagent_flush(st->va);
        sent += n;
    }
    return sent;
}

void virtagent_stream_finish(VirtagentStream *st)
{
    if (st->s) {
        va_stream_finish(st->s);
        virtagent_flush(st->va);
    }
}

xmlrpc_value *coroutine_fn virtagent_stream_end(VirtagentStream *st,
                                                bool abort, Error **errp)
{
    xmlrpc_value *result;

    if (abort && !st->done) {
        if (st->s) {
            va_stream_abort(st->s);
            virtagent_flush(st->va);
        }
        virtagent_cancel(NULL, st->id, NULL);
    }
    while (!st->done) {
        va_stream_wait(st);
    }
    /* Ended with its call, before the call's completion ran. */
    assert(!st->s);
    result = st->result;
    if (st->err) {
        error_propagate(errp, st->err);
    }
    g_byte_array_unref(st->in);
    g_free(st);
    return result;
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
