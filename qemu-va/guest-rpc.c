/*
 * qemu-va - the RPC methods the guest agent serves to the host
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The methods are in methods/, a file per domain; this walks their
 * tables to register them, list them and set up their state.
 */
#include <string.h>

#include "va-boundary.h"
#include "va-errors.h"
#include "guest-rpc.h"
#include "methods/va-methods.h"

/* In this order in va.capabilities and the hello. */
static const VAMethodDomain *const va_domains[] = {
    &va_m_agent, &va_m_power, &va_m_files, &va_m_system, &va_m_net,
    &va_m_users, &va_m_process, &va_m_fs,
    &va_m_hw, &va_m_data,
};

xmlrpc_value *va_text_value(xmlrpc_env *env, const char *text, size_t len)
{
    g_autofree char *valid = g_utf8_make_valid(text, len);
    char *p;

    /* XML cannot carry most control characters, and CR is lost. */
    for (p = valid; *p; p++) {
        if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t') {
            *p = ' ';
        } else if (*p == 0x7f) {
            *p = ' ';
        }
    }
    return xmlrpc_string_new(env, valid);
}

/* Calls @fn for each method the policy lets the host call, in order. */
static void va_enabled_methods(VAGuestRpc *rpc,
                               void (*fn)(const VAMethod *m, void *opaque),
                               void *opaque)
{
    size_t d;
    const VAMethod *m;

    for (d = 0; d < G_N_ELEMENTS(va_domains); d++) {
        for (m = va_domains[d]->methods; m->info.methodName; m++) {
            if (!rpc->ops.method_enabled ||
                rpc->ops.method_enabled(m->info.methodName, rpc->opaque)) {
                fn(m, opaque);
            }
        }
    }
}

typedef struct VAMethodsOut {
    xmlrpc_env *env;
    xmlrpc_value *v;
} VAMethodsOut;

static void va_list_method(const VAMethod *m, void *opaque)
{
    VAMethodsOut *o = opaque;

    va_array_append_take(o->env, o->v,
                         xmlrpc_string_new(o->env, m->info.methodName));
}

xmlrpc_value *va_guest_method_list(VAGuestRpc *rpc, xmlrpc_env *env)
{
    VAMethodsOut o = { env, xmlrpc_array_new(env) };

    va_enabled_methods(rpc, va_list_method, &o);
    return va_result(env, o.v);
}

/*
 * "data": the data frames of docs/protocol.md §1.1 (va.*_data);
 * "data-raw": va.getfile_data sends raw bodies when asked.
 */
xmlrpc_value *va_guest_features(xmlrpc_env *env)
{
    return xmlrpc_build_value(env, "(ss)", "data", "data-raw");
}

static void va_sign_method(const VAMethod *m, void *opaque)
{
    VAMethodsOut *o = opaque;

    va_struct_set_take(o->env, o->v, m->info.methodName,
                       xmlrpc_string_new(o->env, m->info.signatureString));
}

xmlrpc_value *va_guest_method_signatures(VAGuestRpc *rpc, xmlrpc_env *env)
{
    VAMethodsOut o = { env, xmlrpc_struct_new(env) };

    va_enabled_methods(rpc, va_sign_method, &o);
    return va_result(env, o.v);
}

/*
 * By name, for every call: a walk of the domains' tables took a strcmp()
 * per method before the one called.
 */
static const VAMethod *va_method_find(const char *name)
{
    static GHashTable *by_name;
    size_t d;
    const VAMethod *m;

    if (g_once_init_enter(&by_name)) {
        GHashTable *t = g_hash_table_new(g_str_hash, g_str_equal);

        for (d = 0; d < G_N_ELEMENTS(va_domains); d++) {
            for (m = va_domains[d]->methods; m->info.methodName; m++) {
                /* The first of a name, as the walk found it. */
                if (!g_hash_table_contains(t, m->info.methodName)) {
                    g_hash_table_insert(t, (char *)m->info.methodName,
                                        (gpointer)m);
                }
            }
        }
        g_once_init_leave(&by_name, t);
    }
    return g_hash_table_lookup(by_name, name);
}

/* What the registry calls: the method, and the rpc it serves. */
typedef struct VAMethodCall {
    VAGuestRpc *rpc;
    const VAMethod *method;
} VAMethodCall;

static VAGuestRun va_method_run(const VAMethod *m)
{
    if (m && m->start) {
        return VA_GUEST_RUN_START;
    }
    return m && (m->flags & VA_M_SLOW) ? VA_GUEST_RUN_POOL
                                       : VA_GUEST_RUN_INLINE;
}

VAGuestRun va_guest_method_run(const char *method)
{
    return va_method_run(va_method_find(method));
}

static xmlrpc_value *va_dispatch(xmlrpc_env *env, xmlrpc_value *params,
                                 void *server_info, void *call_info);

/*
 * @job's method by its quick name: the channel's entry when it is ours,
 * as va_guest_rpc_register() added it, so no second lookup.
 */
static const VAMethod *va_job_method(VAServerJob *job)
{
    const struct xmlrpc_method_info3 *info = va_server_job_method_info(job);

    if (info && info->methodFunction == va_dispatch) {
        return ((VAMethodCall *)info->serverInfo)->method;
    }
    return va_method_find(va_server_job_method(job));
}

VAGuestRun va_guest_job_run(VAServerJob *job)
{
    return va_method_run(va_job_method(job));
}

/*
 * While the filesystems are frozen only a few methods run, as in qemu-ga:
 * the others could block on the frozen disks, or write to them.
 */
static bool va_may_run(xmlrpc_env *env, VAGuestRpc *rpc, const VAMethod *m)
{
    if (!(m->flags & VA_M_FROZEN_OK) && va_fs_frozen(rpc)) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED,
                                       "%s: not while the filesystems are "
                                       "frozen", m->info.methodName);
        return false;
    }
    return true;
}

