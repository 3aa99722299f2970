/*
 * qemu-va - the RPC methods the guest agent serves to the host
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE     /* strerrorname_np */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <glib.h>

#include "va-errors.h"
#include "guest-rpc.h"

/* klogctl(2) actions, which glibc does not name. */
#define SYSLOG_ACTION_READ_ALL 3
#define SYSLOG_ACTION_SIZE_BUFFER 10

const char *const va_shutdown_mode_names[VA_SHUTDOWN__MAX] = {
    [VA_SHUTDOWN_HALT] = "halt",
    [VA_SHUTDOWN_POWERDOWN] = "powerdown",
    [VA_SHUTDOWN_REBOOT] = "reboot",
};

const char *const va_guest_methods[] = {
    "va.ping", "va.capabilities", "va.info", "va.shutdown", "va.getfile",
    "va.getdmesg", NULL,
};

const char *const va_guest_slow_methods[] = {
    "va.getfile", "va.getdmesg", NULL,
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

static void va_fault_errno(xmlrpc_env *env, const char *what, int err)
{
    const char *name = strerrorname_np(err);

    xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED, "%s: %s (%s)",
                                   what, g_strerror(err),
                                   name ? name : "?");
}

/*
 * Logs the call (with -v) and faults unless @params holds exactly @count
 * arguments.
 */
static bool va_check_count(xmlrpc_env *env, const char *method,
                           xmlrpc_value *params, int count)
{
    int n = xmlrpc_array_size(env, params);

    g_debug("host calls %s (%d argument%s)", method, n, n == 1 ? "" : "s");

    if (env->fault_occurred) {
        return false;
    }
    if (n != count) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "expected %d argument%s, got %d",
                                       count, count == 1 ? "" : "s", n);
        return false;
    }
    return true;
}

/* Argument @idx as an integer; int and i8 are both accepted. */
static bool va_param_int(xmlrpc_env *env, xmlrpc_value *params,
                         unsigned idx, const char *name, int64_t *out)
{
    xmlrpc_value *item;
    bool ok = false;

    xmlrpc_array_read_item(env, params, idx, &item);
    if (env->fault_occurred) {
        return false;
    }
    if (xmlrpc_value_type(item) == XMLRPC_TYPE_INT) {
        int i;

        xmlrpc_read_int(env, item, &i);
        *out = i;
        ok = true;
    } else if (xmlrpc_value_type(item) == XMLRPC_TYPE_I8) {
        xmlrpc_int64 i;

        xmlrpc_read_i8(env, item, &i);
        *out = i;
        ok = true;
    } else {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "argument '%s' must be an integer",
                                       name);
    }
    xmlrpc_DECREF(item);
    return ok && !env->fault_occurred;
}

/* Argument @idx as a string without NULs; free it with g_free(). */
static char *va_param_string(xmlrpc_env *env, xmlrpc_value *params,
                             unsigned idx, const char *name)
{
    xmlrpc_value *item;
    const char *s = NULL;
    size_t len = 0;
    char *ret = NULL;

    xmlrpc_array_read_item(env, params, idx, &item);
    if (env->fault_occurred) {
        return NULL;
    }
    if (xmlrpc_value_type(item) == XMLRPC_TYPE_STRING) {
        xmlrpc_read_string_lp(env, item, &len, &s);
    }
    if (!env->fault_occurred && s && !memchr(s, '\0', len)) {
        ret = g_strndup(s, len);
    } else if (!env->fault_occurred) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "argument '%s' must be a string",
                                       name);
    }
    free((void *)s);
    xmlrpc_DECREF(item);
    return ret;
}

