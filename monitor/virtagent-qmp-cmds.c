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
#include "qapi/error.h"
#include "qapi/qapi-commands-virtagent.h"
#include "qapi/qapi-events-virtagent.h"
#include "qapi/qapi-visit-virtagent.h"
#include "qapi/qobject-output-visitor.h"
#include "qobject/qbool.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qobject.h"
#include "qobject/qstring.h"
#include "hw/virtagent/virtagent.h"

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
typedef QObject *VaShapeFunc(QObject *answer, Error **errp);

typedef struct VaPendingAsync {
    int64_t id;
    char *chardev;
    VaShapeFunc *shape;
} VaPendingAsync;

static void va_async_done(QObject *answer, Error *err, void *opaque)
{
    VaPendingAsync *c = opaque;
    QObject *obj = NULL;

    if (!err) {
        obj = c->shape(answer, &err);
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
 * in *@id, VA_CALL_DONE carrying @shape's output later. @params is
 * borrowed.
 */
static bool coroutine_fn va_run(const char *chardev, bool has_timeout,
                                double timeout, bool async,
                                const char *method, xmlrpc_value *params,
                                VaShapeFunc *shape, QObject **answer,
                                int64_t *id, Error **errp)
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

static QObject *va_shape_none(QObject *answer, Error **errp)
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

static QObject *va_shape_capabilities(QObject *answer, Error **errp)
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

static QObject *va_shape_info(QObject *answer, Error **errp)
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

static QObject *va_shape_file_chunk(QObject *answer, Error **errp)
{
    g_autoptr(VaFileChunk) ret = va_file_chunk_from(answer, errp);

    return ret ? VA_TO_QOBJECT(VaFileChunk, ret) : NULL;
}

VaFileChunk *coroutine_fn qmp_va_getfile(const char *chardev,
                                         bool has_timeout, double timeout,
                                         bool has_async, bool async,
                                         const char *path, bool has_offset,
                                         int64_t offset, bool has_length,
                                         int64_t length, Error **errp)
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

static QObject *va_shape_dmesg(QObject *answer, Error **errp)
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

/* -- va-call ---------------------------------------------------------- */

/* VA_CALL_DONE carries va-call's answer itself, not {"result": ...}. */
static QObject *va_shape_any(QObject *answer, Error **errp)
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
