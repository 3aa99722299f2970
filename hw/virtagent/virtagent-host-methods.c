/*
 * virtagent - the methods the guest calls on the host
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * va.hello, va.ping, va.capabilities, va.notify and va.exec_done. They
 * run in a worker thread, where the guest's document was parsed
 * (virtagent.c), and take the BQL for what touches the chardev or the
 * monitor.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-events-virtagent.h"
#include "qapi/qapi-visit-virtagent.h"
#include "qapi/qobject-input-visitor.h"
#include "qemu/main-loop.h"
#include "qobject/qbool.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qobject.h"
#include "hw/virtagent/virtagent-internal.h"
#include "trace.h"

/* Bounds of what a guest's hello and notify may carry. */
#define VA_NAME_MAX 64
#define VA_HELLO_METHODS_MAX 256
#define VA_NOTIFY_DATA_MAX 4096
/* va.exec_done carries at most this much output (docs/protocol.md 5.2). */
#define VA_EXEC_DONE_DATA_MAX (16 * 1024)

#define VA_HOST_VERSION "qemu " QEMU_VERSION

static VirtagentChardev *va_from_call(void *call_info)
{
    return va_channel_opaque(call_info);
}

/* The call still belongs to the open port's stream (see virtagent.c). */
static bool va_current(xmlrpc_env *env, VirtagentChardev *va)
{
    if (virtagent_job_stale(va)) {
        xmlrpc_env_set_fault(env, VA_FAULT_FAILED, "port was reset");
        return false;
    }
    return true;
}

static bool va_count_params(xmlrpc_env *env, xmlrpc_value *params,
                            int min, int max)
{
    int n = xmlrpc_array_size(env, params);

    if (!env->fault_occurred && (n < min || n > max)) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "expected %d to %d parameters, got %d",
                                       min, max, n);
    }
    return !env->fault_occurred;
}

/*
 * A bounded string of printable ASCII: names and sessions, and versions,
 * which may also hold spaces.
 */
static char *va_read_name(xmlrpc_env *env, xmlrpc_value *v, const char *what,
                          bool spaces)
{
    const char *s;
    size_t len, i;
    char *ret;

    xmlrpc_read_string_lp(env, v, &len, &s);
    if (env->fault_occurred) {
        return NULL;
    }
    for (i = 0; i < len && (g_ascii_isgraph(s[i]) ||
                            (spaces && s[i] == ' ')); i++) {
        continue;
    }
    if (!len || len > VA_NAME_MAX || i < len) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "%s must be 1 to %d printable "
                                       "characters", what, VA_NAME_MAX);
        free((void *)s);
        return NULL;
    }
    ret = g_strndup(s, len);
    free((void *)s);
    return ret;
}

char *virtagent_struct_name(xmlrpc_env *env, xmlrpc_value *st,
                            const char *key)
{
    xmlrpc_value *v;
    char *ret;

    xmlrpc_struct_find_value(env, st, key, &v);
    if (env->fault_occurred) {
        return NULL;
    }
    if (!v) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "hello lacks '%s'", key);
        return NULL;
    }
    ret = va_read_name(env, v, key, !strcmp(key, "version"));
    xmlrpc_DECREF(v);
    return ret;
}

/* An optional list of names of a hello ("methods", "features"). */
GStrv virtagent_struct_names(xmlrpc_env *env, xmlrpc_value *st,
                             const char *key)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    xmlrpc_value *list;
    int i, n;

    xmlrpc_struct_find_value(env, st, key, &list);
    if (env->fault_occurred || !list) {
        return NULL;
    }
    n = xmlrpc_value_type(list) == XMLRPC_TYPE_ARRAY ?
        xmlrpc_array_size(env, list) : -1;
    if (n < 0 || n > VA_HELLO_METHODS_MAX) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "%s must be an array of at most %d "
                                       "names", key, VA_HELLO_METHODS_MAX);
    }
    for (i = 0; i < n && !env->fault_occurred; i++) {
        xmlrpc_value *item;
        char *name;

        xmlrpc_array_read_item(env, list, i, &item);
        if (env->fault_occurred) {
            break;
        }
        name = va_read_name(env, item, key, false);
        xmlrpc_DECREF(item);
        if (name) {
            g_ptr_array_add(names, name);
        }
    }
    xmlrpc_DECREF(list);
    if (env->fault_occurred) {
        return NULL;
    }
    g_ptr_array_add(names, NULL);
    return (GStrv)g_ptr_array_free(g_steal_pointer(&names), false);
}

