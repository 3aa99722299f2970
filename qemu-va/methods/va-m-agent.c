/*
 * qemu-va - the agent itself: va.ping, va.capabilities, va.info
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>

#include "qemu-va/methods/va-methods.h"

static xmlrpc_value *va_rpc_ping(xmlrpc_env *env, xmlrpc_value *params,
                                 void *server_info, void *call_info)
{
    /*
     * The answer never changes: made once and shared (xmlrpc-c counts a
     * value's references under its lock). Making and freeing a value per
     * call cost a tenth of a ping.
     */
    static xmlrpc_value *pong;

    if (!va_check_count(env, "va.ping", params, 0)) {
        return NULL;
    }
    if (g_once_init_enter(&pong)) {
        xmlrpc_env e;
        xmlrpc_value *v;

        xmlrpc_env_init(&e);
        v = xmlrpc_string_new(&e, "pong");
        /* Only allocation can fail here, and GLib aborts on that too. */
        g_assert(!e.fault_occurred);
        xmlrpc_env_clean(&e);
        g_once_init_leave(&pong, v);
    }
    xmlrpc_INCREF(pong);
    return pong;
}

static xmlrpc_value *va_rpc_capabilities(xmlrpc_env *env,
                                         xmlrpc_value *params,
                                         void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    xmlrpc_value *methods, *ret;

    if (!va_check_count(env, "va.capabilities", params, 0)) {
        return NULL;
    }
    methods = va_guest_method_list(rpc, env);
    if (!methods) {
        return NULL;
    }
    ret = xmlrpc_build_value(env, "{s:s,s:A}", "version", QEMU_VA_VERSION,
                             "methods", methods);
    xmlrpc_DECREF(methods);
    if (ret) {
        va_struct_set_take(env, ret, "features", va_guest_features(env));
    }
    if (ret) {
        /* Not in the hello: it stays small. */
        va_struct_set_take(env, ret, "signatures",
                           va_guest_method_signatures(rpc, env));
    }
    return va_result(env, ret);
}

static xmlrpc_value *va_rpc_info(xmlrpc_env *env, xmlrpc_value *params,
                                 void *server_info, void *call_info)
{
    static const char *const keys[][2] = {
        { "ID", "id" }, { "NAME", "name" }, { "VERSION_ID", "version_id" },
        { "PRETTY_NAME", "pretty_name" },
    };
    VAGuestRpc *rpc = server_info;
    const char *session = "";
    struct utsname uts;
    struct sysinfo si;
    xmlrpc_value *os, *ret;

    if (!va_check_count(env, "va.info", params, 0)) {
        return NULL;
    }
    if (uname(&uts) < 0 || sysinfo(&si) < 0) {
        va_fault_errno(env, "uname", errno);
        return NULL;
    }
    if (rpc->ops.session) {
        session = rpc->ops.session(call_info, rpc->opaque);
    }
    os = xmlrpc_struct_new(env);
    va_os_release_to_struct(rpc, env, os, keys, G_N_ELEMENTS(keys));
    if (env->fault_occurred) {
        if (os) {
            xmlrpc_DECREF(os);
        }
        return NULL;
    }
    ret = xmlrpc_build_value(env, "{s:s,s:s,s:I,s:S}",
                             "version", QEMU_VA_VERSION,
                             "session", session,
                             "uptime_s", (xmlrpc_int64)si.uptime,
                             "os", os);
    xmlrpc_DECREF(os);
    if (env->fault_occurred) {
        return NULL;
    }
    va_struct_set_text(env, ret, "hostname", uts.nodename);
    va_struct_set_text(env, ret, "kernel", uts.release);
    va_struct_set_text(env, ret, "arch", uts.machine);
    if (env->fault_occurred) {
        xmlrpc_DECREF(ret);
        return NULL;
    }
    return ret;
}

static const VAMethod methods[] = {
    {
        .info = {
            .methodName = "va.ping",
            .methodFunction = va_rpc_ping,
            .signatureString = "s:",
            .help = "Returns \"pong\": the agent is alive.",
        },
        .flags = VA_M_FROZEN_OK,
    }, {
        .info = {
            .methodName = "va.capabilities",
            .methodFunction = va_rpc_capabilities,
            .signatureString = "S:",
            .help = "Returns {version, methods, signatures}: the agent's "
                    "version, the methods the host may call and their "
                    "signatures ({name: \"result:args,...\"}, as "
                    "system.methodSignature).",
        },
        .flags = VA_M_FROZEN_OK,
    }, {
        .info = {
            .methodName = "va.info",
            .methodFunction = va_rpc_info,
            .signatureString = "S:",
            .help = "Returns {version, session, uptime_s, hostname, kernel, "
                    "arch, os}; os holds id, name, version_id and "
                    "pretty_name from os-release(5).",
        },
        .flags = VA_M_FROZEN_OK,
    },
    { .info = { .methodName = NULL } },
};

const VAMethodDomain va_m_agent = {
    .name = "agent",
    .methods = methods,
};
