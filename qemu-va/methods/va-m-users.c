/*
 * qemu-va - users and credentials: logged-in users, passwords, SSH keys
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As qemu-ga's guest-get-users, guest-set-user-password and
 * guest-ssh-*-authorized-keys, without subprocesses or NSS: utmp, passwd
 * and shadow are read as files (under rpc->sysroot, so the tests work on
 * copies), a password is hashed with crypt(3) and /etc/shadow replaced
 * atomically, and a user's ~/.ssh is reached without following links the
 * user may have planted.
 */
#define _GNU_SOURCE     /* O_DIRECTORY, O_NOFOLLOW with glibc */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <shadow.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utmpx.h>

#include "va-errors.h"
#include "qemu-va/methods/va-methods.h"

/* authorized_keys: the most keys read or written, the longest file. */
#define VA_SSH_KEYS_MAX 1024
#define VA_SSH_FILE_MAX (1024 * 1024)
#define VA_PASSWORD_MAX 4096

/* Files rewritten by these methods: one writer at a time (pool threads). */
static GMutex va_users_lock;

static xmlrpc_value *va_rpc_get_users(xmlrpc_env *env, xmlrpc_value *params,
                                      void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    g_autofree char *path = va_sys_path(rpc, _PATH_UTMPX);
    g_autofree char *data = NULL;
    g_autoptr(GHashTable) first = NULL;
    g_autoptr(GPtrArray) order = NULL;
    g_autoptr(GError) err = NULL;
    xmlrpc_value *ret;
    size_t len, off;
    guint i;

    if (!va_check_count(env, "va.get_users", params, 0)) {
        return NULL;
    }
    /* No utmp (a minimal system): nobody is logged in. */
    if (!g_file_get_contents(path, &data, &len, &err) &&
        !g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED, "%s",
                                       err->message);
        return NULL;
    }
    /* Each user once, at the time of their first login (qemu-ga's way). */
    first = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    order = g_ptr_array_new();
    for (off = 0; data && off + sizeof(struct utmpx) <= len;
         off += sizeof(struct utmpx)) {
        struct utmpx ut;
        g_autofree char *user = NULL;
        double *t;
        double when;

        memcpy(&ut, data + off, sizeof(ut));
        if (ut.ut_type != USER_PROCESS || !ut.ut_user[0]) {
            continue;
        }
        user = g_strndup(ut.ut_user, sizeof(ut.ut_user));
        when = ut.ut_tv.tv_sec + ut.ut_tv.tv_usec / 1e6;
        t = g_hash_table_lookup(first, user);
        if (t) {
            *t = MIN(*t, when);
            continue;
        }
        t = g_new(double, 1);
        *t = when;
        g_ptr_array_add(order, user);
        g_hash_table_insert(first, g_steal_pointer(&user), t);
    }
    ret = xmlrpc_array_new(env);
    for (i = 0; i < order->len && !env->fault_occurred; i++) {
        const char *user = g_ptr_array_index(order, i);
        xmlrpc_value *u = xmlrpc_struct_new(env);

        va_struct_set_text(env, u, "user", user);
        va_struct_set_take(env, u, "login-time",
                           xmlrpc_double_new(env, *(double *)
                                             g_hash_table_lookup(first,
                                                                 user)));
        va_array_append_take(env, ret, u);
    }
    return va_result(env, ret);
}

/* A user name as shadow-utils accepts it, and nothing to break a file. */
static bool va_check_user(xmlrpc_env *env, const char *user)
{
    const char *p;

    if (!user[0] || user[0] == '-' || strlen(user) > 256 ||
        strcmp(user, ".") == 0 || strcmp(user, "..") == 0) {
        goto bad;
    }
    for (p = user; *p; p++) {
        if (*p == ':' || *p == '/' || *p == '\n' || g_ascii_isspace(*p) ||
            (unsigned char)*p < 0x20) {
            goto bad;
        }
    }
    return true;
bad:
    xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                   "invalid user name");
    return false;
}

