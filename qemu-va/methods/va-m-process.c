/*
 * qemu-va - processes: va.exec and va.exec_status, and the host told
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As qemu-ga's guest-exec and guest-exec-status, plus what qemu-ga cannot
 * do: when a process has finished, the host is called (va.exec_done), so
 * it need not poll. Everything runs in the main loop: spawning is quick,
 * and the pipes and the child are watched by GLib sources.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib-unix.h>

#include "va-errors.h"
#include "qemu-va/methods/va-methods.h"

/* Processes running at once; finished ones kept for va.exec_status. */
#define VA_EXEC_RUNNING_MAX 32
#define VA_EXEC_FINISHED_MAX 32
/* Output kept per stream: two of them in base64 fit a 2 MiB body. */
#define VA_EXEC_OUTPUT_MAX (512 * 1024)
#define VA_EXEC_INPUT_MAX (1024 * 1024)
/*
 * va.exec_done carries the output when it is this small (the host takes
 * guest calls of at most 64 KiB); else the host asks va.exec_status.
 */
#define VA_EXEC_DONE_DATA_MAX (16 * 1024)
/* After the process exits, how long a descendant may hold its pipes. */
#define VA_EXEC_DRAIN_MS 1000
#define VA_EXEC_ARGS_MAX 4096

typedef enum VACapture {
    VA_CAPTURE_NONE,
    VA_CAPTURE_STDOUT,
    VA_CAPTURE_STDERR,
    VA_CAPTURE_SEPARATED,
    VA_CAPTURE_MERGED,
} VACapture;

static const char *const va_capture_names[] = {
    "none", "stdout", "stderr", "separated", "merged", NULL,
};

typedef struct VAExec VAExec;

typedef struct VAExecPipe {
    VAExec *proc;
    int fd;
    guint watch;
    GByteArray *data;
    bool truncated;
} VAExecPipe;

struct VAExec {
    VAExecTable *table;
    GPid pid;
    guint child_watch;
    guint timeout;
    guint drain;
    bool exited;
    bool finished;
    bool timed_out;
    int status;
    size_t limit;
    VAExecPipe out, err;
    /* stdin: the input data, written as the child reads it. */
    int in_fd;
    guint in_watch;
    GBytes *input;
    size_t input_done;
};

struct VAExecTable {
    VAGuestRpc *rpc;
    GHashTable *procs;      /* pid -> VAExec */
    GQueue finished;        /* oldest first */
    unsigned running;
};

static void va_exec_pipe_close(VAExecPipe *p)
{
    if (p->watch) {
        g_source_remove(p->watch);
        p->watch = 0;
    }
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
}

static void va_exec_input_close(VAExec *proc)
{
    if (proc->in_watch) {
        g_source_remove(proc->in_watch);
        proc->in_watch = 0;
    }
    if (proc->in_fd >= 0) {
        close(proc->in_fd);
        proc->in_fd = -1;
    }
    g_clear_pointer(&proc->input, g_bytes_unref);
}

static void va_exec_free(gpointer p)
{
    VAExec *proc = p;

    va_exec_pipe_close(&proc->out);
    va_exec_pipe_close(&proc->err);
    va_exec_input_close(proc);
    if (proc->child_watch) {
        g_source_remove(proc->child_watch);
    }
    if (proc->timeout) {
        g_source_remove(proc->timeout);
    }
    if (proc->drain) {
        g_source_remove(proc->drain);
    }
    if (proc->out.data) {
        g_byte_array_unref(proc->out.data);
    }
    if (proc->err.data) {
        g_byte_array_unref(proc->err.data);
    }
    g_free(proc);
}

static void va_exec_add_data(xmlrpc_env *env, xmlrpc_value *st,
                             const char *key, const char *trunc_key,
                             VAExecPipe *p)
{
    if (!p->data) {
        return;
    }
    va_struct_set_take(env, st, key,
                       xmlrpc_base64_new(env, p->data->len, p->data->data));
    if (p->truncated) {
        va_struct_set_bool(env, st, trunc_key, true);
    }
}

/*
 * The status as guest-exec-status gives it: {exited, exitcode | signal,
 * out-data, err-data, out-truncated, err-truncated} and timed-out. The
 * output is left out when @with_data is false.
 */