xmlrpc_value *va_guest_method_list(VAGuestRpc *rpc, xmlrpc_env *env)
{
    xmlrpc_value *list = xmlrpc_array_new(env);
    int i;

    for (i = 0; va_guest_methods[i] && !env->fault_occurred; i++) {
        xmlrpc_value *name;

        if (rpc->ops.method_enabled &&
            !rpc->ops.method_enabled(va_guest_methods[i], rpc->opaque)) {
            continue;
        }
        name = xmlrpc_string_new(env, va_guest_methods[i]);
        xmlrpc_array_append_item(env, list, name);
        xmlrpc_DECREF(name);
    }
    if (env->fault_occurred) {
        xmlrpc_DECREF(list);
        return NULL;
    }
    return list;
}

static xmlrpc_value *va_rpc_ping(xmlrpc_env *env, xmlrpc_value *params,
                                 void *server_info, void *call_info)
{
    if (!va_check_count(env, "va.ping", params, 0)) {
        return NULL;
    }
    return xmlrpc_string_new(env, "pong");
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
    return ret;
}

/* Adds NAME, ID, VERSION_ID and PRETTY_NAME of os-release(5) to @os. */
static void va_read_os_release(VAGuestRpc *rpc, xmlrpc_env *env,
                               xmlrpc_value *os)
{
    static const char *const keys[][2] = {
        { "ID", "id" }, { "NAME", "name" }, { "VERSION_ID", "version_id" },
        { "PRETTY_NAME", "pretty_name" },
    };
    const char *path = rpc->os_release_path;
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    int i;
    size_t k;

    if (!path) {
        path = g_file_test("/etc/os-release", G_FILE_TEST_EXISTS) ?
               "/etc/os-release" : "/usr/lib/os-release";
    }
    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return;
    }
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i] && !env->fault_occurred; i++) {
        char *eq = strchr(lines[i], '=');
        g_autofree char *value = NULL;
        xmlrpc_value *v;

        if (!eq) {
            continue;
        }
        *eq = '\0';
        for (k = 0; k < G_N_ELEMENTS(keys); k++) {
            if (strcmp(lines[i], keys[k][0]) == 0) {
                break;
            }
        }
        if (k == G_N_ELEMENTS(keys)) {
            continue;
        }
        value = g_shell_unquote(eq + 1, NULL);
        if (!value) {
            continue;
        }
        v = va_text_value(env, value, strlen(value));
        if (v) {
            xmlrpc_struct_set_value(env, os, keys[k][1], v);
            xmlrpc_DECREF(v);
        }
    }
}

/* Sets @key of @st to system text @text; faults @env on failure. */
static void va_struct_set_text(xmlrpc_env *env, xmlrpc_value *st,
                               const char *key, const char *text)
{
    xmlrpc_value *v = va_text_value(env, text, strlen(text));

    if (v) {
        xmlrpc_struct_set_value(env, st, key, v);
        xmlrpc_DECREF(v);
    }
}

