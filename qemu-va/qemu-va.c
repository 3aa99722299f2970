/*
 * qemu-va - the virtagent guest daemon
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Serves the host's calls on one channel (virtio-serial, isa-serial or a
 * unix socket), says hello on every connection, and forwards the calls of
 * local programs (va-call) to the host.
 */
#define _GNU_SOURCE     /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <termios.h>
#include <unistd.h>
#include <glib-unix.h>

#include "va-glib.h"
#include "forwarder.h"
#include "guest-config.h"
#include "guest-rpc.h"
#include "pidfile.h"
#include "qemu-va/methods/va-methods.h"

/* Reconnect delays: short at first, then at most one attempt a second. */
#define VA_RETRY_MIN_MS 100
#define VA_RETRY_MAX_MS 1000
/* A hello unanswered this long is sent again (a serial line has no EOF). */
#define VA_HELLO_TIMEOUT_MS 5000
/* va.shutdown: the longest wait for the reply to leave before acting. */
#define VA_SHUTDOWN_FLUSH_MS 5000

typedef struct VALog {
    FILE *file;             /* a log file, or NULL */
    gint paused;            /* filesystems frozen: writing could block */
    bool use_syslog;
    bool to_stderr;         /* until the daemon has detached */
    bool verbose;
} VALog;

/* Jobs the pool has answered, for the main loop to hand back. */
typedef struct VADoneSource {
    GSource source;
    GAsyncQueue *queue;
} VADoneSource;

typedef struct VAAgent {
    VAConfig cfg;
    VAChannelConfig chan_cfg;
    VAMethodPolicy *policy;
    VAGuestRpc rpc;
    VAGlibChannel *host;
    GThreadPool *pool;      /* the host's calls that may block */
    GSource *done_src;      /* a VADoneSource */
    VAForwarder *fwd;
    GMainLoop *loop;
    int listen_fd;          /* unix-listen */
    GSource *listen_src;
    GSource *retry_src;
    unsigned backoff_ms;
    bool greeted;           /* the host answered our hello */
    int shutdown_mode;      /* pending va.shutdown, or -1 */
    unsigned shutdown_seq;  /* numbers the va.shutdown requests */
    GSource *shutdown_src;  /* fallback timer while the reply waits */
} VAAgent;

/*
 * A va.shutdown's after-answers callback runs once in every case, maybe
 * after the fallback timer has acted and another request has come: the
 * number tells whether it is still the pending one.
 */
typedef struct VAShutdownWait {
    VAAgent *agent;
    unsigned seq;
} VAShutdownWait;

static VALog va_log = { .to_stderr = true };

static void va_log_handler(const char *domain, GLogLevelFlags level,
                           const char *msg, gpointer opaque)
{
    static const struct {
        GLogLevelFlags level;
        int prio;
        const char *name;
    } levels[] = {
        { G_LOG_LEVEL_ERROR, LOG_ERR, "error" },
        { G_LOG_LEVEL_CRITICAL, LOG_CRIT, "critical" },
        { G_LOG_LEVEL_WARNING, LOG_WARNING, "warning" },
        { G_LOG_LEVEL_MESSAGE, LOG_NOTICE, "message" },
        { G_LOG_LEVEL_INFO, LOG_INFO, "info" },
        { G_LOG_LEVEL_DEBUG, LOG_DEBUG, "debug" },
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(levels) - 1; i++) {
        if (level & levels[i].level) {
            break;
        }
    }
    if (levels[i].level == G_LOG_LEVEL_DEBUG && !va_log.verbose) {
        return;
    }
    /* As qemu-ga: no logging while frozen, it would hang the daemon. */
    if (g_atomic_int_get(&va_log.paused)) {
        return;
    }
    if (va_log.use_syslog) {
        syslog(levels[i].prio, "%s", msg);
    }
    if (va_log.file) {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        g_autofree char *stamp = g_date_time_format(now, "%F %T");

        fprintf(va_log.file, "%s %s: %s\n", stamp, levels[i].name, msg);
        fflush(va_log.file);
    }
    if (va_log.to_stderr) {
        fprintf(stderr, "qemu-va: %s: %s\n", levels[i].name, msg);
    }
}

