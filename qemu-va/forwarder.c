/*
 * qemu-va - the local socket: guest programs' calls forwarded to the host
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A connection's channel runs on a small fd loop of its own rather than
 * on VAGlibChannel, because its server jobs are not executed here: they
 * go to the host through VAChannelOps.execute, which the GLib adapter
 * keeps for itself.
 *
 * Fairness: a connection executes at most VA_FWD_PER_CLIENT calls (its
 * channel's limit), and the jobs waiting for one of the
 * VA_FWD_IN_FLIGHT_MAX host slots are taken round-robin over the
 * connections, so a noisy client waits behind itself only.
 */
#define _GNU_SOURCE     /* accept4 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib-unix.h>

#include "forwarder.h"

#define READ_CHUNK (64 * 1024)

typedef struct VAClient VAClient;

struct VAForwarder {
    char *path;
    int listen_fd;
    GSource *listen_src;
    VAGlibChannel *host;
    GQueue clients;         /* VAClient; the head is served first */
    unsigned in_flight;     /* calls pending on the host channel */
    unsigned next_num;
};

struct VAClient {
    VAForwarder *fwd;
    GList link;             /* in fwd->clients */
    VAChannel *ch;
    int fd;
    unsigned num;           /* names the connection in the log */
    GSource *in_src;
    GSource *out_src;
    GSource *timer_src;
    GSource *kick_src;
    int64_t timer_deadline;
    GQueue waiting;         /* VAServerJob not yet forwarded */
    GQueue calls;           /* VAFwdCall pending on the host */
};

typedef struct VAFwdCall {
    VAForwarder *fwd;
    VAClient *client;       /* NULL once the client has gone */
    VAServerJob *job;
    VACallId id;
} VAFwdCall;

static void fwd_pump(VAForwarder *fwd);

static void drop_source(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

/*
 * The client is gone: its forwarded calls are cancelled on the host
 * channel (the answers would have no one to go to), nobody else's.
 */
static void client_close(VAClient *c, const char *reason)
{
    VAForwarder *fwd = c->fwd;
    VAFwdCall *call;

    g_debug("client %u: closed (%s)", c->num, reason);
    g_queue_unlink(&fwd->clients, &c->link);
    while ((call = g_queue_pop_head(&c->calls))) {
        call->client = NULL;
        va_channel_cancel(va_glib_channel_get(fwd->host), call->id);
    }
    /* Jobs handed out and not returned are freed with the channel. */
    g_queue_clear(&c->waiting);
    drop_source(&c->in_src);
    drop_source(&c->out_src);
    drop_source(&c->timer_src);
    drop_source(&c->kick_src);
    close(c->fd);
    va_channel_free(c->ch);
    g_free(c);
    fwd_pump(fwd);
}

static gboolean client_timer_cb(gpointer opaque);
static gboolean client_out_cb(gint fd, GIOCondition cond, gpointer opaque);

/* Writes what the socket takes and matches the watches; false if closed. */
static bool client_sync(VAClient *c)
{
    const uint8_t *buf;
    size_t len;
    int64_t deadline;

    while ((buf = va_channel_output(c->ch, &len)) && len) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            break;
        }
        if (n < 0) {
            client_close(c, g_strerror(errno));
            return false;
        }
        va_channel_output_done(c->ch, n);
    }
    if (len && !c->out_src) {
        c->out_src = g_unix_fd_source_new(c->fd, G_IO_OUT);
        g_source_set_callback(c->out_src, G_SOURCE_FUNC(client_out_cb), c,
                              NULL);
        g_source_attach(c->out_src, NULL);
    } else if (!len) {
        drop_source(&c->out_src);
    }
    deadline = va_channel_deadline(c->ch);
    if (deadline != c->timer_deadline) {
        drop_source(&c->timer_src);
        c->timer_deadline = deadline;
        if (deadline >= 0) {
            int64_t delay = deadline - g_get_monotonic_time() / 1000;

            c->timer_src = g_timeout_source_new(MAX(delay, 0));
            g_source_set_callback(c->timer_src, client_timer_cb, c, NULL);
            g_source_attach(c->timer_src, NULL);
        }
    }
    return true;
}

static gboolean client_out_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    client_sync(opaque);
    return G_SOURCE_CONTINUE;
}

static gboolean client_timer_cb(gpointer opaque)
{
    VAClient *c = opaque;

    g_clear_pointer(&c->timer_src, g_source_unref);
    c->timer_deadline = -1;
    va_channel_run_timers(c->ch);
    client_sync(c);
    return G_SOURCE_REMOVE;
}

