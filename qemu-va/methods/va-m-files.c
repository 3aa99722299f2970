/*
 * qemu-va - files: va.getfile, va.putfile, and files by handle
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The va.file_* methods are qemu-ga's guest-file-*: a handle from
 * va.file_open, then read, write, seek, flush, close. Handles are few,
 * belong to the session that opened them and die with it. Reads, writes
 * and flushes run in the thread pool, so the handle table is locked and
 * each handle's I/O is serialized.
 *
 * va.putfile writes a file in chunks into a temporary file beside it and
 * renames it into place only once the last chunk is written and synced:
 * a transfer that fails, is aborted or outlives its session leaves
 * nothing behind, and the target is either the old file or the new one.
 * Each temporary is also recorded in the state directory while it
 * exists, so that a qemu-va killed mid-transfer has its temporaries
 * removed by the next one (va_put_reclaim).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "va-errors.h"
#include "qemu-va/methods/va-methods.h"

ssize_t va_read_at(int fd, uint8_t *buf, size_t len, int64_t offset)
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

/*
 * Reads va.getfile's range: the data into @buf (g_free), whether it
 * reaches the end, and the file's size. False with a fault.
 */
static bool va_getfile_read(xmlrpc_env *env, xmlrpc_value *params,
                            uint8_t **buf, size_t *len, bool *eof,
                            int64_t *size)
{
    g_autofree char *path = NULL;
    int64_t offset, length;
    struct stat st;
    ssize_t got;
    int fd, err = 0;

    if (!va_check_count(env, "va.getfile", params, 3)) {
        return false;
    }
    path = va_param_string(env, params, 0, "path");
    if (!path || !va_param_int(env, params, 1, "offset", &offset) ||
        !va_param_int(env, params, 2, "length", &length)) {
        return false;
    }
    /* The top of the range would overflow offset + length. */
    if (path[0] != '/' || offset < 0 || length < 0 ||
        offset > G_MAXINT64 - VA_GETFILE_CHUNK_MAX) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "path must be absolute, offset and "
                                       "length not negative, offset below "
                                       "2^63 - 1 MiB");
        return false;
    }
    /* A huge length is clamped: the host asks again for the rest. */
    length = MIN(length, VA_GETFILE_CHUNK_MAX);

    /* O_NONBLOCK: opening a FIFO must not hang the worker. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        va_fault_errno(env, path, errno);
        return false;
    }
    if (fstat(fd, &st) < 0) {
        err = errno;
    } else if (S_ISDIR(st.st_mode)) {
        err = EISDIR;
    }
    if (err) {
        close(fd);
        va_fault_errno(env, path, err);
        return false;
    }
    *buf = g_malloc(length + 1);
    got = va_read_at(fd, *buf, length, offset);
    if (got < 0) {
        err = errno;
        close(fd);
        g_clear_pointer(buf, g_free);
        va_fault_errno(env, path, err);
        return false;
    }
    close(fd);
    *len = got;
    *eof = got < length || (S_ISREG(st.st_mode) && offset + got >= st.st_size);
    *size = st.st_size;
    return true;
}

static xmlrpc_value *va_rpc_getfile(xmlrpc_env *env, xmlrpc_value *params,
                                    void *server_info, void *call_info)
{
    g_autofree uint8_t *buf = NULL;
    size_t len;
    int64_t size;
    bool eof;

    if (!va_getfile_read(env, params, &buf, &len, &eof, &size)) {
        return NULL;
    }
    return xmlrpc_build_value(env, "{s:6,s:b,s:I}",
                              "data", buf, len,
                              "eof", (xmlrpc_bool)eof,
                              "size", (xmlrpc_int64)size);
}

/*
 * The answers carrying bulk data, written directly: xmlrpc-c encodes
 * base64 a byte at a time and copies the text into its document in
 * 76-character lines, most of a getfile's cost (and under TCG every
 * guest instruction is emulated). Here each 3 bytes become 4 characters
 * through two look-ups of a 12-bit table, in one pass into the answer.
 * Peers read plain base64 without line breaks as before.
 */
static uint16_t va_b64_pairs[4096];

static void va_b64_init(void)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static gsize done;
    char pair[2];
    int i;

    if (g_once_init_enter(&done)) {
        for (i = 0; i < 4096; i++) {
            pair[0] = alphabet[i >> 6];
            pair[1] = alphabet[i & 63];
            memcpy(&va_b64_pairs[i], pair, 2);
        }
        g_once_init_leave(&done, 1);
    }
}

