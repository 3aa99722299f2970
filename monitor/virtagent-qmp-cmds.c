/*
 * virtagent - QMP commands (qapi/virtagent.json)
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The va-* commands are coroutine commands. In their synchronous form
 * they yield in the QMP dispatcher until the guest answers or the call
 * times out, while the main loop, the guest and HMP go on (but no other
 * QMP command); in their asynchronous form they return the call's id at
 * once and VA_CALL_DONE carries the outcome. Answers come from an
 * untrusted guest, so each is checked member by member before it becomes
 * a QAPI value; the same function builds the synchronous return and the
 * event's result.
 */
#include "qemu/osdep.h"
#include <poll.h>
#include "qapi/error.h"
#include "qapi/qapi-commands-virtagent.h"
#include "qapi/qapi-events-virtagent.h"
#include "qapi/qapi-visit-virtagent.h"
#include "qapi/qobject-input-visitor.h"
#include "qapi/qobject-output-visitor.h"
#include "qobject/qbool.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qobject.h"
#include "qobject/qstring.h"
#include "qemu/base64.h"
#include "crypto/hash.h"
#include "block/thread-pool.h"
#include "monitor/monitor.h"
#include "hw/virtagent/virtagent.h"
#include "monitor/virtagent-typed.h"

/* va.getfile's and va.getdmesg's default and largest sizes. */
#define VA_QMP_CHUNK_DEFAULT (64 * 1024)
#define VA_QMP_CHUNK_MAX (1024 * 1024)

/*
 * Default timeout of the synchronous forms: while one waits, no QMP
 * client gets an answer to anything (qapi/virtagent.json says more).
 */
#define VA_QMP_SYNC_TIMEOUT_MS 5000

/* A QAPI value as a QObject: what an event's 'any' member takes. */
#define VA_TO_QOBJECT(type, val) ({                         \
    QObject *obj_ = NULL;                                   \
    Visitor *v_ = qobject_output_visitor_new(&obj_);        \
    type *val_ = (val);                                     \
    visit_type_##type(v_, NULL, &val_, &error_abort);       \
    visit_complete(v_, &obj_);                              \
    visit_free(v_);                                         \
    obj_;                                                   \
})

/*
 * The guest's answer checked and turned into what the synchronous form
 * returns, as a QObject; NULL with @errp set. @answer is borrowed.
 */
typedef QObject *VaShapeFunc(QObject *answer, const VirtagentTyped *t,
                             Error **errp);

typedef struct VaPendingAsync {
    int64_t id;
    char *chardev;
    VaShapeFunc *shape;
    const VirtagentTyped *typed;
} VaPendingAsync;

static void va_async_done(QObject *answer, Error *err, void *opaque)
{
    VaPendingAsync *c = opaque;
    QObject *obj = NULL;

    if (!err) {
        obj = c->shape(answer, c->typed, &err);
    }
    qapi_event_send_va_call_done(c->id, c->chardev, obj,
                                 err ? error_get_pretty(err) : NULL);
    qobject_unref(obj);
    error_free(err);
    g_free(c->chardev);
    g_free(c);
}

/*
 * Make the call: synchronously, true with the answer in *@answer (a new
 * reference); asynchronously, true with *@answer NULL and the call's id
 * in *@id, VA_CALL_DONE carrying @shape's output (given @typed) later.
 * @params is borrowed.
 */
static bool coroutine_fn va_run_typed(const char *chardev, bool has_timeout,
                                      double timeout, bool async,
                                      const char *method,
                                      xmlrpc_value *params,
                                      VaShapeFunc *shape,
                                      const VirtagentTyped *typed,
                                      QObject **answer, int64_t *id,
                                      Error **errp)
{
    ERRP_GUARD();
    VirtagentChardev *va;
    VaPendingAsync *c;
    int64_t ms;

    *answer = NULL;
    ms = virtagent_timeout_ms(has_timeout, timeout, errp);
    if (*errp) {
        return false;
    }
    if (!has_timeout && !async) {
        ms = VA_QMP_SYNC_TIMEOUT_MS;
    }
    va = virtagent_find(chardev, errp);
    if (!va) {
        return false;
    }
    if (!async) {
        *answer = virtagent_co_call_qobject(va, method, params, ms, errp);
        return *answer != NULL;
    }
    c = g_new0(VaPendingAsync, 1);
    c->chardev = g_strdup(virtagent_id(va));
    c->shape = shape;
    c->typed = typed;
    /* The completion runs from a bottom half, after this returns. */
    c->id = virtagent_call_qobject(va, method, params, ms, va_async_done, c,
                                   errp);
    if (!c->id) {
        g_free(c->chardev);
        g_free(c);
        return false;
    }
    *id = c->id;
    return true;
}

static bool coroutine_fn va_run(const char *chardev, bool has_timeout,
                                double timeout, bool async,
                                const char *method, xmlrpc_value *params,
                                VaShapeFunc *shape, QObject **answer,
                                int64_t *id, Error **errp)
{
    return va_run_typed(chardev, has_timeout, timeout, async, method,
                        params, shape, NULL, answer, id, errp);
}

static QDict *va_answer_dict(QObject *answer, const char *method,
                             Error **errp)
{
    QDict *d = qobject_to(QDict, answer);

    if (!d) {
        error_setg(errp, "%s: the guest agent's answer is not a struct",
                   method);
    }
    return d;
}

static const char *va_get_str(QDict *d, const char *method, const char *key,
                              Error **errp)
{
    const char *s = qdict_get_try_str(d, key);

    if (!s) {
        error_setg(errp, "%s: the answer lacks string '%s'", method, key);
    }
    return s;
}

static bool va_get_int(QDict *d, const char *method, const char *key,
                       int64_t *val, Error **errp)
{
    QNum *n = qobject_to(QNum, qdict_get(d, key));

    if (!n || !qnum_get_try_int(n, val)) {
        error_setg(errp, "%s: the answer lacks integer '%s'", method, key);
        return false;
    }
    return true;
}

static xmlrpc_value *va_params(Error **errp, const char *format, ...)
{
    xmlrpc_value *params;
    const char *tail;
    xmlrpc_env env;
    va_list ap;

    xmlrpc_env_init(&env);
    va_start(ap, format);
    xmlrpc_build_value_va(&env, format, ap, &params, &tail);
    va_end(ap);
    if (env.fault_occurred) {
        error_setg(errp, "%s", env.fault_string);
        params = NULL;
    }
    xmlrpc_env_clean(&env);
    return params;
}

/* -- va-ping, va-shutdown: the answer does not matter ----------------- */

static QObject *va_shape_none(QObject *answer, const VirtagentTyped *t,
                              Error **errp)
{
    return QOBJECT(qdict_new());
}

static VaAsyncCall *va_no_answer(bool ok, QObject *answer, int64_t id)
{
    VaAsyncCall *ret;

    if (!ok) {
        return NULL;
    }
    ret = g_new0(VaAsyncCall, 1);
    if (answer) {
        qobject_unref(answer);
    } else {
        ret->has_id = true;
        ret->id = id;
    }
    return ret;
}

VaAsyncCall *coroutine_fn qmp_va_ping(const char *chardev, bool has_timeout,
                                      double timeout, bool has_async,
                                      bool async, Error **errp)
{
    QObject *answer;
    int64_t id;
    bool ok;

    ok = va_run(chardev, has_timeout, timeout, has_async && async,
                "va.ping", NULL, va_shape_none, &answer, &id, errp);
    return va_no_answer(ok, answer, id);
}

VaAsyncCall *coroutine_fn qmp_va_shutdown(const char *chardev,
                                          bool has_timeout, double timeout,
                                          bool has_async, bool async,
                                          VaShutdownMode mode, Error **errp)
{
    xmlrpc_value *params = va_params(errp, "(s)", VaShutdownMode_str(mode));
    QObject *answer;
    int64_t id;
    bool ok;

    if (!params) {
        return NULL;
    }
    ok = va_run(chardev, has_timeout, timeout, has_async && async,
                "va.shutdown", params, va_shape_none, &answer, &id, errp);
    xmlrpc_DECREF(params);
    return va_no_answer(ok, answer, id);
}

/* -- va-capabilities -------------------------------------------------- */

static VaCapabilities *va_capabilities_from(QObject *answer, Error **errp)
{
    QDict *d = va_answer_dict(answer, "va.capabilities", errp);
    g_autoptr(VaCapabilities) caps = NULL;
    const char *version;
    strList **tail;
    QListEntry *e;
    QList *list;

    version = d ? va_get_str(d, "va.capabilities", "version", errp) : NULL;
    if (!version) {
        return NULL;
    }
    list = qdict_get_qlist(d, "methods");
    if (!list) {
        error_setg(errp, "va.capabilities: the answer lacks array "
                   "'methods'");
        return NULL;
    }
    caps = g_new0(VaCapabilities, 1);
    caps->version = g_strdup(version);
    caps->has_methods = true;
    tail = &caps->methods;
    QLIST_FOREACH_ENTRY(list, e) {
        QString *s = qobject_to(QString, qlist_entry_obj(e));

        if (!s) {
            error_setg(errp, "va.capabilities: a method name is not a "
                       "string");
            return NULL;
        }
        QAPI_LIST_APPEND(tail, g_strdup(qstring_get_str(s)));
    }
    return g_steal_pointer(&caps);
}

