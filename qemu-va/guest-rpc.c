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

#include "va-errors.h"
#include "guest-rpc.h"
#include "methods/va-methods.h"

/* In this order in va.capabilities and the hello. */
static const VAMethodDomain *const va_domains[] = {
    &va_m_agent, &va_m_power, &va_m_files, &va_m_system, &va_m_net,
    &va_m_users, &va_m_process, &va_m_fs,
    &va_m_hw,
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

xmlrpc_value *va_guest_method_list(VAGuestRpc *rpc, xmlrpc_env *env)
{
    xmlrpc_value *list = xmlrpc_array_new(env);
    size_t d;
    const VAMethod *m;

    for (d = 0; d < G_N_ELEMENTS(va_domains); d++) {
        for (m = va_domains[d]->methods; m->info.methodName; m++) {
            const char *name = m->info.methodName;

            if (rpc->ops.method_enabled &&
                !rpc->ops.method_enabled(name, rpc->opaque)) {
                continue;
            }
            va_array_append_take(env, list, xmlrpc_string_new(env, name));
        }
    }
    return va_result(env, list);
}

xmlrpc_value *va_guest_method_signatures(VAGuestRpc *rpc, xmlrpc_env *env)
{
    xmlrpc_value *sigs = xmlrpc_struct_new(env);
    size_t d;
    const VAMethod *m;

    for (d = 0; d < G_N_ELEMENTS(va_domains); d++) {
        for (m = va_domains[d]->methods; m->info.methodName; m++) {
            const char *name = m->info.methodName;

            if (rpc->ops.method_enabled &&
                !rpc->ops.method_enabled(name, rpc->opaque)) {
                continue;
            }
            va_struct_set_take(env, sigs, name,
                               xmlrpc_string_new(env,
                                                 m->info.signatureString));
        }
    }
    return va_result(env, sigs);
}

GStrv va_guest_slow_methods(void)
{
    GPtrArray *names = g_ptr_array_new();
    size_t d;
    const VAMethod *m;

    for (d = 0; d < G_N_ELEMENTS(va_domains); d++) {
        for (m = va_domains[d]->methods; m->info.methodName; m++) {
            if (m->flags & VA_M_SLOW) {
                g_ptr_array_add(names, g_strdup(m->info.methodName));
            }
        }
    }
    g_ptr_array_add(names, NULL);
    return (GStrv)g_ptr_array_free(names, false);
}

/* What the registry calls: the method, and the rpc it serves. */
typedef struct VAMethodCall {
    VAGuestRpc *rpc;
    const VAMethod *method;
} VAMethodCall;

/*
 * While the filesystems are frozen only a few methods run, as in qemu-ga:
 * the others could block on the frozen disks, or write to them.
 */
static xmlrpc_value *va_dispatch(xmlrpc_env *env, xmlrpc_value *params,
                                 void *server_info, void *call_info)
{
    VAMethodCall *c = server_info;

    if (!(c->method->flags & VA_M_FROZEN_OK) && va_fs_frozen(c->rpc)) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED,
                                       "%s: not while the filesystems are "
                                       "frozen", c->method->info.methodName);
        return NULL;
    }
    return c->method->info.methodFunction(env, params, c->rpc, call_info);
}

void va_guest_rpc_register(VAGuestRpc *rpc, xmlrpc_registry *reg,
                           xmlrpc_env *env)
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
            xmlrpc_registry_add_method3(env, reg, &info);
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