static void va_xml_base64(GString *out, const uint8_t *data, size_t len)
{
    size_t start = out->len, i = 0;
    uint64_t x, y;
    uint32_t v;
    char *p;

    va_b64_init();
    g_string_set_size(out, start + (len + 2) / 3 * 4);
    p = out->str + start;
    /* One load and one store for each 6 bytes: the last 2 are unused. */
    for (; i + 8 <= len; i += 6, p += 8) {
        memcpy(&x, data + i, 8);
        x = GUINT64_FROM_BE(x);
        y = va_b64_pairs[x >> 52] |
            (uint64_t)va_b64_pairs[(x >> 40) & 0xfff] << 16 |
            (uint64_t)va_b64_pairs[(x >> 28) & 0xfff] << 32 |
            (uint64_t)va_b64_pairs[(x >> 16) & 0xfff] << 48;
        y = GUINT64_TO_LE(y);
        memcpy(p, &y, 8);
    }
    for (; i < len; i += 3, p += 4) {
        v = data[i] << 16 | (i + 1 < len ? data[i + 1] << 8 : 0) |
            (i + 2 < len ? data[i + 2] : 0);
        memcpy(p, &va_b64_pairs[v >> 12], 2);
        memcpy(p + 2, &va_b64_pairs[v & 0xfff], 2);
        if (i + 2 >= len) {
            p[3] = '=';
        }
        if (i + 1 >= len) {
            p[2] = '=';
        }
    }
}

void va_xml_begin(GString *out)
{
    g_string_append(out, "<methodResponse><params><param><value><struct>");
}

void va_xml_end(GString *out)
{
    g_string_append(out, "</struct></value></param></params>"
                    "</methodResponse>");
}

void va_xml_member(GString *out, const char *name, const char *type,
                   const char *text)
{
    g_string_append_printf(out, "<member><name>%s</name><value><%s>%s</%s>"
                           "</value></member>", name, type, text, type);
}

void va_xml_member_i8(GString *out, const char *name, int64_t v)
{
    char num[24];

    g_snprintf(num, sizeof(num), "%" PRId64, v);
    va_xml_member(out, name, "i8", num);
}

static void va_xml_member_base64(GString *out, const char *name,
                                 const uint8_t *data, size_t len)
{
    g_string_append_printf(out, "<member><name>%s</name><value><base64>",
                           name);
    va_xml_base64(out, data, len);
    g_string_append(out, "</base64></value></member>");
}

static bool va_xml_getfile(xmlrpc_env *env, xmlrpc_value *params,
                           VAGuestRpc *rpc, void *call_info, GString *out)
{
    g_autofree uint8_t *buf = NULL;
    size_t len;
    int64_t size;
    bool eof;

    if (!va_getfile_read(env, params, &buf, &len, &eof, &size)) {
        return false;
    }
    /* Allocated once: the answer is mostly the base64. */
    g_string_set_size(out, len / 3 * 4 + 512);
    g_string_truncate(out, 0);
    va_xml_begin(out);
    va_xml_member_base64(out, "data", buf, len);
    va_xml_member(out, "eof", "boolean", eof ? "1" : "0");
    va_xml_member_i8(out, "size", size);
    va_xml_end(out);
    return true;
}

/* The largest read or write per call. */
#define VA_FILE_IO_MAX VA_GETFILE_CHUNK_MAX
#define VA_FILE_READ_DEFAULT 4096

typedef struct VAFile {
    gint refs;
    int fd;
    int64_t handle;
    char *session;
    GMutex io;          /* one read, write, seek or flush at a time */
} VAFile;

struct VAFileTable {
    GMutex lock;
    GHashTable *files;  /* handle -> VAFile */
    GHashTable *puts;   /* transfer id -> VAPut */
    int64_t next;       /* handles and transfer ids alike */
};

static void va_file_unref(VAFile *f)
{
    if (g_atomic_int_dec_and_test(&f->refs)) {
        close(f->fd);
        g_mutex_clear(&f->io);
        g_free(f->session);
        g_free(f);
    }
}

static const char *va_file_session(VAGuestRpc *rpc, void *call_info)
{
    return rpc->ops.session ? rpc->ops.session(call_info, rpc->opaque) : "";
}

/* The handle in argument 0, referenced, or NULL with a fault. */
static VAFile *va_file_get(xmlrpc_env *env, VAGuestRpc *rpc,
                           xmlrpc_value *params, void *call_info)
{
    VAFileTable *t = rpc->files;
    const char *session = va_file_session(rpc, call_info);
    VAFile *f;
    int64_t handle;

    if (!va_param_int(env, params, 0, "handle", &handle)) {
        return NULL;
    }
    g_mutex_lock(&t->lock);
    f = g_hash_table_lookup(t->files, &handle);
    /* Another session's handle does not exist for this one. */
    if (f && strcmp(f->session, session) != 0) {
        f = NULL;
    }
    if (f) {
        g_atomic_int_inc(&f->refs);
    }
    g_mutex_unlock(&t->lock);
    if (!f) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "no open file with handle %"
                                       G_GINT64_FORMAT, handle);
    }
    return f;
}