/* The user's uid, gid and home from /etc/passwd. */
static bool va_passwd_lookup(const VAGuestRpc *rpc, xmlrpc_env *env,
                             const char *user, uid_t *uid, gid_t *gid,
                             char **home)
{
    g_auto(GStrv) lines = va_sys_lines(rpc, env, "/etc/passwd");
    int i;

    if (!lines) {
        return false;
    }
    for (i = 0; lines[i]; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], ":", 7);
        char *e1, *e2;

        if (g_strv_length(f) < 7 || strcmp(f[0], user) != 0) {
            continue;
        }
        *uid = g_ascii_strtoull(f[2], &e1, 10);
        *gid = g_ascii_strtoull(f[3], &e2, 10);
        if (*e1 || *e2 || !f[5][0] || f[5][0] != '/') {
            break;
        }
        *home = g_strdup(f[5]);
        return true;
    }
    xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED,
                                   "user '%s' not found", user);
    return false;
}

/*
 * Writes @data to @name in directory @dfd through a temporary file and a
 * rename, with @mode and owner; the old file is never half-written.
 */
static int va_replace_file(int dfd, const char *name, const char *data,
                           size_t len, mode_t mode, uid_t uid, gid_t gid)
{
    g_autofree char *tmp = g_strdup_printf(".%s.va-%u", name,
                                           g_random_int());
    size_t done = 0;
    int fd, err = 0;

    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
                O_NOFOLLOW, 0600);
    if (fd < 0) {
        return errno;
    }
    while (done < len && !err) {
        ssize_t n = write(fd, data + done, len - done);

        if (n < 0 && errno != EINTR) {
            err = errno;
        } else if (n > 0) {
            done += n;
        }
    }
    if (!err && (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0 ||
                 fsync(fd) < 0)) {
        err = errno;
    }
    if (close(fd) < 0 && !err) {
        err = errno;
    }
    if (!err && renameat(dfd, tmp, dfd, name) < 0) {
        err = errno;
    }
    if (err) {
        unlinkat(dfd, tmp, 0);
    }
    return err;
}

/* A fresh SHA-512 hash of @password; NULL with errno on failure. */
static char *va_crypt(const char *password)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *cd;
    char *ret = NULL;

    /* $6$: what any login, busybox's included, understands. */
    if (!crypt_gensalt_rn("$6$", 0, NULL, 0, salt, sizeof(salt))) {
        return NULL;
    }
    cd = g_new0(struct crypt_data, 1);
    if (crypt_r(password, salt, cd) && cd->output[0] != '*') {
        ret = g_strdup(cd->output);
    } else {
        errno = EINVAL;
    }
    explicit_bzero(cd, sizeof(*cd));
    g_free(cd);
    return ret;
}

/* Puts @hash in @user's /etc/shadow entry, and today as the change. */
static bool va_shadow_set(const VAGuestRpc *rpc, xmlrpc_env *env,
                          const char *user, const char *hash)
{
    g_autofree char *path = va_sys_path(rpc, "/etc/shadow");
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *text = NULL;
    g_autoptr(GString) out = g_string_new(NULL);
    g_auto(GStrv) lines = NULL;
    g_autoptr(GError) gerr = NULL;
    struct stat st;
    bool found = false, locked = false;
    int i, dfd, err;

    /* shadow-utils' lock, on the real system only. */
    if (!rpc->sysroot) {
        if (lckpwdf() < 0) {
            va_fault_errno(env, "locking /etc/shadow", errno);
            return false;
        }
        locked = true;
    }
    if (stat(path, &st) < 0) {
        va_fault_errno(env, path, errno);
        goto out;
    }
    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED, "%s",
                                       gerr->message);
        goto out;
    }
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i]; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], ":", -1);

        if (!lines[i][0] && !lines[i + 1]) {
            break;
        }
        if (!found && g_strv_length(f) >= 3 && strcmp(f[0], user) == 0) {
            g_autofree char *joined = NULL;

            g_free(f[1]);
            f[1] = g_strdup(hash);
            g_free(f[2]);
            f[2] = g_strdup_printf("%ld", (long)(time(NULL) / 86400));
            joined = g_strjoinv(":", f);
            g_string_append(out, joined);
            found = true;
        } else {
            g_string_append(out, lines[i]);
        }
        g_string_append_c(out, '\n');
    }
    if (!found) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED,
                                       "user '%s' not in %s", user, path);
        goto out;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        va_fault_errno(env, dir, errno);
        goto out;
    }
    err = va_replace_file(dfd, "shadow", out->str, out->len,
                          st.st_mode & 07777, st.st_uid, st.st_gid);
    close(dfd);
    if (err) {
        va_fault_errno(env, path, err);
    }