static void agent_connect(VAAgent *a);

static gboolean retry_cb(gpointer opaque)
{
    VAAgent *a = opaque;

    g_clear_pointer(&a->retry_src, g_source_unref);
    agent_connect(a);
    return G_SOURCE_REMOVE;
}

/* Tries again later, each time a little later, up to VA_RETRY_MAX_MS. */
static void agent_retry(VAAgent *a)
{
    if (a->retry_src) {
        return;
    }
    a->retry_src = g_timeout_source_new(a->backoff_ms);
    g_source_set_callback(a->retry_src, retry_cb, a, NULL);
    g_source_attach(a->retry_src, NULL);
    a->backoff_ms = MIN(a->backoff_ms * 2, VA_RETRY_MAX_MS);
}

static void agent_hello(VAAgent *a);

static void hello_done(VAChannel *ch, VACallId id, xmlrpc_value *result,
                       const GError *err, void *opaque)
{
    VAAgent *a = opaque;
    xmlrpc_value *session = NULL;
    xmlrpc_env env;

    if (err && g_error_matches(err, VA_ERROR, VA_ERROR_TIMEOUT) &&
        va_glib_channel_connected(a->host)) {
        g_debug("no answer to hello yet; saying it again");
        agent_hello(a);
        return;
    }
    if (err && err->domain != VA_FAULT) {
        return;
    }
    /* Even a fault says the host is there. */
    a->greeted = true;
    a->backoff_ms = VA_RETRY_MIN_MS;
    if (err) {
        g_warning("the host refused our hello: %s", err->message);
        return;
    }
    xmlrpc_env_init(&env);
    if (xmlrpc_value_type(result) == XMLRPC_TYPE_STRUCT) {
        xmlrpc_struct_find_value(&env, result, "session", &session);
    }
    if (session && xmlrpc_value_type(session) == XMLRPC_TYPE_STRING) {
        const char *s;

        xmlrpc_read_string(&env, session, &s);
        if (!env.fault_occurred) {
            va_channel_peer_session(ch, s);
            free((void *)s);
        }
    }
    if (session) {
        xmlrpc_DECREF(session);
    }
    xmlrpc_env_clean(&env);
    g_message("host connected; session %s", va_channel_session(ch));
}

/*
 * va.hello {version, session, methods, features, limits}: who we are,
 * what we do.
 */
static void agent_hello(VAAgent *a)
{
    VAChannel *ch = va_glib_channel_get(a->host);
    g_autoptr(GError) err = NULL;
    xmlrpc_value *methods, *features, *params;
    xmlrpc_env env;

    /* Queued while detached, it would go out with the next one's. */
    if (!va_glib_channel_connected(a->host)) {
        return;
    }
    xmlrpc_env_init(&env);
    methods = va_guest_method_list(&a->rpc, &env);
    features = va_guest_features(&env);
    params = xmlrpc_build_value(&env, "({s:s,s:s,s:A,s:A,s:{s:i,s:i,s:i,"
                                "s:i,s:i}})",
                                "version", QEMU_VA_VERSION,
                                "session", va_channel_session(ch),
                                "methods", methods,
                                "features", features,
                                "limits",
                                "max_body", (int)a->chan_cfg.max_body,
                                "window", (int)a->chan_cfg.window,
                                "max_executing",
                                (int)a->chan_cfg.max_executing,
                                "max_server_jobs",
                                (int)a->chan_cfg.max_server_jobs,
                                "getfile_chunk", VA_GETFILE_CHUNK_MAX);
    xmlrpc_DECREF(methods);
    xmlrpc_DECREF(features);
    g_assert(!env.fault_occurred);
    if (!va_channel_call(ch, "va.hello", params, VA_HELLO_TIMEOUT_MS,
                         hello_done, a, &err)) {
        g_warning("cannot say hello: %s", err->message);
    }
    xmlrpc_DECREF(params);
    xmlrpc_env_clean(&env);
}