/* fopen(3)'s modes, as qemu-ga takes them. */
static int va_file_flags(const char *mode)
{
    static const struct {
        const char *mode;
        int flags;
    } modes[] = {
        { "r", O_RDONLY },
        { "r+", O_RDWR },
        { "w", O_WRONLY | O_CREAT | O_TRUNC },
        { "w+", O_RDWR | O_CREAT | O_TRUNC },
        { "a", O_WRONLY | O_CREAT | O_APPEND },
        { "a+", O_RDWR | O_CREAT | O_APPEND },
    };
    g_autofree char *m = g_strdup(mode);
    char *b = strchr(m, 'b');
    size_t i;

    /* "rb", "r+b" and "rb+" are the same as without the b. */
    if (b) {
        memmove(b, b + 1, strlen(b));
    }
    for (i = 0; i < G_N_ELEMENTS(modes); i++) {
        if (strcmp(m, modes[i].mode) == 0) {
            return modes[i].flags;
        }
    }
    return -1;
}

static xmlrpc_value *va_rpc_file_open(xmlrpc_env *env, xmlrpc_value *params,
                                      void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    VAFileTable *t = rpc->files;
    g_autofree char *path = NULL, *mode = NULL;
    struct stat st;
    VAFile *f;
    int flags, fd, n = va_check_args(env, "va.file_open", params, 1, 2);

    if (n < 0) {
        return NULL;
    }
    path = va_param_string(env, params, 0, "path");
    if (!path) {
        return NULL;
    }
    mode = n == 2 ? va_param_string(env, params, 1, "mode") : g_strdup("r");
    if (!mode) {
        return NULL;
    }
    flags = va_file_flags(mode);
    if (path[0] != '/' || flags < 0) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "path must be absolute, mode one of "
                                       "r, r+, w, w+, a, a+ (b allowed)");
        return NULL;
    }
    /* Checked again below; this spares a "w" file being truncated. */
    g_mutex_lock(&t->lock);
    n = g_hash_table_size(t->files);
    g_mutex_unlock(&t->lock);
    if (n >= VA_FILE_HANDLES_MAX) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_BUSY,
                                       "%d files are open already",
                                       VA_FILE_HANDLES_MAX);
        return NULL;
    }
    /* O_NONBLOCK: a FIFO must not hang the daemon (qemu-ga does so). */
    fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
    if (fd < 0) {
        va_fault_errno(env, path, errno);
        return NULL;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        va_fault_errno(env, path, EISDIR);
        return NULL;
    }
    g_mutex_lock(&t->lock);
    if (g_hash_table_size(t->files) >= VA_FILE_HANDLES_MAX) {
        g_mutex_unlock(&t->lock);
        close(fd);
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_BUSY,
                                       "%d files are open already",
                                       VA_FILE_HANDLES_MAX);
        return NULL;
    }
    f = g_new0(VAFile, 1);
    f->refs = 1;
    f->fd = fd;
    f->session = g_strdup(va_file_session(rpc, call_info));
    g_mutex_init(&f->io);
    f->handle = t->next++;
    g_hash_table_insert(t->files, &f->handle, f);
    g_mutex_unlock(&t->lock);
    g_debug("va.file_open %s (%s): handle %" G_GINT64_FORMAT, path, mode,
            f->handle);
    return xmlrpc_i8_new(env, f->handle);
}

static xmlrpc_value *va_rpc_file_close(xmlrpc_env *env, xmlrpc_value *params,
                                       void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    VAFile *f;

    if (!va_check_count(env, "va.file_close", params, 1) ||
        !(f = va_file_get(env, rpc, params, call_info))) {
        return NULL;
    }
    g_mutex_lock(&rpc->files->lock);
    /* The table's reference: a read still running keeps its own. */
    g_hash_table_remove(rpc->files->files, &f->handle);
    g_mutex_unlock(&rpc->files->lock);
    va_file_unref(f);
    return xmlrpc_bool_new(env, true);
}

/* Reads for va.file_read into @buf (g_free); false with a fault. */
static bool va_file_read_do(xmlrpc_env *env, xmlrpc_value *params,
                            VAGuestRpc *rpc, void *call_info, uint8_t **buf,
                            size_t *len, bool *eof)
{
    int64_t count = VA_FILE_READ_DEFAULT;
    size_t got = 0;
    VAFile *f;
    int err = 0;
    int n = va_check_args(env, "va.file_read", params, 1, 2);

    *eof = false;
    if (n < 0 || (n == 2 && !va_param_int(env, params, 1, "count",
                                          &count))) {
        return false;
    }
    if (count < 0 || count > VA_FILE_IO_MAX) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "count must be 0 to %d",
                                       VA_FILE_IO_MAX);
        return false;
    }
    f = va_file_get(env, rpc, params, call_info);
    if (!f) {
        return false;
    }
    *buf = g_malloc(count + 1);
    g_mutex_lock(&f->io);
    while (got < (size_t)count) {
        ssize_t r = read(f->fd, *buf + got, count - got);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0 && errno == EAGAIN) {
            break;
        }
        if (r < 0) {
            err = errno;
            break;
        }
        if (r == 0) {
            *eof = true;
            break;
        }
        got += r;
    }
    g_mutex_unlock(&f->io);
    va_file_unref(f);
    if (err) {
        g_clear_pointer(buf, g_free);
        va_fault_errno(env, "read", err);
        return false;
    }
    *len = got;
    return true;
}

