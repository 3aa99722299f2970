/*
 * qemu-va - a locked pid file
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>

#include "pidfile.h"

int va_pidfile_acquire(const char *path, GError **errp)
{
    char buf[32];
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    int len;

    if (fd < 0) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot open pid file %s: %s", path, g_strerror(errno));
        return -1;
    }
    if (lockf(fd, F_TLOCK, 0) < 0) {
        int err = errno;
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

        buf[n > 0 ? n : 0] = '\0';
        g_strchomp(buf);
        if (err == EAGAIN || err == EACCES) {
            g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_AGAIN,
                        "another qemu-va (pid %s) is running: pid file %s "
                        "is locked", buf[0] ? buf : "?", path);
        } else {
            g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(err),
                        "cannot lock pid file %s: %s", path,
                        g_strerror(err));
        }
        close(fd);
        return -1;
    }
    len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, len, 0) != len) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot write pid file %s: %s", path, g_strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

void va_pidfile_release(int fd, const char *path)
{
    if (fd >= 0) {
        unlink(path);
        close(fd);
    }
}