static QObject *va_shape_capabilities(QObject *answer,
                                      const VirtagentTyped *t,
                                      Error **errp)
{
    g_autoptr(VaCapabilities) ret = va_capabilities_from(answer, errp);

    return ret ? VA_TO_QOBJECT(VaCapabilities, ret) : NULL;
}

VaCapabilities *coroutine_fn qmp_va_capabilities(const char *chardev,
                                                 bool has_timeout,
                                                 double timeout,
                                                 bool has_async, bool async,
                                                 Error **errp)
{
    QObject *answer;
    VaCapabilities *ret;
    int64_t id;

    if (!va_run(chardev, has_timeout, timeout, has_async && async,
                "va.capabilities", NULL, va_shape_capabilities, &answer,
                &id, errp)) {
        return NULL;
    }
    if (answer) {
        ret = va_capabilities_from(answer, errp);
        qobject_unref(answer);
        return ret;
    }
    ret = g_new0(VaCapabilities, 1);
    ret->has_id = true;
    ret->id = id;
    return ret;
}

/* -- va-info ---------------------------------------------------------- */

static VaGuestInfo *va_info_from(QObject *answer, Error **errp)
{
    QDict *d = va_answer_dict(answer, "va.info", errp);
    const char *version, *session, *hostname, *kernel;
    VaGuestInfo *info;
    int64_t uptime;
    QDict *os;

    version = d ? va_get_str(d, "va.info", "version", errp) : NULL;
    session = version ? va_get_str(d, "va.info", "session", errp) : NULL;
    hostname = session ? va_get_str(d, "va.info", "hostname", errp) : NULL;
    kernel = hostname ? va_get_str(d, "va.info", "kernel", errp) : NULL;
    if (!kernel || !va_get_int(d, "va.info", "uptime_s", &uptime, errp)) {
        return NULL;
    }
    info = g_new0(VaGuestInfo, 1);
    info->version = g_strdup(version);
    info->session = g_strdup(session);
    info->hostname = g_strdup(hostname);
    info->kernel = g_strdup(kernel);
    info->has_uptime = true;
    info->uptime = uptime;
    info->arch = g_strdup(qdict_get_try_str(d, "arch"));
    os = qdict_get_qdict(d, "os");
    if (os) {
        info->os = QOBJECT(qobject_ref(os));
    }
    return info;
}

static QObject *va_shape_info(QObject *answer, const VirtagentTyped *t,
                              Error **errp)
{
    g_autoptr(VaGuestInfo) ret = va_info_from(answer, errp);

    return ret ? VA_TO_QOBJECT(VaGuestInfo, ret) : NULL;
}

VaGuestInfo *coroutine_fn qmp_va_info(const char *chardev, bool has_timeout,
                                      double timeout, bool has_async,
                                      bool async, Error **errp)
{
    QObject *answer;
    VaGuestInfo *ret;
    int64_t id;

    if (!va_run(chardev, has_timeout, timeout, has_async && async,
                "va.info", NULL, va_shape_info, &answer, &id, errp)) {
        return NULL;
    }
    if (answer) {
        ret = va_info_from(answer, errp);
        qobject_unref(answer);
        return ret;
    }
    ret = g_new0(VaGuestInfo, 1);
    ret->has_id = true;
    ret->id = id;
    return ret;
}

/* -- files through a descriptor --------------------------------------- */

/* What one call moves: va.getfile's largest read, and as much put. */
#define VA_XFER_CHUNK (1024 * 1024)

typedef struct VaFdIo {
    int fd;
    uint8_t *buf;
    size_t len;
    int64_t wait_ms;    /* for a non-blocking fd that is not ready */
    char **cancelled;   /* the transfer's; set by va-cancel meanwhile */
    /* QEMU's crypto backend: nettle's SHA-256 is 3x GLib's here. */
    QCryptoHash *sha;
    char *digest;       /* once all moved */
} VaFdIo;

/* How often a worker waiting on a descriptor looks for a va-cancel. */
#define VA_FD_WAIT_SLICE_MS 100

/*
 * Waits until io->fd is ready for @events; false with errno (ECANCELED
 * after a va-cancel). A peer that never reads or writes must not keep
 * the worker past a va-cancel, so it polls in slices.
 */
static bool va_fd_wait(VaFdIo *io, short events)
{
    struct pollfd p = { .fd = io->fd, .events = events };
    int64_t left = io->wait_ms > 0 ? io->wait_ms : INT64_MAX;
    int n;

    do {
        if (qatomic_read(io->cancelled)) {
            errno = ECANCELED;
            return false;
        }
        n = poll(&p, 1, MIN(left, VA_FD_WAIT_SLICE_MS));
        if (n == 0) {
            left -= VA_FD_WAIT_SLICE_MS;
        }
    } while ((n < 0 && errno == EINTR) || (n == 0 && left > 0));
    if (n == 0) {
        errno = ETIMEDOUT;
    }
    return n > 0;
}

/* In a worker thread: all of io->buf into io->fd; 0 or -errno. */
static int va_fd_write_worker(void *opaque)
{
    VaFdIo *io = opaque;
    size_t done = 0;

    while (done < io->len) {
        ssize_t n;

        /* Blocking or not, a descriptor never ready must not pin us. */
        if (!va_fd_wait(io, POLLOUT)) {
            return -errno;
        }
        n = write(io->fd, io->buf + done, io->len - done);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        done += n;
    }
    qcrypto_hash_update(io->sha, (const char *)io->buf, io->len,
                        &error_abort);
    return 0;
}

/* In a worker thread: io->buf filled, short only at the end; -errno. */
static int va_fd_read_worker(void *opaque)
{
    VaFdIo *io = opaque;
    size_t got = 0;

    while (got < io->len) {
        ssize_t n;

        if (!va_fd_wait(io, POLLIN)) {
            return -errno;
        }
        n = read(io->fd, io->buf + got, io->len - got);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {
            break;
        }
        got += n;
    }
    qcrypto_hash_update(io->sha, (const char *)io->buf, got, &error_abort);
    return got;
}

/* The SHA-256 of all that moved: no more may move after this. */
static const char *va_fd_io_digest(VaFdIo *io)
{
    if (!io->digest) {
        qcrypto_hash_finalize_digest(io->sha, &io->digest, &error_abort);
    }
    return io->digest;
}

/* Sets @key of @st to @v (NULL: a fault is in @env) and drops @v. */
static void va_struct_take(xmlrpc_env *env, xmlrpc_value *st,
                           const char *key, xmlrpc_value *v)
{
    if (v) {
        if (!env->fault_occurred) {
            xmlrpc_struct_set_value(env, st, key, v);
        }
        xmlrpc_DECREF(v);
    }
}

/* va.putfile's options; @transfer -1: the first call. */
static xmlrpc_value *va_putfile_opts(xmlrpc_env *env, int64_t transfer,
                                     bool final, bool has_mode, int64_t mode,
                                     const char *owner)
{
    xmlrpc_value *opts = xmlrpc_struct_new(env);

    if (!opts) {
        return NULL;
    }
    if (transfer >= 0) {
        va_struct_take(env, opts, "transfer", xmlrpc_i8_new(env, transfer));
    }
    va_struct_take(env, opts, "final", xmlrpc_bool_new(env, final));
    if (final && has_mode) {
        va_struct_take(env, opts, "mode", xmlrpc_int_new(env, mode));
    }
    if (final && owner) {
        va_struct_take(env, opts, "owner", xmlrpc_string_new(env, owner));
    }
    if (env->fault_occurred) {
        xmlrpc_DECREF(opts);
        return NULL;
    }
    return opts;
}

/*
 * The chardev for transfer @x's next call @method, and in *ms the call's
 * timeout: @ms as given, or what is left of the whole transfer's. NULL
 * once cancelled (unless @cleanup) or out of time. Found again for each
 * call: the chardev may go away meanwhile.
 */
static VirtagentChardev *va_xfer_target(VaTransfer *x, const char *method,
                                        bool cleanup, int64_t *ms,
                                        Error **errp)
{
    VirtagentChardev *va = virtagent_find(x->chardev, errp);

    if (va && x->cancelled && !cleanup) {
        error_setg(errp, "%s", x->cancelled);
        return NULL;
    }
    if (va && x->deadline_ms) {
        *ms = x->deadline_ms - qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
        if (*ms <= 0) {
            error_setg(errp, "%s: the transfer took longer than its "
                       "timeout of %.3g s", method, x->call_ms / 1000.0);
            return NULL;
        }
    }
    return va;
}