static xmlrpc_value *va_rpc_file_read(xmlrpc_env *env, xmlrpc_value *params,
                                      void *server_info, void *call_info)
{
    g_autofree uint8_t *buf = NULL;
    size_t len;
    bool eof;

    if (!va_file_read_do(env, params, server_info, call_info, &buf, &len,
                         &eof)) {
        return NULL;
    }
    return xmlrpc_build_value(env, "{s:i,s:6,s:b}", "count", (int)len,
                              "buf-b64", buf, len, "eof", (xmlrpc_bool)eof);
}

static bool va_xml_file_read(xmlrpc_env *env, xmlrpc_value *params,
                             VAGuestRpc *rpc, void *call_info, GString *out)
{
    g_autofree uint8_t *buf = NULL;
    char num[24];
    size_t len;
    bool eof;

    if (!va_file_read_do(env, params, rpc, call_info, &buf, &len, &eof)) {
        return false;
    }
    g_string_set_size(out, len / 3 * 4 + 512);
    g_string_truncate(out, 0);
    va_xml_begin(out);
    g_snprintf(num, sizeof(num), "%zu", len);
    va_xml_member(out, "count", "int", num);
    va_xml_member_base64(out, "buf-b64", buf, len);
    va_xml_member(out, "eof", "boolean", eof ? "1" : "0");
    va_xml_end(out);
    return true;
}

static xmlrpc_value *va_rpc_file_write(xmlrpc_env *env, xmlrpc_value *params,
                                       void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    const unsigned char *data = NULL;
    size_t len = 0, done = 0;
    int64_t count = -1;
    VAFile *f = NULL;
    int err = 0;
    int n = va_check_args(env, "va.file_write", params, 2, 3);

    if (n < 0) {
        return NULL;
    }
    if (!va_param_base64(env, params, 1, "buf-b64", &data, &len) ||
        (n == 3 && !va_param_int(env, params, 2, "count", &count))) {
        goto out;
    }
    if (count == -1 && n == 2) {
        count = len;
    }
    if (count < 0 || (size_t)count > len) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "count must be 0 to the data's "
                                       "length, %zu", len);
        goto out;
    }
    f = va_file_get(env, rpc, params, call_info);
    if (!f) {
        goto out;
    }
    g_mutex_lock(&f->io);
    while (done < (size_t)count) {
        ssize_t w = write(f->fd, data + done, count - done);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            /* EAGAIN: a full FIFO takes what it can, as qemu-ga's. */
            err = errno == EAGAIN && done ? 0 : errno;
            break;
        }
        done += w;
    }
    g_mutex_unlock(&f->io);
    va_file_unref(f);
    if (err) {
        va_fault_errno(env, "write", err);
    }
out:
    free((void *)data);
    if (env->fault_occurred) {
        return NULL;
    }
    return xmlrpc_build_value(env, "{s:i,s:b}", "count", (int)done,
                              "eof", (xmlrpc_bool)false);
}

static xmlrpc_value *va_rpc_file_seek(xmlrpc_env *env, xmlrpc_value *params,
                                      void *server_info, void *call_info)
{
    static const char *const names[] = { "set", "cur", "end" };
    VAGuestRpc *rpc = server_info;
    g_autofree char *wname = NULL;
    xmlrpc_value *item;
    struct stat st;
    int64_t offset, whence = -1;
    off_t pos;
    VAFile *f;
    int err = 0, i;

    if (!va_check_count(env, "va.file_seek", params, 3) ||
        !va_param_int(env, params, 1, "offset", &offset)) {
        return NULL;
    }
    /* whence: 0, 1, 2 or qemu-ga's names set, cur, end. */
    xmlrpc_array_read_item(env, params, 2, &item);
    if (env->fault_occurred) {
        return NULL;
    }
    if (xmlrpc_value_type(item) == XMLRPC_TYPE_STRING) {
        wname = va_param_string(env, params, 2, "whence");
        for (i = 0; wname && i < 3; i++) {
            if (strcmp(wname, names[i]) == 0) {
                whence = i;
            }
        }
    } else if (xmlrpc_value_type(item) == XMLRPC_TYPE_INT) {
        va_param_int(env, params, 2, "whence", &whence);
    }
    xmlrpc_DECREF(item);
    if (env->fault_occurred) {
        return NULL;
    }
    if (whence < 0 || whence > 2) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "whence must be 0, 1, 2, set, cur "
                                       "or end");
        return NULL;
    }
    f = va_file_get(env, rpc, params, call_info);
    if (!f) {
        return NULL;
    }
    g_mutex_lock(&f->io);
    pos = lseek(f->fd, offset, whence == 0 ? SEEK_SET :
                whence == 1 ? SEEK_CUR : SEEK_END);
    if (pos < 0 || fstat(f->fd, &st) < 0) {
        err = errno;
    }
    g_mutex_unlock(&f->io);
    va_file_unref(f);
    if (err) {
        va_fault_errno(env, "seek", err);
        return NULL;
    }
    return xmlrpc_build_value(env, "{s:I,s:b}", "position",
                              (xmlrpc_int64)pos, "eof",
                              (xmlrpc_bool)(S_ISREG(st.st_mode) &&
                                            pos >= st.st_size));
}