out:
    if (locked) {
        ulckpwdf();
    }
    explicit_bzero(out->str, out->len);
    return !env->fault_occurred;
}

static xmlrpc_value *va_rpc_set_user_password(xmlrpc_env *env,
                                              xmlrpc_value *params,
                                              void *server_info,
                                              void *call_info)
{
    VAGuestRpc *rpc = server_info;
    g_autofree char *user = NULL, *password = NULL, *hash = NULL;
    bool crypted;

    if (!va_check_count(env, "va.set_user_password", params, 3)) {
        return NULL;
    }
    user = va_param_string(env, params, 0, "username");
    if (!user || !va_check_user(env, user)) {
        return NULL;
    }
    password = va_param_string(env, params, 1, "password");
    if (!password || !va_param_bool(env, params, 2, "crypted", &crypted)) {
        return NULL;
    }
    if (!password[0] || strlen(password) > VA_PASSWORD_MAX ||
        strchr(password, '\n') || (crypted && strchr(password, ':'))) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "password must be 1 to %d bytes, "
                                       "without newline (nor ':' when "
                                       "crypted)", VA_PASSWORD_MAX);
        goto out;
    }
    hash = crypted ? g_strdup(password) : va_crypt(password);
    if (!hash) {
        va_fault_errno(env, "crypt", errno);
        goto out;
    }
    g_mutex_lock(&va_users_lock);
    va_shadow_set(rpc, env, user, hash);
    g_mutex_unlock(&va_users_lock);
    g_message("va.set_user_password: %s%s", user,
              env->fault_occurred ? " failed" : "");
out:
    explicit_bzero(password, strlen(password));
    return env->fault_occurred ? NULL : xmlrpc_bool_new(env, true);
}

/* A key line: one line of printable text, not a comment. */
static bool va_check_keys(xmlrpc_env *env, char **keys)
{
    int i;

    for (i = 0; keys[i]; i++) {
        const char *p;

        if (!keys[i][0] || keys[i][0] == '#') {
            goto bad;
        }
        for (p = keys[i]; *p; p++) {
            if ((unsigned char)*p < 0x20 && *p != '\t') {
                goto bad;
            }
        }
    }
    return true;
bad:
    xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                   "key %d is empty, a comment or not one "
                                   "line", i);
    return false;
}

typedef struct VASshDir {
    int home;       /* the home directory */
    int ssh;        /* its .ssh, or -1 when absent */
    uid_t uid;
    gid_t gid;
} VASshDir;

static void va_ssh_dir_close(VASshDir *d)
{
    if (d->ssh >= 0) {
        close(d->ssh);
    }
    if (d->home >= 0) {
        close(d->home);
    }
}

/* Opens @user's home and ~/.ssh (made, 0700, when @create). */
static bool va_ssh_dir_open(const VAGuestRpc *rpc, xmlrpc_env *env,
                            const char *user, bool create, VASshDir *d)
{
    g_autofree char *home = NULL, *path = NULL;

    d->home = d->ssh = -1;
    if (!va_passwd_lookup(rpc, env, user, &d->uid, &d->gid, &home)) {
        return false;
    }
    path = va_sys_path(rpc, home);
    d->home = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->home < 0) {
        va_fault_errno(env, path, errno);
        return false;
    }
    /* The user owns the home: a link there must not lead us elsewhere. */
    d->ssh = openat(d->home, ".ssh", O_RDONLY | O_DIRECTORY | O_CLOEXEC |
                    O_NOFOLLOW);
    if (d->ssh < 0 && errno == ENOENT && create) {
        if (mkdirat(d->home, ".ssh", 0700) < 0) {
            va_fault_errno(env, "~/.ssh", errno);
            return false;
        }
        d->ssh = openat(d->home, ".ssh", O_RDONLY | O_DIRECTORY |
                        O_CLOEXEC | O_NOFOLLOW);
        if (d->ssh >= 0 && (fchown(d->ssh, d->uid, d->gid) < 0 ||
                            fchmod(d->ssh, 0700) < 0)) {
            va_fault_errno(env, "~/.ssh", errno);
            return false;
        }
    }
    if (d->ssh < 0 && (errno != ENOENT || create)) {
        va_fault_errno(env, "~/.ssh", errno);
        return false;
    }
    return true;
}

