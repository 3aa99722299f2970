/*
 * virtagent - a channel on a file descriptor in a GMainContext
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <glib-unix.h>

#include "va-glib.h"

#define READ_CHUNK (64 * 1024)

typedef struct DoneSource {
    GSource source;
    GAsyncQueue *queue;
} DoneSource;

struct VAGlibChannel {
    GMainContext *ctx;
    VAChannel *ch;
    int fd;
    bool owned;
    GSource *in_src;
    GSource *out_src;
    GSource *timer_src;
    GSource *kick_src;
    int64_t timer_deadline;
    GThreadPool *pool;      /* started by the first slow call */
    unsigned max_threads;
    GSource *done_src;      /* jobs the pool finished */
    GHashTable *slow;       /* method names run in the pool */
    VAGlibExecute *executor;
    void *executor_opaque;
    bool in_dispatch;
    bool need_sync;
    VAGlibClosed *closed;
    void *opaque;
};

static int64_t glib_now_ms(void *opaque)
{
    return g_get_monotonic_time() / 1000;
}

static void sync_sources(VAGlibChannel *gc);

/*
 * Our callbacks run between begin() and end(): the channel's wake-ups in
 * between only ask for a sync, which end() does. Writing inside the sync
 * wakes the channel again (output_done), so it loops while asked, before
 * it lets wake-ups schedule a kick: a kick per message would cost a
 * main-loop iteration and an idle source each time.
 */
static void begin(VAGlibChannel *gc)
{
    gc->in_dispatch = true;
}

static void end(VAGlibChannel *gc)
{
    while (gc->need_sync) {
        sync_sources(gc);
    }
    gc->in_dispatch = false;
}

static gboolean kick_cb(gpointer opaque)
{
    VAGlibChannel *gc = opaque;

    g_clear_pointer(&gc->kick_src, g_source_unref);
    begin(gc);
    gc->need_sync = true;
    end(gc);
    return G_SOURCE_REMOVE;
}

/* Channel calls made from outside our handlers get their sync later. */
static void glib_wakeup(void *opaque)
{
    VAGlibChannel *gc = opaque;

    gc->need_sync = true;
    if (gc->in_dispatch || gc->kick_src) {
        return;
    }
    gc->kick_src = g_idle_source_new();
    g_source_set_priority(gc->kick_src, G_PRIORITY_HIGH);
    g_source_set_callback(gc->kick_src, kick_cb, gc, NULL);
    g_source_attach(gc->kick_src, gc->ctx);
}

static void pool_run(gpointer data, gpointer opaque)
{
    VAGlibChannel *gc = opaque;
    DoneSource *ds = (DoneSource *)gc->done_src;

    va_server_job_execute(data);
    g_async_queue_push(ds->queue, data);
    g_main_context_wakeup(gc->ctx);
}

static void start_pool(VAGlibChannel *gc);

static void glib_execute(VAChannel *ch, VAServerJob *job, void *opaque)
{
    VAGlibChannel *gc = opaque;

    if (gc->executor) {
        gc->executor(gc, job, gc->executor_opaque);
        return;
    }
    if (g_hash_table_size(gc->slow) &&
        g_hash_table_contains(gc->slow, va_server_job_method(job))) {
        start_pool(gc);
        g_thread_pool_push(gc->pool, job, NULL);
        return;
    }
    va_server_job_execute(job);
    va_channel_job_executed(ch, job);
}

static gboolean done_prepare(GSource *source, gint *timeout)
{
    *timeout = -1;
    return g_async_queue_length(((DoneSource *)source)->queue) > 0;
}

static gboolean done_check(GSource *source)
{
    return g_async_queue_length(((DoneSource *)source)->queue) > 0;
}

static void done_finalize(GSource *source)
{
    g_async_queue_unref(((DoneSource *)source)->queue);
}

static gboolean done_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    DoneSource *ds = (DoneSource *)source;
    VAGlibChannel *gc = data;
    VAServerJob *job;

    begin(gc);
    while ((job = g_async_queue_try_pop(ds->queue))) {
        va_channel_job_executed(gc->ch, job);
    }
    end(gc);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs done_funcs = {
    .prepare = done_prepare,
    .check = done_check,
    .dispatch = done_dispatch,
    .finalize = done_finalize,
};