static gboolean client_kick_cb(gpointer opaque)
{
    VAClient *c = opaque;

    g_clear_pointer(&c->kick_src, g_source_unref);
    client_sync(c);
    return G_SOURCE_REMOVE;
}

static gboolean client_in_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    VAClient *c = opaque;
    uint8_t buf[READ_CHUNK];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n > 0) {
        va_channel_input(c->ch, buf, n);
        return G_SOURCE_CONTINUE;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return G_SOURCE_CONTINUE;
    }
    client_close(c, n == 0 ? "end of file" : g_strerror(errno));
    return G_SOURCE_REMOVE;
}

static int64_t client_now_ms(void *opaque)
{
    return g_get_monotonic_time() / 1000;
}

/* Called inside channel functions: only schedule the sync. */
static void client_wakeup(void *opaque)
{
    VAClient *c = opaque;

    if (!c->kick_src) {
        c->kick_src = g_idle_source_new();
        g_source_set_priority(c->kick_src, G_PRIORITY_HIGH);
        g_source_set_callback(c->kick_src, client_kick_cb, c, NULL);
        g_source_attach(c->kick_src, NULL);
    }
}

static int fault_of(const GError *err)
{
    if (err->domain == VA_ERROR && err->code == VA_ERROR_QUEUE_FULL) {
        return VA_FAULT_BUSY;
    }
    if (err->domain == VA_ERROR && err->code == VA_ERROR_TOO_BIG) {
        return VA_FAULT_TOO_LARGE;
    }
    return VA_FAULT_FAILED;
}

static void fwd_done(VAChannel *host, VACallId id, const char *xml,
                     size_t len, const GError *err, void *opaque)
{
    VAFwdCall *call = opaque;
    VAClient *c = call->client;

    call->fwd->in_flight--;
    if (c) {
        g_queue_remove(&c->calls, call);
        if (err) {
            g_autofree char *msg = g_strdup_printf("host: %s",
                                                   err->message);

            va_server_job_set_fault(call->job, fault_of(err), msg);
        } else {
            va_server_job_set_response(call->job, xml, len);
        }
        va_channel_job_executed(c->ch, call->job);
    }
    fwd_pump(call->fwd);
    g_free(call);
}

static void fwd_forward(VAClient *c, VAServerJob *job)
{
    VAForwarder *fwd = c->fwd;
    g_autoptr(GError) err = NULL;
    VAFwdCall *call;
    const char *body;
    size_t len;

    /* Waiting for a host that may never come back helps nobody. */
    if (!va_glib_channel_connected(fwd->host)) {
        va_server_job_set_fault(job, VA_FAULT_FAILED,
                                "host not connected");
        va_channel_job_executed(c->ch, job);
        return;
    }
    g_debug("client %u: forwarding %s", c->num, va_server_job_method(job));
    body = va_server_job_body(job, &len);
    call = g_new0(VAFwdCall, 1);
    call->fwd = fwd;
    call->client = c;
    call->job = job;
    call->id = va_channel_call_xml(va_glib_channel_get(fwd->host), body, len,
                                   -1, fwd_done, call, &err);
    if (!call->id) {
        g_free(call);
        va_server_job_set_fault(job, fault_of(err), err->message);
        va_channel_job_executed(c->ch, job);
        return;
    }
    g_queue_push_tail(&c->calls, call);
    fwd->in_flight++;
}

/* Forwards waiting jobs while there is room, one client at a time. */
static void fwd_pump(VAForwarder *fwd)
{
    while (fwd->in_flight < VA_FWD_IN_FLIGHT_MAX) {
        GList *l;
        VAClient *c = NULL;

        for (l = fwd->clients.head; l; l = l->next) {
            if (((VAClient *)l->data)->waiting.length) {
                c = l->data;
                break;
            }
        }
        if (!c) {
            return;
        }
        /* Served: to the back of the line. */
        g_queue_unlink(&fwd->clients, &c->link);
        g_queue_push_tail_link(&fwd->clients, &c->link);
        fwd_forward(c, g_queue_pop_head(&c->waiting));
    }
}

static void client_execute(VAChannel *ch, VAServerJob *job, void *opaque)
{
    VAClient *c = opaque;

    g_queue_push_tail(&c->waiting, job);
    fwd_pump(c->fwd);
}