static xmlrpc_value *va_host_methods(xmlrpc_env *env)
{
    g_auto(GStrv) names = g_strsplit(VA_HOST_METHODS, ",", -1);
    xmlrpc_value *list = xmlrpc_array_new(env);
    char **p;

    for (p = names; *p && !env->fault_occurred; p++) {
        xmlrpc_value *s = xmlrpc_string_new(env, *p);

        if (s) {
            xmlrpc_array_append_item(env, list, s);
            xmlrpc_DECREF(s);
        }
    }
    return list;
}

/* {version, methods}: what va.capabilities and va.hello answer */
static xmlrpc_value *va_host_info(xmlrpc_env *env, VirtagentChardev *va,
                                  bool with_session)
{
    xmlrpc_value *methods = va_host_methods(env);
    xmlrpc_value *ret;

    if (env->fault_occurred) {
        return NULL;
    }
    if (with_session) {
        ret = xmlrpc_build_value(env, "{s:s,s:s,s:A}",
                                 "version", VA_HOST_VERSION,
                                 "session", va_channel_session(va->ch),
                                 "methods", methods);
    } else {
        ret = xmlrpc_build_value(env, "{s:s,s:A}",
                                 "version", VA_HOST_VERSION,
                                 "methods", methods);
    }
    xmlrpc_DECREF(methods);
    return ret;
}

/*
 * va.hello({version, session, methods, features, ...}): the agent
 * (re)connected. Other members (its limits) are accepted and ignored.
 */
static xmlrpc_value *va_rpc_hello(xmlrpc_env *env, xmlrpc_value *params,
                                  void *server_info, void *call_info)
{
    VirtagentChardev *va = va_from_call(call_info);
    g_autofree char *version = NULL;
    g_autofree char *session = NULL;
    g_auto(GStrv) methods = NULL;
    g_auto(GStrv) features = NULL;
    xmlrpc_value *st;
    bool restarted;
    BQL_LOCK_GUARD();

    if (!va_count_params(env, params, 1, 1) || !va_current(env, va)) {
        return NULL;
    }
    xmlrpc_array_read_item(env, params, 0, &st);
    if (env->fault_occurred) {
        return NULL;
    }
    if (xmlrpc_value_type(st) != XMLRPC_TYPE_STRUCT) {
        xmlrpc_env_set_fault(env, VA_FAULT_INVALID_ARGS,
                             "hello takes a struct");
        xmlrpc_DECREF(st);
        return NULL;
    }
    version = virtagent_struct_name(env, st, "version");
    if (version) {
        session = virtagent_struct_name(env, st, "session");
    }
    if (session) {
        methods = virtagent_struct_names(env, st, "methods");
    }
    if (!env->fault_occurred && session) {
        features = virtagent_struct_names(env, st, "features");
    }
    xmlrpc_DECREF(st);
    if (env->fault_occurred) {
        return NULL;
    }

    trace_virtagent_hello(va_label(va), version, session);
    /* A new session fails our calls to the old one. */
    restarted = va_channel_peer_session(va->ch, session);
    if (va->connected && !restarted) {
        /* A repeated hello of the same session changes nothing. */
        return va_host_info(env, va, true);
    }
    virtagent_agent_gone(va, "agent restarted");
    va->connected = true;
    va->agent_version = g_steal_pointer(&version);
    va->agent_session = g_steal_pointer(&session);
    va->agent_methods = g_steal_pointer(&methods);
    va->agent_features = g_steal_pointer(&features);
    qapi_event_send_va_agent_connected(va_label(va), va->agent_version,
                                       va->agent_session);
    return va_host_info(env, va, true);
}

static xmlrpc_value *va_rpc_ping(xmlrpc_env *env, xmlrpc_value *params,
                                 void *server_info, void *call_info)
{
    if (!va_count_params(env, params, 0, 0)) {
        return NULL;
    }
    return xmlrpc_string_new(env, "pong");
}

static xmlrpc_value *va_rpc_capabilities(xmlrpc_env *env,
                                         xmlrpc_value *params,
                                         void *server_info, void *call_info)
{
    BQL_LOCK_GUARD();

    if (!va_count_params(env, params, 0, 0)) {
        return NULL;
    }
    return va_host_info(env, va_from_call(call_info), false);
}

