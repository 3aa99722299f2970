/*
 * qemu-va - power: va.shutdown
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "va-errors.h"
#include "qemu-va/methods/va-methods.h"

const char *const va_shutdown_mode_names[VA_SHUTDOWN__MAX] = {
    [VA_SHUTDOWN_HALT] = "halt",
    [VA_SHUTDOWN_POWERDOWN] = "powerdown",
    [VA_SHUTDOWN_REBOOT] = "reboot",
};

static xmlrpc_value *va_rpc_shutdown(xmlrpc_env *env, xmlrpc_value *params,
                                     void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    g_autofree char *mode_name = NULL;
    int mode;

    if (!va_check_count(env, "va.shutdown", params, 1)) {
        return NULL;
    }
    mode_name = va_param_string(env, params, 0, "mode");
    if (!mode_name) {
        return NULL;
    }
    for (mode = 0; mode < VA_SHUTDOWN__MAX; mode++) {
        if (strcmp(mode_name, va_shutdown_mode_names[mode]) == 0) {
            break;
        }
    }
    if (mode == VA_SHUTDOWN__MAX) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "mode must be halt, powerdown or "
                                       "reboot");
        return NULL;
    }
    if (!rpc->ops.shutdown ||
        !rpc->ops.shutdown(call_info, mode, rpc->opaque)) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED,
                                       "a shutdown is already in progress");
        return NULL;
    }
    return xmlrpc_bool_new(env, true);
}

static const VAMethod methods[] = {
    {
        .info = {
            .methodName = "va.shutdown",
            .methodFunction = va_rpc_shutdown,
            .signatureString = "b:s",
            .help = "va.shutdown(mode): halt, powerdown or reboot the "
                    "guest. Returns true; the action starts once this "
                    "reply has been sent.",
        },
    },
    { .info = { .methodName = NULL } },
};

const VAMethodDomain va_m_power = {
    .name = "power",
    .methods = methods,
};
