/*
 * qemu-va - the local socket: guest programs' calls forwarded to the host
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Each connection is a VAGlibChannel like the host's: the adapter does
 * the reading, writing and timers, and its executor hook hands every
 * call to us instead of a registry, to be sent on to the host
 * (va_channel_call_xml) and answered with whatever the host says.
 *
 * Fairness: a connection executes at most VA_FWD_PER_CLIENT calls (its
 * channel's limit), and the jobs waiting for one of the
 * VA_FWD_IN_FLIGHT_MAX host slots are taken round-robin over the
 * connections, so a noisy client waits behind itself only.
 *
 * A connection that breaks is closed from inside its own adapter's
 * callbacks, which still use it when ours returns: its calls on the host
 * are cancelled at once, the VAGlibChannel is freed from an idle source.
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

typedef struct VAClient VAClient;

struct VAForwarder {
    char *path;
    int listen_fd;
    GSource *listen_src;
    VAGlibChannel *host;
    GQueue clients;         /* VAClient; the head is served first */
    GQueue closed;          /* VAClient to free once out of its callbacks */
    GSource *reap_src;      /* frees the closed ones */
    unsigned in_flight;     /* calls pending on the host channel */
    unsigned next_num;
};

struct VAClient {
    VAForwarder *fwd;
    GList link;             /* in fwd->clients, then in fwd->closed */
    VAGlibChannel *gc;
    unsigned num;           /* names the connection in the log */
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
 * channel (the answers would have no one to go to), nobody else's, and
 * the host slots they held go to the others.
 */
static void client_drop(VAClient *c, const char *reason)
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
    fwd_pump(fwd);
}

static void client_free(VAClient *c)
{
    va_glib_channel_free(c->gc);
    g_free(c);
}

static void reap_closed(VAForwarder *fwd)
{
    GList *l;

    drop_source(&fwd->reap_src);
    while ((l = g_queue_pop_head_link(&fwd->closed))) {
        client_free(l->data);
    }
}

static gboolean reap_cb(gpointer opaque)
{
    reap_closed(opaque);
    return G_SOURCE_REMOVE;
}

/* EOF or an error: the adapter has closed the fd and reset the channel. */
static void client_closed(VAGlibChannel *gc, const char *reason,
                          void *opaque)
{
    VAClient *c = opaque;
    VAForwarder *fwd = c->fwd;

    client_drop(c, reason);
    g_queue_push_tail_link(&fwd->closed, &c->link);
    /* High priority: clients that come and go must not pile up here. */
    if (!fwd->reap_src) {
        fwd->reap_src = g_idle_source_new();
        g_source_set_priority(fwd->reap_src, G_PRIORITY_HIGH);
        g_source_set_callback(fwd->reap_src, reap_cb, fwd, NULL);
        g_source_attach(fwd->reap_src, NULL);
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
        va_channel_job_executed(va_glib_channel_get(c->gc), call->job);
    }
    fwd_pump(call->fwd);
    g_free(call);
}

static void fwd_forward(VAClient *c, VAServerJob *job)
{
    VAForwarder *fwd = c->fwd;
    VAChannel *ch = va_glib_channel_get(c->gc);
    g_autoptr(GError) err = NULL;
    VAFwdCall *call;
    const char *body;
    size_t len;

    /* Waiting for a host that may never come back helps nobody. */
    if (!va_glib_channel_connected(fwd->host)) {
        va_server_job_set_fault(job, VA_FAULT_FAILED,
                                "host not connected");
        va_channel_job_executed(ch, job);
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
        va_channel_job_executed(ch, job);
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

/* The adapter's executor: the call waits for its turn on the host. */
static void client_execute(VAGlibChannel *gc, VAServerJob *job,
                           void *opaque)
{
    VAClient *c = opaque;

    g_queue_push_tail(&c->waiting, job);
    fwd_pump(c->fwd);
}

static void client_new(VAForwarder *fwd, int fd)
{
    g_autoptr(GError) err = NULL;
    VAChannelConfig cfg;
    VAClient *c = g_new0(VAClient, 1);

    va_channel_config_init(&cfg);
    cfg.max_executing = VA_FWD_PER_CLIENT;
    cfg.max_server_jobs = 4 * VA_FWD_PER_CLIENT;
    /* We never call a local client. */
    cfg.window = 1;
    cfg.max_queued_calls = 1;
    c->gc = va_glib_channel_new(NULL, &cfg, client_closed, c, &err);
    if (!c->gc) {
        g_warning("local client: %s", err->message);
        close(fd);
        g_free(c);
        return;
    }
    c->fwd = fwd;
    c->num = ++fwd->next_num;
    c->link.data = c;
    g_queue_push_tail_link(&fwd->clients, &c->link);
    va_glib_channel_set_executor(c->gc, client_execute, c);
    va_glib_channel_set_fd(c->gc, fd, true);
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
        VAClient *c = fwd->clients.head->data;

        client_drop(c, "agent stopping");
        client_free(c);
    }
    reap_closed(fwd);
    drop_source(&fwd->listen_src);
    close(fwd->listen_fd);
    unlink(fwd->path);
    g_free(fwd->path);
    g_free(fwd);
}