/* One call of transfer @x; @cleanup: even when it was cancelled. */
static xmlrpc_value *coroutine_fn va_xfer_call(VaTransfer *x,
                                               const char *method,
                                               xmlrpc_value *params,
                                               bool cleanup, Error **errp)
{
    int64_t ms = x->call_ms;
    VirtagentChardev *va = va_xfer_target(x, method, cleanup, &ms, errp);
    xmlrpc_value *ret;

    if (!va) {
        xmlrpc_DECREF(params);
        return NULL;
    }
    ret = virtagent_co_call_id(va, method, params, ms, &x->call, errp);
    xmlrpc_DECREF(params);
    return ret;
}

static bool coroutine_fn va_xfer_get(VaTransfer *x, VaFdIo *io,
                                     Error **errp)
{
    int64_t offset = x->offset;
    xmlrpc_env env;
    bool eof = false;

    xmlrpc_env_init(&env);
    while (!eof) {
        xmlrpc_value *params, *res;
        const unsigned char *data = NULL;
        xmlrpc_bool e = false;
        size_t len = 0;
        int ret;

        params = va_params(errp, "(sIi)", x->path, (xmlrpc_int64)offset,
                           VA_XFER_CHUNK);
        res = params ? va_xfer_call(x, "va.getfile", params, false, errp)
                     : NULL;
        if (!res) {
            break;
        }
        xmlrpc_decompose_value(&env, res, "{s:6,s:b,*}", "data", &data,
                               &len, "eof", &e);
        xmlrpc_DECREF(res);
        if (env.fault_occurred || len > VA_XFER_CHUNK) {
            error_setg(errp, "va.getfile: the answer lacks base64 'data' "
                       "(at most 1 MiB) or boolean 'eof'");
            free((void *)data);
            break;
        }
        io->buf = (uint8_t *)data;
        io->len = len;
        ret = thread_pool_submit_co(va_fd_write_worker, io);
        free((void *)data);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "writing into '%s' on the host",
                             x->fdname);
            break;
        }
        offset += len;
        x->size += len;
        /* Nothing more where more was asked for: the end, whatever. */
        eof = e || len == 0;
    }
    xmlrpc_env_clean(&env);
    return eof;
}

/* @v as an integer, int or i8 (an agent sends small ones as int). */
static bool va_xml_int(xmlrpc_env *env, xmlrpc_value *v, int64_t *out)
{
    if (xmlrpc_value_type(v) == XMLRPC_TYPE_INT) {
        int i;

        xmlrpc_read_int(env, v, &i);
        *out = i;
    } else if (xmlrpc_value_type(v) == XMLRPC_TYPE_I8) {
        xmlrpc_int64 i;

        xmlrpc_read_i8(env, v, &i);
        *out = i;
    } else {
        return false;
    }
    return !env->fault_occurred;
}

static bool coroutine_fn va_xfer_put(VaTransfer *x, VaFdIo *io,
                                     Error **errp)
{
    g_autofree uint8_t *buf = g_malloc(VA_XFER_CHUNK);
    xmlrpc_env env;
    bool ok = false;

    xmlrpc_env_init(&env);
    while (!ok) {
        xmlrpc_value *params, *opts, *res, *tv = NULL, *sv = NULL;
        int64_t t = -1, size = -1;
        xmlrpc_bool done = false;
        bool final;
        int n;

        io->buf = buf;
        io->len = VA_XFER_CHUNK;
        n = thread_pool_submit_co(va_fd_read_worker, io);
        if (n < 0) {
            error_setg_errno(errp, -n, "reading '%s' on the host",
                             x->fdname);
            break;
        }
        final = n < VA_XFER_CHUNK;
        opts = va_putfile_opts(&env, x->transfer, final, x->has_mode,
                               x->mode, x->owner);
        if (!opts) {
            error_setg(errp, "va.putfile: %s", env.fault_string);
            break;
        }
        params = va_params(errp, "(s6S)", x->path, buf, (size_t)n, opts);
        xmlrpc_DECREF(opts);
        res = params ? va_xfer_call(x, "va.putfile", params, false, errp)
                     : NULL;
        if (!res) {
            break;
        }
        xmlrpc_decompose_value(&env, res, "{s:V,s:V,s:b,*}", "transfer", &tv,
                               "size", &sv, "done", &done);
        xmlrpc_DECREF(res);
        x->size += n;
        if (!env.fault_occurred) {
            va_xml_int(&env, tv, &t);
            va_xml_int(&env, sv, &size);
        }
        if (tv) {
            xmlrpc_DECREF(tv);
        }
        if (sv) {
            xmlrpc_DECREF(sv);
        }
        if (env.fault_occurred || t < 0 ||
            (x->transfer >= 0 && t != x->transfer) ||
            done != final || (final && size != x->size)) {
            error_setg(errp, "va.putfile: the answer lacks integer "
                       "'transfer' or 'size' or boolean 'done', or they are "
                       "not this transfer's");
            break;
        }
        x->transfer = t;
        ok = final;
    }
    xmlrpc_env_clean(&env);
    if (!ok && x->transfer >= 0) {
        /* Best effort: the agent drops it itself when a chunk fails. */
        Error *err = NULL;
        xmlrpc_value *params = va_params(&err, "(I)",
                                         (xmlrpc_int64)x->transfer);
        xmlrpc_value *res = params ? va_xfer_call(x, "va.putfile_abort",
                                                  params, true, &err)
                                   : NULL;

        if (res) {
            xmlrpc_DECREF(res);
        }
        error_free(err);
    }
    return ok;
}

/*
 * The data path's single call is bounded by what is left of the
 * transfer's timeout, else by an hour (VA_TIMEOUT_MAX_S): the chardev's
 * default is meant for one call's answer, not a whole file's bytes.
 */
#define VA_XFER_DATA_MAX_MS (3600 * 1000)

/* What the data path reads from the host's fd at a time. */
#define VA_XFER_DATA_READ (64 * 1024)

static VirtagentStream *coroutine_fn va_xfer_stream(VaTransfer *x,
                                                    const char *method,
                                                    xmlrpc_value *params,
                                                    Error **errp)
{
    int64_t ms = VA_XFER_DATA_MAX_MS;
    VirtagentChardev *va = va_xfer_target(x, method, false, &ms, errp);
    VirtagentStream *st = NULL;

    if (va) {
        st = virtagent_stream_call(va, method, params, ms, x->put, &x->call,
                                   errp);
    }
    xmlrpc_DECREF(params);
    return st;
}

/*
 * The guest's answer to a data method: @size bytes whose SHA-256 is
 * io->sha's, as the host counted them; @eof for a get.
 */
static bool va_xfer_data_answer(VaTransfer *x, VaFdIo *io,
                                const char *method, xmlrpc_value *res,
                                Error **errp)
{
    xmlrpc_value *sv = NULL;
    const char *sha = NULL;
    xmlrpc_bool eof = true;
    int64_t size = -1;
    xmlrpc_env env;
    bool ok;

    xmlrpc_env_init(&env);
    if (x->put) {
        xmlrpc_decompose_value(&env, res, "{s:V,s:s,*}", "size", &sv,
                               "sha256", &sha);
    } else {
        xmlrpc_decompose_value(&env, res, "{s:V,s:s,s:b,*}", "size", &sv,
                               "sha256", &sha, "eof", &eof);
    }
    if (!env.fault_occurred) {
        va_xml_int(&env, sv, &size);
    }
    ok = !env.fault_occurred && size >= 0;
    if (!ok) {
        error_setg(errp, "%s: the answer lacks integer 'size' or string "
                   "'sha256'%s", method, x->put ? "" : " or boolean 'eof'");
    } else if (size != x->size || !eof) {
        error_setg(errp, "%s: the guest says it moved %" PRId64 " bytes%s, "
                   "the host counted %" PRId64, method, size,
                   eof ? "" : " not to the end", x->size);
        ok = false;
    } else if (*sha && g_ascii_strcasecmp(sha, va_fd_io_digest(io))) {
        error_setg(errp, "%s: the guest's sha256 %s differs from the "
                   "host's %s", method, sha, va_fd_io_digest(io));
        ok = false;
    }
    if (sv) {
        xmlrpc_DECREF(sv);
    }
    free((void *)sha);
    xmlrpc_env_clean(&env);
    return ok;
}

/*
 * Download: what arrives is written into the fd by a worker thread, and
 * only then consumed, so QEMU holds at most the stream's window.
 */