/*
 * The pool and its completion source come with the first slow call: a
 * channel without slow methods (va-call's, the benchmark's) has neither
 * idle threads nor a source to check on every loop iteration.
 */
static void start_pool(VAGlibChannel *gc)
{
    DoneSource *ds;

    if (gc->pool) {
        return;
    }
    gc->done_src = g_source_new(&done_funcs, sizeof(DoneSource));
    ds = (DoneSource *)gc->done_src;
    ds->queue = g_async_queue_new();
    g_source_set_callback(gc->done_src, NULL, gc, NULL);
    g_source_attach(gc->done_src, gc->ctx);
    gc->pool = g_thread_pool_new(pool_run, gc, gc->max_threads, FALSE, NULL);
}

static void drop_source(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

/* Calls made while no fd is attached wait for the next one. */
static void detach(VAGlibChannel *gc, const char *reason)
{
    if (gc->fd < 0) {
        return;
    }
    drop_source(&gc->in_src);
    drop_source(&gc->out_src);
    if (gc->owned) {
        close(gc->fd);
    }
    gc->fd = -1;
    va_channel_reset(gc->ch, reason);
}

static void fd_closed(VAGlibChannel *gc, const char *reason)
{
    detach(gc, reason);
    if (gc->closed) {
        gc->closed(gc, reason, gc->opaque);
    }
}

/*
 * Write what the socket takes, leaving in *@pending what it did not;
 * false if the fd broke.
 */
static bool flush(VAGlibChannel *gc, size_t *pending)
{
    size_t len;
    const uint8_t *buf;

    while ((buf = va_channel_output(gc->ch, &len)) && len) {
        ssize_t n = write(gc->fd, buf, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                *pending = len;
                return true;
            }
            fd_closed(gc, g_strerror(errno));
            return false;
        }
        va_channel_output_done(gc->ch, n);
    }
    *pending = 0;
    return true;
}

static gboolean out_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    VAGlibChannel *gc = opaque;

    begin(gc);
    gc->need_sync = true;
    end(gc);
    return G_SOURCE_CONTINUE;
}

static gboolean timer_cb(gpointer opaque)
{
    VAGlibChannel *gc = opaque;

    g_clear_pointer(&gc->timer_src, g_source_unref);
    gc->timer_deadline = -1;
    begin(gc);
    va_channel_run_timers(gc->ch);
    gc->need_sync = true;
    end(gc);
    return G_SOURCE_REMOVE;
}

/* Write out, then make the write watch and the timer match the channel. */
static void sync_sources(VAGlibChannel *gc)
{
    size_t pending = 0;
    int64_t deadline;

    gc->need_sync = false;
    if (gc->fd >= 0 && flush(gc, &pending)) {
        /*
         * flush() wrote until the channel had nothing more or the fd was
         * full, as it last read the channel: the wake-ups its writes
         * caused are answered, and a message costs one sync, not two.
         * (A broken fd's reset still asks for its own.)
         */
        gc->need_sync = false;
    }
    if (pending && !gc->out_src) {
        gc->out_src = g_unix_fd_source_new(gc->fd, G_IO_OUT);
        g_source_set_callback(gc->out_src, G_SOURCE_FUNC(out_cb), gc,
                              NULL);
        g_source_attach(gc->out_src, gc->ctx);
    } else if (!pending) {
        drop_source(&gc->out_src);
    }

    /*
     * An armed timer that fires no later than needed stays: when it fires
     * early, run_timers finds nothing due and we re-arm. That keeps a call
     * from re-creating the timer source each time it adds a later deadline.
     * Without any deadline it goes: a source is walked on every main-loop
     * iteration, that is on every call served.
     */
    deadline = va_channel_deadline(gc->ch);
    if (deadline < 0) {
        drop_source(&gc->timer_src);
    } else if (!gc->timer_src || deadline < gc->timer_deadline) {
        int64_t delay = deadline - glib_now_ms(gc);

        drop_source(&gc->timer_src);
        gc->timer_deadline = deadline;
        gc->timer_src = g_timeout_source_new(delay > 0 ? delay : 0);
        g_source_set_callback(gc->timer_src, timer_cb, gc, NULL);
        g_source_attach(gc->timer_src, gc->ctx);
    }
}

