/*
 * qemu-va - filesystems: freeze and thaw, trim, filesystems and disks
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As qemu-ga's guest-fsfreeze-*, guest-fstrim, guest-get-fsinfo and
 * guest-get-disks. The mounts come from /proc/self/mountinfo, the disks
 * from /sys; both, and the mountpoints opened, are under rpc->sysroot,
 * and the FIFREEZE/FITHAW/FITRIM ioctls go through rpc->fs_ioctl, so the
 * tests run this code without freezing the machine they run on. A freeze
 * the host never thaws is undone by a timer, or when the host goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "va-errors.h"
#include "qemu-va/methods/va-methods.h"

#define VA_FSFREEZE_LIST_MAX 256

struct VAFreezeState {
    GMutex lock;            /* held across a freeze or a thaw */
    gint frozen;            /* atomic: read by calls that must not wait */
    guint thaw_timer;       /* in the main context */
};

typedef struct VAMount {
    char *dir;              /* as the guest sees it */
    char *type;
    char *source;
    unsigned major, minor;
} VAMount;

static void va_mount_free(gpointer p)
{
    VAMount *m = p;

    g_free(m->dir);
    g_free(m->type);
    g_free(m->source);
    g_free(m);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *va_unescape(const char *s)
{
    GString *out = g_string_new(NULL);

    while (*s) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
            s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
            g_string_append_c(out, (s[1] - '0') << 6 | (s[2] - '0') << 3 |
                              (s[3] - '0'));
            s += 4;
        } else {
            g_string_append_c(out, *s++);
        }
    }
    return g_string_free(out, false);
}

/*
 * The mounted filesystems in mount order; with @devices_only, those on a
 * block device (qemu-ga's choice: what can be frozen), each device once.
 * NULL with @env set when mountinfo cannot be read.
 */
static GPtrArray *va_mounts(const VAGuestRpc *rpc, bool devices_only,
                            xmlrpc_env *env)
{
    g_auto(GStrv) lines = va_sys_lines(rpc, env, "/proc/self/mountinfo");
    GPtrArray *mounts;
    int i;

    if (!lines) {
        return NULL;
    }
    mounts = g_ptr_array_new_with_free_func(va_mount_free);
    for (i = 0; lines[i]; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], " ", -1);
        unsigned major, minor;
        VAMount *m;
        guint n = g_strv_length(f), dash, k;

        /* id parent major:minor root dir options [optional...] - type
         * source superoptions */
        for (dash = 6; dash < n && strcmp(f[dash], "-") != 0; dash++) {
        }
        if (n < 10 || dash + 2 >= n ||
            sscanf(f[2], "%u:%u", &major, &minor) != 2) {
            continue;
        }
        if (devices_only) {
            bool seen = false;

            if (f[dash + 2][0] != '/') {
                continue;
            }
            for (k = 0; k < mounts->len; k++) {
                VAMount *o = g_ptr_array_index(mounts, k);

                seen |= o->major == major && o->minor == minor;
            }
            if (seen) {
                continue;
            }
        }
        m = g_new0(VAMount, 1);
        m->dir = va_unescape(f[4]);
        m->type = va_unescape(f[dash + 1]);
        m->source = va_unescape(f[dash + 2]);
        m->major = major;
        m->minor = minor;
        g_ptr_array_add(mounts, m);
    }
    return mounts;
}

static int va_fs_ioctl(const VAGuestRpc *rpc, int fd, unsigned long req,
                       void *arg)
{
    return rpc->fs_ioctl ? rpc->fs_ioctl(fd, req, arg) : ioctl(fd, req, arg);
}

static int va_open_mount(const VAGuestRpc *rpc, const char *dir)
{
    g_autofree char *path = va_sys_path(rpc, dir);

    return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Runs the hook with @arg (freeze or thaw), as qemu-ga's --fsfreeze-hook. */
static bool va_fsfreeze_hook(const VAGuestRpc *rpc, xmlrpc_env *env,
                             const char *arg)
{
    const char *argv[] = { rpc->fsfreeze_hook, arg, NULL };
    g_autoptr(GError) err = NULL;
    int status;

    if (!rpc->fsfreeze_hook) {
        return true;
    }
    if (!g_spawn_sync(NULL, (char **)argv, NULL,
                      G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                      NULL, NULL, NULL, NULL, &status, &err) ||
        !g_spawn_check_wait_status(status, &err)) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED,
                                       "fsfreeze hook '%s %s': %s",
                                       rpc->fsfreeze_hook, arg,
                                       err->message);
        return false;
    }
    return true;
}