static void agent_attach(VAAgent *a, int fd)
{
    g_debug("channel open");
    va_glib_channel_set_fd(a->host, fd, true);
    agent_hello(a);
}

static gboolean accept_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    VAAgent *a = opaque;
    int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (conn < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            g_warning("accept: %s", g_strerror(errno));
        }
        return G_SOURCE_CONTINUE;
    }
    /* One host at a time: the next waits in the backlog. */
    g_clear_pointer(&a->listen_src, g_source_unref);
    agent_attach(a, conn);
    return G_SOURCE_REMOVE;
}

static void agent_listen(VAAgent *a)
{
    a->listen_src = g_unix_fd_source_new(a->listen_fd, G_IO_IN);
    g_source_set_callback(a->listen_src, G_SOURCE_FUNC(accept_cb), a, NULL);
    g_source_attach(a->listen_src, NULL);
}

static int unix_socket(const char *path, struct sockaddr_un *addr)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr->sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(addr->sun_path, path);
    return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

/* A serial line carries bytes as they are: no echo, no line editing. */
static bool serial_raw(int fd)
{
    struct termios tio;

    if (tcgetattr(fd, &tio) < 0) {
        return false;
    }
    cfmakeraw(&tio);
    tio.c_cflag |= CLOCAL | CREAD;
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    cfsetspeed(&tio, B38400);
    return tcsetattr(fd, TCSANOW, &tio) == 0;
}

/* Opens the channel; on failure tries again later. */
static void agent_connect(VAAgent *a)
{
    struct sockaddr_un addr;
    const char *path = a->cfg.path;
    int fd = -1;

    switch (a->cfg.method) {
    case VA_TRANSPORT_UNIX_LISTEN:
        agent_listen(a);
        return;
    case VA_TRANSPORT_UNIX_CONNECT:
        fd = unix_socket(path, &addr);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&addr,
                               sizeof(addr)) < 0) {
            int err = errno;

            close(fd);
            fd = -1;
            errno = err;
        }
        break;
    case VA_TRANSPORT_ISA_SERIAL:
        fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0 && !serial_raw(fd)) {
            g_warning("%s: cannot set raw mode: %s", path,
                      g_strerror(errno));
        }
        break;
    case VA_TRANSPORT_VIRTIO_SERIAL:
    default:
        fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        break;
    }
    if (fd < 0) {
        g_debug("%s: %s; trying again in %u ms", path, g_strerror(errno),
                a->backoff_ms);
        agent_retry(a);
        return;
    }
    agent_attach(a, fd);
}

/*
 * EOF, EIO, EPIPE: the host closed its end (a virtio-serial port reads
 * EOF for as long as it stays closed), so wait a little and reopen.
 */
static void host_closed(VAGlibChannel *gc, const char *reason, void *opaque)
{
    VAAgent *a = opaque;

    if (a->greeted) {
        g_message("host went away: %s", reason);
    } else {
        g_debug("channel closed: %s", reason);
    }
    a->greeted = false;
    va_guest_rpc_session_end(&a->rpc);
    if (a->cfg.method == VA_TRANSPORT_UNIX_LISTEN) {
        agent_listen(a);
    } else {
        agent_retry(a);
    }
}

static void shutdown_child_done(GPid pid, gint status, gpointer opaque)
{
    GError *err = NULL;

    if (!g_spawn_check_wait_status(status, &err)) {
        g_warning("shutdown command failed: %s", err->message);
        g_error_free(err);
    }
    g_spawn_close_pid(pid);
}

static void shutdown_run(VAAgent *a)
{
    const char *cmd = a->cfg.shutdown_cmd[a->shutdown_mode];
    g_auto(GStrv) argv = NULL;
    GError *err = NULL;
    GPid pid;

    g_message("va.shutdown %s: running '%s'",
              va_shutdown_mode_names[a->shutdown_mode], cmd);
    if (!g_shell_parse_argv(cmd, NULL, &argv, &err) ||
        !g_spawn_async(NULL, argv, NULL,
                       G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                       NULL, NULL, &pid, &err)) {
        g_warning("cannot run '%s': %s", cmd, err->message);
        g_error_free(err);
        a->shutdown_mode = -1;
        return;
    }
    g_child_watch_add(pid, shutdown_child_done, NULL);
}