static bool coroutine_fn va_xfer_get_data(VaTransfer *x, VaFdIo *io,
                                          Error **errp)
{
    xmlrpc_value *params, *res;
    VirtagentStream *st;
    Error *err = NULL;
    GBytes *b;
    int ret = 0;
    bool ok;

    /* Raw bodies cost the guest no escaping; only a data-raw agent knows. */
    params = x->raw ?
        va_params(errp, "(sII{s:b,s:b})", x->path, (xmlrpc_int64)x->offset,
                  (xmlrpc_int64)-1, "sha256", (xmlrpc_bool)false,
                  "raw", (xmlrpc_bool)true) :
        va_params(errp, "(sII{s:b})", x->path, (xmlrpc_int64)x->offset,
                  (xmlrpc_int64)-1, "sha256", (xmlrpc_bool)false);
    st = params ? va_xfer_stream(x, "va.getfile_data", params, errp) : NULL;
    if (!st) {
        return false;
    }
    while (!x->cancelled && (b = virtagent_stream_receive(st))) {
        size_t len;

        io->buf = (uint8_t *)g_bytes_get_data(b, &len);
        io->len = len;
        ret = thread_pool_submit_co(va_fd_write_worker, io);
        g_bytes_unref(b);
        if (ret < 0) {
            break;
        }
        x->size += len;
        virtagent_stream_consumed(st, len);
    }
    res = virtagent_stream_end(st, ret < 0, &err);
    x->call = 0;
    if (ret < 0) {
        error_free(err);
        error_setg_errno(errp, -ret, "writing into '%s' on the host",
                         x->fdname);
    } else if (!res) {
        error_propagate(errp, err);
    }
    ok = res && ret >= 0 &&
        va_xfer_data_answer(x, io, "va.getfile_data", res, errp);
    if (res) {
        xmlrpc_DECREF(res);
    }
    return ok;
}

/* Upload: read by a worker thread, sent as the guest's credit allows. */
static bool coroutine_fn va_xfer_put_data(VaTransfer *x, VaFdIo *io,
                                          Error **errp)
{
    g_autofree uint8_t *buf = g_malloc(VA_XFER_DATA_READ);
    xmlrpc_value *params, *opts, *res;
    VirtagentStream *st;
    Error *err = NULL;
    xmlrpc_env env;
    size_t sent = 0;
    int n;
    bool ok;

    xmlrpc_env_init(&env);
    opts = xmlrpc_struct_new(&env);
    if (opts) {
        va_struct_take(&env, opts, "sha256", xmlrpc_bool_new(&env, false));
    }
    if (opts && x->has_mode) {
        va_struct_take(&env, opts, "mode", xmlrpc_int_new(&env, x->mode));
    }
    if (opts && x->owner) {
        va_struct_take(&env, opts, "owner",
                       xmlrpc_string_new(&env, x->owner));
    }
    if (env.fault_occurred) {
        error_setg(errp, "va.putfile_data: %s", env.fault_string);
        if (opts) {
            xmlrpc_DECREF(opts);
        }
        xmlrpc_env_clean(&env);
        return false;
    }
    xmlrpc_env_clean(&env);
    params = va_params(errp, "(sS)", x->path, opts);
    xmlrpc_DECREF(opts);
    st = params ? va_xfer_stream(x, "va.putfile_data", params, errp) : NULL;
    if (!st) {
        return false;
    }
    do {
        io->buf = buf;
        io->len = VA_XFER_DATA_READ;
        n = thread_pool_submit_co(va_fd_read_worker, io);
        if (n <= 0 || x->cancelled) {
            break;
        }
        /* Short when the guest answered first: the answer says why. */
        sent = virtagent_stream_send(st, buf, n);
        x->size += sent;
    } while (sent == VA_XFER_DATA_READ);
    if (n >= 0 && !x->cancelled) {
        virtagent_stream_finish(st);
    }
    res = virtagent_stream_end(st, n < 0, &err);
    x->call = 0;
    if (n < 0) {
        error_free(err);
        error_setg_errno(errp, -n, "reading '%s' on the host", x->fdname);
    } else if (!res) {
        error_propagate(errp, err);
    }
    ok = res && n >= 0 &&
        va_xfer_data_answer(x, io, "va.putfile_data", res, errp);
    if (res) {
        xmlrpc_DECREF(res);
    }
    return ok;
}

/*
 * va-cancel, or the chardev going away. A get's pending chunk is
 * cancelled; a put's too once the guest has named the transfer, which
 * va.putfile_abort then drops (before that, the first chunk's answer
 * names it). A data path's call is cancelled at once: the core aborts
 * its stream, and the agent drops its temporary.
 */
static void va_xfer_cancel(const char *reason, void *opaque)
{
    VaTransfer *x = opaque;

    qatomic_set(&x->cancelled, g_strdup(reason));
    if (x->call && (x->data || !x->put || x->transfer >= 0)) {
        virtagent_cancel(NULL, x->call, NULL);
    }
}

bool va_xfer_begin(VaTransfer *x, Error **errp)
{
    VirtagentChardev *va = virtagent_find(x->chardev, errp);

    if (!va) {
        return false;
    }
    x->transfer = -1;
    x->data = virtagent_has_method(va, x->put ? "va.putfile_data"
                                              : "va.getfile_data");
    x->raw = x->data && !x->put && virtagent_has_feature(va, "data-raw");
    x->job = virtagent_job_start(va, x->put ? "va-putfile" : "va-getfile",
                                 va_xfer_cancel, x);
    return true;
}

bool coroutine_fn virtagent_co_transfer(VaTransfer *x, Error **errp)
{
    ERRP_GUARD();
    VaFdIo io = { .fd = x->fd, .wait_ms = x->call_ms,
                  .cancelled = &x->cancelled,
                  .sha = qcrypto_hash_new(QCRYPTO_HASH_ALGO_SHA256,
                                          &error_abort) };
    bool ok;

    if (!x->job && !va_xfer_begin(x, errp)) {
        return false;
    }
    x->size = 0;
    x->deadline_ms = x->call_ms > 0 ?
        qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + x->call_ms : 0;
    if (x->data) {
        ok = x->put ? va_xfer_put_data(x, &io, errp)
                    : va_xfer_get_data(x, &io, errp);
    } else {
        ok = x->put ? va_xfer_put(x, &io, errp) : va_xfer_get(x, &io, errp);
    }
    virtagent_job_end(x->job);
    if (ok) {
        x->sha256 = g_strdup(va_fd_io_digest(&io));
    } else {
        if (x->cancelled) {
            /* Whatever the call it interrupted said. */
            error_free(*errp);
            *errp = NULL;
            error_setg(errp, "%s", x->cancelled);
        }
        error_prepend(errp, "%s '%s' after %" PRId64 " bytes: ",
                      x->put ? "va-putfile" : "va-getfile", x->path,
                      x->size);
    }
    qcrypto_hash_free(io.sha);
    g_free(io.digest);
    g_clear_pointer(&x->cancelled, g_free);
    return ok;
}

/*
 * The descriptor @fdname passed with getfd, now this command's, if it is
 * open for reading (@put) or writing; or one of an fdset's.
 */
static int va_xfer_fd(const char *fdname, bool put, Error **errp)
{
    ERRP_GUARD();
    int fd;
    int mode;

    /*
     * An fdset's (add-fd), named as QEMU's file options name them: a dup
     * of its descriptor open for the transfer's direction, which
     * qemu_close() gives back.
     */
    if (g_str_has_prefix(fdname, "/dev/fdset/")) {
        fd = qemu_open(fdname, put ? O_RDONLY : O_WRONLY, errp);
        if (fd < 0) {
            error_prepend(errp, "'%s' has no descriptor open %s: ", fdname,
                          put ? "read-only" : "write-only");
        }
        return fd;
    }
    fd = monitor_get_fd(monitor_cur(), fdname, errp);
    if (fd < 0) {
        return -1;
    }
    mode = fcntl(fd, F_GETFL) & O_ACCMODE;
    if (mode == (put ? O_WRONLY : O_RDONLY)) {
        error_setg(errp, "'%s' is not open for %s", fdname,
                   put ? "reading" : "writing");
        close(fd);
        return -1;
    }
    return fd;
}

/* What the synchronous form returns: a chunk (get) or a transfer (put). */
static QObject *va_xfer_result(VaTransfer *x)
{
    QObject *obj;

    if (x->put) {
        VaFileTransfer ret = {
            .has_size = true, .size = x->size, .sha256 = x->sha256,
        };

        obj = VA_TO_QOBJECT(VaFileTransfer, &ret);
    } else {
        VaFileChunk ret = {
            .has_eof = true, .eof = true, .has_size = true, .size = x->size,
            .sha256 = x->sha256,
        };

        obj = VA_TO_QOBJECT(VaFileChunk, &ret);
    }
    return obj;
}

/* An asynchronous transfer: its own copies of the command's strings. */
typedef struct VaXferAsync {
    VaTransfer x;
    char *chardev;
    char *label;
    char *path;
    char *fdname;
    char *owner;
} VaXferAsync;

static void coroutine_fn va_xfer_async_co(void *opaque)
{
    VaXferAsync *a = opaque;
    Error *err = NULL;
    QObject *obj = NULL;

    if (virtagent_co_transfer(&a->x, &err)) {
        obj = va_xfer_result(&a->x);
    }
    qemu_close(a->x.fd);
    qapi_event_send_va_call_done(a->x.job, a->label, obj,
                                 err ? error_get_pretty(err) : NULL);
    qobject_unref(obj);
    error_free(err);
    g_free(a->x.sha256);
    g_free(a->chardev);
    g_free(a->label);
    g_free(a->path);
    g_free(a->fdname);
    g_free(a->owner);
    g_free(a);
}