static xmlrpc_value *va_dispatch(xmlrpc_env *env, xmlrpc_value *params,
                                 void *server_info, void *call_info)
{
    VAMethodCall *c = server_info;

    if (!va_may_run(env, c->rpc, c->method)) {
        return NULL;
    }
    return c->method->info.methodFunction(env, params, c->rpc, call_info);
}

/*
 * Parses @job's call as the registry would, for a method that runs
 * without it; NULL when the registry should run it after all: the
 * document is refused or malformed, or its parsed method is not one
 * with @want's kind of hook (the quick name was not the real one).
 * Otherwise the method, with its params, and @env set when policy or a
 * freeze refuses the call.
 */
static const VAMethod *va_job_parse(xmlrpc_env *env, VAGuestRpc *rpc,
                                    VAServerJob *job, size_t max_body,
                                    VAGuestRun want, xmlrpc_value **params)
{
    size_t len;
    const char *xml = va_server_job_body(job, &len);
    const char *name = NULL;
    const VAMethod *m;
    xmlrpc_env perr;

    *params = NULL;
    if (!va_boundary_check(xml, len, max_body, VA_DOC_CALL, NULL)) {
        return NULL;
    }
    xmlrpc_env_init(&perr);
    xmlrpc_parse_call(&perr, xml, len, &name, params);
    m = perr.fault_occurred ? NULL : va_method_find(name);
    xmlrpc_env_clean(&perr);
    if (m && !(want == VA_GUEST_RUN_START ? m->start != NULL
                                          : m->xml != NULL)) {
        m = NULL;
    }
    free((void *)name);
    if (!m) {
        if (*params) {
            xmlrpc_DECREF(*params);
            *params = NULL;
        }
        return NULL;
    }
    if (rpc->ops.method_enabled &&
        !rpc->ops.method_enabled(m->info.methodName, rpc->opaque)) {
        /* As the channel's own check says it. */
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_DISABLED,
                                       "method disabled: %s",
                                       m->info.methodName);
    } else {
        va_may_run(env, rpc, m);
    }
    return m;
}

static void va_job_fault(VAServerJob *job, const xmlrpc_env *env)
{
    va_server_job_set_fault(job, env->fault_code, env->fault_string);
}

void va_guest_rpc_execute(VAGuestRpc *rpc, VAChannel *ch, VAServerJob *job,
                          size_t max_body)
{
    xmlrpc_value *params;
    const VAMethod *m;
    GString *out;
    xmlrpc_env env;

    /* The quick name only picks the way; the parsed one decides. */
    m = va_job_method(job);
    if (!m || !m->xml) {
        va_server_job_execute(job);
        return;
    }
    xmlrpc_env_init(&env);
    m = va_job_parse(&env, rpc, job, max_body, VA_GUEST_RUN_POOL, &params);
    if (!m) {
        va_server_job_execute(job);
    } else if (env.fault_occurred) {
        va_job_fault(job, &env);
    } else {
        out = g_string_sized_new(4096);
        if (m->xml(&env, params, rpc, ch, out)) {
            va_server_job_set_response(job, out->str, out->len);
        } else {
            va_job_fault(job, &env);
        }
        g_string_free(out, true);
    }
    if (params) {
        xmlrpc_DECREF(params);
    }
    xmlrpc_env_clean(&env);
}

void va_guest_rpc_start(VAGuestRpc *rpc, VAChannel *ch, VAServerJob *job,
                        size_t max_body)
{
    xmlrpc_value *params;
    const VAMethod *m;
    xmlrpc_env env;

    xmlrpc_env_init(&env);
    m = va_job_parse(&env, rpc, job, max_body, VA_GUEST_RUN_START, &params);
    if (m && !env.fault_occurred) {
        m->start(params, rpc, ch, job);
    } else {
        if (!m) {
            va_server_job_execute(job);
        } else {
            va_job_fault(job, &env);
        }
        va_channel_job_executed(ch, job);
    }
    if (params) {
        xmlrpc_DECREF(params);
    }
    xmlrpc_env_clean(&env);
}

void va_guest_rpc_register(VAGuestRpc *rpc, VAChannel *ch, xmlrpc_env *env)
{
    size_t d;
    const VAMethod *m;

    rpc->methods = g_ptr_array_new_with_free_func(g_free);
    for (d = 0; d < G_N_ELEMENTS(va_domains); d++) {
        if (va_domains[d]->init) {
            va_domains[d]->init(rpc);
        }
        for (m = va_domains[d]->methods;
             m->info.methodName && !env->fault_occurred; m++) {
            struct xmlrpc_method_info3 info = m->info;
            VAMethodCall *c = g_new(VAMethodCall, 1);

            c->rpc = rpc;
            c->method = m;
            g_ptr_array_add(rpc->methods, c);
            info.methodFunction = va_dispatch;
            info.serverInfo = c;
            va_channel_add_method(ch, env, &info);
        }
    }
}

void va_guest_rpc_cleanup(VAGuestRpc *rpc)
{
    size_t d;

    for (d = 0; d < G_N_ELEMENTS(va_domains); d++) {
        if (va_domains[d]->cleanup) {
            va_domains[d]->cleanup(rpc);
        }
    }
    g_clear_pointer(&rpc->methods, g_ptr_array_unref);
}

void va_guest_rpc_session_end(VAGuestRpc *rpc)
{
    size_t d;

    for (d = 0; d < G_N_ELEMENTS(va_domains); d++) {
        if (va_domains[d]->session_end) {
            va_domains[d]->session_end(rpc);
        }
    }
}