static xmlrpc_value *va_rpc_file_flush(xmlrpc_env *env, xmlrpc_value *params,
                                       void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    VAFile *f;
    int err = 0;

    if (!va_check_count(env, "va.file_flush", params, 1) ||
        !(f = va_file_get(env, rpc, params, call_info))) {
        return NULL;
    }
    /* Writes are not buffered here: flushing means reaching the disk. */
    g_mutex_lock(&f->io);
    if (fsync(f->fd) < 0 && errno != EINVAL) {
        err = errno;
    }
    g_mutex_unlock(&f->io);
    va_file_unref(f);
    if (err) {
        va_fault_errno(env, "flush", err);
        return NULL;
    }
    return xmlrpc_bool_new(env, true);
}

/* -- va.putfile -------------------------------------------------------- */

struct VAPut {
    gint refs;
    int fd;
    int64_t id;
    char *session;
    char *path;         /* the target */
    char *tmp;          /* the temporary file beside it */
    char *record;       /* its record in the state directory, or NULL */
    int64_t size;       /* the end of the furthest chunk */
    int64_t mode;       /* -1: the old file's, else 0644 */
    char *owner;        /* NULL: the old file's, else qemu-va's */
    bool done;          /* renamed into place: no more chunks */
    GMutex io;          /* one chunk or commit at a time */
};

void va_put_unref(VAPut *p)
{
    if (g_atomic_int_dec_and_test(&p->refs)) {
        close(p->fd);
        /* Never completed: the partial file goes. */
        if (!p->done) {
            unlink(p->tmp);
        }
        if (p->record) {
            unlink(p->record);
        }
        g_mutex_clear(&p->io);
        g_free(p->session);
        g_free(p->path);
        g_free(p->tmp);
        g_free(p->record);
        g_free(p->owner);
        g_free(p);
    }
}

void va_put_forget(VAGuestRpc *rpc, VAPut *p)
{
    VAFileTable *t = rpc->files;

    g_mutex_lock(&t->lock);
    if (g_hash_table_lookup(t->puts, &p->id) == p) {
        g_hash_table_remove(t->puts, &p->id);
    }
    g_mutex_unlock(&t->lock);
}

/* The transfer @id of this session, referenced, or NULL with a fault. */
static VAPut *va_put_get(xmlrpc_env *env, VAGuestRpc *rpc, int64_t id,
                         void *call_info)
{
    VAFileTable *t = rpc->files;
    const char *session = va_file_session(rpc, call_info);
    VAPut *p;

    g_mutex_lock(&t->lock);
    p = g_hash_table_lookup(t->puts, &id);
    if (p && strcmp(p->session, session) != 0) {
        p = NULL;
    }
    if (p) {
        g_atomic_int_inc(&p->refs);
    }
    g_mutex_unlock(&t->lock);
    if (!p) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "no putfile transfer %" G_GINT64_FORMAT
                                       " (never begun, aborted, failed or "
                                       "complete)", id);
    }
    return p;
}

/* "USER[:GROUP]", names or numbers; false with errno-less fault. */
static bool va_put_owner(xmlrpc_env *env, const char *owner, uid_t *uid,
                         gid_t *gid)
{
    g_auto(GStrv) parts = g_strsplit(owner, ":", 2);
    char buf[4096];
    guint64 n;

    if (!parts[0] || !parts[0][0]) {
        goto bad;
    }
    if (g_ascii_string_to_unsigned(parts[0], 10, 0, G_MAXUINT32 - 1, &n,
                                   NULL)) {
        *uid = n;
    } else {
        struct passwd pw, *res = NULL;

        if (getpwnam_r(parts[0], &pw, buf, sizeof(buf), &res) || !res) {
            goto bad;
        }
        *uid = res->pw_uid;
        *gid = res->pw_gid;
    }
    if (!parts[1]) {
        return true;
    }
    if (g_ascii_string_to_unsigned(parts[1], 10, 0, G_MAXUINT32 - 1, &n,
                                   NULL)) {
        *gid = n;
    } else {
        struct group gr, *res = NULL;

        if (getgrnam_r(parts[1], &gr, buf, sizeof(buf), &res) || !res) {
            goto bad;
        }
        *gid = res->gr_gid;
    }
    return true;
bad:
    xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                   "owner '%s' is not USER[:GROUP] of "
                                   "this guest", owner);
    return false;
}

/* The prefix of a record's name in the state directory. */
#define VA_PUT_RECORD "qemu-va-putfile-"

