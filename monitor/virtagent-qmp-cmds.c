/*
 * virtagent - QMP commands (qapi/virtagent.json)
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The va-* commands are coroutine commands: they yield in the QMP
 * dispatcher until the guest answers or the call times out, while the
 * main loop, the guest and HMP go on. Answers come from an untrusted
 * guest, so each is checked member by member before it becomes a QAPI
 * return value.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-virtagent.h"
#include "qapi/qapi-events-virtagent.h"
#include "qobject/qbool.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "hw/virtagent/virtagent.h"

/* va.getfile's and va.getdmesg's default and largest sizes. */
#define VA_QMP_CHUNK_DEFAULT (64 * 1024)
#define VA_QMP_CHUNK_MAX (1024 * 1024)

static VirtagentChardev *va_target(const char *chardev, bool has_timeout,
                                   double timeout, int64_t *timeout_ms,
                                   Error **errp)
{
    ERRP_GUARD();

    *timeout_ms = virtagent_timeout_ms(has_timeout, timeout, errp);
    if (*errp) {
        return NULL;
    }
    return virtagent_find(chardev, errp);
}

/* Wait for the answer and convert it; NULL with @errp set. */
static QObject *coroutine_fn va_co_call_qobject(VirtagentChardev *va,
                                                const char *method,
                                                xmlrpc_value *params,
                                                int64_t ms, Error **errp)
{
    xmlrpc_value *result = virtagent_co_call(va, method, params, ms, errp);
    QObject *obj;

    if (!result) {
        return NULL;
    }
    obj = virtagent_to_qobject(result, errp);
    xmlrpc_DECREF(result);
    return obj;
}