/*
 * Transfer @x through the descriptor named x->fdname: synchronously,
 * true with x->size and x->sha256 set; asynchronously, true with the
 * job's id in *@id, VA_CALL_DONE carrying the outcome. @timeout bounds
 * the whole transfer (default: 5 s when synchronous, since it holds the
 * QMP dispatcher; each call the chardev's default when asynchronous).
 */
static bool coroutine_fn va_xfer_run(VaTransfer *x, bool has_timeout,
                                     double timeout, bool async,
                                     int64_t *id, Error **errp)
{
    ERRP_GUARD();
    VaXferAsync *a;
    bool ok;

    x->call_ms = virtagent_timeout_ms(has_timeout, timeout, errp);
    if (*errp) {
        return false;
    }
    if (!has_timeout && !async) {
        x->call_ms = VA_QMP_SYNC_TIMEOUT_MS;
    }
    /* The chardev first: a descriptor taken is ours to close. */
    if (!virtagent_find(x->chardev, errp)) {
        return false;
    }
    x->fd = va_xfer_fd(x->fdname, x->put, errp);
    if (x->fd < 0) {
        return false;
    }
    if (!async) {
        ok = virtagent_co_transfer(x, errp);
        qemu_close(x->fd);
        return ok;
    }
    a = g_new0(VaXferAsync, 1);
    a->x = *x;
    a->chardev = g_strdup(x->chardev);
    a->path = g_strdup(x->path);
    a->fdname = g_strdup(x->fdname);
    a->owner = g_strdup(x->owner);
    a->x.chardev = a->chardev;
    a->x.path = a->path;
    a->x.fdname = a->fdname;
    a->x.owner = a->owner;
    if (!va_xfer_begin(&a->x, errp)) {
        qemu_close(a->x.fd);
        g_free(a->chardev);
        g_free(a->path);
        g_free(a->fdname);
        g_free(a->owner);
        g_free(a);
        return false;
    }
    a->label = g_strdup(virtagent_id(virtagent_find(x->chardev,
                                                    &error_abort)));
    *id = a->x.job;
    /* It runs once this command's coroutine has returned. */
    aio_co_enter(qemu_get_aio_context(),
                 qemu_coroutine_create(va_xfer_async_co, a));
    return true;
}

/* -- va-putfile ------------------------------------------------------- */

static VaFileTransfer *va_file_transfer_from(QObject *answer, Error **errp)
{
    QDict *d = va_answer_dict(answer, "va.putfile", errp);
    VaFileTransfer *ret;
    int64_t size;

    if (!d || !va_get_int(d, "va.putfile", "size", &size, errp)) {
        return NULL;
    }
    if (qdict_get_try_bool(d, "done", false) != true) {
        error_setg(errp, "va.putfile: the answer says it is not done");
        return NULL;
    }
    ret = g_new0(VaFileTransfer, 1);
    ret->has_size = true;
    ret->size = size;
    return ret;
}

static QObject *va_shape_file_transfer(QObject *answer,
                                       const VirtagentTyped *t,
                                       Error **errp)
{
    g_autoptr(VaFileTransfer) ret = va_file_transfer_from(answer, errp);

    return ret ? VA_TO_QOBJECT(VaFileTransfer, ret) : NULL;
}

VaFileTransfer *coroutine_fn qmp_va_putfile(const char *chardev,
                                            bool has_timeout, double timeout,
                                            bool has_async, bool async,
                                            const char *path,
                                            const char *data,
                                            const char *fdname,
                                            bool has_mode, int64_t mode,
                                            const char *owner, Error **errp)
{
    ERRP_GUARD();
    g_autofree uint8_t *bytes = NULL;
    VaFileTransfer *ret;
    xmlrpc_value *params, *opts;
    xmlrpc_env env;
    QObject *answer;
    size_t len;
    int64_t id;
    bool ok;

    if (!data == !fdname) {
        error_setg(errp, "give either 'data' or 'fdname'");
        return NULL;
    }
    if (has_mode && (mode < 0 || mode > 07777)) {
        error_setg(errp, "mode must be 0 to 07777");
        return NULL;
    }
    if (fdname) {
        VaTransfer x = {
            .chardev = chardev, .path = path, .fdname = fdname, .put = true,
            .has_mode = has_mode, .mode = mode, .owner = owner,
        };

        if (!va_xfer_run(&x, has_timeout, timeout, has_async && async,
                         &id, errp)) {
            return NULL;
        }
        ret = g_new0(VaFileTransfer, 1);
        if (has_async && async) {
            ret->has_id = true;
            ret->id = id;
        } else {
            ret->has_size = true;
            ret->size = x.size;
            ret->sha256 = x.sha256;
        }
        return ret;
    }
    bytes = qbase64_decode(data, -1, &len, errp);
    if (!bytes) {
        return NULL;
    }
    if (len > VA_QMP_CHUNK_MAX) {
        error_setg(errp, "'data' is at most 1 MiB: pass a larger file with "
                   "'fdname'");
        return NULL;
    }
    xmlrpc_env_init(&env);
    opts = va_putfile_opts(&env, -1, true, has_mode, mode, owner);
    if (!opts) {
        error_setg(errp, "va.putfile: %s", env.fault_string);
        xmlrpc_env_clean(&env);
        return NULL;
    }
    xmlrpc_env_clean(&env);
    params = va_params(errp, "(s6S)", path, bytes, len, opts);
    xmlrpc_DECREF(opts);
    if (!params) {
        return NULL;
    }
    ok = va_run(chardev, has_timeout, timeout, has_async && async,
                "va.putfile", params, va_shape_file_transfer, &answer, &id,
                errp);
    xmlrpc_DECREF(params);
    if (!ok) {
        return NULL;
    }
    if (!answer) {
        ret = g_new0(VaFileTransfer, 1);
        ret->has_id = true;
        ret->id = id;
        return ret;
    }
    ret = va_file_transfer_from(answer, errp);
    qobject_unref(answer);
    if (ret) {
        qcrypto_hash_digest(QCRYPTO_HASH_ALGO_SHA256, (const char *)bytes,
                            len, &ret->sha256, &error_abort);
    }
    return ret;
}

/* -- va-getfile ------------------------------------------------------- */

static VaFileChunk *va_file_chunk_from(QObject *answer, Error **errp)
{
    QDict *d = va_answer_dict(answer, "va.getfile", errp);
    VaFileChunk *chunk;
    const char *data;
    QDict *b64;
    QBool *eof;
    int64_t size;

    if (!d) {
        return NULL;
    }
    /* <base64> arrives as {"base64": "..."} (see virtagent_to_qobject) */
    b64 = qdict_get_qdict(d, "data");
    data = b64 ? qdict_get_try_str(b64, "base64") : NULL;
    eof = qobject_to(QBool, qdict_get(d, "eof"));
    if (!data || !eof) {
        error_setg(errp, "va.getfile: the answer lacks base64 'data' or "
                   "boolean 'eof'");
        return NULL;
    }
    if (!va_get_int(d, "va.getfile", "size", &size, errp)) {
        return NULL;
    }
    chunk = g_new0(VaFileChunk, 1);
    chunk->data = g_strdup(data);
    chunk->has_eof = true;
    chunk->eof = qbool_get_bool(eof);
    chunk->has_size = true;
    chunk->size = size;
    return chunk;
}

static QObject *va_shape_file_chunk(QObject *answer,
                                    const VirtagentTyped *t, Error **errp)
{
    g_autoptr(VaFileChunk) ret = va_file_chunk_from(answer, errp);

    return ret ? VA_TO_QOBJECT(VaFileChunk, ret) : NULL;
}

VaFileChunk *coroutine_fn qmp_va_getfile(const char *chardev,
                                         bool has_timeout, double timeout,
                                         bool has_async, bool async,
                                         const char *path, bool has_offset,
                                         int64_t offset, bool has_length,
                                         int64_t length, const char *fdname,
                                         Error **errp)
{
    ERRP_GUARD();
    QObject *answer;
    xmlrpc_value *params;
    VaFileChunk *ret;
    int64_t id;
    bool ok;

    if (!has_offset) {
        offset = 0;
    }
    if (fdname) {
        VaTransfer x = {
            .chardev = chardev, .path = path, .fdname = fdname,
            .offset = offset,
        };

        if (has_length || offset < 0) {
            error_setg(errp, "with 'fdname', the file is read from 'offset' "
                       "(at least 0) to its end, without 'length'");
            return NULL;
        }
        if (!va_xfer_run(&x, has_timeout, timeout, has_async && async,
                         &id, errp)) {
            return NULL;
        }
        ret = g_new0(VaFileChunk, 1);
        if (has_async && async) {
            ret->has_id = true;
            ret->id = id;
        } else {
            ret->has_eof = true;
            ret->eof = true;
            ret->has_size = true;
            ret->size = x.size;
            ret->sha256 = x.sha256;
        }
        return ret;
    }
    if (!has_length) {
        length = VA_QMP_CHUNK_DEFAULT;
    }
    if (offset < 0 || length <= 0 || length > VA_QMP_CHUNK_MAX) {
        error_setg(errp, "offset must be at least 0 and length 1 to %d",
                   VA_QMP_CHUNK_MAX);
        return NULL;
    }
    params = va_params(errp, "(sIi)", path, (xmlrpc_int64)offset,
                       (int)length);
    if (!params) {
        error_prepend(errp, "path: ");
        return NULL;
    }
    ok = va_run(chardev, has_timeout, timeout, has_async && async,
                "va.getfile", params, va_shape_file_chunk, &answer, &id,
                errp);
    xmlrpc_DECREF(params);
    if (!ok) {
        return NULL;
    }
    if (answer) {
        ret = va_file_chunk_from(answer, errp);
        qobject_unref(answer);
        return ret;
    }
    ret = g_new0(VaFileChunk, 1);
    ret->has_id = true;
    ret->id = id;
    return ret;
}