/*
 * Records @tmp in @statedir; the record's path, or NULL (with a warning:
 * the transfer goes on, only a crash would leave its temporary).
 */
static char *va_put_record(const char *statedir, const char *tmp)
{
    g_autofree char *record = NULL;
    size_t len = strlen(tmp);
    int fd;

    if (!statedir) {
        return NULL;
    }
    record = g_build_filename(statedir, VA_PUT_RECORD "XXXXXX", NULL);
    fd = g_mkstemp_full(record, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, tmp, len) != (ssize_t)len) {
        g_warning("cannot record %s in %s: %s", tmp, statedir,
                  g_strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(record);
        }
        return NULL;
    }
    close(fd);
    return g_steal_pointer(&record);
}

/* Only a name va_put_begin() makes: ".NAME.va-XXXXXX". */
static bool va_put_is_temporary(const char *path)
{
    g_autofree char *base = g_path_get_basename(path);
    size_t len = strlen(base);

    return g_path_is_absolute(path) && base[0] == '.' &&
        len > strlen(".x.va-XXXXXX") - 1 &&
        !strncmp(base + len - strlen(".va-XXXXXX"), ".va-", 4);
}

unsigned va_put_reclaim(const char *statedir)
{
    g_autoptr(GDir) dir = g_dir_open(statedir, 0, NULL);
    const char *name;
    unsigned removed = 0;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *record = NULL;
        g_autofree char *tmp = NULL;

        if (!g_str_has_prefix(name, VA_PUT_RECORD)) {
            continue;
        }
        record = g_build_filename(statedir, name, NULL);
        if (g_file_get_contents(record, &tmp, NULL, NULL) &&
            va_put_is_temporary(tmp) &&
            (unlink(tmp) == 0 || errno == ENOENT)) {
            g_message("removed %s, the temporary of a transfer an earlier "
                      "qemu-va did not finish", tmp);
            removed++;
        }
        unlink(record);
    }
    return removed;
}

VAPut *va_put_begin(xmlrpc_env *env, VAGuestRpc *rpc, const char *path,
                    void *call_info)
{
    VAFileTable *t = rpc->files;
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *tmp = NULL;
    struct stat st;
    VAPut *p;
    int fd;

    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        va_fault_errno(env, path, EISDIR);
        return NULL;
    }
    g_mutex_lock(&t->lock);
    if (g_hash_table_size(t->puts) >= VA_FILE_HANDLES_MAX) {
        g_mutex_unlock(&t->lock);
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_BUSY,
                                       "%d putfile transfers are under way "
                                       "already", VA_FILE_HANDLES_MAX);
        return NULL;
    }
    g_mutex_unlock(&t->lock);
    /* Beside the target: the rename cannot cross filesystems. */
    tmp = g_strdup_printf("%s/.%s.va-XXXXXX", dir, base);
    fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        va_fault_errno(env, path, errno);
        return NULL;
    }
    p = g_new0(VAPut, 1);
    p->refs = 2;        /* the table's and the caller's */
    p->fd = fd;
    p->session = g_strdup(va_file_session(rpc, call_info));
    p->path = g_strdup(path);
    p->tmp = g_steal_pointer(&tmp);
    p->record = va_put_record(rpc->statedir, p->tmp);
    p->mode = -1;
    g_mutex_init(&p->io);
    g_mutex_lock(&t->lock);
    p->id = t->next++;
    g_hash_table_insert(t->puts, &p->id, p);
    g_mutex_unlock(&t->lock);
    return p;
}

/* Called with p->io held. */
static bool va_put_commit_locked(xmlrpc_env *env, VAPut *p)
{
    g_autofree char *dir = g_path_get_dirname(p->path);
    struct stat old;
    bool has_old = stat(p->path, &old) == 0 && S_ISREG(old.st_mode);
    uid_t uid = -1;
    gid_t gid = -1;
    mode_t mode = p->mode >= 0 ? p->mode : has_old ? old.st_mode & 07777
                                                    : 0644;
    int dfd;

    if (p->owner && !va_put_owner(env, p->owner, &uid, &gid)) {
        return false;
    }
    if (p->owner && fchown(p->fd, uid, gid) < 0) {
        va_fault_errno(env, p->path, errno);
        return false;
    }
    /* Keeping the old owner is best effort: not root, not possible. */
    if (!p->owner && has_old) {
        if (fchown(p->fd, old.st_uid, old.st_gid) < 0) {
            g_debug("putfile %s: keeping the owner: %s", p->path,
                    g_strerror(errno));
        }
    }
    /* After fchown, which clears the set-id bits. */
    if (fchmod(p->fd, mode) < 0 || fsync(p->fd) < 0 ||
        rename(p->tmp, p->path) < 0) {
        va_fault_errno(env, p->path, errno);
        return false;
    }
    p->done = true;
    /* The rename itself reaches the disk with the directory. */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return true;
}

bool va_put_commit(xmlrpc_env *env, VAPut *p)
{
    bool ok;

    g_mutex_lock(&p->io);
    ok = va_put_commit_locked(env, p);
    g_mutex_unlock(&p->io);
    return ok;
}

