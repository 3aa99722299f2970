/*
 * qemu-va - hardware: vCPUs online and offline, memory blocks
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As qemu-ga's guest-get-vcpus, guest-set-vcpus, guest-get-memory-blocks,
 * guest-set-memory-blocks and guest-get-memory-block-info, through
 * /sys/devices/system (under
 * rpc->sysroot, so the tests never take this machine's CPUs offline).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "va-errors.h"
#include "qemu-va/methods/va-methods.h"

#define VA_VCPUS_MAX 8192

/*
 * @file of /sys/devices/system/@kind/@kind@id (cpu/cpu3/online,
 * memory/memory7/state), or that directory when @file is NULL.
 */
static char *va_dev_file(const char *kind, gint64 id, const char *file)
{
    return g_strdup_printf("/sys/devices/system/%s/%s%" G_GINT64_FORMAT
                           "%s%s", kind, kind, id, file ? "/" : "",
                           file ? file : "");
}

/* The numbers of /sys/devices/system/@kind/@kind*, in order. */
static GArray *va_sys_indexes(const VAGuestRpc *rpc, const char *kind)
{
    g_autofree char *dir = g_strdup_printf("/sys/devices/system/%s", kind);
    g_autofree char *path = va_sys_path(rpc, dir);
    GArray *ids = g_array_new(false, false, sizeof(gint64));
    GDir *d = g_dir_open(path, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        guint64 id;

        if (g_str_has_prefix(name, kind) &&
            g_ascii_string_to_unsigned(name + strlen(kind), 10, 0,
                                       G_MAXINT, &id, NULL)) {
            gint64 v = id;

            g_array_append_val(ids, v);
        }
    }
    if (d) {
        g_dir_close(d);
    }
    g_array_sort(ids, (GCompareFunc)va_int64_cmp);
    return ids;
}

/* The first word of a sysfs file, or NULL when it cannot be read. */
static char *va_sys_read(const VAGuestRpc *rpc, const char *file)
{
    g_autofree char *path = va_sys_path(rpc, file);
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return NULL;
    }
    return g_strstrip(text);
}

static int va_sys_write(const VAGuestRpc *rpc, const char *file,
                        const char *value)
{
    g_autofree char *path = va_sys_path(rpc, file);
    size_t len = strlen(value);
    ssize_t n;
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC);

    if (fd < 0) {
        return errno;
    }
    /* sysfs takes the value in one write, and says there if it refuses. */
    n = write(fd, value, len);
    if (n < 0) {
        int err = errno;

        close(fd);
        return err;
    }
    close(fd);
    return (size_t)n == len ? 0 : EIO;
}

/*
 * The one argument of va.set_vcpus and va.set_memory_blocks (a new
 * reference); its length in @n, -1 when it is not an array.
 */
static xmlrpc_value *va_list_param(xmlrpc_env *env, xmlrpc_value *params,
                                   int *n)
{
    xmlrpc_value *list;

    xmlrpc_array_read_item(env, params, 0, &list);
    if (env->fault_occurred) {
        return NULL;
    }
    *n = xmlrpc_value_type(list) == XMLRPC_TYPE_ARRAY ?
         xmlrpc_array_size(env, list) : -1;
    return list;
}

/*
 * Item @i of @list as {@id_key, online}; false when it is not (@env set
 * only when the item could not be read or an option is unknown).
 */
static bool va_id_online(xmlrpc_env *env, xmlrpc_value *list, int i,
                         const char *id_key, int64_t *id, bool *online)
{
    const char *const known[] = { id_key, "online", "can-offline", NULL };
    xmlrpc_value *item;
    bool ok;

    xmlrpc_array_read_item(env, list, i, &item);
    if (env->fault_occurred) {
        return false;
    }
    ok = xmlrpc_value_type(item) == XMLRPC_TYPE_STRUCT &&
         va_opts_check(env, item, known) &&
         va_opt_int(env, item, id_key, id) &&
         va_opt_bool(env, item, "online", online) && *id >= 0;
    xmlrpc_DECREF(item);
    return ok;
}

/* One struct from @entry for each /sys/devices/system/@kind/@kind*. */
static xmlrpc_value *va_sys_list(xmlrpc_env *env, const VAGuestRpc *rpc,
                                 const char *kind,
                                 xmlrpc_value *(*entry)(xmlrpc_env *env,
                                                        const VAGuestRpc *rpc,
                                                        gint64 id))
{
    g_autoptr(GArray) ids = va_sys_indexes(rpc, kind);
    xmlrpc_value *ret = xmlrpc_array_new(env);
    guint i;

    for (i = 0; i < ids->len && !env->fault_occurred; i++) {
        va_array_append_take(env, ret,
                             entry(env, rpc, g_array_index(ids, gint64, i)));
    }
    return va_result(env, ret);
}