static void client_new(VAForwarder *fwd, int fd)
{
    static const VAChannelOps ops = {
        .now_ms = client_now_ms,
        .wakeup = client_wakeup,
        .execute = client_execute,
    };
    g_autoptr(GError) err = NULL;
    VAChannelConfig cfg;
    VAClient *c = g_new0(VAClient, 1);

    va_channel_config_init(&cfg);
    cfg.max_executing = VA_FWD_PER_CLIENT;
    cfg.max_server_jobs = 4 * VA_FWD_PER_CLIENT;
    cfg.window = 1;
    cfg.max_queued_calls = 1;
    c->ch = va_channel_new(&cfg, &ops, c, &err);
    if (!c->ch) {
        g_warning("local client: %s", err->message);
        close(fd);
        g_free(c);
        return;
    }
    c->fwd = fwd;
    c->fd = fd;
    c->num = ++fwd->next_num;
    c->timer_deadline = -1;
    c->link.data = c;
    g_queue_push_tail_link(&fwd->clients, &c->link);
    c->in_src = g_unix_fd_source_new(fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
    g_source_set_callback(c->in_src, G_SOURCE_FUNC(client_in_cb), c, NULL);
    g_source_attach(c->in_src, NULL);
    g_debug("client %u: connected", c->num);
}

static gboolean listen_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    VAForwarder *fwd = opaque;
    int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (conn < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            g_warning("local socket: accept: %s", g_strerror(errno));
        }
        return G_SOURCE_CONTINUE;
    }
    if (fwd->clients.length >= VA_FWD_MAX_CLIENTS) {
        g_warning("local socket: %d clients already, connection refused",
                  VA_FWD_MAX_CLIENTS);
        close(conn);
        return G_SOURCE_CONTINUE;
    }
    client_new(fwd, conn);
    return G_SOURCE_CONTINUE;
}

/*
 * A group name or number. /etc/group is read directly: NSS is not
 * available to the static binary.
 */
static bool lookup_group(const char *group, gid_t *gid, GError **errp)
{
    struct group *gr;
    char *end;
    unsigned long n = strtoul(group, &end, 10);
    FILE *f;

    if (*group && !*end) {
        *gid = n;
        return true;
    }
    f = fopen("/etc/group", "re");
    while (f && (gr = fgetgrent(f))) {
        if (strcmp(gr->gr_name, group) == 0) {
            *gid = gr->gr_gid;
            fclose(f);
            return true;
        }
    }
    if (f) {
        fclose(f);
    }
    g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                "unknown group '%s'", group);
    return false;
}

VAForwarder *va_forwarder_new(const char *path, const char *group,
                              VAGlibChannel *host, GError **errp)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct stat st;
    VAForwarder *fwd;
    gid_t gid = -1;
    mode_t old_mask;
    int fd, ret;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG,
                    "socket path too long: %s", path);
        return NULL;
    }
    if (group && !lookup_group(group, &gid, errp)) {
        return NULL;
    }
    strcpy(addr.sun_path, path);
    /* The pid file is already ours, so a socket left here is stale. */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                        "%s exists and is not a socket", path);
            return NULL;
        }
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "socket: %s", g_strerror(errno));
        return NULL;
    }
    /* Created 0660 from the start: no window with wider permissions. */
    old_mask = umask(0117);
    ret = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    umask(old_mask);
    if (ret < 0 || listen(fd, VA_FWD_MAX_CLIENTS) < 0 ||
        (group && chown(path, -1, gid) < 0)) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot listen on %s: %s", path, g_strerror(errno));
        if (ret == 0) {
            unlink(path);
        }
        close(fd);
        return NULL;
    }
    fwd = g_new0(VAForwarder, 1);
    fwd->path = g_strdup(path);
    fwd->listen_fd = fd;
    fwd->host = host;
    fwd->listen_src = g_unix_fd_source_new(fd, G_IO_IN);
    g_source_set_callback(fwd->listen_src, G_SOURCE_FUNC(listen_cb), fwd,
                          NULL);
    g_source_attach(fwd->listen_src, NULL);
    return fwd;
}

void va_forwarder_free(VAForwarder *fwd)
{
    if (!fwd) {
        return;
    }
    while (fwd->clients.head) {
        client_close(fwd->clients.head->data, "agent stopping");
    }
    drop_source(&fwd->listen_src);
    close(fwd->listen_fd);
    unlink(fwd->path);
    g_free(fwd->path);
    g_free(fwd);
}