static xmlrpc_value *va_exec_status_value(xmlrpc_env *env, VAExec *proc,
                                          bool with_data)
{
    xmlrpc_value *st = xmlrpc_struct_new(env);

    va_struct_set_bool(env, st, "exited", proc->finished);
    if (!proc->finished) {
        return va_result(env, st);
    }
    if (WIFEXITED(proc->status)) {
        va_struct_set_int(env, st, "exitcode", WEXITSTATUS(proc->status));
    } else if (WIFSIGNALED(proc->status)) {
        va_struct_set_int(env, st, "signal", WTERMSIG(proc->status));
    }
    if (proc->timed_out) {
        va_struct_set_bool(env, st, "timed-out", true);
    }
    if (with_data) {
        va_exec_add_data(env, st, "out-data", "out-truncated", &proc->out);
        va_exec_add_data(env, st, "err-data", "err-truncated", &proc->err);
    }
    return va_result(env, st);
}

static void va_exec_forget(VAExecTable *t, VAExec *proc)
{
    g_queue_remove(&t->finished, proc);
    g_hash_table_remove(t->procs, GINT_TO_POINTER(proc->pid));
}

/* Exited and its pipes drained (or given up on): tell the host. */
static void va_exec_finish(VAExec *proc)
{
    VAExecTable *t = proc->table;
    VAGuestRpc *rpc = t->rpc;
    size_t size = 0;
    xmlrpc_value *status, *params;
    xmlrpc_env env;

    if (proc->finished || !proc->exited || proc->out.fd >= 0 ||
        proc->err.fd >= 0) {
        return;
    }
    va_exec_pipe_close(&proc->out);
    va_exec_pipe_close(&proc->err);
    va_exec_input_close(proc);
    if (proc->drain) {
        g_source_remove(proc->drain);
        proc->drain = 0;
    }
    proc->finished = true;
    t->running--;
    g_queue_push_tail(&t->finished, proc);
    g_debug("process %d finished, status 0x%x", proc->pid, proc->status);
    while (t->finished.length > VA_EXEC_FINISHED_MAX) {
        va_exec_forget(t, g_queue_peek_head(&t->finished));
    }
    if (!rpc->ops.call_host) {
        return;
    }
    size = (proc->out.data ? proc->out.data->len : 0) +
           (proc->err.data ? proc->err.data->len : 0);
    xmlrpc_env_init(&env);
    status = va_exec_status_value(&env, proc,
                                  size <= VA_EXEC_DONE_DATA_MAX);
    if (status && size > VA_EXEC_DONE_DATA_MAX) {
        va_struct_set_bool(&env, status, "data-omitted", true);
    }
    if (status && !env.fault_occurred) {
        params = xmlrpc_build_value(&env, "(iS)", (int)proc->pid, status);
        if (!env.fault_occurred) {
            rpc->ops.call_host("va.exec_done", params, rpc->opaque);
            xmlrpc_DECREF(params);
        }
    }
    if (status) {
        xmlrpc_DECREF(status);
    }
    xmlrpc_env_clean(&env);
}

static gboolean va_exec_drain_timeout(gpointer opaque)
{
    VAExec *proc = opaque;

    g_debug("process %d exited; its pipes are still open, closing them",
            proc->pid);
    proc->drain = 0;
    va_exec_pipe_close(&proc->out);
    va_exec_pipe_close(&proc->err);
    va_exec_finish(proc);
    return G_SOURCE_REMOVE;
}

static void va_exec_child_exited(GPid pid, gint status, gpointer opaque)
{
    VAExec *proc = opaque;

    proc->child_watch = 0;
    proc->exited = true;
    proc->status = status;
    g_spawn_close_pid(pid);
    if (proc->timeout) {
        g_source_remove(proc->timeout);
        proc->timeout = 0;
    }
    if (proc->out.fd >= 0 || proc->err.fd >= 0) {
        /* A descendant may hold them open for ever: not wait for it. */
        proc->drain = g_timeout_add(VA_EXEC_DRAIN_MS, va_exec_drain_timeout,
                                    proc);
        return;
    }
    va_exec_finish(proc);
}