static xmlrpc_value *va_vcpu(xmlrpc_env *env, const VAGuestRpc *rpc,
                             gint64 id)
{
    g_autofree char *file = va_dev_file("cpu", id, "online");
    g_autofree char *online = va_sys_read(rpc, file);
    xmlrpc_value *c = xmlrpc_struct_new(env);

    va_struct_set_int(env, c, "logical-id", id);
    /* No online file: a CPU that cannot go offline (often cpu0). */
    va_struct_set_bool(env, c, "online", !online || online[0] == '1');
    va_struct_set_bool(env, c, "can-offline", online != NULL);
    return va_result(env, c);
}

static xmlrpc_value *va_rpc_get_vcpus(xmlrpc_env *env, xmlrpc_value *params,
                                      void *server_info, void *call_info)
{
    if (!va_check_count(env, "va.get_vcpus", params, 0)) {
        return NULL;
    }
    return va_sys_list(env, server_info, "cpu", va_vcpu);
}

static xmlrpc_value *va_rpc_set_vcpus(xmlrpc_env *env, xmlrpc_value *params,
                                      void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    xmlrpc_value *list;
    int i, n, done = 0;

    if (!va_check_count(env, "va.set_vcpus", params, 1)) {
        return NULL;
    }
    list = va_list_param(env, params, &n);
    if (!list) {
        return NULL;
    }
    if (n < 1 || n > VA_VCPUS_MAX) {
        xmlrpc_DECREF(list);
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "argument 'vcpus' must be an array "
                                       "of 1 to %d {logical-id, online}",
                                       VA_VCPUS_MAX);
        return NULL;
    }
    /* In order, stopping at the first failure, as qemu-ga. */
    for (i = 0; i < n && !env->fault_occurred; i++) {
        g_autofree char *file = NULL, *cur = NULL;
        int64_t id = -1;
        bool online = true;
        int err;

        if (!va_id_online(env, list, i, "logical-id", &id, &online) ||
            id > G_MAXINT) {
            if (!env->fault_occurred) {
                xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                               "vcpus[%d] must be "
                                               "{logical-id, online}", i);
            }
            break;
        }
        file = va_dev_file("cpu", id, "online");
        cur = va_sys_read(rpc, file);
        if (!cur) {
            g_autofree char *dir = va_dev_file("cpu", id, NULL);
            g_autofree char *dpath = va_sys_path(rpc, dir);

            /* Always online: asking for that is no error. */
            if (online && g_file_test(dpath, G_FILE_TEST_IS_DIR)) {
                done++;
                continue;
            }
            err = g_file_test(dpath, G_FILE_TEST_IS_DIR) ? EOPNOTSUPP :
                  ENOENT;
        } else if ((cur[0] == '1') == online) {
            done++;
            continue;
        } else {
            err = va_sys_write(rpc, file, online ? "1" : "0");
        }
        if (err) {
            g_autofree char *what = g_strdup_printf(
                "vCPU %" G_GINT64_FORMAT " %s", id,
                online ? "online" : "offline");

            /* After some succeeded, the count says where it stopped. */
            if (done == 0) {
                va_fault_errno(env, what, err);
            } else {
                g_message("va.set_vcpus: %s: %s", what, g_strerror(err));
            }
            break;
        }
        done++;
    }
    xmlrpc_DECREF(list);
    return env->fault_occurred ? NULL : xmlrpc_int_new(env, done);
}

static xmlrpc_value *va_memory_block(xmlrpc_env *env, const VAGuestRpc *rpc,
                                     gint64 id)
{
    g_autofree char *sf = va_dev_file("memory", id, "state");
    g_autofree char *rf = va_dev_file("memory", id, "removable");
    g_autofree char *state = va_sys_read(rpc, sf);
    g_autofree char *removable = va_sys_read(rpc, rf);
    xmlrpc_value *b = xmlrpc_struct_new(env);

    va_struct_set_i8(env, b, "phys-index", id);
    va_struct_set_bool(env, b, "online",
                       state && strcmp(state, "offline") != 0);
    va_struct_set_bool(env, b, "can-offline",
                       removable && removable[0] == '1');
    return va_result(env, b);
}

static xmlrpc_value *va_rpc_get_memory_blocks(xmlrpc_env *env,
                                              xmlrpc_value *params,
                                              void *server_info,
                                              void *call_info)
{
    if (!va_check_count(env, "va.get_memory_blocks", params, 0)) {
        return NULL;
    }
    return va_sys_list(env, server_info, "memory", va_memory_block);
}

/* qemu-ga's answer for one block: what happened, and errno if failed. */
static xmlrpc_value *va_block_response(xmlrpc_env *env, int64_t id,
                                       const char *response, int err)
{
    xmlrpc_value *r = xmlrpc_struct_new(env);

    va_struct_set_i8(env, r, "phys-index", id);
    va_struct_set_text(env, r, "response", response);
    if (err) {
        va_struct_set_int(env, r, "error-code", err);
    }
    return va_result(env, r);
}

