/*
 * qemu-va - system: kernel log, time, hostname, timezone, OS, load, stats
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <linux/rtc.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/utsname.h>
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

static xmlrpc_value *va_rpc_get_time(xmlrpc_env *env, xmlrpc_value *params,
                                     void *server_info, void *call_info)
{
    struct timespec ts;

    if (!va_check_count(env, "va.get_time", params, 0)) {
        return NULL;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    return xmlrpc_i8_new(env, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

/* Whether /etc/adjtime says the RTC keeps local time (hwclock's way). */
static bool va_rtc_is_local(const VAGuestRpc *rpc)
{
    g_autofree char *path = va_sys_path(rpc, "/etc/adjtime");
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return false;
    }
    lines = g_strsplit(text, "\n", 4);
    return g_strv_length(lines) >= 3 && strcmp(lines[2], "LOCAL") == 0;
}

/*
 * The RTC device as hwclock finds it: /dev/rtc is udev's link, and a
 * system without udev (an initramfs, a container) has only /dev/rtc0.
 * Returns an fd, @path set to the last one tried.
 */
static int va_rtc_open(const VAGuestRpc *rpc, char **path)
{
    static const char *const devs[] = { "/dev/rtc", "/dev/rtc0" };
    int fd = -1;
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(devs) && fd < 0; i++) {
        g_free(*path);
        *path = va_sys_path(rpc, devs[i]);
        fd = open(*path, O_RDONLY | O_CLOEXEC);
    }
    return fd;
}

/*
 * The RTC's time in seconds since the epoch, as hwclock --hctosys reads
 * it: RTC_RD_TIME on the device, else the kernel's since_epoch (which
 * assumes UTC); a broken-down time is local when /etc/adjtime says so.
 */
static bool va_rtc_read(const VAGuestRpc *rpc, int64_t *secs, int *err)
{
    g_autofree char *dev = NULL;
    g_autofree char *sys = va_sys_path(rpc,
                                       "/sys/class/rtc/rtc0/since_epoch");
    g_autofree char *text = NULL;
    struct rtc_time rt;
    struct tm tm = { 0 };
    char *end;
    int fd = va_rtc_open(rpc, &dev);

    if (fd >= 0) {
        int r = ioctl(fd, RTC_RD_TIME, &rt);

        *err = errno;
        close(fd);
        if (r < 0) {
            return false;
        }
        tm.tm_sec = rt.tm_sec;
        tm.tm_min = rt.tm_min;
        tm.tm_hour = rt.tm_hour;
        tm.tm_mday = rt.tm_mday;
        tm.tm_mon = rt.tm_mon;
        tm.tm_year = rt.tm_year;
    } else {
        gint64 t;

        if (!g_file_get_contents(sys, &text, NULL, NULL)) {
            *err = ENODEV;
            return false;
        }
        t = g_ascii_strtoll(text, &end, 10);
        if (end == text || t < 0) {
            *err = EINVAL;
            return false;
        }
        if (!va_rtc_is_local(rpc)) {
            *secs = t;
            return true;
        }
        gmtime_r(&(time_t){ t }, &tm);
    }
    tm.tm_isdst = -1;
    *secs = va_rtc_is_local(rpc) ? mktime(&tm) : timegm(&tm);
    return true;
}

/* Writes the system time to the RTC, as hwclock --systohc; best effort. */
static void va_rtc_write(const VAGuestRpc *rpc, int64_t ns)
{
    g_autofree char *dev = NULL;
    time_t t = ns / 1000000000;
    struct rtc_time rt = { 0 };
    struct tm tm;
    int fd = va_rtc_open(rpc, &dev);

    if (fd < 0) {
        g_debug("%s: %s; RTC not written", dev, g_strerror(errno));
        return;
    }
    if (va_rtc_is_local(rpc)) {
        localtime_r(&t, &tm);
    } else {
        gmtime_r(&t, &tm);
    }
    rt.tm_sec = tm.tm_sec;
    rt.tm_min = tm.tm_min;
    rt.tm_hour = tm.tm_hour;
    rt.tm_mday = tm.tm_mday;
    rt.tm_mon = tm.tm_mon;
    rt.tm_year = tm.tm_year;
    if (ioctl(fd, RTC_SET_TIME, &rt) < 0) {
        g_warning("%s: cannot set the RTC: %s", dev, g_strerror(errno));
    }
    close(fd);
}