/* The answer as a QDict, or NULL with @errp set. */
static QDict *va_call_dict(const char *chardev, bool has_timeout,
                           double timeout, const char *method,
                           xmlrpc_value *params, Error **errp)
{
    VirtagentChardev *va;
    QObject *obj;
    QDict *dict;
    int64_t ms;

    va = va_target(chardev, has_timeout, timeout, &ms, errp);
    if (!va) {
        return NULL;
    }
    obj = va_co_call_qobject(va, method, params, ms, errp);
    if (!obj) {
        return NULL;
    }
    dict = qobject_to(QDict, obj);
    if (!dict) {
        error_setg(errp, "%s: the guest agent's answer is not a struct",
                   method);
        qobject_unref(obj);
    }
    return dict;
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

void coroutine_fn qmp_va_ping(const char *chardev, bool has_timeout,
                              double timeout, Error **errp)
{
    VirtagentChardev *va;
    xmlrpc_value *result;
    int64_t ms;

    va = va_target(chardev, has_timeout, timeout, &ms, errp);
    if (!va) {
        return;
    }
    result = virtagent_co_call(va, "va.ping", NULL, ms, errp);
    if (result) {
        xmlrpc_DECREF(result);
    }
}

VaCapabilities *coroutine_fn qmp_va_capabilities(const char *chardev,
                                                 bool has_timeout,
                                                 double timeout,
                                                 Error **errp)
{
    g_autoptr(QDict) d = va_call_dict(chardev, has_timeout, timeout,
                                      "va.capabilities", NULL, errp);
    g_autoptr(VaCapabilities) caps = NULL;
    strList **tail;
    QListEntry *e;
    QList *list;
    const char *version;

    if (!d) {
        return NULL;
    }
    version = va_get_str(d, "va.capabilities", "version", errp);
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

VaGuestInfo *coroutine_fn qmp_va_info(const char *chardev, bool has_timeout,
                                      double timeout, Error **errp)
{
    g_autoptr(QDict) d = va_call_dict(chardev, has_timeout, timeout,
                                      "va.info", NULL, errp);
    g_autoptr(VaGuestInfo) info = NULL;
    const char *version, *session, *hostname, *kernel;
    int64_t uptime;
    QDict *os;

    if (!d) {
        return NULL;
    }
    version = va_get_str(d, "va.info", "version", errp);
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
    info->uptime = uptime;
    info->arch = g_strdup(qdict_get_try_str(d, "arch"));
    os = qdict_get_qdict(d, "os");
    if (os) {
        info->os = QOBJECT(qobject_ref(os));
    }
    return g_steal_pointer(&info);
}

void coroutine_fn qmp_va_shutdown(const char *chardev, bool has_timeout,
                                  double timeout, VaShutdownMode mode,
                                  Error **errp)
{
    VirtagentChardev *va;
    xmlrpc_value *params, *result;
    xmlrpc_env env;
    int64_t ms;

    va = va_target(chardev, has_timeout, timeout, &ms, errp);
    if (!va) {
        return;
    }
    xmlrpc_env_init(&env);
    params = xmlrpc_build_value(&env, "(s)", VaShutdownMode_str(mode));
    xmlrpc_env_clean(&env);
    if (!params) {
        error_setg(errp, "out of memory");
        return;
    }
    result = virtagent_co_call(va, "va.shutdown", params, ms, errp);
    xmlrpc_DECREF(params);
    if (result) {
        xmlrpc_DECREF(result);
    }
}

VaFileChunk *coroutine_fn qmp_va_getfile(const char *chardev,
                                         bool has_timeout, double timeout,
                                         const char *path, bool has_offset,
                                         int64_t offset, bool has_length,
                                         int64_t length, Error **errp)
{
    g_autoptr(QDict) d = NULL;
    g_autoptr(VaFileChunk) chunk = NULL;
    xmlrpc_value *params;
    xmlrpc_env env;
    const char *data;
    QDict *b64;
    QBool *eof;
    int64_t size;

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
    xmlrpc_env_init(&env);
    params = xmlrpc_build_value(&env, "(sIi)", path, (xmlrpc_int64)offset,
                                (int)length);
    if (env.fault_occurred) {
        error_setg(errp, "path: %s", env.fault_string);
        xmlrpc_env_clean(&env);
        return NULL;
    }
    xmlrpc_env_clean(&env);
    d = va_call_dict(chardev, has_timeout, timeout, "va.getfile", params,
                     errp);
    xmlrpc_DECREF(params);
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
    chunk->eof = qbool_get_bool(eof);
    chunk->size = size;
    return g_steal_pointer(&chunk);
}

VaDmesg *coroutine_fn qmp_va_getdmesg(const char *chardev, bool has_timeout,
                                      double timeout, bool has_max_bytes,
                                      int64_t max_bytes, Error **errp)
{
    VirtagentChardev *va;
    xmlrpc_value *params, *result;
    xmlrpc_env env;
    const char *text;
    size_t len;
    VaDmesg *ret = NULL;
    int64_t ms;

    if (!has_max_bytes) {
        max_bytes = VA_QMP_CHUNK_DEFAULT;
    }
    if (max_bytes <= 0 || max_bytes > VA_QMP_CHUNK_MAX) {
        error_setg(errp, "max-bytes must be 1 to %d", VA_QMP_CHUNK_MAX);
        return NULL;
    }
    va = va_target(chardev, has_timeout, timeout, &ms, errp);
    if (!va) {
        return NULL;
    }
    xmlrpc_env_init(&env);
    params = xmlrpc_build_value(&env, "(i)", (int)max_bytes);
    xmlrpc_env_clean(&env);
    if (!params) {
        error_setg(errp, "out of memory");
        return NULL;
    }
    result = virtagent_co_call(va, "va.getdmesg", params, ms, errp);
    xmlrpc_DECREF(params);
    if (!result) {
        return NULL;
    }
    xmlrpc_env_init(&env);
    xmlrpc_read_string_lp(&env, result, &len, &text);
    if (env.fault_occurred || memchr(text, 0, len)) {
        error_setg(errp, "va.getdmesg: the answer is not a string");
    } else {
        ret = g_new0(VaDmesg, 1);
        ret->text = g_strndup(text, len);
    }
    if (!env.fault_occurred) {
        free((void *)text);
    }
    xmlrpc_env_clean(&env);
    xmlrpc_DECREF(result);
    return ret;
}

typedef struct VaAsyncCall {
    int64_t id;
    char *chardev;
} VaAsyncCall;

static void va_async_done(xmlrpc_value *result, Error *err, void *opaque)
{
    VaAsyncCall *c = opaque;
    QObject *obj = NULL;

    if (!err) {
        obj = virtagent_to_qobject(result, &err);
    }
    qapi_event_send_va_call_done(c->id, c->chardev, obj,
                                 err ? error_get_pretty(err) : NULL);
    qobject_unref(obj);
    error_free(err);
    g_free(c->chardev);
    g_free(c);
}

VaCallResult *coroutine_fn qmp_va_call(const char *chardev, bool has_timeout,
                                       double timeout, const char *method,
                                       bool has_params, anyList *params,
                                       bool has_async,
                                       bool async, Error **errp)
{
    /* Unique among every chardev's calls, so one event stream suffices. */
    static int64_t next_async_id = 1;
    g_autoptr(QList) list = qlist_new();
    VirtagentChardev *va;
    xmlrpc_value *xparams;
    VaCallResult *ret;
    anyList *p;
    QObject *obj;
    int64_t ms;

    va = va_target(chardev, has_timeout, timeout, &ms, errp);
    if (!va) {
        return NULL;
    }
    for (p = params; p; p = p->next) {
        qlist_append_obj(list, qobject_ref(p->value));
    }
    xparams = virtagent_from_qobject(QOBJECT(list), errp);
    if (!xparams) {
        return NULL;
    }
    if (has_async && async) {
        VaAsyncCall *c = g_new0(VaAsyncCall, 1);

        c->id = next_async_id++;
        c->chardev = g_strdup(virtagent_id(va));
        if (!virtagent_call(va, method, xparams, ms, va_async_done, c,
                            errp)) {
            g_free(c->chardev);
            g_free(c);
            xmlrpc_DECREF(xparams);
            return NULL;
        }
        xmlrpc_DECREF(xparams);
        ret = g_new0(VaCallResult, 1);
        ret->has_id = true;
        ret->id = c->id;
        return ret;
    }
    obj = va_co_call_qobject(va, method, xparams, ms, errp);
    xmlrpc_DECREF(xparams);
    if (!obj) {
        return NULL;
    }
    ret = g_new0(VaCallResult, 1);
    ret->result = obj;
    return ret;
}

VirtagentInfoList *qmp_query_virtagent(Error **errp)
{
    return virtagent_query();
}