/* Whichever comes first, the reply leaving or the timer, acts. */
static void shutdown_act(VAAgent *a)
{
    g_source_destroy(a->shutdown_src);
    g_source_unref(a->shutdown_src);
    a->shutdown_src = NULL;
    shutdown_run(a);
}

/* A host that does not read must not keep the guest up. */
static gboolean shutdown_timeout(gpointer opaque)
{
    VAAgent *a = opaque;

    g_warning("va.shutdown: reply not written out after %d ms",
              VA_SHUTDOWN_FLUSH_MS);
    shutdown_act(a);
    return G_SOURCE_REMOVE;
}

/*
 * The reply has been written out, or the channel was reset before (the
 * host is gone: nothing left to wait for). At exit the timer is gone
 * first, so freeing the channel does not act.
 */
static void shutdown_written(VAChannel *ch, bool written, void *opaque)
{
    VAShutdownWait *w = opaque;
    VAAgent *a = w->agent;

    if (a->shutdown_src && w->seq == a->shutdown_seq) {
        if (!written) {
            g_debug("va.shutdown: channel reset before the reply left");
        }
        shutdown_act(a);
    }
    g_free(w);
}

static bool agent_shutdown(void *call_info, VAShutdownMode mode,
                           void *opaque)
{
    VAAgent *a = opaque;
    VAShutdownWait *w;

    if (a->shutdown_mode >= 0) {
        return false;
    }
    a->shutdown_mode = mode;
    w = g_new(VAShutdownWait, 1);
    w->agent = a;
    w->seq = ++a->shutdown_seq;
    va_channel_after_answers(va_glib_channel_get(a->host), shutdown_written,
                             w);
    a->shutdown_src = g_timeout_source_new(VA_SHUTDOWN_FLUSH_MS);
    g_source_set_callback(a->shutdown_src, shutdown_timeout, a, NULL);
    g_source_attach(a->shutdown_src, NULL);
    return true;
}

/*
 * A method's action after its reply (a suspend): run in a thread, since
 * it may return only when the guest wakes. Either the reply leaving or,
 * if the host does not read, the timer starts it; a reset cancels it.
 *
 * When it returns, the guest has woken: its kernel closed and reopened
 * the port around the sleep, which QEMU saw as the agent going away,
 * while our descriptor never noticed. So we say hello again, in the
 * same session: the host learns we are back, and its new session in the
 * answer fails our calls that went to the old one.
 */
typedef struct VAAfterReply {
    VAAgent *agent;
    void (*fn)(void *data, bool run);
    void *data;
    GSource *timer;
    bool started;
    int refs;
} VAAfterReply;

typedef struct VAAfterReplyRun {
    VAAgent *agent;
    void (*fn)(void *data, bool run);
    void *data;
} VAAfterReplyRun;

static gboolean after_reply_returned(gpointer p)
{
    VAAgent *a = p;

    g_message("back from a suspend: saying hello again");
    agent_hello(a);
    return G_SOURCE_REMOVE;
}

static void after_reply_unref(gpointer p)
{
    VAAfterReply *r = p;

    if (--r->refs == 0) {
        if (!r->started) {
            r->fn(r->data, false);
        }
        g_free(r);
    }
}

static gpointer after_reply_thread(gpointer p)
{
    VAAfterReplyRun *run = p;

    run->fn(run->data, true);
    g_idle_add(after_reply_returned, run->agent);
    g_free(run);
    return NULL;
}

static void after_reply_start(VAAfterReply *r)
{
    VAAfterReplyRun *run;

    if (r->started) {
        return;
    }
    r->started = true;
    if (r->timer) {
        g_source_destroy(r->timer);
        g_clear_pointer(&r->timer, g_source_unref);
    }
    run = g_new(VAAfterReplyRun, 1);
    run->agent = r->agent;
    run->fn = r->fn;
    run->data = r->data;
    g_thread_unref(g_thread_new("va-after-reply", after_reply_thread, run));
}