static int va_clock_settime(int64_t ns)
{
    struct timespec ts = {
        .tv_sec = ns / 1000000000,
        .tv_nsec = ns % 1000000000,
    };

    return clock_settime(CLOCK_REALTIME, &ts);
}

static xmlrpc_value *va_rpc_set_time(xmlrpc_env *env, xmlrpc_value *params,
                                     void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    int n = va_check_args(env, "va.set_time", params, 0, 1);
    int (*set_clock)(int64_t) = rpc->set_clock ? rpc->set_clock :
                                va_clock_settime;
    int64_t ns, secs;
    int err;

    if (n < 0) {
        return NULL;
    }
    if (n == 1) {
        if (!va_param_int(env, params, 0, "time", &ns)) {
            return NULL;
        }
        if (ns < 0) {
            xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                           "time must not be negative");
            return NULL;
        }
    } else {
        if (!va_rtc_read(rpc, &secs, &err)) {
            va_fault_errno(env, "reading the RTC", err);
            return NULL;
        }
        ns = secs * 1000000000;
    }
    if (set_clock(ns) < 0) {
        va_fault_errno(env, "setting the clock", errno);
        return NULL;
    }
    if (n == 1) {
        /* As qemu-ga: the RTC follows, so the time survives a reboot. */
        va_rtc_write(rpc, ns);
    }
    return xmlrpc_i8_new(env, ns);
}

static xmlrpc_value *va_rpc_get_hostname(xmlrpc_env *env,
                                         xmlrpc_value *params,
                                         void *server_info, void *call_info)
{
    struct utsname uts;
    xmlrpc_value *ret;

    if (!va_check_count(env, "va.get_hostname", params, 0)) {
        return NULL;
    }
    /* Not g_get_host_name(): it caches, and the name may change. */
    uname(&uts);
    ret = xmlrpc_struct_new(env);
    va_struct_set_text(env, ret, "host-name", uts.nodename);
    return va_result(env, ret);
}

static xmlrpc_value *va_rpc_get_timezone(xmlrpc_env *env,
                                         xmlrpc_value *params,
                                         void *server_info, void *call_info)
{
    time_t now = time(NULL);
    struct tm tm;
    xmlrpc_value *ret;

    if (!va_check_count(env, "va.get_timezone", params, 0)) {
        return NULL;
    }
    tzset();
    localtime_r(&now, &tm);
    ret = xmlrpc_struct_new(env);
    if (tm.tm_zone) {
        va_struct_set_text(env, ret, "zone", tm.tm_zone);
    }
    va_struct_set_int(env, ret, "offset", (int)tm.tm_gmtoff);
    return va_result(env, ret);
}

static xmlrpc_value *va_rpc_get_osinfo(xmlrpc_env *env,
                                       xmlrpc_value *params,
                                       void *server_info, void *call_info)
{
    static const char *const keys[][2] = {
        { "ID", "id" }, { "NAME", "name" }, { "PRETTY_NAME", "pretty-name" },
        { "VERSION", "version" }, { "VERSION_ID", "version-id" },
        { "VARIANT", "variant" }, { "VARIANT_ID", "variant-id" },
    };
    VAGuestRpc *rpc = server_info;
    struct utsname uts;
    xmlrpc_value *ret;

    if (!va_check_count(env, "va.get_osinfo", params, 0)) {
        return NULL;
    }
    uname(&uts);
    ret = xmlrpc_struct_new(env);
    va_struct_set_text(env, ret, "kernel-release", uts.release);
    va_struct_set_text(env, ret, "kernel-version", uts.version);
    va_struct_set_text(env, ret, "machine", uts.machine);
    if (!env->fault_occurred) {
        va_os_release_to_struct(rpc, env, ret, keys, G_N_ELEMENTS(keys));
    }
    return va_result(env, ret);
}