static xmlrpc_value *va_rpc_info(xmlrpc_env *env, xmlrpc_value *params,
                                 void *server_info, void *call_info)
{
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
    va_read_os_release(rpc, env, os);
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

/* Reads up to @len bytes at @offset; -1 with errno on failure. */
static ssize_t va_read_at(int fd, uint8_t *buf, size_t len, int64_t offset)
{
    size_t got = 0;
    bool seekable = true;

    while (got < len) {
        ssize_t n;

        if (seekable) {
            n = pread(fd, buf + got, len - got, offset + got);
            if (n < 0 && errno == ESPIPE && offset == 0 && got == 0) {
                /* A pipe or a device: read it from its start. */
                seekable = false;
                continue;
            }
        } else {
            n = read(fd, buf + got, len - got);
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        got += n;
    }
    return got;
}

static xmlrpc_value *va_rpc_getfile(xmlrpc_env *env, xmlrpc_value *params,
                                    void *server_info, void *call_info)
{
    g_autofree char *path = NULL;
    g_autofree uint8_t *buf = NULL;
    int64_t offset, length;
    struct stat st;
    ssize_t got;
    bool eof;
    int fd, err = 0;

    if (!va_check_count(env, "va.getfile", params, 3)) {
        return NULL;
    }
    path = va_param_string(env, params, 0, "path");
    if (!path || !va_param_int(env, params, 1, "offset", &offset) ||
        !va_param_int(env, params, 2, "length", &length)) {
        return NULL;
    }
    /* The top of the range would overflow offset + length. */
    if (path[0] != '/' || offset < 0 || length < 0 ||
        offset > G_MAXINT64 - VA_GETFILE_CHUNK_MAX) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "path must be absolute, offset and "
                                       "length not negative, offset below "
                                       "2^63 - 1 MiB");
        return NULL;
    }
    /* A huge length is clamped: the host asks again for the rest. */
    length = MIN(length, VA_GETFILE_CHUNK_MAX);

    /* O_NONBLOCK: opening a FIFO must not hang the worker. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        va_fault_errno(env, path, errno);
        return NULL;
    }
    if (fstat(fd, &st) < 0) {
        err = errno;
    } else if (S_ISDIR(st.st_mode)) {
        err = EISDIR;
    }
    if (err) {
        close(fd);
        va_fault_errno(env, path, err);
        return NULL;
    }
    buf = g_malloc(length + 1);
    got = va_read_at(fd, buf, length, offset);
    if (got < 0) {
        err = errno;
        close(fd);
        va_fault_errno(env, path, err);
        return NULL;
    }
    close(fd);
    eof = got < length || (S_ISREG(st.st_mode) && offset + got >= st.st_size);
    return xmlrpc_build_value(env, "{s:6,s:b,s:I}",
                              "data", buf, (size_t)got,
                              "eof", (xmlrpc_bool)eof,
                              "size", (xmlrpc_int64)st.st_size);
}

/*
 * Appends one /dev/kmsg record ("prio,seq,usec,flags;text") to @out as
 * dmesg(1) prints it. Continuation lines (" KEY=value") are dropped.
 */
static void va_kmsg_record(const char *rec, GString *out)
{
    const char *text = strchr(rec, ';');
    unsigned long long usec;
    char *end;
    const char *p;

    if (rec[0] == ' ' || rec[0] == '\0') {
        return;
    }
    if (!text) {
        g_string_append_printf(out, "%s\n", rec);
        return;
    }
    p = strchr(rec, ',');
    p = p ? strchr(p + 1, ',') : NULL;
    usec = p ? g_ascii_strtoull(p + 1, &end, 10) : 0;
    g_string_append_printf(out, "[%5llu.%06llu] %s\n", usec / 1000000,
                           usec % 1000000, text + 1);
}

/* Keeps the log held in @out from growing far beyond the @max wanted. */
static void va_log_trim(GString *out, size_t max, bool final)
{
    const char *nl;

    if (out->len > max && (final || out->len > 2 * max + 65536)) {
        g_string_erase(out, 0, out->len - max);
        if (final && (nl = memchr(out->str, '\n', out->len)) &&
            (size_t)(nl - out->str) + 1 < out->len) {
            /* Start at a line. */
            g_string_erase(out, 0, nl - out->str + 1);
        }
    }
}

static bool va_read_kmsg(const char *path, size_t max, GString *out,
                         int *err)
{
    /* /dev/kmsg hands out one record per read, up to about 8 KiB. */
    char buf[8192];
    g_autoptr(GString) line = g_string_new(NULL);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        *err = errno;
        return false;
    }
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        ssize_t i;

        if (n < 0 && (errno == EINTR || errno == EPIPE)) {
            /* EPIPE: records were overwritten meanwhile; go on. */
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            break;
        }
        if (n < 0) {
            *err = errno;
            close(fd);
            return false;
        }
        if (n == 0) {
            break;
        }
        for (i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                va_kmsg_record(line->str, out);
                g_string_truncate(line, 0);
            } else if (line->len < sizeof(buf)) {
                g_string_append_c(line, buf[i]);
            }
        }
        va_log_trim(out, max, false);
    }
    close(fd);
    va_kmsg_record(line->str, out);
    return true;
}