static gboolean va_exec_readable(gint fd, GIOCondition cond, gpointer opaque)
{
    VAExecPipe *p = opaque;
    VAExec *proc = p->proc;
    uint8_t buf[65536];
    ssize_t n;

    for (;;) {
        n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return G_SOURCE_CONTINUE;
        }
        if (n <= 0) {
            break;
        }
        /* Beyond the limit, read and drop: the child must not block. */
        if (p->data->len < proc->limit) {
            size_t keep = MIN((size_t)n, proc->limit - p->data->len);

            g_byte_array_append(p->data, buf, keep);
            p->truncated |= keep < (size_t)n;
        } else {
            p->truncated = true;
        }
    }
    p->watch = 0;
    close(p->fd);
    p->fd = -1;
    va_exec_finish(proc);
    return G_SOURCE_REMOVE;
}

static gboolean va_exec_writable(gint fd, GIOCondition cond, gpointer opaque)
{
    VAExec *proc = opaque;
    size_t len;
    const uint8_t *data = g_bytes_get_data(proc->input, &len);

    while (proc->input_done < len) {
        ssize_t n = write(fd, data + proc->input_done,
                          len - proc->input_done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return G_SOURCE_CONTINUE;
        }
        if (n < 0) {
            /* EPIPE: the child does not read it all; that is its right. */
            break;
        }
        proc->input_done += n;
    }
    proc->in_watch = 0;
    va_exec_input_close(proc);
    return G_SOURCE_REMOVE;
}

static gboolean va_exec_timed_out(gpointer opaque)
{
    VAExec *proc = opaque;

    g_message("process %d timed out; killing its process group", proc->pid);
    proc->timeout = 0;
    proc->timed_out = true;
    kill(-proc->pid, SIGKILL);
    return G_SOURCE_REMOVE;
}

/* In the child: a group of its own (for the timeout), default signals. */
static void va_exec_child_setup(gpointer data)
{
    sigset_t none;

    setpgid(0, 0);
    signal(SIGPIPE, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

typedef struct VAExecArgs {
    GStrv argv;
    GStrv envp;
    GBytes *input;
    VACapture capture;
    int64_t timeout_ms;
    int64_t limit;
} VAExecArgs;

static void va_exec_args_clear(VAExecArgs *a)
{
    g_strfreev(a->argv);
    g_strfreev(a->envp);
    if (a->input) {
        g_bytes_unref(a->input);
    }
}

/* Reads the options struct into @a. */
static bool va_exec_options(xmlrpc_env *env, xmlrpc_value *opts,
                            VAExecArgs *a)
{
    static const char *const known[] = {
        "env", "input-data", "capture-output", "timeout-ms",
        "output-limit", NULL,
    };
    xmlrpc_value *cap = NULL;
    g_autofree char *mode = NULL;
    int i;

    if (!va_opts_check(env, opts, known) ||
        !va_opt_strv(env, opts, "env", VA_EXEC_ARGS_MAX, &a->envp) ||
        !va_opt_base64(env, opts, "input-data", VA_EXEC_INPUT_MAX,
                       &a->input) ||
        !va_opt_int(env, opts, "timeout-ms", &a->timeout_ms) ||
        !va_opt_int(env, opts, "output-limit", &a->limit)) {
        return false;
    }
    if (a->timeout_ms < 0 || a->timeout_ms > G_MAXINT ||
        a->limit < 0 || a->limit > VA_EXEC_OUTPUT_MAX) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "timeout-ms must be 0 (none) to "
                                       "2^31-1, output-limit 0 to %d",
                                       VA_EXEC_OUTPUT_MAX);
        return false;
    }
    /* capture-output: a boolean (qemu-ga's first form) or a mode. */
    xmlrpc_struct_find_value(env, opts, "capture-output", &cap);
    if (!cap) {
        return !env->fault_occurred;
    }
    if (xmlrpc_value_type(cap) == XMLRPC_TYPE_BOOL) {
        bool b = false;

        va_opt_bool(env, opts, "capture-output", &b);
        a->capture = b ? VA_CAPTURE_SEPARATED : VA_CAPTURE_NONE;
        xmlrpc_DECREF(cap);
        return !env->fault_occurred;
    }
    xmlrpc_DECREF(cap);
    if (!va_opt_string(env, opts, "capture-output", &mode)) {
        return false;
    }
    for (i = 0; va_capture_names[i]; i++) {
        if (strcmp(mode, va_capture_names[i]) == 0) {
            a->capture = i;
            return true;
        }
    }
    xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                   "capture-output must be a boolean or "
                                   "none, stdout, stderr, separated or "
                                   "merged");
    return false;
}