static gboolean after_reply_timeout(gpointer p)
{
    VAAfterReply *r = p;

    g_warning("reply not written out after %d ms; acting anyway",
              VA_SHUTDOWN_FLUSH_MS);
    g_clear_pointer(&r->timer, g_source_unref);
    after_reply_start(r);
    return G_SOURCE_REMOVE;
}

static void after_reply_written(VAChannel *ch, bool written, void *opaque)
{
    VAAfterReply *r = opaque;

    if (written) {
        after_reply_start(r);
    } else if (!r->started) {
        g_message("channel reset before the reply left: not acting");
        if (r->timer) {
            g_source_destroy(r->timer);
            g_clear_pointer(&r->timer, g_source_unref);
        }
    }
    after_reply_unref(r);
}

static bool agent_after_reply(void *call_info,
                              void (*fn)(void *data, bool run), void *data,
                              void *opaque)
{
    VAAgent *a = opaque;
    VAAfterReply *r = g_new0(VAAfterReply, 1);

    r->agent = a;
    r->fn = fn;
    r->data = data;
    r->refs = 2;
    va_channel_after_answers(va_glib_channel_get(a->host),
                             after_reply_written, r);
    r->timer = g_timeout_source_new(VA_SHUTDOWN_FLUSH_MS);
    g_source_set_callback(r->timer, after_reply_timeout, r,
                          after_reply_unref);
    g_source_attach(r->timer, NULL);
    return true;
}

static const char *agent_session(void *call_info, void *opaque)
{
    return call_info ? va_channel_session(call_info) : "";
}

static void call_host_done(VAChannel *ch, VACallId id, xmlrpc_value *result,
                           const GError *err, void *opaque)
{
    char *method = opaque;

    /*
     * A host without the method (fault 1006) is fine: the guest keeps
     * what it reported for polling.
     */
    if (err) {
        g_debug("%s: %s", method, err->message);
    }
    g_free(method);
}

/* A method's report to the host; not retried when the host is away. */
static void agent_call_host(const char *method, xmlrpc_value *params,
                            void *opaque)
{
    VAAgent *a = opaque;
    g_autoptr(GError) err = NULL;

    if (!va_glib_channel_connected(a->host)) {
        g_debug("%s: host not connected", method);
        return;
    }
    if (!va_channel_call(va_glib_channel_get(a->host), method, params, -1,
                         call_host_done, g_strdup(method), &err)) {
        g_debug("%s: %s", method, err->message);
    }
}

static void agent_frozen(bool frozen, void *opaque)
{
    if (frozen) {
        g_message("filesystems frozen; logging paused until they thaw");
    }
    g_atomic_int_set(&va_log.paused, frozen);
    if (!frozen) {
        g_message("filesystems thawed; logging again");
    }
}

static bool agent_method_enabled(const char *method, void *opaque)
{
    VAAgent *a = opaque;

    return va_method_policy_allows(a->policy, method);
}

/*
 * qemu-va runs the host's calls itself (the adapter's executor hook):
 * the methods that stream data take their job and keep it until the
 * data is done, the slow ones go to a pool of as many threads as the
 * channel runs calls at once, where a method with its own XML writer
 * answers without xmlrpc-c's serializer, and the rest run at once.
 */
static void pool_run(gpointer data, gpointer opaque)
{
    VAAgent *a = opaque;
    VADoneSource *ds = (VADoneSource *)a->done_src;

    va_guest_rpc_execute(&a->rpc, va_glib_channel_get(a->host), data,
                         a->chan_cfg.max_body);
    g_async_queue_push(ds->queue, data);
    /* Thread-safe, and it wakes the main loop. */
    g_source_set_ready_time(a->done_src, 0);
}

static gboolean done_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    VADoneSource *ds = (VADoneSource *)source;
    VAAgent *a = data;
    VAServerJob *job;

    /* Before the queue: a job pushed from now on makes it ready again. */
    g_source_set_ready_time(source, -1);
    while ((job = g_async_queue_try_pop(ds->queue))) {
        va_channel_job_executed(va_glib_channel_get(a->host), job);
    }
    return G_SOURCE_CONTINUE;
}