bool va_put_set_attrs(xmlrpc_env *env, VAPut *p, int64_t mode,
                      const char *owner)
{
    uid_t uid;
    gid_t gid;

    /* Checked now: a bad owner must not fail the end of a transfer. */
    if (owner && !va_put_owner(env, owner, &uid, &gid)) {
        return false;
    }
    g_mutex_lock(&p->io);
    p->mode = mode;
    g_free(p->owner);
    p->owner = g_strdup(owner);
    g_mutex_unlock(&p->io);
    return true;
}

int va_put_fd(VAPut *p)
{
    return p->fd;
}

static xmlrpc_value *va_rpc_putfile(xmlrpc_env *env, xmlrpc_value *params,
                                    void *server_info, void *call_info)
{
    static const char *const known[] = {
        "transfer", "offset", "final", "mode", "owner", NULL
    };
    VAGuestRpc *rpc = server_info;
    g_autofree char *path = NULL, *owner = NULL;
    const unsigned char *data = NULL;
    xmlrpc_value *opts = NULL, *ret = NULL;
    int64_t transfer = -1, offset = -1, mode = -1, size = 0;
    bool final = true, done = false;
    size_t len = 0, written = 0;
    VAPut *p = NULL;
    int err = 0;
    int n = va_check_args(env, "va.putfile", params, 2, 3);

    if (n < 0 || !(path = va_param_string(env, params, 0, "path"))) {
        return NULL;
    }
    if (!va_param_base64(env, params, 1, "data", &data, &len)) {
        goto out;
    }
    if (n == 3) {
        opts = va_param_struct(env, params, 2, "options");
        if (!opts || !va_opts_check(env, opts, known) ||
            !va_opt_int(env, opts, "transfer", &transfer) ||
            !va_opt_int(env, opts, "offset", &offset) ||
            !va_opt_bool(env, opts, "final", &final) ||
            !va_opt_int(env, opts, "mode", &mode) ||
            !va_opt_string(env, opts, "owner", &owner)) {
            goto out;
        }
    }
    /* The top keeps offset + length from overflowing. */
    if (path[0] != '/' || (offset != -1 && offset < 0) ||
        offset > G_MAXINT64 / 2 || mode < -1 || mode > 07777 ||
        (owner && !owner[0])) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "path must be absolute, offset not "
                                       "negative, mode 0 to 07777");
        goto out;
    }
    p = transfer == -1 ? va_put_begin(env, rpc, path, call_info)
                       : va_put_get(env, rpc, transfer, call_info);
    if (!p) {
        goto out;
    }
    if (strcmp(p->path, path) != 0) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "transfer %" G_GINT64_FORMAT
                                       " writes %s, not %s", p->id, p->path,
                                       path);
        goto out;
    }
    g_mutex_lock(&p->io);
    if (p->done) {
        g_mutex_unlock(&p->io);
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "transfer %" G_GINT64_FORMAT
                                       " is complete", p->id);
        goto out;
    }
    if (offset == -1) {
        offset = p->size;
    }
    if (mode != -1) {
        p->mode = mode;
    }
    if (owner) {
        g_free(p->owner);
        p->owner = g_steal_pointer(&owner);
    }
    while (written < len) {
        ssize_t w = pwrite(p->fd, data + written, len - written,
                           offset + written);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            err = errno;
            break;
        }
        written += w;
    }
    if (err) {
        va_fault_errno(env, p->path, err);
    } else {
        p->size = MAX(p->size, offset + (int64_t)len);
        if (final) {
            va_put_commit_locked(env, p);
        }
    }
    size = p->size;
    done = p->done;
    g_mutex_unlock(&p->io);
    /* Complete, or failed: either way the transfer is over. */
    if (env->fault_occurred || done) {
        va_put_forget(rpc, p);
    }
    if (!env->fault_occurred) {
        ret = xmlrpc_build_value(env, "{s:I,s:I,s:b}",
                                 "transfer", (xmlrpc_int64)p->id,
                                 "size", (xmlrpc_int64)size,
                                 "done", (xmlrpc_bool)done);
    }
out:
    if (p) {
        va_put_unref(p);
    }
    if (opts) {
        xmlrpc_DECREF(opts);
    }
    free((void *)data);
    return env->fault_occurred ? NULL : ret;
}

static xmlrpc_value *va_rpc_putfile_abort(xmlrpc_env *env,
                                          xmlrpc_value *params,
                                          void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    int64_t transfer;
    VAPut *p;

    if (!va_check_count(env, "va.putfile_abort", params, 1) ||
        !va_param_int(env, params, 0, "transfer", &transfer) ||
        !(p = va_put_get(env, rpc, transfer, call_info))) {
        return NULL;
    }
    va_put_forget(rpc, p);
    va_put_unref(p);
    return xmlrpc_bool_new(env, true);
}