/* The lines of ~/.ssh/authorized_keys; an absent file has none. */
static GPtrArray *va_ssh_read(xmlrpc_env *env, VASshDir *d)
{
    GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *buf = NULL;
    g_auto(GStrv) split = NULL;
    struct stat st;
    size_t got = 0;
    int fd, i;

    if (d->ssh < 0) {
        return lines;
    }
    fd = openat(d->ssh, "authorized_keys", O_RDONLY | O_CLOEXEC |
                O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && errno == ENOENT) {
        return lines;
    }
    if (fd < 0 || fstat(fd, &st) < 0) {
        va_fault_errno(env, "~/.ssh/authorized_keys", errno);
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > VA_SSH_FILE_MAX) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED,
                                       "~/.ssh/authorized_keys: not a "
                                       "regular file of at most %d bytes",
                                       VA_SSH_FILE_MAX);
        goto fail;
    }
    buf = g_malloc(st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, st.st_size - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += n;
    }
    buf[got] = '\0';
    close(fd);
    split = g_strsplit(buf, "\n", -1);
    for (i = 0; split[i] && lines->len < VA_SSH_KEYS_MAX * 4; i++) {
        g_ptr_array_add(lines, g_strdup(split[i]));
    }
    /* The text after the last newline is "": not a line. */
    if (lines->len && !((char *)g_ptr_array_index(lines,
                                                  lines->len - 1))[0]) {
        g_ptr_array_remove_index(lines, lines->len - 1);
    }
    return lines;
fail:
    if (fd >= 0) {
        close(fd);
    }
    g_ptr_array_unref(lines);
    return NULL;
}

static bool va_is_key(const char *line)
{
    const char *p = line;

    while (g_ascii_isspace(*p)) {
        p++;
    }
    return *p && *p != '#';
}

static bool va_ssh_write(xmlrpc_env *env, VASshDir *d, GPtrArray *lines)
{
    g_autoptr(GString) out = g_string_new(NULL);
    guint i;
    int err;

    for (i = 0; i < lines->len; i++) {
        g_string_append_printf(out, "%s\n",
                               (char *)g_ptr_array_index(lines, i));
    }
    err = va_replace_file(d->ssh, "authorized_keys", out->str, out->len,
                          0600, d->uid, d->gid);
    if (err) {
        va_fault_errno(env, "~/.ssh/authorized_keys", err);
        return false;
    }
    return true;
}

static xmlrpc_value *va_rpc_ssh_get_authorized_keys(xmlrpc_env *env,
                                                    xmlrpc_value *params,
                                                    void *server_info,
                                                    void *call_info)
{
    VAGuestRpc *rpc = server_info;
    g_autofree char *user = NULL;
    g_autoptr(GPtrArray) lines = NULL;
    VASshDir d;
    xmlrpc_value *keys, *ret;
    guint i;

    if (!va_check_count(env, "va.ssh_get_authorized_keys", params, 1)) {
        return NULL;
    }
    user = va_param_string(env, params, 0, "username");
    if (!user || !va_check_user(env, user)) {
        return NULL;
    }
    if (va_ssh_dir_open(rpc, env, user, false, &d)) {
        lines = va_ssh_read(env, &d);
    }
    va_ssh_dir_close(&d);
    if (!lines) {
        return NULL;
    }
    keys = xmlrpc_array_new(env);
    for (i = 0; i < lines->len && !env->fault_occurred; i++) {
        const char *line = g_ptr_array_index(lines, i);

        if (va_is_key(line)) {
            va_array_append_take(env, keys,
                                 va_text_value(env, line, strlen(line)));
        }
    }
    keys = va_result(env, keys);
    if (!keys) {
        return NULL;
    }
    ret = xmlrpc_build_value(env, "{s:A}", "keys", keys);
    xmlrpc_DECREF(keys);
    return va_result(env, ret);
}