static void done_finalize(GSource *source)
{
    g_async_queue_unref(((VADoneSource *)source)->queue);
}

/*
 * Without prepare and check: the main loop looks at the source's ready
 * time, not at the queue's lock, on each iteration.
 */
static GSourceFuncs done_funcs = {
    .dispatch = done_dispatch,
    .finalize = done_finalize,
};

/*
 * The completion source comes with the first slow call: until then it
 * is not one more source for every iteration, that is every call, to
 * walk.
 */
static void agent_done_source(VAAgent *a)
{
    if (a->done_src) {
        return;
    }
    a->done_src = g_source_new(&done_funcs, sizeof(VADoneSource));
    ((VADoneSource *)a->done_src)->queue = g_async_queue_new();
    g_source_set_callback(a->done_src, NULL, a, NULL);
    g_source_attach(a->done_src, NULL);
}

static void agent_execute(VAGlibChannel *gc, VAServerJob *job, void *opaque)
{
    VAAgent *a = opaque;
    VAChannel *ch = va_glib_channel_get(gc);

    switch (va_guest_job_run(job)) {
    case VA_GUEST_RUN_START:
        va_guest_rpc_start(&a->rpc, ch, job, a->chan_cfg.max_body);
        break;
    case VA_GUEST_RUN_POOL:
        agent_done_source(a);
        g_thread_pool_push(a->pool, job, NULL);
        break;
    default:
        va_server_job_execute(job);
        va_channel_job_executed(ch, job);
        break;
    }
}

static void agent_exec_init(VAAgent *a)
{
    a->pool = g_thread_pool_new(pool_run, a, a->chan_cfg.max_executing,
                                FALSE, NULL);
    va_glib_channel_set_executor(a->host, agent_execute, a);
}