/* A non-blocking pipe end for us, a blocking one for the child. */
static bool va_exec_pipe(int fds[2], bool we_write, GError **errp)
{
    if (!g_unix_open_pipe(fds, FD_CLOEXEC, errp)) {
        return false;
    }
    return g_unix_set_fd_nonblocking(fds[we_write ? 1 : 0], true, errp);
}

static void va_exec_watch_pipe(VAExec *proc, VAExecPipe *p, int fd)
{
    p->proc = proc;
    p->fd = fd;
    p->data = g_byte_array_new();
    p->watch = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                             va_exec_readable, p);
}

static xmlrpc_value *va_exec_spawn(xmlrpc_env *env, VAExecTable *t,
                                   VAExecArgs *a)
{
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
    bool want_out = a->capture == VA_CAPTURE_STDOUT ||
                    a->capture == VA_CAPTURE_SEPARATED ||
                    a->capture == VA_CAPTURE_MERGED;
    bool want_err = a->capture == VA_CAPTURE_STDERR ||
                    a->capture == VA_CAPTURE_SEPARATED;
    GSpawnFlags flags = G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD;
    g_autoptr(GError) gerr = NULL;
    VAExec *proc;
    GPid pid;
    bool ok;

    if ((a->input && !va_exec_pipe(in, true, &gerr)) ||
        (want_out && !va_exec_pipe(out, false, &gerr)) ||
        (want_err && !va_exec_pipe(err, false, &gerr))) {
        goto fail;
    }
    if (!a->input) {
        flags |= G_SPAWN_STDIN_FROM_DEV_NULL;
    }
    if (!want_out) {
        flags |= G_SPAWN_STDOUT_TO_DEV_NULL;
    }
    if (!want_err && a->capture != VA_CAPTURE_MERGED) {
        flags |= G_SPAWN_STDERR_TO_DEV_NULL;
    }
    ok = g_spawn_async_with_pipes_and_fds(NULL,
                                          (const char *const *)a->argv,
                                          (const char *const *)a->envp,
                                          flags, va_exec_child_setup, NULL,
                                          in[0], out[1],
                                          a->capture == VA_CAPTURE_MERGED ?
                                          out[1] : err[1],
                                          NULL, NULL, 0, &pid, NULL, NULL,
                                          NULL, &gerr);
    /* The child's ends are the child's now. */
    if (in[0] >= 0) {
        close(in[0]);
    }
    if (out[1] >= 0) {
        close(out[1]);
    }
    if (err[1] >= 0) {
        close(err[1]);
    }
    in[0] = out[1] = err[1] = -1;
    if (!ok) {
        goto fail;
    }
    proc = g_new0(VAExec, 1);
    proc->table = t;
    proc->pid = pid;
    proc->in_fd = proc->out.fd = proc->err.fd = -1;
    proc->limit = a->limit ? a->limit : VA_EXEC_OUTPUT_MAX;
    if (want_out) {
        va_exec_watch_pipe(proc, &proc->out, out[0]);
    }
    if (want_err) {
        va_exec_watch_pipe(proc, &proc->err, err[0]);
    }
    if (a->input) {
        proc->in_fd = in[1];
        proc->input = g_bytes_ref(a->input);
        proc->in_watch = g_unix_fd_add(in[1], G_IO_OUT | G_IO_ERR,
                                       va_exec_writable, proc);
    }
    proc->child_watch = g_child_watch_add(pid, va_exec_child_exited, proc);
    if (a->timeout_ms) {
        proc->timeout = g_timeout_add(a->timeout_ms, va_exec_timed_out,
                                      proc);
    }
    g_hash_table_insert(t->procs, GINT_TO_POINTER(pid), proc);
    t->running++;
    g_message("va.exec: process %d: %s", pid, a->argv[0]);
    return xmlrpc_build_value(env, "{s:i}", "pid", (int)pid);

fail:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0) {
            close(in[i]);
        }
        if (out[i] >= 0) {
            close(out[i]);
        }
        if (err[i] >= 0) {
            close(err[i]);
        }
    }
    xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED, "%s",
                                   gerr->message);
    return NULL;
}