static xmlrpc_value *va_rpc_set_memory_blocks(xmlrpc_env *env,
                                              xmlrpc_value *params,
                                              void *server_info,
                                              void *call_info)
{
    VAGuestRpc *rpc = server_info;
    xmlrpc_value *list, *ret;
    int i, n;

    if (!va_check_count(env, "va.set_memory_blocks", params, 1)) {
        return NULL;
    }
    list = va_list_param(env, params, &n);
    if (!list) {
        return NULL;
    }
    /* Each block checked first: a bad one changes nothing. */
    for (i = 0; i < n && !env->fault_occurred; i++) {
        int64_t id = -1;
        bool online = true;

        if (!va_id_online(env, list, i, "phys-index", &id, &online)) {
            n = -1;
        }
    }
    if (n < 0 || n > VA_VCPUS_MAX * 16) {
        xmlrpc_DECREF(list);
        if (!env->fault_occurred) {
            xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                           "argument 'blocks' must be an "
                                           "array of {phys-index, online}");
        }
        return NULL;
    }
    ret = xmlrpc_array_new(env);
    for (i = 0; i < n && !env->fault_occurred; i++) {
        g_autofree char *file = NULL, *cur = NULL;
        int64_t id = -1;
        bool online = true;
        int err;

        /* Checked above: false only when the item cannot be read. */
        if (!va_id_online(env, list, i, "phys-index", &id, &online)) {
            break;
        }
        file = va_dev_file("memory", id, "state");
        cur = va_sys_read(rpc, file);
        if (!cur) {
            va_array_append_take(env, ret, va_block_response(
                                     env, id, "not-found", 0));
            continue;
        }
        if ((strcmp(cur, "offline") != 0) == online) {
            va_array_append_take(env, ret, va_block_response(
                                     env, id, "success", 0));
            continue;
        }
        err = va_sys_write(rpc, file, online ? "online" : "offline");
        va_array_append_take(env, ret, va_block_response(
                                 env, id, !err ? "success" :
                                 err == EINVAL || err == EOPNOTSUPP ?
                                 "operation-not-supported" :
                                 "operation-failed", err));
    }
    xmlrpc_DECREF(list);
    return va_result(env, ret);
}

static xmlrpc_value *va_rpc_get_memory_block_info(xmlrpc_env *env,
                                                  xmlrpc_value *params,
                                                  void *server_info,
                                                  void *call_info)
{
    VAGuestRpc *rpc = server_info;
    g_autofree char *text = NULL;
    char *end;
    guint64 size;

    if (!va_check_count(env, "va.get_memory_block_info", params, 0)) {
        return NULL;
    }
    text = va_sys_read(rpc, "/sys/devices/system/memory/block_size_bytes");
    /* Hexadecimal, without 0x. */
    size = text ? g_ascii_strtoull(text, &end, 16) : 0;
    if (!text || end == text || *end || !size || size > G_MAXINT64) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED,
                                       "no memory block size in /sys");
        return NULL;
    }
    return xmlrpc_build_value(env, "{s:I}", "size", (xmlrpc_int64)size);
}

static const VAMethod methods[] = {
    {
        .info = {
            .methodName = "va.get_vcpus",
            .methodFunction = va_rpc_get_vcpus,
            .signatureString = "A:",
            .help = "Returns [{logical-id, online, can-offline}] from "
                    "/sys/devices/system/cpu.",
        },
    }, {
        .info = {
            .methodName = "va.set_vcpus",
            .methodFunction = va_rpc_set_vcpus,
            .signatureString = "i:A",
            .help = "va.set_vcpus([{logical-id, online}]): bring vCPUs "
                    "online or offline, in order; returns how many were "
                    "handled, stopping at the first failure (a fault if "
                    "it is the first).",
        },
        .flags = VA_M_SLOW,
    }, {
        .info = {
            .methodName = "va.get_memory_blocks",
            .methodFunction = va_rpc_get_memory_blocks,
            .signatureString = "A:",
            .help = "Returns [{phys-index, online, can-offline}] from "
                    "/sys/devices/system/memory.",
        },
    }, {
        .info = {
            .methodName = "va.set_memory_blocks",
            .methodFunction = va_rpc_set_memory_blocks,
            .signatureString = "A:A",
            .help = "va.set_memory_blocks([{phys-index, online}]): returns "
                    "[{phys-index, response: success, not-found, "
                    "operation-not-supported or operation-failed, "
                    "error-code}], one a block.",
        },
        .flags = VA_M_SLOW,
    }, {
        .info = {
            .methodName = "va.get_memory_block_info",
            .methodFunction = va_rpc_get_memory_block_info,
            .signatureString = "S:",
            .help = "Returns {size}: the bytes in a memory block.",
        },
    },
    { .info = { .methodName = NULL } },
};

const VAMethodDomain va_m_hw = {
    .name = "hardware",
    .methods = methods,
};