/* -- va-getdmesg ------------------------------------------------------ */

static VaDmesg *va_dmesg_from(QObject *answer, Error **errp)
{
    QString *text = qobject_to(QString, answer);
    VaDmesg *ret;

    if (!text) {
        error_setg(errp, "va.getdmesg: the answer is not a string");
        return NULL;
    }
    ret = g_new0(VaDmesg, 1);
    ret->text = g_strdup(qstring_get_str(text));
    return ret;
}

static QObject *va_shape_dmesg(QObject *answer, const VirtagentTyped *t,
                               Error **errp)
{
    g_autoptr(VaDmesg) ret = va_dmesg_from(answer, errp);

    return ret ? VA_TO_QOBJECT(VaDmesg, ret) : NULL;
}

VaDmesg *coroutine_fn qmp_va_getdmesg(const char *chardev, bool has_timeout,
                                      double timeout, bool has_async,
                                      bool async, bool has_max_bytes,
                                      int64_t max_bytes, Error **errp)
{
    QObject *answer;
    xmlrpc_value *params;
    VaDmesg *ret;
    int64_t id;
    bool ok;

    if (!has_max_bytes) {
        max_bytes = VA_QMP_CHUNK_DEFAULT;
    }
    if (max_bytes <= 0 || max_bytes > VA_QMP_CHUNK_MAX) {
        error_setg(errp, "max-bytes must be 1 to %d", VA_QMP_CHUNK_MAX);
        return NULL;
    }
    params = va_params(errp, "(i)", (int)max_bytes);
    if (!params) {
        return NULL;
    }
    ok = va_run(chardev, has_timeout, timeout, has_async && async,
                "va.getdmesg", params, va_shape_dmesg, &answer, &id, errp);
    xmlrpc_DECREF(params);
    if (!ok) {
        return NULL;
    }
    if (answer) {
        ret = va_dmesg_from(answer, errp);
        qobject_unref(answer);
        return ret;
    }
    ret = g_new0(VaDmesg, 1);
    ret->has_id = true;
    ret->id = id;
    return ret;
}

/* -- the commands of qemu-ga's kind ----------------------------------- */

/*
 * va_NAME_from(): the guest's answer, shaped by virtagent_typed_answer(),
 * through QAPI's input visitor, which refuses a wrong type or enum value,
 * a missing member and one the type lacks; va_shape_NAME(): the same as
 * a QObject, for VA_CALL_DONE.
 */
#define VA_DEFINE_TYPED(Type, name)                                        \
Type *va_##name##_from(const VirtagentTyped *t, QObject *answer,           \
                       Error **errp)                                       \
{                                                                          \
    g_autoptr(QDict) d = virtagent_typed_answer(answer, t, errp);          \
    Type *ret = NULL;                                                      \
    Error *err = NULL;                                                     \
    Visitor *v;                                                            \
                                                                           \
    if (!d) {                                                              \
        return NULL;                                                       \
    }                                                                      \
    v = qobject_input_visitor_new(QOBJECT(d));                             \
    if (!visit_type_##Type(v, NULL, &ret, &err)) {                         \
        error_setg(errp, "%s: the guest agent's answer does not fit: %s",  \
                   t->method, error_get_pretty(err));                      \
        error_free(err);                                                   \
    }                                                                      \
    visit_free(v);                                                         \
    return ret;                                                            \
}                                                                          \
                                                                           \
static QObject *va_shape_##name(QObject *answer, const VirtagentTyped *t,  \
                                Error **errp)                              \
{                                                                          \
    g_autoptr(Type) ret = va_##name##_from(t, answer, errp);               \
                                                                           \
    return ret ? VA_TO_QOBJECT(Type, ret) : NULL;                          \
}

VA_DEFINE_TYPED(VaExecPid, exec_pid)
VA_DEFINE_TYPED(VaExecStatus, exec_status)
VA_DEFINE_TYPED(VaCount, count)
VA_DEFINE_TYPED(VaFsfreezeStatus, fsfreeze_status)
VA_DEFINE_TYPED(VaNetworkInterfaces, network_interfaces)
VA_DEFINE_TYPED(VaTime, time)
VA_DEFINE_TYPED(VaUsers, users)
VA_DEFINE_TYPED(VaFilesystems, filesystems)
VA_DEFINE_TYPED(VaVcpus, vcpus)
VA_DEFINE_TYPED(VaAuthorizedKeys, authorized_keys)

/*
 * The end of a typed command: the call, then its return: the answer
 * checked, or the call's id. Takes the command's chardev, has_timeout,
 * timeout, has_async, async and errp; consumes @params.
 */
#define VA_TYPED_CALL(Type, name, typed, params) ({                         \
    const VirtagentTyped *t_ = (typed);                                     \
    xmlrpc_value *p_ = (params);                                            \
    QObject *answer_;                                                       \
    Type *ret_ = NULL;                                                      \
    int64_t id_;                                                            \
                                                                            \
    if (va_run_typed(chardev, has_timeout, timeout, has_async && async,     \
                     t_->method, p_, va_shape_##name, t_, &answer_, &id_,   \
                     errp)) {                                               \
        if (answer_) {                                                      \
            ret_ = va_##name##_from(t_, answer_, errp);                     \
            qobject_unref(answer_);                                         \
        } else {                                                            \
            ret_ = g_new0(Type, 1);                                         \
            ret_->has_id = true;                                            \
            ret_->id = id_;                                                 \
        }                                                                   \
    }                                                                       \
    if (p_) {                                                               \
        xmlrpc_DECREF(p_);                                                  \
    }                                                                       \
    ret_;                                                                   \
})

static const char *const va_exec_pid_members[] = { "pid", NULL };
static const char *const va_exec_status_members[] = { "exited", NULL };
static const char *const va_exec_data_members[] = {
    "out-data", "err-data", NULL,
};
static const char *const va_keys_members[] = { "keys", NULL };

const VirtagentTyped va_typed_exec = {
    .method = "va.exec", .required = va_exec_pid_members,
};
const VirtagentTyped va_typed_exec_status = {
    .method = "va.exec_status", .required = va_exec_status_members,
    .base64 = va_exec_data_members,
};
const VirtagentTyped va_typed_fsfreeze_freeze = {
    .method = "va.fsfreeze_freeze", .wrap = "count",
};
static const VirtagentTyped va_typed_fsfreeze_freeze_list = {
    .method = "va.fsfreeze_freeze_list", .wrap = "count",
};
const VirtagentTyped va_typed_fsfreeze_thaw = {
    .method = "va.fsfreeze_thaw", .wrap = "count",
};
const VirtagentTyped va_typed_fsfreeze_status = {
    .method = "va.fsfreeze_status", .wrap = "status",
};
const VirtagentTyped va_typed_network = {
    .method = "va.network_get_interfaces", .wrap = "interfaces",
};
const VirtagentTyped va_typed_get_time = {
    .method = "va.get_time", .wrap = "time",
};
static const VirtagentTyped va_typed_set_time = {
    .method = "va.set_time", .wrap = "time",
};
const VirtagentTyped va_typed_users = {
    .method = "va.get_users", .wrap = "users",
};
const VirtagentTyped va_typed_fsinfo = {
    .method = "va.get_fsinfo", .wrap = "filesystems",
};
static const VirtagentTyped va_typed_get_vcpus = {
    .method = "va.get_vcpus", .wrap = "vcpus",
};
static const VirtagentTyped va_typed_set_vcpus = {
    .method = "va.set_vcpus", .wrap = "count",
};
static const VirtagentTyped va_typed_ssh_get = {
    .method = "va.ssh_get_authorized_keys", .required = va_keys_members,
};
/* Methods that answer true. */
static const VirtagentTyped va_typed_set_password = {
    .method = "va.set_user_password",
};
static const VirtagentTyped va_typed_ssh_add = {
    .method = "va.ssh_add_authorized_keys",
};
static const VirtagentTyped va_typed_ssh_remove = {
    .method = "va.ssh_remove_authorized_keys",
};
static const VirtagentTyped va_typed_suspend[VA_SUSPEND_MODE__MAX] = {
    [VA_SUSPEND_MODE_RAM] = { .method = "va.suspend_ram" },
    [VA_SUSPEND_MODE_DISK] = { .method = "va.suspend_disk" },
    [VA_SUSPEND_MODE_HYBRID] = { .method = "va.suspend_hybrid" },
};