/* The syslog(2) buffer: "<prio>text" lines. */
static bool va_read_klog(size_t max, GString *out, int *err)
{
    int size = klogctl(SYSLOG_ACTION_SIZE_BUFFER, NULL, 0);
    g_autofree char *buf = NULL;
    g_auto(GStrv) lines = NULL;
    int n, i;

    if (size < 0) {
        *err = errno;
        return false;
    }
    buf = g_malloc(size + 1);
    n = klogctl(SYSLOG_ACTION_READ_ALL, buf, size);
    if (n < 0) {
        *err = errno;
        return false;
    }
    buf[n] = '\0';
    lines = g_strsplit(buf, "\n", -1);
    for (i = 0; lines[i]; i++) {
        const char *text = lines[i];

        if (text[0] == '<' && strchr(text, '>')) {
            text = strchr(text, '>') + 1;
        }
        if (*text) {
            g_string_append_printf(out, "%s\n", text);
        }
        va_log_trim(out, max, false);
    }
    return true;
}

static xmlrpc_value *va_rpc_getdmesg(xmlrpc_env *env, xmlrpc_value *params,
                                     void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    g_autoptr(GString) out = g_string_new(NULL);
    int64_t max;
    int err = 0;
    bool ok;

    if (!va_check_count(env, "va.getdmesg", params, 1) ||
        !va_param_int(env, params, 0, "max_bytes", &max)) {
        return NULL;
    }
    if (max < 0) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "max_bytes must not be negative");
        return NULL;
    }
    max = MIN(max, VA_DMESG_MAX);
    if (rpc->kmsg_path) {
        ok = va_read_kmsg(rpc->kmsg_path, max, out, &err);
    } else {
        /* Without /dev/kmsg (old kernels, some containers): syslog(2). */
        ok = va_read_kmsg("/dev/kmsg", max, out, &err) ||
             va_read_klog(max, out, &err);
    }
    if (!ok) {
        va_fault_errno(env, "kernel log", err);
        return NULL;
    }
    va_log_trim(out, max, true);
    return va_text_value(env, out->str, out->len);
}

void va_guest_rpc_register(VAGuestRpc *rpc, xmlrpc_registry *reg,
                           xmlrpc_env *env)
{
    const struct xmlrpc_method_info3 methods[] = {
        {
            .methodName = "va.ping",
            .methodFunction = va_rpc_ping,
            .signatureString = "s:",
            .help = "Returns \"pong\": the agent is alive.",
        }, {
            .methodName = "va.capabilities",
            .methodFunction = va_rpc_capabilities,
            .signatureString = "S:",
            .help = "Returns {version, methods}: the agent's version and "
                    "the methods the host may call.",
        }, {
            .methodName = "va.info",
            .methodFunction = va_rpc_info,
            .signatureString = "S:",
            .help = "Returns {version, session, uptime_s, hostname, kernel, "
                    "arch, os}; os holds id, name, version_id and "
                    "pretty_name from os-release(5).",
        }, {
            .methodName = "va.shutdown",
            .methodFunction = va_rpc_shutdown,
            .signatureString = "b:s",
            .help = "va.shutdown(mode): halt, powerdown or reboot the "
                    "guest. Returns true; the action starts once this "
                    "reply has been sent.",
        }, {
            .methodName = "va.getfile",
            .methodFunction = va_rpc_getfile,
            .signatureString = "S:sii,S:sII",
            .help = "va.getfile(path, offset, length): returns {data "
                    "(base64), eof, size}. length is capped at 1 MiB; "
                    "errors are faults carrying the errno text.",
        }, {
            .methodName = "va.getdmesg",
            .methodFunction = va_rpc_getdmesg,
            .signatureString = "s:i,s:I",
            .help = "va.getdmesg(max_bytes): the tail of the kernel log, "
                    "at most max_bytes (capped at 1 MiB) long.",
        },
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(methods) && !env->fault_occurred; i++) {
        struct xmlrpc_method_info3 info = methods[i];

        info.serverInfo = rpc;
        xmlrpc_registry_add_method3(env, reg, &info);
    }
}