/* Thaws every device mount (a freeze nests: until FITHAW says EINVAL). */
static int va_thaw_all(VAGuestRpc *rpc, xmlrpc_env *env)
{
    g_autoptr(GPtrArray) mounts = va_mounts(rpc, true, env);
    int count = 0;
    guint i;

    if (!mounts) {
        return -1;
    }
    for (i = 0; i < mounts->len; i++) {
        VAMount *m = g_ptr_array_index(mounts, i);
        int fd = va_open_mount(rpc, m->dir);
        bool thawed = false;

        if (fd < 0) {
            continue;
        }
        while (va_fs_ioctl(rpc, fd, FITHAW, NULL) == 0) {
            thawed = true;
        }
        close(fd);
        count += thawed;
    }
    return count;
}

static void va_freeze_set(VAGuestRpc *rpc, bool frozen);

/* Thaws a freeze the host has not undone, saying @why; with the lock. */
static void va_thaw_unasked(VAGuestRpc *rpc, const char *why)
{
    xmlrpc_env env;

    if (!rpc->freeze->frozen) {
        return;
    }
    xmlrpc_env_init(&env);
    va_thaw_all(rpc, &env);
    va_fsfreeze_hook(rpc, &env, "thaw");
    va_freeze_set(rpc, false);
    g_message("filesystems thawed: %s%s%s", why,
              env.fault_occurred ? ": " : "",
              env.fault_occurred ? env.fault_string : "");
    xmlrpc_env_clean(&env);
}

static gboolean va_thaw_timeout(gpointer opaque)
{
    VAGuestRpc *rpc = opaque;
    VAFreezeState *s = rpc->freeze;
    g_autofree char *why = g_strdup_printf("the host did not thaw them "
                                           "within %u s",
                                           rpc->fsfreeze_timeout_s);

    g_mutex_lock(&s->lock);
    s->thaw_timer = 0;
    va_thaw_unasked(rpc, why);
    g_mutex_unlock(&s->lock);
    return G_SOURCE_REMOVE;
}

/* Records the state, arms or disarms the timer; with the lock held. */
static void va_freeze_set(VAGuestRpc *rpc, bool frozen)
{
    VAFreezeState *s = rpc->freeze;

    g_atomic_int_set(&s->frozen, frozen);
    if (s->thaw_timer) {
        g_source_remove(s->thaw_timer);
        s->thaw_timer = 0;
    }
    if (frozen && rpc->fsfreeze_timeout_s) {
        s->thaw_timer = g_timeout_add_seconds(rpc->fsfreeze_timeout_s,
                                              va_thaw_timeout, rpc);
    }
    if (rpc->ops.frozen) {
        rpc->ops.frozen(frozen, rpc->opaque);
    }
}

bool va_fs_frozen(VAGuestRpc *rpc)
{
    return rpc->freeze && g_atomic_int_get(&rpc->freeze->frozen);
}