static QObject *va_shape_true(QObject *answer, const VirtagentTyped *t,
                              Error **errp)
{
    QBool *b = qobject_to(QBool, answer);

    if (!b || !qbool_get_bool(b)) {
        error_setg(errp, "%s: the guest agent's answer is not true",
                   t->method);
        return NULL;
    }
    return QOBJECT(qdict_new());
}

/* A typed command whose method answers true; consumes @params. */
static VaAsyncCall *coroutine_fn va_true_call(const char *chardev,
                                              bool has_timeout,
                                              double timeout, bool async,
                                              const VirtagentTyped *t,
                                              xmlrpc_value *params,
                                              Error **errp)
{
    VaAsyncCall *ret = NULL;
    QObject *answer, *ok;
    int64_t id;

    if (va_run_typed(chardev, has_timeout, timeout, async, t->method,
                     params, va_shape_true, t, &answer, &id, errp)) {
        if (answer) {
            ok = va_shape_true(answer, t, errp);
            qobject_unref(answer);
            if (ok) {
                qobject_unref(ok);
                ret = g_new0(VaAsyncCall, 1);
            }
        } else {
            ret = g_new0(VaAsyncCall, 1);
            ret->has_id = true;
            ret->id = id;
        }
    }
    if (params) {
        xmlrpc_DECREF(params);
    }
    return ret;
}

/* Each of @list as an XML-RPC string, in an array; NULL with @env set. */
static xmlrpc_value *va_strlist_value(xmlrpc_env *env, strList *list)
{
    xmlrpc_value *arr = xmlrpc_array_new(env);

    for (; list && !env->fault_occurred; list = list->next) {
        xmlrpc_value *s = xmlrpc_string_new(env, list->value);

        if (!env->fault_occurred) {
            xmlrpc_array_append_item(env, arr, s);
            xmlrpc_DECREF(s);
        }
    }
    if (env->fault_occurred && arr) {
        xmlrpc_DECREF(arr);
        return NULL;
    }
    return arr;
}

/* The parameters of the strings @s, then the string list @list. */
static xmlrpc_value *va_params_strlist(Error **errp, const char *s,
                                       strList *list)
{
    xmlrpc_value *params = NULL, *arr;
    xmlrpc_env env;

    xmlrpc_env_init(&env);
    arr = va_strlist_value(&env, list);
    if (arr) {
        params = s ? xmlrpc_build_value(&env, "(sA)", s, arr)
                   : xmlrpc_build_value(&env, "(A)", arr);
        xmlrpc_DECREF(arr);
    }
    if (env.fault_occurred) {
        error_setg(errp, "%s", env.fault_string);
        params = NULL;
    }
    xmlrpc_env_clean(&env);
    return params;
}

/* va.exec: its limits, as the guest's (docs/protocol.md 5.2). */
#define VA_EXEC_INPUT_MAX (1024 * 1024)
#define VA_EXEC_OUTPUT_MAX (512 * 1024)

/* va-exec's options struct; NULL with @errp set when one is wrong. */
static xmlrpc_value *va_exec_options(bool has_env, strList *env_list,
                                     const char *input_data,
                                     VaExecCaptureOutput *capture,
                                     bool has_kill_after, double kill_after,
                                     bool has_output_limit,
                                     int64_t output_limit, Error **errp)
{
    g_autofree uint8_t *input = NULL;
    xmlrpc_value *opts, *v = NULL;
    size_t len = 0;
    xmlrpc_env env;

    if (has_kill_after && !(kill_after > 0 && kill_after <= G_MAXINT / 1000)) {
        error_setg(errp, "kill-after must be more than 0 and at most %d "
                   "seconds", G_MAXINT / 1000);
        return NULL;
    }
    if (has_output_limit &&
        (output_limit < 1 || output_limit > VA_EXEC_OUTPUT_MAX)) {
        error_setg(errp, "output-limit must be 1 to %d", VA_EXEC_OUTPUT_MAX);
        return NULL;
    }
    if (input_data) {
        input = qbase64_decode(input_data, -1, &len, errp);
        if (!input) {
            error_prepend(errp, "input-data: ");
            return NULL;
        }
        if (len > VA_EXEC_INPUT_MAX) {
            error_setg(errp, "input-data is over %d bytes decoded",
                       VA_EXEC_INPUT_MAX);
            return NULL;
        }
    }
    xmlrpc_env_init(&env);
    opts = xmlrpc_struct_new(&env);
    if (has_env) {
        v = va_strlist_value(&env, env_list);
        if (v) {
            xmlrpc_struct_set_value(&env, opts, "env", v);
            xmlrpc_DECREF(v);
        }
    }
    if (input && !env.fault_occurred) {
        v = xmlrpc_base64_new(&env, len, input);
        if (v) {
            xmlrpc_struct_set_value(&env, opts, "input-data", v);
            xmlrpc_DECREF(v);
        }
    }
    if (capture && !env.fault_occurred) {
        v = capture->type == QTYPE_QBOOL ?
            xmlrpc_bool_new(&env, capture->u.flag) :
            xmlrpc_string_new(&env,
                              VaExecCaptureOutputMode_str(capture->u.mode));
        if (v) {
            xmlrpc_struct_set_value(&env, opts, "capture-output", v);
            xmlrpc_DECREF(v);
        }
    }
    if (has_kill_after && !env.fault_occurred) {
        v = xmlrpc_int_new(&env, MAX((int)(kill_after * 1000), 1));
        xmlrpc_struct_set_value(&env, opts, "timeout-ms", v);
        xmlrpc_DECREF(v);
    }
    if (has_output_limit && !env.fault_occurred) {
        v = xmlrpc_int_new(&env, (int)output_limit);
        xmlrpc_struct_set_value(&env, opts, "output-limit", v);
        xmlrpc_DECREF(v);
    }
    if (env.fault_occurred) {
        error_setg(errp, "%s", env.fault_string);
        if (opts) {
            xmlrpc_DECREF(opts);
        }
        opts = NULL;
    }
    xmlrpc_env_clean(&env);
    return opts;
}

VaExecPid *coroutine_fn qmp_va_exec(const char *chardev, bool has_timeout,
                                    double timeout, bool has_async,
                                    bool async, const char *path,
                                    bool has_arg, strList *arg,
                                    bool has_env, strList *env,
                                    const char *input_data,
                                    VaExecCaptureOutput *capture_output,
                                    bool has_kill_after, double kill_after,
                                    bool has_output_limit,
                                    int64_t output_limit, Error **errp)
{
    strList argv = { .next = arg, .value = (char *)path };
    xmlrpc_value *params, *opts;
    xmlrpc_env xenv;

    if (!path[0]) {
        error_setg(errp, "path must name a program");
        return NULL;
    }
    params = va_params_strlist(errp, NULL, &argv);
    if (!params) {
        return NULL;
    }
    if (has_env || input_data || capture_output || has_kill_after ||
        has_output_limit) {
        opts = va_exec_options(has_env, env, input_data, capture_output,
                               has_kill_after, kill_after, has_output_limit,
                               output_limit, errp);
        if (!opts) {
            xmlrpc_DECREF(params);
            return NULL;
        }
        xmlrpc_env_init(&xenv);
        xmlrpc_array_append_item(&xenv, params, opts);
        xmlrpc_DECREF(opts);
        if (xenv.fault_occurred) {
            error_setg(errp, "%s", xenv.fault_string);
            xmlrpc_env_clean(&xenv);
            xmlrpc_DECREF(params);
            return NULL;
        }
        xmlrpc_env_clean(&xenv);
    }
    return VA_TYPED_CALL(VaExecPid, exec_pid, &va_typed_exec, params);
}

VaExecStatus *coroutine_fn qmp_va_exec_status(const char *chardev,
                                              bool has_timeout,
                                              double timeout,
                                              bool has_async, bool async,
                                              int64_t pid, Error **errp)
{
    xmlrpc_value *params;

    if (pid <= 0 || pid > G_MAXINT) {
        error_setg(errp, "pid must be 1 to %d", G_MAXINT);
        return NULL;
    }
    params = va_params(errp, "(i)", (int)pid);
    if (!params) {
        return NULL;
    }
    return VA_TYPED_CALL(VaExecStatus, exec_status, &va_typed_exec_status,
                         params);
}

VaCount *coroutine_fn qmp_va_fsfreeze_freeze(const char *chardev,
                                             bool has_timeout,
                                             double timeout, bool has_async,
                                             bool async,
                                             bool has_mountpoints,
                                             strList *mountpoints,
                                             Error **errp)
{
    xmlrpc_value *params;

    if (!has_mountpoints) {
        return VA_TYPED_CALL(VaCount, count, &va_typed_fsfreeze_freeze,
                             NULL);
    }
    params = va_params_strlist(errp, NULL, mountpoints);
    if (!params) {
        return NULL;
    }
    return VA_TYPED_CALL(VaCount, count, &va_typed_fsfreeze_freeze_list,
                         params);
}