/* va.notify(name[, data]) -> VA_GUEST_NOTIFY, rate-limited */
static xmlrpc_value *va_rpc_notify(xmlrpc_env *env, xmlrpc_value *params,
                                   void *server_info, void *call_info)
{
    VirtagentChardev *va = va_from_call(call_info);
    g_autofree char *name = NULL;
    g_autoptr(GString) json = NULL;
    QObject *data = NULL;
    xmlrpc_value *v;
    Error *err = NULL;
    BQL_LOCK_GUARD();

    if (!va_count_params(env, params, 1, 2) || !va_current(env, va)) {
        return NULL;
    }
    xmlrpc_array_read_item(env, params, 0, &v);
    if (env->fault_occurred) {
        return NULL;
    }
    name = va_read_name(env, v, "name", false);
    xmlrpc_DECREF(v);
    if (!name) {
        return NULL;
    }
    if (!va_rate_limit_take(&va->notify_rate, va_now_ms(NULL))) {
        va->notify_dropped++;
        trace_virtagent_notify(va_label(va), name, true);
        xmlrpc_env_set_fault(env, VA_FAULT_RATE_LIMITED,
                             "too many notifications");
        return NULL;
    }
    if (xmlrpc_array_size(env, params) == 2) {
        xmlrpc_array_read_item(env, params, 1, &v);
        if (env->fault_occurred) {
            return NULL;
        }
        data = virtagent_to_qobject(v, &err);
        xmlrpc_DECREF(v);
        if (!data) {
            xmlrpc_env_set_fault(env, VA_FAULT_INVALID_ARGS,
                                 error_get_pretty(err));
            error_free(err);
            return NULL;
        }
        json = qobject_to_json(data);
        if (json->len > VA_NOTIFY_DATA_MAX) {
            qobject_unref(data);
            xmlrpc_env_set_fault_formatted(env, VA_FAULT_TOO_LARGE,
                                           "data over %d bytes as JSON",
                                           VA_NOTIFY_DATA_MAX);
            return NULL;
        }
    }
    trace_virtagent_notify(va_label(va), name, false);
    qapi_event_send_va_guest_notify(va_label(va), name, data);
    qobject_unref(data);
    return xmlrpc_bool_new(env, true);
}

static const char *const va_exec_done_required[] = { "exited", NULL };
static const char *const va_exec_done_base64[] = {
    "out-data", "err-data", NULL,
};
static const VirtagentTyped va_exec_done_typed = {
    .method = "va.exec_done",
    .required = va_exec_done_required,
    .base64 = va_exec_done_base64,
};

/* The bytes base64 @s stands for (g_base64_encode() made it). */
static size_t va_base64_size(const char *s)
{
    size_t len = s ? strlen(s) : 0;
    size_t n = len / 4 * 3;

    if (len && s[len - 1] == '=') {
        n--;
    }
    if (len > 1 && s[len - 2] == '=') {
        n--;
    }
    return n;
}

/*
 * va.exec_done's status: va.exec_status's answer, finished, with
 * data-omitted (in *@omitted) when the output was left out; checked as
 * the typed commands check answers. NULL with @errp set.
 */
static VaExecStatus *va_exec_done_status(xmlrpc_value *v, bool *omitted,
                                         Error **errp)
{
    g_autoptr(VaExecStatus) st = NULL;
    g_autoptr(QDict) d = NULL;
    QObject *obj;
    QDict *dict;
    Visitor *vis;
    bool ok;

    obj = virtagent_to_qobject(v, errp);
    if (!obj) {
        return NULL;
    }
    dict = qobject_to(QDict, obj);
    if (dict && qdict_haskey(dict, "data-omitted")) {
        QBool *b = qobject_to(QBool, qdict_get(dict, "data-omitted"));

        if (!b) {
            error_setg(errp, "va.exec_done: data-omitted is not a boolean");
            qobject_unref(obj);
            return NULL;
        }
        *omitted = qbool_get_bool(b);
        qdict_del(dict, "data-omitted");
    }
    d = virtagent_typed_answer(obj, &va_exec_done_typed, errp);
    qobject_unref(obj);
    if (!d) {
        return NULL;
    }
    vis = qobject_input_visitor_new(QOBJECT(d));
    ok = visit_type_VaExecStatus(vis, NULL, &st, errp);
    visit_free(vis);
    if (!ok) {
        error_prepend(errp, "va.exec_done: ");
        return NULL;
    }
    if (!st->exited || st->has_exitcode == st->has_signal) {
        error_setg(errp, "va.exec_done: the status must say exited, with "
                   "exitcode or signal");
        return NULL;
    }
    if (va_base64_size(st->out_data) + va_base64_size(st->err_data) >
        VA_EXEC_DONE_DATA_MAX || (*omitted && (st->out_data ||
                                                st->err_data))) {
        error_setg(errp, "va.exec_done: output over %d bytes, or beside "
                   "data-omitted", VA_EXEC_DONE_DATA_MAX);
        return NULL;
    }
    return g_steal_pointer(&st);
}

