/*
 * virtagent - a channel on a file descriptor in a GMainContext
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The adapter the guest daemon, va-call, the tests and the benchmark use:
 * it reads and writes a non-blocking fd from GLib sources, runs the
 * channel's timers, and runs slow methods in a GThreadPool as large as
 * the channel's execution limit.
 */
#ifndef VIRTAGENT_GLIB_H
#define VIRTAGENT_GLIB_H

#include "va-channel.h"

typedef struct VAGlibChannel VAGlibChannel;

/*
 * The fd hit EOF or an error (@reason says which): the adapter has
 * already detached it (closed it if owned) and reset the channel.
 */
typedef void VAGlibClosed(VAGlibChannel *gc, const char *reason,
                          void *opaque);

/* @ctx NULL means the default context. No fd is attached yet. */
VAGlibChannel *va_glib_channel_new(GMainContext *ctx,
                                   const VAChannelConfig *cfg,
                                   VAGlibClosed *closed, void *opaque,
                                   GError **errp);
/* Waits for methods still running in the pool; fails pending calls. */
void va_glib_channel_free(VAGlibChannel *gc);
VAChannel *va_glib_channel_get(VAGlibChannel *gc);

/*
 * Attach @fd (made non-blocking; closed by the adapter when @owned), or
 * detach with -1. Any change resets the channel: a new stream is a new
 * session.
 */
void va_glib_channel_set_fd(VAGlibChannel *gc, int fd, bool owned);
bool va_glib_channel_connected(VAGlibChannel *gc);

/*
 * Hand the peer's calls to @fn instead of the registry (a forwarder's).
 * @fn answers each job (va_server_job_set_response() or _set_fault())
 * and calls va_channel_job_executed(), at once or later, in this
 * context's thread.
 */
typedef void VAGlibExecute(VAGlibChannel *gc, VAServerJob *job,
                           void *opaque);
void va_glib_channel_set_executor(VAGlibChannel *gc, VAGlibExecute *fn,
                                  void *opaque);

/*
 * Methods that run in the thread pool; the others run inline in the
 * main loop. NULL-terminated, copied.
 */
void va_glib_channel_set_slow_methods(VAGlibChannel *gc,
                                      const char *const *methods);

#endif