VaCount *coroutine_fn qmp_va_fsfreeze_thaw(const char *chardev,
                                           bool has_timeout, double timeout,
                                           bool has_async, bool async,
                                           Error **errp)
{
    return VA_TYPED_CALL(VaCount, count, &va_typed_fsfreeze_thaw, NULL);
}

VaFsfreezeStatus *coroutine_fn qmp_va_fsfreeze_status(const char *chardev,
                                                       bool has_timeout,
                                                       double timeout,
                                                       bool has_async,
                                                       bool async,
                                                       Error **errp)
{
    return VA_TYPED_CALL(VaFsfreezeStatus, fsfreeze_status,
                         &va_typed_fsfreeze_status, NULL);
}

VaNetworkInterfaces *coroutine_fn
qmp_va_network_get_interfaces(const char *chardev, bool has_timeout,
                              double timeout, bool has_async, bool async,
                              Error **errp)
{
    return VA_TYPED_CALL(VaNetworkInterfaces, network_interfaces,
                         &va_typed_network, NULL);
}

VaTime *coroutine_fn qmp_va_get_time(const char *chardev, bool has_timeout,
                                     double timeout, bool has_async,
                                     bool async, Error **errp)
{
    return VA_TYPED_CALL(VaTime, time, &va_typed_get_time, NULL);
}

VaTime *coroutine_fn qmp_va_set_time(const char *chardev, bool has_timeout,
                                     double timeout, bool has_async,
                                     bool async, bool has_time,
                                     int64_t time, Error **errp)
{
    xmlrpc_value *params = NULL;

    if (has_time) {
        if (time < 0) {
            error_setg(errp, "time must not be negative");
            return NULL;
        }
        params = va_params(errp, "(I)", (xmlrpc_int64)time);
        if (!params) {
            return NULL;
        }
    }
    return VA_TYPED_CALL(VaTime, time, &va_typed_set_time, params);
}

VaUsers *coroutine_fn qmp_va_get_users(const char *chardev, bool has_timeout,
                                       double timeout, bool has_async,
                                       bool async, Error **errp)
{
    return VA_TYPED_CALL(VaUsers, users, &va_typed_users, NULL);
}

VaFilesystems *coroutine_fn qmp_va_get_fsinfo(const char *chardev,
                                              bool has_timeout,
                                              double timeout,
                                              bool has_async, bool async,
                                              Error **errp)
{
    return VA_TYPED_CALL(VaFilesystems, filesystems, &va_typed_fsinfo,
                         NULL);
}

VaAsyncCall *coroutine_fn qmp_va_set_user_password(const char *chardev,
                                                   bool has_timeout,
                                                   double timeout,
                                                   bool has_async,
                                                   bool async,
                                                   const char *username,
                                                   const char *password,
                                                   bool crypted,
                                                   Error **errp)
{
    g_autofree char *clear = NULL;
    xmlrpc_value *params;
    size_t len, i;

    clear = (char *)qbase64_decode(password, -1, &len, errp);
    if (!clear) {
        error_prepend(errp, "password: ");
        return NULL;
    }
    /* XML carries no control characters, and a password has none. */
    for (i = 0; i < len && (uint8_t)clear[i] >= 0x20 && clear[i] != 0x7f;
         i++) {
        continue;
    }
    if (!len || i < len || !g_utf8_validate(clear, len, NULL)) {
        error_setg(errp, "password must be base64 of text without control "
                   "characters");
        return NULL;
    }
    params = va_params(errp, "(s#sb)", clear, len, username,
                       (xmlrpc_bool)crypted);
    if (!params) {
        return NULL;
    }
    return va_true_call(chardev, has_timeout, timeout, has_async && async,
                        &va_typed_set_password, params, errp);
}

VaVcpus *coroutine_fn qmp_va_get_vcpus(const char *chardev, bool has_timeout,
                                       double timeout, bool has_async,
                                       bool async, Error **errp)
{
    return VA_TYPED_CALL(VaVcpus, vcpus, &va_typed_get_vcpus, NULL);
}

VaCount *coroutine_fn qmp_va_set_vcpus(const char *chardev, bool has_timeout,
                                       double timeout, bool has_async,
                                       bool async, VaVcpuList *vcpus,
                                       Error **errp)
{
    xmlrpc_value *params = NULL, *arr, *item;
    VaVcpuList *l;
    xmlrpc_env env;

    xmlrpc_env_init(&env);
    arr = xmlrpc_array_new(&env);
    /* can-offline is the guest's to say: not sent. */
    for (l = vcpus; l && !env.fault_occurred; l = l->next) {
        item = xmlrpc_build_value(&env, "{s:I,s:b}", "logical-id",
                                  (xmlrpc_int64)l->value->logical_id,
                                  "online", (xmlrpc_bool)l->value->online);
        if (!env.fault_occurred) {
            xmlrpc_array_append_item(&env, arr, item);
            xmlrpc_DECREF(item);
        }
    }
    if (!env.fault_occurred) {
        params = xmlrpc_build_value(&env, "(A)", arr);
    }
    if (arr) {
        xmlrpc_DECREF(arr);
    }
    if (env.fault_occurred) {
        error_setg(errp, "%s", env.fault_string);
        xmlrpc_env_clean(&env);
        return NULL;
    }
    xmlrpc_env_clean(&env);
    return VA_TYPED_CALL(VaCount, count, &va_typed_set_vcpus, params);
}

VaAsyncCall *coroutine_fn qmp_va_suspend(const char *chardev,
                                         bool has_timeout, double timeout,
                                         bool has_async, bool async,
                                         VaSuspendMode mode, Error **errp)
{
    return va_true_call(chardev, has_timeout, timeout, has_async && async,
                        &va_typed_suspend[mode], NULL, errp);
}

VaAuthorizedKeys *coroutine_fn
qmp_va_ssh_get_authorized_keys(const char *chardev, bool has_timeout,
                               double timeout, bool has_async, bool async,
                               const char *username, Error **errp)
{
    xmlrpc_value *params = va_params(errp, "(s)", username);

    if (!params) {
        return NULL;
    }
    return VA_TYPED_CALL(VaAuthorizedKeys, authorized_keys,
                         &va_typed_ssh_get, params);
}

VaAsyncCall *coroutine_fn
qmp_va_ssh_add_authorized_keys(const char *chardev, bool has_timeout,
                               double timeout, bool has_async, bool async,
                               const char *username, strList *keys,
                               bool has_reset, bool reset, Error **errp)
{
    xmlrpc_value *params = va_params_strlist(errp, username, keys);
    xmlrpc_value *v;
    xmlrpc_env env;

    if (!params) {
        return NULL;
    }
    if (has_reset) {
        xmlrpc_env_init(&env);
        v = xmlrpc_bool_new(&env, reset);
        xmlrpc_array_append_item(&env, params, v);
        xmlrpc_DECREF(v);
        xmlrpc_env_clean(&env);
    }
    return va_true_call(chardev, has_timeout, timeout, has_async && async,
                        &va_typed_ssh_add, params, errp);
}

VaAsyncCall *coroutine_fn
qmp_va_ssh_remove_authorized_keys(const char *chardev, bool has_timeout,
                                  double timeout, bool has_async,
                                  bool async, const char *username,
                                  strList *keys, Error **errp)
{
    xmlrpc_value *params = va_params_strlist(errp, username, keys);

    if (!params) {
        return NULL;
    }
    return va_true_call(chardev, has_timeout, timeout, has_async && async,
                        &va_typed_ssh_remove, params, errp);
}

/* -- va-call ---------------------------------------------------------- */

/* VA_CALL_DONE carries va-call's answer itself, not {"result": ...}. */
static QObject *va_shape_any(QObject *answer, const VirtagentTyped *t,
                             Error **errp)
{
    return qobject_ref(answer);
}

VaCallResult *coroutine_fn qmp_va_call(const char *chardev, bool has_timeout,
                                       double timeout, bool has_async,
                                       bool async, const char *method,
                                       bool has_params, anyList *params,
                                       Error **errp)
{
    g_autoptr(QList) list = qlist_new();
    QObject *answer;
    xmlrpc_value *xparams;
    VaCallResult *ret;
    anyList *p;
    int64_t id;
    bool ok;

    for (p = params; p; p = p->next) {
        qlist_append_obj(list, qobject_ref(p->value));
    }
    xparams = virtagent_from_qobject(QOBJECT(list), errp);
    if (!xparams) {
        return NULL;
    }
    ok = va_run(chardev, has_timeout, timeout, has_async && async, method,
                xparams, va_shape_any, &answer, &id, errp);
    xmlrpc_DECREF(xparams);
    if (!ok) {
        return NULL;
    }
    ret = g_new0(VaCallResult, 1);
    if (answer) {
        ret->result = answer;
    } else {
        ret->has_id = true;
        ret->id = id;
    }
    return ret;
}

void qmp_va_cancel(const char *chardev, int64_t id, Error **errp)
{
    if (chardev && !virtagent_find(chardev, errp)) {
        return;
    }
    virtagent_cancel(chardev, id, errp);
}

VirtagentInfoList *qmp_query_virtagent(Error **errp)
{
    return virtagent_query();
}