static gboolean in_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    VAGlibChannel *gc = opaque;
    uint8_t buf[READ_CHUNK];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n > 0) {
        begin(gc);
        va_channel_input(gc->ch, buf, n);
        gc->need_sync = true;
        end(gc);
        /* Should the fd have broken meanwhile, this source is gone. */
        return G_SOURCE_CONTINUE;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return G_SOURCE_CONTINUE;
    }
    fd_closed(gc, n == 0 ? "end of file" : g_strerror(errno));
    return G_SOURCE_REMOVE;
}

VAGlibChannel *va_glib_channel_new(GMainContext *ctx,
                                   const VAChannelConfig *cfg,
                                   VAGlibClosed *closed, void *opaque,
                                   GError **errp)
{
    static const VAChannelOps ops = {
        .now_ms = glib_now_ms,
        .wakeup = glib_wakeup,
        .execute = glib_execute,
    };
    VAGlibChannel *gc = g_new0(VAGlibChannel, 1);
    gc->ctx = g_main_context_ref(ctx ? ctx : g_main_context_default());
    gc->fd = -1;
    gc->timer_deadline = -1;
    gc->closed = closed;
    gc->opaque = opaque;
    gc->slow = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    gc->ch = va_channel_new(cfg, &ops, gc, errp);
    if (!gc->ch) {
        g_hash_table_unref(gc->slow);
        g_main_context_unref(gc->ctx);
        g_free(gc);
        return NULL;
    }
    gc->max_threads = cfg->max_executing;
    return gc;
}

void va_glib_channel_free(VAGlibChannel *gc)
{
    if (!gc) {
        return;
    }
    /*
     * Running methods finish; their jobs, and those never started, are
     * freed with the channel.
     */
    if (gc->pool) {
        g_thread_pool_free(gc->pool, TRUE, TRUE);
    }
    drop_source(&gc->in_src);
    drop_source(&gc->out_src);
    drop_source(&gc->timer_src);
    drop_source(&gc->kick_src);
    drop_source(&gc->done_src);
    if (gc->fd >= 0 && gc->owned) {
        close(gc->fd);
    }
    va_channel_free(gc->ch);
    g_hash_table_unref(gc->slow);
    g_main_context_unref(gc->ctx);
    g_free(gc);
}

VAChannel *va_glib_channel_get(VAGlibChannel *gc)
{
    return gc->ch;
}

void va_glib_channel_set_fd(VAGlibChannel *gc, int fd, bool owned)
{
    GError *err = NULL;

    detach(gc, fd < 0 ? "detached" : "new connection");
    if (fd < 0) {
        return;
    }
    if (!g_unix_set_fd_nonblocking(fd, TRUE, &err)) {
        g_warning("cannot make fd %d non-blocking: %s", fd, err->message);
        g_error_free(err);
    }
    gc->fd = fd;
    gc->owned = owned;
    gc->in_src = g_unix_fd_source_new(fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
    /*
     * GLib blocks a non-recursive source while dispatching it, and adding
     * its fd back wakes the context through its eventfd: two extra
     * syscalls per message. Our callbacks never iterate the context.
     */
    g_source_set_can_recurse(gc->in_src, TRUE);
    g_source_set_callback(gc->in_src, G_SOURCE_FUNC(in_cb), gc, NULL);
    g_source_attach(gc->in_src, gc->ctx);
    sync_sources(gc);
}

bool va_glib_channel_connected(VAGlibChannel *gc)
{
    return gc->fd >= 0;
}

void va_glib_channel_set_executor(VAGlibChannel *gc, VAGlibExecute *fn,
                                  void *opaque)
{
    gc->executor = fn;
    gc->executor_opaque = opaque;
}

void va_glib_channel_set_slow_methods(VAGlibChannel *gc,
                                      const char *const *methods)
{
    g_hash_table_remove_all(gc->slow);
    for (; methods && *methods; methods++) {
        g_hash_table_add(gc->slow, g_strdup(*methods));
    }
}