static xmlrpc_value *va_rpc_get_load(xmlrpc_env *env, xmlrpc_value *params,
                                     void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    g_autofree char *path = va_sys_path(rpc, "/proc/loadavg");
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    double load[3];
    char *p, *end;
    int i;

    if (!va_check_count(env, "va.get_load", params, 0)) {
        return NULL;
    }
    if (!g_file_get_contents(path, &text, NULL, &err)) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED, "%s",
                                       err->message);
        return NULL;
    }
    for (i = 0, p = text; i < 3; i++, p = end) {
        load[i] = g_ascii_strtod(p, &end);
        if (end == p) {
            xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED,
                                           "%s: unexpected format", path);
            return NULL;
        }
    }
    return xmlrpc_build_value(env, "{s:d,s:d,s:d}", "load1", load[0],
                              "load5", load[1], "load15", load[2]);
}

/* Splits @line at blanks, dropping the empty fields. */
static GStrv va_fields(const char *line)
{
    g_auto(GStrv) raw = g_strsplit_set(line, " \t", -1);
    GPtrArray *out = g_ptr_array_new();
    int i;

    for (i = 0; raw[i]; i++) {
        if (raw[i][0]) {
            g_ptr_array_add(out, g_strdup(raw[i]));
        }
    }
    g_ptr_array_add(out, NULL);
    return (GStrv)g_ptr_array_free(out, false);
}

static bool va_parse_u64(const char *s, guint64 *out)
{
    return g_ascii_string_to_unsigned(s, 10, 0, G_MAXINT64, out, NULL);
}

static xmlrpc_value *va_rpc_get_cpustats(xmlrpc_env *env,
                                         xmlrpc_value *params,
                                         void *server_info, void *call_info)
{
    /* /proc/stat's columns after "cpuN", in its order. */
    static const char *const names[] = {
        "user", "nice", "system", "idle", "iowait", "irq", "softirq",
        "steal", "guest", "guestnice",
    };
    VAGuestRpc *rpc = server_info;
    long hz = sysconf(_SC_CLK_TCK);
    g_auto(GStrv) lines = NULL;
    xmlrpc_value *ret;
    int i;

    if (!va_check_count(env, "va.get_cpustats", params, 0) ||
        !(lines = va_sys_lines(rpc, env, "/proc/stat"))) {
        return NULL;
    }
    ret = xmlrpc_array_new(env);
    for (i = 0; lines[i] && !env->fault_occurred; i++) {
        g_auto(GStrv) f = NULL;
        xmlrpc_value *c;
        guint64 cpu, v;
        guint k;

        /* "cpu " is the sum; qemu-ga gives each CPU. */
        if (!g_str_has_prefix(lines[i], "cpu") ||
            !g_ascii_isdigit(lines[i][3])) {
            continue;
        }
        f = va_fields(lines[i]);
        if (!va_parse_u64(f[0] + 3, &cpu) || g_strv_length(f) < 5) {
            continue;
        }
        c = xmlrpc_struct_new(env);
        va_struct_set_text(env, c, "type", "linux");
        va_struct_set_int(env, c, "cpu", cpu);
        for (k = 0; k < G_N_ELEMENTS(names) && f[k + 1]; k++) {
            if (va_parse_u64(f[k + 1], &v)) {
                /* Clock ticks to milliseconds, as qemu-ga. */
                va_struct_set_i8(env, c, names[k], v * 1000 / hz);
            }
        }
        va_array_append_take(env, ret, c);
    }
    return va_result(env, ret);
}