static xmlrpc_value *va_ssh_change(xmlrpc_env *env, xmlrpc_value *params,
                                   VAGuestRpc *rpc, bool add)
{
    const char *method = add ? "va.ssh_add_authorized_keys" :
                         "va.ssh_remove_authorized_keys";
    g_autofree char *user = NULL;
    g_auto(GStrv) keys = NULL;
    g_autoptr(GPtrArray) lines = NULL;
    bool reset = false, changed = false;
    VASshDir d;
    int i, n = va_check_args(env, method, params, 2, add ? 3 : 2);

    if (n < 0) {
        return NULL;
    }
    user = va_param_string(env, params, 0, "username");
    if (!user || !va_check_user(env, user)) {
        return NULL;
    }
    keys = va_param_strv(env, params, 1, "keys", VA_SSH_KEYS_MAX);
    if (!keys || !va_check_keys(env, keys) ||
        (n == 3 && !va_param_bool(env, params, 2, "reset", &reset))) {
        return NULL;
    }
    g_mutex_lock(&va_users_lock);
    if (!va_ssh_dir_open(rpc, env, user, add, &d)) {
        goto out;
    }
    lines = reset ? g_ptr_array_new_with_free_func(g_free) :
            va_ssh_read(env, &d);
    if (!lines) {
        goto out;
    }
    if (reset) {
        changed = true;
    }
    for (i = 0; keys[i]; i++) {
        guint idx;
        bool found = g_ptr_array_find_with_equal_func(lines, keys[i],
                                                      g_str_equal, &idx);

        if (add && !found) {
            g_ptr_array_add(lines, g_strdup(keys[i]));
            changed = true;
        }
        while (!add && found) {
            g_ptr_array_remove_index(lines, idx);
            changed = true;
            found = g_ptr_array_find_with_equal_func(lines, keys[i],
                                                     g_str_equal, &idx);
        }
    }
    if (lines->len > VA_SSH_KEYS_MAX) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED,
                                       "more than %d lines",
                                       VA_SSH_KEYS_MAX);
        goto out;
    }
    /* Nothing to do leaves the file (and its absence) as it was. */
    if (changed) {
        va_ssh_write(env, &d, lines);
    }
out:
    va_ssh_dir_close(&d);
    g_mutex_unlock(&va_users_lock);
    return env->fault_occurred ? NULL : xmlrpc_bool_new(env, true);
}

static xmlrpc_value *va_rpc_ssh_add_authorized_keys(xmlrpc_env *env,
                                                    xmlrpc_value *params,
                                                    void *server_info,
                                                    void *call_info)
{
    return va_ssh_change(env, params, server_info, true);
}

static xmlrpc_value *va_rpc_ssh_remove_authorized_keys(xmlrpc_env *env,
                                                       xmlrpc_value *params,
                                                       void *server_info,
                                                       void *call_info)
{
    return va_ssh_change(env, params, server_info, false);
}

static const VAMethod methods[] = {
    {
        .info = {
            .methodName = "va.get_users",
            .methodFunction = va_rpc_get_users,
            .signatureString = "A:",
            .help = "Returns the users logged in, each once: [{user, "
                    "login-time (double, seconds since the epoch, their "
                    "first login)}], from utmp.",
        },
    }, {
        .info = {
            .methodName = "va.set_user_password",
            .methodFunction = va_rpc_set_user_password,
            .signatureString = "b:ssb",
            .help = "va.set_user_password(username, password, crypted): "
                    "set the password in /etc/shadow, hashed with SHA-512 "
                    "unless crypted says it already is.",
        },
        .flags = VA_M_SLOW,
    }, {
        .info = {
            .methodName = "va.ssh_get_authorized_keys",
            .methodFunction = va_rpc_ssh_get_authorized_keys,
            .signatureString = "S:s",
            .help = "va.ssh_get_authorized_keys(username): returns {keys}, "
                    "the lines of ~/.ssh/authorized_keys that are neither "
                    "empty nor comments.",
        },
        .flags = VA_M_SLOW,
    }, {
        .info = {
            .methodName = "va.ssh_add_authorized_keys",
            .methodFunction = va_rpc_ssh_add_authorized_keys,
            .signatureString = "b:sA,b:sAb",
            .help = "va.ssh_add_authorized_keys(username, keys, [reset]): "
                    "append the keys not there yet (reset: replace the "
                    "file); ~/.ssh 0700 and the file 0600, owned by the "
                    "user, rewritten atomically.",
        },
        .flags = VA_M_SLOW,
    }, {
        .info = {
            .methodName = "va.ssh_remove_authorized_keys",
            .methodFunction = va_rpc_ssh_remove_authorized_keys,
            .signatureString = "b:sA",
            .help = "va.ssh_remove_authorized_keys(username, keys): remove "
                    "every line equal to one of the keys.",
        },
        .flags = VA_M_SLOW,
    },
    { .info = { .methodName = NULL } },
};

const VAMethodDomain va_m_users = {
    .name = "users",
    .methods = methods,
};