/* Freezes the device mounts, or those in @only; returns their number. */
static xmlrpc_value *va_freeze(xmlrpc_env *env, VAGuestRpc *rpc,
                               char **only)
{
    VAFreezeState *s = rpc->freeze;
    g_autoptr(GPtrArray) mounts = NULL;
    int count = 0, i;
    guint k;

    g_mutex_lock(&s->lock);
    if (s->frozen) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED,
                                       "the filesystems are frozen already");
        goto out;
    }
    mounts = va_mounts(rpc, true, env);
    if (!mounts) {
        goto out;
    }
    for (i = 0; only && only[i]; i++) {
        bool found = false;

        for (k = 0; k < mounts->len; k++) {
            found |= strcmp(((VAMount *)g_ptr_array_index(mounts, k))->dir,
                            only[i]) == 0;
        }
        if (!found) {
            xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                           "%s: not a mounted block device "
                                           "filesystem", only[i]);
            goto out;
        }
    }
    if (!va_fsfreeze_hook(rpc, env, "freeze")) {
        goto out;
    }
    /* From the last mounted: nothing frozen lies under a thawed mount. */
    for (k = mounts->len; k-- > 0;) {
        VAMount *m = g_ptr_array_index(mounts, k);
        int fd, r, err;

        if (only && !g_strv_contains((const char *const *)only, m->dir)) {
            continue;
        }
        fd = va_open_mount(rpc, m->dir);
        if (fd < 0) {
            va_fault_errno(env, m->dir, errno);
            break;
        }
        r = va_fs_ioctl(rpc, fd, FIFREEZE, NULL);
        err = errno;
        close(fd);
        if (r == 0) {
            count++;
        } else if (err != EOPNOTSUPP) {
            /* EOPNOTSUPP: a filesystem that cannot freeze is skipped. */
            g_autofree char *what = g_strdup_printf("freezing %s", m->dir);

            va_fault_errno(env, what, err);
            break;
        }
    }
    if (env->fault_occurred) {
        /* All or nothing, as qemu-ga. */
        xmlrpc_env thaw_env;

        xmlrpc_env_init(&thaw_env);
        va_thaw_all(rpc, &thaw_env);
        va_fsfreeze_hook(rpc, &thaw_env, "thaw");
        xmlrpc_env_clean(&thaw_env);
        goto out;
    }
    va_freeze_set(rpc, true);
    g_message("froze %d filesystem%s", count, count == 1 ? "" : "s");
out:
    g_mutex_unlock(&s->lock);
    return env->fault_occurred ? NULL : xmlrpc_int_new(env, count);
}

static xmlrpc_value *va_rpc_fsfreeze_freeze(xmlrpc_env *env,
                                            xmlrpc_value *params,
                                            void *server_info,
                                            void *call_info)
{
    if (!va_check_count(env, "va.fsfreeze_freeze", params, 0)) {
        return NULL;
    }
    return va_freeze(env, server_info, NULL);
}

static xmlrpc_value *va_rpc_fsfreeze_freeze_list(xmlrpc_env *env,
                                                 xmlrpc_value *params,
                                                 void *server_info,
                                                 void *call_info)
{
    g_auto(GStrv) only = NULL;

    if (!va_check_count(env, "va.fsfreeze_freeze_list", params, 1)) {
        return NULL;
    }
    only = va_param_strv(env, params, 0, "mountpoints",
                         VA_FSFREEZE_LIST_MAX);
    if (!only) {
        return NULL;
    }
    return va_freeze(env, server_info, only);
}

static xmlrpc_value *va_rpc_fsfreeze_thaw(xmlrpc_env *env,
                                          xmlrpc_value *params,
                                          void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    VAFreezeState *s = rpc->freeze;
    int count;

    if (!va_check_count(env, "va.fsfreeze_thaw", params, 0)) {
        return NULL;
    }
    g_mutex_lock(&s->lock);
    count = va_thaw_all(rpc, env);
    if (count >= 0) {
        /* Thawed even if the hook fails: it says so, the disks are live. */
        va_freeze_set(rpc, false);
        va_fsfreeze_hook(rpc, env, "thaw");
    }
    g_mutex_unlock(&s->lock);
    return env->fault_occurred ? NULL : xmlrpc_int_new(env, count);
}

static xmlrpc_value *va_rpc_fsfreeze_status(xmlrpc_env *env,
                                            xmlrpc_value *params,
                                            void *server_info,
                                            void *call_info)
{
    if (!va_check_count(env, "va.fsfreeze_status", params, 0)) {
        return NULL;
    }
    return xmlrpc_string_new(env, va_fs_frozen(server_info) ? "frozen" :
                             "thawed");
}