static xmlrpc_value *va_rpc_get_diskstats(xmlrpc_env *env,
                                          xmlrpc_value *params,
                                          void *server_info, void *call_info)
{
    /* /proc/diskstats' columns after the name, qemu-ga's names. */
    static const char *const names[] = {
        "read-ios", "read-merges", "read-sectors", "read-ticks",
        "write-ios", "write-merges", "write-sectors", "write-ticks",
        "ios-pending", "total-ticks", "weight-ticks", "discard-ios",
        "discard-merges", "discard-sectors", "discard-ticks", "flush-ios",
        "flush-ticks",
    };
    VAGuestRpc *rpc = server_info;
    g_auto(GStrv) lines = NULL;
    xmlrpc_value *ret;
    int i;

    if (!va_check_count(env, "va.get_diskstats", params, 0) ||
        !(lines = va_sys_lines(rpc, env, "/proc/diskstats"))) {
        return NULL;
    }
    ret = xmlrpc_array_new(env);
    for (i = 0; lines[i] && !env->fault_occurred; i++) {
        g_auto(GStrv) f = va_fields(lines[i]);
        xmlrpc_value *d, *st;
        guint64 major, minor, v;
        guint k;

        if (g_strv_length(f) < 14 || !va_parse_u64(f[0], &major) ||
            !va_parse_u64(f[1], &minor)) {
            continue;
        }
        d = xmlrpc_struct_new(env);
        st = xmlrpc_struct_new(env);
        va_struct_set_text(env, d, "name", f[2]);
        va_struct_set_i8(env, d, "major", major);
        va_struct_set_i8(env, d, "minor", minor);
        for (k = 0; k < G_N_ELEMENTS(names) && f[k + 3]; k++) {
            if (va_parse_u64(f[k + 3], &v)) {
                va_struct_set_i8(env, st, names[k], v);
            }
        }
        va_struct_set_take(env, d, "stats", st);
        va_array_append_take(env, ret, d);
    }
    return va_result(env, ret);
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
    {
        .info = {
            .methodName = "va.get_time",
            .methodFunction = va_rpc_get_time,
            .signatureString = "I:",
            .help = "The guest's time: nanoseconds since the epoch (i8).",
        },
    }, {
        .info = {
            .methodName = "va.set_time",
            .methodFunction = va_rpc_set_time,
            .signatureString = "I:I,I:i,I:",
            .help = "va.set_time([time]): set the clock to time (ns since "
                    "the epoch) and write it to the RTC; without time, set "
                    "it from the RTC (hwclock --hctosys). Returns the time "
                    "set.",
        },
    }, {
        .info = {
            .methodName = "va.get_hostname",
            .methodFunction = va_rpc_get_hostname,
            .signatureString = "S:",
            .help = "Returns {host-name}.",
        },
    }, {
        .info = {
            .methodName = "va.get_timezone",
            .methodFunction = va_rpc_get_timezone,
            .signatureString = "S:",
            .help = "Returns {zone, offset}: the zone's abbreviation and its "
                    "offset east of UTC in seconds.",
        },
    }, {
        .info = {
            .methodName = "va.get_osinfo",
            .methodFunction = va_rpc_get_osinfo,
            .signatureString = "S:",
            .help = "Returns {kernel-release, kernel-version, machine, id, "
                    "name, pretty-name, version, version-id, variant, "
                    "variant-id}, the last from os-release(5) when there.",
        },
    }, {
        .info = {
            .methodName = "va.get_load",
            .methodFunction = va_rpc_get_load,
            .signatureString = "S:",
            .help = "Returns {load1, load5, load15} (doubles) from "
                    "/proc/loadavg.",
        },
    }, {
        .info = {
            .methodName = "va.get_cpustats",
            .methodFunction = va_rpc_get_cpustats,
            .signatureString = "A:",
            .help = "Returns [{type: linux, cpu, user, nice, system, idle, "
                    "iowait, irq, softirq, steal, guest, guestnice}] in "
                    "milliseconds, from /proc/stat.",
        },
    }, {
        .info = {
            .methodName = "va.get_diskstats",
            .methodFunction = va_rpc_get_diskstats,
            .signatureString = "A:",
            .help = "Returns [{name, major, minor, stats: {read-ios, "
                    "read-merges, read-sectors, read-ticks, write-..., "
                    "ios-pending, total-ticks, weight-ticks, discard-..., "
                    "flush-ios, flush-ticks}}] from /proc/diskstats.",
        },
    },
    { .info = { .methodName = NULL } },
};

const VAMethodDomain va_m_system = {
    .name = "system",
    .methods = methods,
};