static bool agent_init(VAAgent *a, GError **errp)
{
    xmlrpc_env env;
    bool ok;

    a->backoff_ms = VA_RETRY_MIN_MS;
    a->policy = va_method_policy_new(a->cfg.allow_rpcs, a->cfg.block_rpcs);
    a->rpc.ops.session = agent_session;
    a->rpc.ops.shutdown = agent_shutdown;
    a->rpc.ops.method_enabled = agent_method_enabled;
    a->rpc.ops.call_host = agent_call_host;
    a->rpc.ops.frozen = agent_frozen;
    a->rpc.ops.after_reply = agent_after_reply;
    a->rpc.statedir = a->cfg.statedir;
    a->rpc.fsfreeze_hook = a->cfg.fsfreeze_hook;
    a->rpc.fsfreeze_timeout_s = a->cfg.fsfreeze_timeout_s;
    a->rpc.opaque = a;

    va_channel_config_init(&a->chan_cfg);
    a->chan_cfg.policy = a->policy;
    a->host = va_glib_channel_new(NULL, &a->chan_cfg, host_closed, a, errp);
    if (!a->host) {
        return false;
    }
    agent_exec_init(a);
    xmlrpc_env_init(&env);
    va_guest_rpc_register(&a->rpc, va_glib_channel_get(a->host), &env);
    ok = !env.fault_occurred;
    if (!ok) {
        g_set_error(errp, VA_ERROR, VA_ERROR_INVALID, "%s",
                    env.fault_string);
    }
    xmlrpc_env_clean(&env);
    if (!ok) {
        return false;
    }

    if (a->cfg.method == VA_TRANSPORT_UNIX_LISTEN) {
        struct sockaddr_un addr;
        struct stat st;

        if (lstat(a->cfg.path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            unlink(a->cfg.path);
        }
        a->listen_fd = unix_socket(a->cfg.path, &addr);
        if (a->listen_fd < 0 ||
            bind(a->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
            listen(a->listen_fd, 1) < 0) {
            g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                        "cannot listen on %s: %s", a->cfg.path,
                        g_strerror(errno));
            return false;
        }
    }
    if (a->cfg.socket[0]) {
        a->fwd = va_forwarder_new(a->cfg.socket, a->cfg.socket_group,
                                  a->host, errp);
        if (!a->fwd) {
            return false;
        }
    }
    return true;
}

static void agent_cleanup(VAAgent *a)
{
    va_forwarder_free(a->fwd);
    if (a->listen_fd >= 0) {
        close(a->listen_fd);
        unlink(a->cfg.path);
    }
    if (a->listen_src) {
        g_source_destroy(a->listen_src);
        g_source_unref(a->listen_src);
    }
    if (a->retry_src) {
        g_source_destroy(a->retry_src);
        g_source_unref(a->retry_src);
    }
    /* A shutdown not yet run stays so: we are stopping. */
    if (a->shutdown_src) {
        g_source_destroy(a->shutdown_src);
        g_clear_pointer(&a->shutdown_src, g_source_unref);
    }
    /*
     * Methods running finish, those queued are dropped; their jobs go
     * with the channel.
     */
    if (a->pool) {
        g_thread_pool_free(a->pool, TRUE, TRUE);
    }
    if (a->done_src) {
        g_source_destroy(a->done_src);
        g_source_unref(a->done_src);
    }
    va_glib_channel_free(a->host);
    va_guest_rpc_cleanup(&a->rpc);
    va_method_policy_free(a->policy);
}

/* A daemon works in /: relative paths are resolved before it goes there. */
static void make_absolute(char **path)
{
    if (*path && (*path)[0] && !g_path_is_absolute(*path)) {
        char *abs = g_canonicalize_filename(*path, NULL);

        g_free(*path);
        *path = abs;
    }
}

/*
 * SIGTERM, SIGINT and SIGHUP come through one pipe, watched as one fd:
 * GLib's unix signal sources are one per signal, each prepared and
 * checked on every main-loop iteration, that is on every call.
 */
static int quit_pipe[2] = { -1, -1 };

static void quit_signal(int sig)
{
    int saved = errno;
    char c = sig;
    ssize_t n;

    /* A full pipe wakes the loop already: this byte may be lost. */
    n = write(quit_pipe[1], &c, 1);
    (void)n;
    errno = saved;
}

static gboolean quit_cb(gint fd, GIOCondition cond, gpointer opaque)
{
    VAAgent *a = opaque;
    char buf[64];

    while (read(fd, buf, sizeof(buf)) > 0) {
        continue;
    }
    g_message("terminating on signal");
    g_main_loop_quit(a->loop);
    return G_SOURCE_CONTINUE;
}

static void quit_on_signals(VAAgent *a)
{
    static const int signals[] = { SIGTERM, SIGINT, SIGHUP };
    struct sigaction sa = {
        .sa_handler = quit_signal,
        .sa_flags = SA_RESTART,
    };
    size_t i;

    if (pipe2(quit_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        g_error("pipe: %s", g_strerror(errno));
    }
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < G_N_ELEMENTS(signals); i++) {
        sigaction(signals[i], &sa, NULL);
    }
    g_unix_fd_add(quit_pipe[0], G_IO_IN, quit_cb, a);
}

/*
 * Forks twice; the first parent stays until the daemon reports through
 * the returned pipe, so "already running" and other start-up errors
 * still reach the terminal and the exit status.
 */
static int daemonize(void)
{
    int pfd[2];
    pid_t pid;
    char status;

    if (pipe2(pfd, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
        perror("qemu-va: cannot daemonize");
        exit(EXIT_FAILURE);
    }
    if (pid > 0) {
        close(pfd[1]);
        exit(read(pfd[0], &status, 1) == 1 ? status : EXIT_FAILURE);
    }
    close(pfd[0]);
    setsid();
    pid = fork();
    if (pid < 0) {
        _exit(EXIT_FAILURE);
    } else if (pid > 0) {
        _exit(EXIT_SUCCESS);
    }
    if (chdir("/") < 0) {
        _exit(EXIT_FAILURE);
    }
    return pfd[1];
}

static void daemon_ready(int fd, char status)
{
    int null = open("/dev/null", O_RDWR);

    if (write(fd, &status, 1) != 1) {
        g_warning("cannot report to the parent: %s", g_strerror(errno));
    }
    close(fd);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    }
    va_log.to_stderr = false;
}

/* Above the largest getfile answer: chunk, base64 and XML (bytes). */
#define VA_MALLOC_MMAP_THRESHOLD (8 * 1024 * 1024)

int main(int argc, char **argv)
{
    VAAgent agent = { 0 };
    VAAgent *a = &agent;
    g_autoptr(GError) err = NULL;
    int ready_fd = -1, pid_fd = -1;
    int ret = EXIT_FAILURE;

    a->listen_fd = -1;
    a->shutdown_mode = -1;
    /*
     * A getfile chunk and its base64 and XML copies are each over glibc's
     * default 128 KiB mmap threshold: every call would map and unmap
     * them, about 2,300 page faults per MiB read. Keep them on the heap,
     * and keep the heap from being trimmed back after each call.
     */
    mallopt(M_MMAP_THRESHOLD, VA_MALLOC_MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, 4 * VA_MALLOC_MMAP_THRESHOLD);
    g_log_set_default_handler(va_log_handler, NULL);
    if (!va_config_load(&a->cfg, &argc, &argv, &err)) {
        fprintf(stderr, "qemu-va: %s\n(see qemu-va --help)\n",
                err->message);
        return EXIT_FAILURE;
    }
    if (a->cfg.version) {
        printf("qemu-va %s\n", QEMU_VA_VERSION);
        va_config_clear(&a->cfg);
        return EXIT_SUCCESS;
    }
    if (a->cfg.dump_conf) {
        g_autofree char *text = va_config_dump(&a->cfg);

        fputs(text, stdout);
        va_config_clear(&a->cfg);
        return EXIT_SUCCESS;
    }
    make_absolute(&a->cfg.path);
    make_absolute(&a->cfg.pidfile);
    make_absolute(&a->cfg.statedir);
    make_absolute(&a->cfg.socket);
    make_absolute(&a->cfg.logfile);
    make_absolute(&a->cfg.fsfreeze_hook);
    va_log.verbose = a->cfg.verbose;
    g_log_set_debug_enabled(a->cfg.verbose);
    if (a->cfg.logfile) {
        va_log.file = fopen(a->cfg.logfile, "ae");
        if (!va_log.file) {
            fprintf(stderr, "qemu-va: cannot open log file %s: %s\n",
                    a->cfg.logfile, g_strerror(errno));
            va_config_clear(&a->cfg);
            return EXIT_FAILURE;
        }
    }
    /* Writes to a host or client that went away must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    if (a->cfg.daemonize) {
        ready_fd = daemonize();
        if (!va_log.file) {
            openlog("qemu-va", LOG_PID, LOG_DAEMON);
            va_log.use_syslog = true;
        }
    }
    if (a->cfg.pidfile[0]) {
        pid_fd = va_pidfile_acquire(a->cfg.pidfile, &err);
        if (pid_fd < 0) {
            g_critical("%s", err->message);
            goto out;
        }
    }
    /* After the pidfile: no other qemu-va owns what is recorded there. */
    g_mkdir_with_parents(a->cfg.statedir, 0700);
    va_put_reclaim(a->cfg.statedir);
    if (!agent_init(a, &err)) {
        g_critical("%s", err->message);
        goto out;
    }
    a->loop = g_main_loop_new(NULL, FALSE);
    quit_on_signals(a);
    g_message("qemu-va %s started on %s %s", QEMU_VA_VERSION,
              va_transport_names[a->cfg.method], a->cfg.path);
    if (ready_fd >= 0) {
        daemon_ready(ready_fd, EXIT_SUCCESS);
        ready_fd = -1;
    }
    agent_connect(a);
    g_main_loop_run(a->loop);
    g_main_loop_unref(a->loop);
    ret = EXIT_SUCCESS;
out:
    if (ready_fd >= 0) {
        daemon_ready(ready_fd, EXIT_FAILURE);
    }
    agent_cleanup(a);
    va_pidfile_release(pid_fd, a->cfg.pidfile);
    va_config_clear(&a->cfg);
    if (va_log.file) {
        fclose(va_log.file);
    }
    return ret;
}