static xmlrpc_value *va_rpc_fstrim(xmlrpc_env *env, xmlrpc_value *params,
                                   void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    g_autoptr(GPtrArray) mounts = NULL;
    xmlrpc_value *paths, *ret;
    int64_t minimum = 0;
    guint i;
    int n = va_check_args(env, "va.fstrim", params, 0, 1);

    if (n < 0 || (n == 1 && !va_param_int(env, params, 0, "minimum",
                                          &minimum))) {
        return NULL;
    }
    if (minimum < 0) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "minimum must not be negative");
        return NULL;
    }
    mounts = va_mounts(rpc, true, env);
    if (!mounts) {
        return NULL;
    }
    paths = xmlrpc_array_new(env);
    for (i = 0; i < mounts->len && !env->fault_occurred; i++) {
        VAMount *m = g_ptr_array_index(mounts, i);
        struct fstrim_range range = {
            .start = 0, .len = UINT64_MAX, .minlen = minimum,
        };
        xmlrpc_value *p = xmlrpc_struct_new(env);
        int fd = va_open_mount(rpc, m->dir);
        int r = fd < 0 ? -1 : va_fs_ioctl(rpc, fd, FITRIM, &range);
        int err = errno;

        if (fd >= 0) {
            close(fd);
        }
        va_struct_set_text(env, p, "path", m->dir);
        if (r == 0) {
            va_struct_set_i8(env, p, "trimmed", range.len);
            va_struct_set_i8(env, p, "minimum", range.minlen);
        } else {
            /* qemu-ga reports each failure, e.g. no TRIM on the disk. */
            va_struct_set_text(env, p, "error", g_strerror(err));
        }
        va_array_append_take(env, paths, p);
    }
    if (env->fault_occurred) {
        xmlrpc_DECREF(paths);
        return NULL;
    }
    ret = xmlrpc_build_value(env, "{s:A}", "paths", paths);
    xmlrpc_DECREF(paths);
    return ret;
}

/* The kernel name of a block device, and its disk if it is a partition. */
static bool va_block_names(const VAGuestRpc *rpc, unsigned major,
                           unsigned minor, char **name, char **disk)
{
    g_autofree char *link = g_strdup_printf("/sys/dev/block/%u:%u",
                                            major, minor);
    g_autofree char *path = va_sys_path(rpc, link);
    g_autofree char *target = g_file_read_link(path, NULL);
    g_autofree char *part = g_build_filename(path, "partition", NULL);
    g_autofree char *parent = NULL;

    if (!target) {
        return false;
    }
    *name = g_path_get_basename(target);
    if (g_file_test(part, G_FILE_TEST_EXISTS)) {
        parent = g_path_get_dirname(target);
        *disk = g_path_get_basename(parent);
    } else {
        *disk = g_strdup(*name);
    }
    return true;
}

/* {dev, serial, bus-type} of /sys/block/@disk. */
static xmlrpc_value *va_disk_address(const VAGuestRpc *rpc, xmlrpc_env *env,
                                     const char *disk)
{
    g_autofree char *base = g_strdup_printf("/sys/block/%s", disk);
    g_autofree char *dir = va_sys_path(rpc, base);
    g_autofree char *serial_path = g_build_filename(dir, "serial", NULL);
    g_autofree char *serial_path2 = g_build_filename(dir, "device/serial",
                                                     NULL);
    g_autofree char *target = g_file_read_link(dir, NULL);
    g_autofree char *serial = NULL, *dev = g_strdup_printf("/dev/%s", disk);
    const char *bus = "unknown";
    xmlrpc_value *a = xmlrpc_struct_new(env);

    if (g_file_get_contents(serial_path, &serial, NULL, NULL) ||
        g_file_get_contents(serial_path2, &serial, NULL, NULL)) {
        g_strstrip(serial);
    }
    /* The bus from where the device sits in /sys/devices. */
    if (target && strstr(target, "/virtio")) {
        bus = strstr(target, "/host") ? "scsi" : "virtio";
    } else if (target && strstr(target, "/ata")) {
        bus = "sata";
    } else if (target && strstr(target, "/nvme")) {
        bus = "nvme";
    } else if (target && strstr(target, "/usb")) {
        bus = "usb";
    } else if (target && strstr(target, "/host")) {
        bus = "scsi";
    }
    va_struct_set_text(env, a, "dev", dev);
    va_struct_set_text(env, a, "bus-type", bus);
    if (serial && serial[0]) {
        va_struct_set_text(env, a, "serial", serial);
    }
    return va_result(env, a);
}

