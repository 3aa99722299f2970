/*
 * qemu-va - system: va.getdmesg
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/klog.h>
#include <unistd.h>

#include "va-errors.h"
#include "qemu-va/methods/va-methods.h"

/* klogctl(2) actions, which glibc does not name. */
#define SYSLOG_ACTION_READ_ALL 3
#define SYSLOG_ACTION_SIZE_BUFFER 10

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

static const VAMethod methods[] = {
    {
        .info = {
            .methodName = "va.getdmesg",
            .methodFunction = va_rpc_getdmesg,
            .signatureString = "s:i,s:I",
            .help = "va.getdmesg(max_bytes): the tail of the kernel log, "
                    "at most max_bytes (capped at 1 MiB) long.",
        },
        .flags = VA_M_SLOW,
    },
    { .info = { .methodName = NULL } },
};

const VAMethodDomain va_m_system = {
    .name = "system",
    .methods = methods,
};
