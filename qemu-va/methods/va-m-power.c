/*
 * qemu-va - power: va.shutdown, suspend to RAM, disk or both
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

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

/* What a suspend writes, where: /sys/power/disk first when set. */
typedef struct VASuspend {
    char *disk_path;
    const char *disk_mode;      /* NULL: leave /sys/power/disk alone */
    char *state_path;
    const char *state;
} VASuspend;

static void va_suspend_free(VASuspend *s)
{
    g_free(s->disk_path);
    g_free(s->state_path);
    g_free(s);
}

static bool va_write_word(const char *path, const char *word)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        g_warning("suspend: %s: %s", path, g_strerror(errno));
        return false;
    }
    /* The guest sleeps inside this write; it returns on resume. */
    n = write(fd, word, strlen(word));
    if (n < 0) {
        g_warning("suspend: writing %s to %s: %s", word, path,
                  g_strerror(errno));
    }
    close(fd);
    return n >= 0;
}

static void va_suspend_run(void *data, bool run)
{
    VASuspend *s = data;

    if (run && (!s->disk_mode || va_write_word(s->disk_path,
                                               s->disk_mode))) {
        va_write_word(s->state_path, s->state);
    }
    va_suspend_free(s);
}

/* Whether the sysfs file @path lists @word (the kernel's support). */
static bool va_sys_offers(const char *path, const char *word)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) words = NULL;
    int i;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return false;
    }
    words = g_strsplit_set(g_strstrip(text), " \n", -1);
    for (i = 0; words[i]; i++) {
        /* /sys/power/disk marks the current mode: [platform] */
        g_autofree char *w = g_strdup(words[i]);

        if (w[0] == '[') {
            memmove(w, w + 1, strlen(w));
            w[strcspn(w, "]")] = '\0';
        }
        if (strcmp(w, word) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * qemu-ga's suspend through sysfs: RAM writes mem to /sys/power/state,
 * disk writes disk, hybrid sets /sys/power/disk to suspend first. The
 * reply goes first: the guest may not wake for a long time.
 */
static xmlrpc_value *va_suspend(xmlrpc_env *env, VAGuestRpc *rpc,
                                void *call_info, const char *method,
                                xmlrpc_value *params, const char *state,
                                const char *disk_mode)
{
    VASuspend *s;

    if (!va_check_count(env, method, params, 0)) {
        return NULL;
    }
    s = g_new0(VASuspend, 1);
    s->state_path = va_sys_path(rpc, "/sys/power/state");
    s->disk_path = va_sys_path(rpc, "/sys/power/disk");
    s->state = state;
    s->disk_mode = disk_mode;
    if (!va_sys_offers(s->state_path, state) ||
        (disk_mode && !va_sys_offers(s->disk_path, disk_mode))) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED,
                                       "%s: the guest's kernel does not "
                                       "offer it (%s%s%s)", method, state,
                                       disk_mode ? ", disk mode " : "",
                                       disk_mode ? disk_mode : "");
        va_suspend_free(s);
        return NULL;
    }
    if (!rpc->ops.after_reply ||
        !rpc->ops.after_reply(call_info, va_suspend_run, s, rpc->opaque)) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED,
                                       "%s: cannot be scheduled", method);
        va_suspend_free(s);
        return NULL;
    }
    g_message("%s: suspending once the reply is out", method);
    return xmlrpc_bool_new(env, true);
}

static xmlrpc_value *va_rpc_suspend_ram(xmlrpc_env *env, xmlrpc_value *params,
                                        void *server_info, void *call_info)
{
    return va_suspend(env, server_info, call_info, "va.suspend_ram", params,
                      "mem", NULL);
}

static xmlrpc_value *va_rpc_suspend_disk(xmlrpc_env *env,
                                         xmlrpc_value *params,
                                         void *server_info, void *call_info)
{
    return va_suspend(env, server_info, call_info, "va.suspend_disk",
                      params, "disk", NULL);
}

static xmlrpc_value *va_rpc_suspend_hybrid(xmlrpc_env *env,
                                           xmlrpc_value *params,
                                           void *server_info,
                                           void *call_info)
{
    return va_suspend(env, server_info, call_info, "va.suspend_hybrid",
                      params, "disk", "suspend");
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
    }, {
        .info = {
            .methodName = "va.suspend_ram",
            .methodFunction = va_rpc_suspend_ram,
            .signatureString = "b:",
            .help = "Suspend to RAM (mem to /sys/power/state) once this "
                    "reply has been sent. Returns true.",
        },
    }, {
        .info = {
            .methodName = "va.suspend_disk",
            .methodFunction = va_rpc_suspend_disk,
            .signatureString = "b:",
            .help = "Suspend to disk (disk to /sys/power/state) once this "
                    "reply has been sent. Returns true.",
        },
    }, {
        .info = {
            .methodName = "va.suspend_hybrid",
            .methodFunction = va_rpc_suspend_hybrid,
            .signatureString = "b:",
            .help = "Suspend to both (suspend to /sys/power/disk, then "
                    "disk to /sys/power/state) once this reply has been "
                    "sent. Returns true.",
        },
    },
    { .info = { .methodName = NULL } },
};

const VAMethodDomain va_m_power = {
    .name = "power",
    .methods = methods,
};
