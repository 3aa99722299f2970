/*
 * qemu-va - a locked pid file
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_VA_PIDFILE_H
#define QEMU_VA_PIDFILE_H

#include <glib.h>

/*
 * Creates and locks @path and writes our pid into it. The lock (fcntl,
 * so it belongs to this process: take it after forking) lives as long as
 * the returned fd; a second instance gets -1 and an error naming the
 * holder.
 */
int va_pidfile_acquire(const char *path, GError **errp);
/* Removes the file, then drops the lock. */
void va_pidfile_release(int fd, const char *path);

#endif