static xmlrpc_value *va_rpc_get_fsinfo(xmlrpc_env *env, xmlrpc_value *params,
                                       void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    g_autoptr(GPtrArray) mounts = NULL;
    xmlrpc_value *ret;
    guint i;

    if (!va_check_count(env, "va.get_fsinfo", params, 0)) {
        return NULL;
    }
    mounts = va_mounts(rpc, true, env);
    if (!mounts) {
        return NULL;
    }
    ret = xmlrpc_array_new(env);
    for (i = 0; i < mounts->len && !env->fault_occurred; i++) {
        VAMount *m = g_ptr_array_index(mounts, i);
        g_autofree char *path = va_sys_path(rpc, m->dir);
        g_autofree char *name = NULL, *disk = NULL;
        xmlrpc_value *fs = xmlrpc_struct_new(env);
        xmlrpc_value *disks = xmlrpc_array_new(env);
        struct statvfs sv;

        if (!va_block_names(rpc, m->major, m->minor, &name, &disk)) {
            name = g_path_get_basename(m->source);
        }
        va_struct_set_text(env, fs, "name", name);
        va_struct_set_text(env, fs, "mountpoint", m->dir);
        va_struct_set_text(env, fs, "type", m->type);
        if (statvfs(path, &sv) == 0) {
            /* As qemu-ga (and df): used is what is not free at all. */
            va_struct_set_i8(env, fs, "total-bytes",
                             (int64_t)sv.f_frsize *
                             (sv.f_blocks - sv.f_bfree + sv.f_bavail));
            va_struct_set_i8(env, fs, "total-bytes-privileged",
                             (int64_t)sv.f_frsize * sv.f_blocks);
            va_struct_set_i8(env, fs, "used-bytes",
                             (int64_t)sv.f_frsize *
                             (sv.f_blocks - sv.f_bfree));
        }
        if (disk) {
            va_array_append_take(env, disks,
                                 va_disk_address(rpc, env, disk));
        }
        va_struct_set_take(env, fs, "disk", disks);
        va_array_append_take(env, ret, fs);
    }
    return va_result(env, ret);
}

static xmlrpc_value *va_rpc_get_disks(xmlrpc_env *env, xmlrpc_value *params,
                                      void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    g_autofree char *dir = va_sys_path(rpc, "/sys/block");
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    xmlrpc_value *ret;
    const char *name;
    GDir *d;
    guint i;

    if (!va_check_count(env, "va.get_disks", params, 0)) {
        return NULL;
    }
    d = g_dir_open(dir, 0, NULL);
    while (d && (name = g_dir_read_name(d))) {
        g_ptr_array_add(names, g_strdup(name));
    }
    if (d) {
        g_dir_close(d);
    }
    g_ptr_array_sort(names, va_strv_cmp);
    ret = xmlrpc_array_new(env);
    for (i = 0; i < names->len && !env->fault_occurred; i++) {
        const char *disk = g_ptr_array_index(names, i);
        g_autofree char *ddir = g_build_filename(dir, disk, NULL);
        g_autofree char *dev = g_strdup_printf("/dev/%s", disk);
        g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(g_free);
        xmlrpc_value *entry = xmlrpc_struct_new(env);
        GDir *pd;
        guint k;

        va_struct_set_text(env, entry, "name", dev);
        va_struct_set_bool(env, entry, "partition", false);
        va_struct_set_take(env, entry, "address",
                           va_disk_address(rpc, env, disk));
        va_array_append_take(env, ret, entry);
        /* Its partitions: subdirectories with a "partition" file. */
        pd = g_dir_open(ddir, 0, NULL);
        while (pd && (name = g_dir_read_name(pd))) {
            g_autofree char *p = g_build_filename(ddir, name, "partition",
                                                  NULL);

            if (g_file_test(p, G_FILE_TEST_EXISTS)) {
                g_ptr_array_add(parts, g_strdup(name));
            }
        }
        if (pd) {
            g_dir_close(pd);
        }
        g_ptr_array_sort(parts, va_strv_cmp);
        for (k = 0; k < parts->len && !env->fault_occurred; k++) {
            g_autofree char *pdev = g_strdup_printf(
                "/dev/%s", (char *)g_ptr_array_index(parts, k));
            xmlrpc_value *p = xmlrpc_struct_new(env);
            xmlrpc_value *deps = xmlrpc_array_new(env);

            va_struct_set_text(env, p, "name", pdev);
            va_struct_set_bool(env, p, "partition", true);
            va_array_append_take(env, deps, xmlrpc_string_new(env, dev));
            va_struct_set_take(env, p, "dependencies", deps);
            va_array_append_take(env, ret, p);
        }
    }
    return va_result(env, ret);
}

