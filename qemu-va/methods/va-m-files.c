/*
 * qemu-va - files: va.getfile
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "va-errors.h"
#include "qemu-va/methods/va-methods.h"

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
    },
    { .info = { .methodName = NULL } },
};

const VAMethodDomain va_m_files = {
    .name = "files",
    .methods = methods,
};