/*
 * va.exec_done(pid, status) -> VA_EXEC_DONE. One event per process: not
 * throttled by QMP (which keeps only the latest per key) but bounded by
 * the guest-call rate limit.
 */
static xmlrpc_value *va_rpc_exec_done(xmlrpc_env *env, xmlrpc_value *params,
                                      void *server_info, void *call_info)
{
    VirtagentChardev *va = va_from_call(call_info);
    g_autoptr(VaExecStatus) st = NULL;
    bool omitted = false;
    Error *err = NULL;
    xmlrpc_value *v;
    int pid = 0;

    if (!va_count_params(env, params, 2, 2)) {
        return NULL;
    }
    xmlrpc_array_read_item(env, params, 0, &v);
    if (env->fault_occurred) {
        return NULL;
    }
    if (xmlrpc_value_type(v) == XMLRPC_TYPE_INT) {
        xmlrpc_read_int(env, v, &pid);
    }
    xmlrpc_DECREF(v);
    if (env->fault_occurred || pid <= 0) {
        xmlrpc_env_set_fault(env, VA_FAULT_INVALID_ARGS,
                             "pid must be a positive int");
        return NULL;
    }
    xmlrpc_array_read_item(env, params, 1, &v);
    if (env->fault_occurred) {
        return NULL;
    }
    /* Checked here, in the worker: only the event needs the BQL. */
    st = va_exec_done_status(v, &omitted, &err);
    xmlrpc_DECREF(v);
    if (!st) {
        xmlrpc_env_set_fault(env, VA_FAULT_INVALID_ARGS,
                             error_get_pretty(err));
        error_free(err);
        return NULL;
    }
    {
        BQL_LOCK_GUARD();

        if (!va_current(env, va)) {
            return NULL;
        }
        trace_virtagent_exec_done(va_label(va), pid, omitted);
        qapi_event_send_va_exec_done(va_label(va), pid, st->has_exitcode,
                                     st->exitcode, st->has_signal,
                                     st->signal, st->out_data, st->err_data,
                                     st->has_out_truncated,
                                     st->out_truncated,
                                     st->has_err_truncated,
                                     st->err_truncated, st->has_timed_out,
                                     st->timed_out, omitted);
    }
    return xmlrpc_bool_new(env, true);
}

bool virtagent_register_methods(VirtagentChardev *va, Error **errp)
{
    static const struct xmlrpc_method_info3 methods[] = {
        {
            .methodName = "va.hello",
            .methodFunction = va_rpc_hello,
            .signatureString = "S:S",
            .help = "va.hello({version, session, methods}): the agent "
                    "(re)connected; returns the host's "
                    "{version, session, methods}",
        }, {
            .methodName = "va.ping",
            .methodFunction = va_rpc_ping,
            .signatureString = "s:",
            .help = "va.ping(): returns \"pong\"",
        }, {
            .methodName = "va.capabilities",
            .methodFunction = va_rpc_capabilities,
            .signatureString = "S:",
            .help = "va.capabilities(): returns {version, methods}",
        }, {
            .methodName = "va.notify",
            .methodFunction = va_rpc_notify,
            .help = "va.notify(name[, data]): emits QMP event "
                    "VA_GUEST_NOTIFY; rate-limited",
        }, {
            .methodName = "va.exec_done",
            .methodFunction = va_rpc_exec_done,
            .signatureString = "b:iS",
            .help = "va.exec_done(pid, status): a process of va.exec "
                    "finished; emits QMP event VA_EXEC_DONE",
        },
    };
    xmlrpc_registry *reg = va_channel_registry(va->ch);
    xmlrpc_env env;
    size_t i;
    bool ok;

    xmlrpc_env_init(&env);
    for (i = 0; i < ARRAY_SIZE(methods) && !env.fault_occurred; i++) {
        xmlrpc_registry_add_method3(&env, reg, &methods[i]);
    }
    ok = !env.fault_occurred;
    if (!ok) {
        error_setg(errp, "cannot register virtagent methods: %s",
                   env.fault_string);
    }
    xmlrpc_env_clean(&env);
    return ok;
}