static void va_fs_init(VAGuestRpc *rpc)
{
    VAFreezeState *s = g_new0(VAFreezeState, 1);

    g_mutex_init(&s->lock);
    rpc->freeze = s;
}

/* A host gone cannot thaw: do it now rather than at the timer. */
static void va_fs_session_end(VAGuestRpc *rpc)
{
    VAFreezeState *s = rpc->freeze;

    g_mutex_lock(&s->lock);
    va_thaw_unasked(rpc, "the host went away");
    g_mutex_unlock(&s->lock);
}

static void va_fs_cleanup(VAGuestRpc *rpc)
{
    VAFreezeState *s = rpc->freeze;

    if (!s) {
        return;
    }
    /* Never leave the guest frozen behind us. */
    va_fs_session_end(rpc);
    g_mutex_clear(&s->lock);
    g_free(s);
    rpc->freeze = NULL;
}

static const VAMethod methods[] = {
    {
        .info = {
            .methodName = "va.fsfreeze_status",
            .methodFunction = va_rpc_fsfreeze_status,
            .signatureString = "s:",
            .help = "Returns \"thawed\" or \"frozen\".",
        },
        .flags = VA_M_FROZEN_OK,
    }, {
        .info = {
            .methodName = "va.fsfreeze_freeze",
            .methodFunction = va_rpc_fsfreeze_freeze,
            .signatureString = "i:",
            .help = "Freeze every block-device filesystem (FIFREEZE), after "
                    "running the fsfreeze hook with 'freeze'; returns their "
                    "number. Thawed again by va.fsfreeze_thaw, by the "
                    "fsfreeze-timeout, or when the host goes.",
        },
        .flags = VA_M_SLOW,
    }, {
        .info = {
            .methodName = "va.fsfreeze_freeze_list",
            .methodFunction = va_rpc_fsfreeze_freeze_list,
            .signatureString = "i:A",
            .help = "va.fsfreeze_freeze_list(mountpoints): freeze those "
                    "only; returns their number.",
        },
        .flags = VA_M_SLOW,
    }, {
        .info = {
            .methodName = "va.fsfreeze_thaw",
            .methodFunction = va_rpc_fsfreeze_thaw,
            .signatureString = "i:",
            .help = "Thaw every filesystem (FITHAW), then run the hook with "
                    "'thaw'; returns the number thawed.",
        },
        .flags = VA_M_SLOW | VA_M_FROZEN_OK,
    }, {
        .info = {
            .methodName = "va.fstrim",
            .methodFunction = va_rpc_fstrim,
            .signatureString = "S:,S:i,S:I",
            .help = "va.fstrim([minimum]): FITRIM every block-device "
                    "filesystem; returns {paths: [{path, trimmed, minimum} "
                    "or {path, error}]}.",
        },
        .flags = VA_M_SLOW,
    }, {
        .info = {
            .methodName = "va.get_fsinfo",
            .methodFunction = va_rpc_get_fsinfo,
            .signatureString = "A:",
            .help = "Returns [{name, mountpoint, type, used-bytes, "
                    "total-bytes, total-bytes-privileged, disk: [{dev, "
                    "bus-type, serial}]}] for block-device filesystems.",
        },
        .flags = VA_M_SLOW,
    }, {
        .info = {
            .methodName = "va.get_disks",
            .methodFunction = va_rpc_get_disks,
            .signatureString = "A:",
            .help = "Returns the block devices of /sys/block and their "
                    "partitions: [{name, partition, address: {dev, "
                    "bus-type, serial} | dependencies: [disk]}].",
        },
    },
    { .info = { .methodName = NULL } },
};

const VAMethodDomain va_m_fs = {
    .name = "filesystems",
    .methods = methods,
    .init = va_fs_init,
    .cleanup = va_fs_cleanup,
    .session_end = va_fs_session_end,
};