static void va_files_init(VAGuestRpc *rpc)
{
    VAFileTable *t = g_new0(VAFileTable, 1);

    g_mutex_init(&t->lock);
    t->files = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                     (GDestroyNotify)va_file_unref);
    t->puts = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                    (GDestroyNotify)va_put_unref);
    /* Not small integers: a stale handle is unlikely to name a new file. */
    t->next = 1000;
    rpc->files = t;
}

static void va_files_session_end(VAGuestRpc *rpc)
{
    VAFileTable *t = rpc->files;
    guint n, puts;

    g_mutex_lock(&t->lock);
    n = g_hash_table_size(t->files);
    g_hash_table_remove_all(t->files);
    puts = g_hash_table_size(t->puts);
    g_hash_table_remove_all(t->puts);
    g_mutex_unlock(&t->lock);
    if (n) {
        g_debug("session ended: %u file handle%s closed", n,
                n == 1 ? "" : "s");
    }
    if (puts) {
        g_debug("session ended: %u putfile transfer%s aborted", puts,
                puts == 1 ? "" : "s");
    }
}

static void va_files_cleanup(VAGuestRpc *rpc)
{
    VAFileTable *t = rpc->files;

    if (!t) {
        return;
    }
    g_hash_table_unref(t->files);
    g_hash_table_unref(t->puts);
    g_mutex_clear(&t->lock);
    g_free(t);
    rpc->files = NULL;
}

static const VAMethod methods[] = {
    {
        .info = {
            .methodName = "va.getfile",
            .methodFunction = va_rpc_getfile,
            .signatureString = "S:sii,S:sII",
            .help = "va.getfile(path, offset, length): returns {data "
                    "(base64), eof, size}. length is capped at 1 MiB; "
                    "errors are faults carrying the errno text.",
        },
        .flags = VA_M_SLOW,
        .xml = va_xml_getfile,
    }, {
        .info = {
            .methodName = "va.putfile",
            .methodFunction = va_rpc_putfile,
            .signatureString = "S:s6,S:s6S",
            .help = "va.putfile(path, data (base64), [options {transfer, "
                    "offset, final, mode, owner}]): write data into a "
                    "temporary file beside path, renamed into place when "
                    "final (default true); returns {transfer, size, done}.",
        },
        .flags = VA_M_SLOW,
    }, {
        .info = {
            .methodName = "va.putfile_abort",
            .methodFunction = va_rpc_putfile_abort,
            .signatureString = "b:i,b:I",
            .help = "va.putfile_abort(transfer): drop an unfinished "
                    "va.putfile and its temporary file.",
        },
        .flags = VA_M_SLOW,
    }, {
        .info = {
            .methodName = "va.file_open",
            .methodFunction = va_rpc_file_open,
            .signatureString = "I:s,I:ss",
            .help = "va.file_open(path, [mode]): open with an fopen(3) mode "
                    "(default r; created files are 0600) and return a "
                    "handle (i8), valid in this session only; at most 32 "
                    "open.",
        },
        .flags = VA_M_SLOW,
    }, {
        .info = {
            .methodName = "va.file_close",
            .methodFunction = va_rpc_file_close,
            .signatureString = "b:i,b:I",
            .help = "va.file_close(handle).",
        },
        /* close(2) may flush to a slow disk or a network filesystem. */
        .flags = VA_M_SLOW,
    }, {
        .info = {
            .methodName = "va.file_read",
            .methodFunction = va_rpc_file_read,
            .signatureString = "S:i,S:I,S:ii,S:II",
            .help = "va.file_read(handle, [count]): {count, buf-b64, eof}; "
                    "count defaults to 4096, at most 1 MiB.",
        },
        .flags = VA_M_SLOW,
        .xml = va_xml_file_read,
    }, {
        .info = {
            .methodName = "va.file_write",
            .methodFunction = va_rpc_file_write,
            .signatureString = "S:i6,S:I6,S:i6i,S:I6I",
            .help = "va.file_write(handle, buf-b64, [count]): {count, eof}; "
                    "writes count bytes of the data (default all).",
        },
        .flags = VA_M_SLOW,
    }, {
        .info = {
            .methodName = "va.file_seek",
            .methodFunction = va_rpc_file_seek,
            .signatureString = "S:iii,S:IIi,S:iis,S:IIs",
            .help = "va.file_seek(handle, offset, whence): whence 0/set, "
                    "1/cur or 2/end; returns {position, eof}.",
        },
        .flags = VA_M_SLOW,
    }, {
        .info = {
            .methodName = "va.file_flush",
            .methodFunction = va_rpc_file_flush,
            .signatureString = "b:i,b:I",
            .help = "va.file_flush(handle): fsync the file.",
        },
        .flags = VA_M_SLOW,
    },
    { .info = { .methodName = NULL } },
};

const VAMethodDomain va_m_files = {
    .name = "files",
    .methods = methods,
    .init = va_files_init,
    .cleanup = va_files_cleanup,
    .session_end = va_files_session_end,
};