static xmlrpc_value *va_rpc_exec(xmlrpc_env *env, xmlrpc_value *params,
                                 void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    VAExecTable *t = rpc->exec;
    VAExecArgs a = { 0 };
    xmlrpc_value *opts = NULL, *ret = NULL;
    int n = va_check_args(env, "va.exec", params, 1, 2);

    if (n < 0) {
        return NULL;
    }
    a.argv = va_param_strv(env, params, 0, "argv", VA_EXEC_ARGS_MAX);
    if (!a.argv) {
        goto out;
    }
    if (!a.argv[0] || !a.argv[0][0]) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "argv must name a program");
        goto out;
    }
    if (n == 2) {
        opts = va_param_struct(env, params, 1, "options");
        if (!opts || !va_exec_options(env, opts, &a)) {
            goto out;
        }
    }
    if (t->running >= VA_EXEC_RUNNING_MAX) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_BUSY,
                                       "%d processes are running already",
                                       VA_EXEC_RUNNING_MAX);
        goto out;
    }
    ret = va_exec_spawn(env, t, &a);
out:
    if (opts) {
        xmlrpc_DECREF(opts);
    }
    va_exec_args_clear(&a);
    return ret;
}

static xmlrpc_value *va_rpc_exec_status(xmlrpc_env *env,
                                        xmlrpc_value *params,
                                        void *server_info, void *call_info)
{
    VAGuestRpc *rpc = server_info;
    VAExecTable *t = rpc->exec;
    xmlrpc_value *ret;
    VAExec *proc;
    int64_t pid;

    if (!va_check_count(env, "va.exec_status", params, 1) ||
        !va_param_int(env, params, 0, "pid", &pid)) {
        return NULL;
    }
    proc = pid > 0 && pid <= G_MAXINT ?
           g_hash_table_lookup(t->procs, GINT_TO_POINTER((int)pid)) : NULL;
    if (!proc) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "no process %" G_GINT64_FORMAT
                                       " started by va.exec, or its status "
                                       "was taken already", pid);
        return NULL;
    }
    ret = va_exec_status_value(env, proc, true);
    /* As qemu-ga: a finished process's status is given once. */
    if (ret && proc->finished) {
        va_exec_forget(t, proc);
    }
    return ret;
}

static void va_exec_init(VAGuestRpc *rpc)
{
    VAExecTable *t = g_new0(VAExecTable, 1);

    t->rpc = rpc;
    t->procs = g_hash_table_new_full(NULL, NULL, NULL, va_exec_free);
    g_queue_init(&t->finished);
    rpc->exec = t;
}

/* Processes still running go on, unwatched: init reaps them. */
static void va_exec_cleanup(VAGuestRpc *rpc)
{
    VAExecTable *t = rpc->exec;

    if (!t) {
        return;
    }
    g_queue_clear(&t->finished);
    g_hash_table_unref(t->procs);
    g_free(t);
    rpc->exec = NULL;
}

static const VAMethod methods[] = {
    {
        .info = {
            .methodName = "va.exec",
            .methodFunction = va_rpc_exec,
            .signatureString = "S:A,S:AS",
            .help = "va.exec(argv, [options]): start argv[0] (searched in "
                    "PATH) and return {pid} at once. options: env (array, "
                    "replaces the environment), input-data (base64, for "
                    "stdin), capture-output (bool, or none, stdout, "
                    "stderr, separated, merged), timeout-ms (kill the "
                    "process group after it), output-limit (bytes per "
                    "stream, at most 512 KiB). When it finishes the host "
                    "is called: va.exec_done(pid, status).",
        },
    }, {
        .info = {
            .methodName = "va.exec_status",
            .methodFunction = va_rpc_exec_status,
            .signatureString = "S:i,S:I",
            .help = "va.exec_status(pid): {exited, exitcode or signal, "
                    "out-data, err-data (base64), out-truncated, "
                    "err-truncated, timed-out}; a finished process's "
                    "status is given once.",
        },
    },
    { .info = { .methodName = NULL } },
};

const VAMethodDomain va_m_process = {
    .name = "process",
    .methods = methods,
    .init = va_exec_init,
    .cleanup = va_exec_cleanup,
};
