/*
 * qemu-va - the daemon driven over its sockets, as a host and as local
 * programs would
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-va runs in unix-listen mode; the test plays the host with the
 * core's GLib channel on that socket and runs va-call (or channels of its
 * own) on the local socket. $QEMU_VA and $VA_CALL name the binaries;
 * by default they are found next to the test's build directory.
 * $QEMU_VA_WRAPPER (valgrind, say) is put before the daemon.
 */
#define _GNU_SOURCE     /* posix_openpt, ptsname */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <glib-unix.h>

#include "va-glib.h"
#include "va-stream.h"
#include "qemu-va/forwarder.h"
#include "qemu-va/guest-rpc.h"
#include "tests/guest/guest-test.h"

/* How long to wait for anything; longer under a wrapper. */
static int wait_ms = 5000;

static char *qemu_va_bin;
static char *va_call_bin;
static char **daemon_wrapper;

typedef struct Host {
    VAGlibChannel *gc;
    int hellos;
    char *guest_session;    /* from the last hello */
    char *hello_methods;    /* its method list, space-separated */
    char *hello_features;   /* its features, space-separated */
    bool hello_limits;
    bool refuse_hello;      /* answer hello with a fault */
    GString *notes;         /* "name=data;" per va.notify */
    GString *exec_done;     /* "pid:exitcode:out;" per va.exec_done */
    GMutex lock;
    GCond cond;
    bool gate_open;
    int passes;             /* test.block calls let through one by one */
    int blocked;            /* test.block calls waiting at the gate */
} Host;

typedef struct Daemon {
    GPid pid;
    bool running;
    int status;
} Daemon;

typedef struct Fixture {
    char *dir;
    char *host_sock;
    char *local_sock;
    char *log;
    Daemon daemon;
    Host host;
} Fixture;

/* The running test's fixture, for wait_for() conditions. */
static Fixture *fx_current;

/* A call's outcome. */
typedef struct Result {
    bool done;
    xmlrpc_value *value;
    GError *err;
} Result;

static void result_done(VAChannel *ch, VACallId id, xmlrpc_value *value,
                        const GError *err, void *opaque)
{
    Result *r = opaque;

    g_assert_false(r->done);
    r->done = true;
    if (value) {
        xmlrpc_INCREF(value);
        r->value = value;
    }
    if (err) {
        r->err = g_error_copy(err);
    }
}

static void result_clear(Result *r)
{
    if (r->value) {
        xmlrpc_DECREF(r->value);
    }
    g_clear_error(&r->err);
    memset(r, 0, sizeof(*r));
}

static bool flag_is_set(gconstpointer p)
{
    return *(const bool *)p;
}

/* Runs the main loop until @cond holds; false after wait_ms. */
static bool wait_for(bool (*cond)(gconstpointer), gconstpointer arg)
{
    int64_t end = g_get_monotonic_time() + wait_ms * 1000;

    while (!cond(arg)) {
        if (g_get_monotonic_time() > end) {
            return false;
        }
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    return true;
}

static void spin(int ms)
{
    int64_t end = g_get_monotonic_time() + ms * 1000;

    while (g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
}

/* Calls @method on @gc with @params (NULL: none; consumed), waits. */
static void call(VAGlibChannel *gc, const char *method, xmlrpc_value *params,
                 Result *r)
{
    GError *err = NULL;

    memset(r, 0, sizeof(*r));
    g_assert_cmpuint(va_channel_call(va_glib_channel_get(gc), method, params,
                                     wait_ms, result_done, r, &err), !=, 0);
    g_assert_no_error(err);
    if (params) {
        xmlrpc_DECREF(params);
    }
    g_assert_true(wait_for(flag_is_set, &r->done));
}

/* Calls and expects a string answer @want. */
static void call_expect_string(VAGlibChannel *gc, const char *method,
                               xmlrpc_value *params, const char *want)
{
    Result r;
    xmlrpc_env env;
    const char *s;

    call(gc, method, params, &r);
    g_assert_no_error(r.err);
    xmlrpc_env_init(&env);
    xmlrpc_read_string(&env, r.value, &s);
    g_assert_false(env.fault_occurred);
    g_assert_cmpstr(s, ==, want);
    free((void *)s);
    xmlrpc_env_clean(&env);
    result_clear(&r);
}

/* Calls and expects the fault @code. */
static void call_expect_fault(VAGlibChannel *gc, const char *method,
                              xmlrpc_value *params, int code)
{
    Result r;

    call(gc, method, params, &r);
    g_assert_error(r.err, VA_FAULT, code);
    result_clear(&r);
}

static char *struct_string(xmlrpc_value *st, const char *key)
{
    xmlrpc_env env;
    xmlrpc_value *v = NULL;
    const char *s = NULL;
    char *ret = NULL;

    xmlrpc_env_init(&env);
    xmlrpc_struct_find_value(&env, st, key, &v);
    if (v) {
        xmlrpc_read_string(&env, v, &s);
        xmlrpc_DECREF(v);
    }
    if (s) {
        ret = g_strdup(s);
        free((void *)s);
    }
    xmlrpc_env_clean(&env);
    return ret;
}

/* Joins the strings of an XML-RPC array with spaces. */
static char *join_strings(xmlrpc_value *array)
{
    GString *out = g_string_new(NULL);
    xmlrpc_env env;
    int i, n;

    xmlrpc_env_init(&env);
    n = xmlrpc_array_size(&env, array);
    for (i = 0; i < n && !env.fault_occurred; i++) {
        xmlrpc_value *item;
        const char *s;

        xmlrpc_array_read_item(&env, array, i, &item);
        xmlrpc_read_string(&env, item, &s);
        if (!env.fault_occurred) {
            g_string_append_printf(out, "%s%s", i ? " " : "", s);
            free((void *)s);
        }
        xmlrpc_DECREF(item);
    }
    g_assert_false(env.fault_occurred);
    xmlrpc_env_clean(&env);
    return g_string_free(out, false);
}

/* The host's methods. */

static xmlrpc_value *host_hello(xmlrpc_env *env, xmlrpc_value *params,
                                void *server_info, void *call_info)
{
    Host *h = server_info;
    xmlrpc_value *info, *methods = NULL, *features = NULL, *limits = NULL;
    g_autofree char *name = NULL;

    xmlrpc_decompose_value(env, params, "(S)", &info);
    if (env->fault_occurred) {
        return NULL;
    }
    h->hellos++;
    g_free(h->guest_session);
    h->guest_session = struct_string(info, "session");
    xmlrpc_struct_find_value(env, info, "methods", &methods);
    g_free(h->hello_methods);
    h->hello_methods = methods ? join_strings(methods) : NULL;
    xmlrpc_struct_find_value(env, info, "features", &features);
    g_free(h->hello_features);
    h->hello_features = features ? join_strings(features) : NULL;
    if (features) {
        xmlrpc_DECREF(features);
    }
    xmlrpc_struct_find_value(env, info, "limits", &limits);
    h->hello_limits = limits &&
                      xmlrpc_value_type(limits) == XMLRPC_TYPE_STRUCT;
    if (methods) {
        xmlrpc_DECREF(methods);
    }
    if (limits) {
        xmlrpc_DECREF(limits);
    }
    xmlrpc_DECREF(info);
    if (h->refuse_hello) {
        xmlrpc_env_set_fault(env, -506, "Method 'va.hello' not defined");
        return NULL;
    }
    name = g_strdup_printf("hostsession%05d", h->hellos);
    return xmlrpc_build_value(env, "{s:s,s:s}", "version", "test-host",
                              "session", name);
}

static xmlrpc_value *host_ping(xmlrpc_env *env, xmlrpc_value *params,
                               void *server_info, void *call_info)
{
    return xmlrpc_string_new(env, "host-pong");
}

static xmlrpc_value *host_notify(xmlrpc_env *env, xmlrpc_value *params,
                                 void *server_info, void *call_info)
{
    Host *h = server_info;
    const char *name, *data;

    xmlrpc_decompose_value(env, params, "(ss)", &name, &data);
    if (env->fault_occurred) {
        return NULL;
    }
    g_string_append_printf(h->notes, "%s=%s;", name, data);
    free((void *)name);
    free((void *)data);
    return xmlrpc_bool_new(env, true);
}

/*
 * Records the call, then answers as today's QEMU does (its allow list
 * lacks the method): the agent must cope.
 */
static xmlrpc_value *host_exec_done(xmlrpc_env *env, xmlrpc_value *params,
                                    void *server_info, void *call_info)
{
    Host *h = server_info;
    const unsigned char *out;
    size_t len;
    int pid, code;

    xmlrpc_decompose_value(env, params, "(i{s:i,s:6,*})", &pid, "exitcode",
                           &code, "out-data", &out, &len);
    if (env->fault_occurred) {
        return NULL;
    }
    g_string_append_printf(h->exec_done, "%d:%d:%.*s;", pid, code,
                           (int)len, out);
    free((void *)out);
    xmlrpc_env_set_fault(env, VA_FAULT_DISABLED, "method disabled");
    return NULL;
}

static xmlrpc_value *host_echo(xmlrpc_env *env, xmlrpc_value *params,
                               void *server_info, void *call_info)
{
    xmlrpc_INCREF(params);
    return params;
}

static xmlrpc_value *host_fail(xmlrpc_env *env, xmlrpc_value *params,
                               void *server_info, void *call_info)
{
    xmlrpc_env_set_fault(env, 42, "deliberate");
    return NULL;
}

/* Runs in the host's pool until the test opens the gate. */
static xmlrpc_value *host_block(xmlrpc_env *env, xmlrpc_value *params,
                                void *server_info, void *call_info)
{
    Host *h = server_info;

    g_mutex_lock(&h->lock);
    h->blocked++;
    while (!h->gate_open && !h->passes) {
        g_cond_wait(&h->cond, &h->lock);
    }
    if (!h->gate_open) {
        h->passes--;
    }
    h->blocked--;
    g_mutex_unlock(&h->lock);
    return xmlrpc_string_new(env, "released");
}

static void host_open_gate(Host *h)
{
    g_mutex_lock(&h->lock);
    h->gate_open = true;
    g_cond_broadcast(&h->cond);
    g_mutex_unlock(&h->lock);
}

/* Lets one blocked call through. */
static void host_pass_one(Host *h)
{
    g_mutex_lock(&h->lock);
    h->passes++;
    g_cond_signal(&h->cond);
    g_mutex_unlock(&h->lock);
}

static int host_blocked(Host *h)
{
    int n;

    g_mutex_lock(&h->lock);
    n = h->blocked;
    g_mutex_unlock(&h->lock);
    return n;
}

static void add_method(VAChannel *ch, const char *name, xmlrpc_method2 fn,
                       void *info)
{
    struct xmlrpc_method_info3 mi = {
        .methodName = name, .methodFunction = fn, .serverInfo = info,
    };
    xmlrpc_env env;

    xmlrpc_env_init(&env);
    xmlrpc_registry_add_method3(&env, va_channel_registry(ch), &mi);
    g_assert_false(env.fault_occurred);
    xmlrpc_env_clean(&env);
}

static int connect_to(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int64_t end = g_get_monotonic_time() + wait_ms * 1000;
    int fd;

    g_assert_cmpuint(strlen(path), <, sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    for (;;) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fd, >=, 0);
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            return fd;
        }
        close(fd);
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_usleep(10 * 1000);
    }
}

static void host_init(Host *h)
{
    static const char *const slow[] = { "test.block", NULL };
    VAChannelConfig cfg;
    GError *err = NULL;
    VAChannel *ch;

    va_channel_config_init(&cfg);
    cfg.max_executing = 16;
    cfg.accept_raw_data = true;     /* as QEMU does */
    h->gc = va_glib_channel_new(NULL, &cfg, NULL, h, &err);
    g_assert_no_error(err);
    va_glib_channel_set_slow_methods(h->gc, slow);
    ch = va_glib_channel_get(h->gc);
    add_method(ch, "va.hello", host_hello, h);
    add_method(ch, "va.ping", host_ping, h);
    add_method(ch, "va.notify", host_notify, h);
    add_method(ch, "va.exec_done", host_exec_done, h);
    add_method(ch, "test.echo", host_echo, h);
    add_method(ch, "test.fail", host_fail, h);
    add_method(ch, "test.block", host_block, h);
    h->notes = g_string_new(NULL);
    h->exec_done = g_string_new(NULL);
    g_mutex_init(&h->lock);
    g_cond_init(&h->cond);
}

static void host_destroy(Host *h)
{
    host_open_gate(h);
    va_glib_channel_free(h->gc);
    g_free(h->guest_session);
    g_free(h->hello_methods);
    g_free(h->hello_features);
    g_string_free(h->notes, true);
    g_string_free(h->exec_done, true);
    g_mutex_clear(&h->lock);
    g_cond_clear(&h->cond);
}

static bool hello_count_reached(gconstpointer p)
{
    return fx_current->host.hellos >= *(const int *)p;
}

/* Connects the host to the daemon and waits for its hello. */
static void host_connect(Fixture *fx)
{
    int want = fx->host.hellos + 1;
    int64_t end = g_get_monotonic_time() + wait_ms * 1000;

    va_glib_channel_set_fd(fx->host.gc, connect_to(fx->host_sock), true);
    while (fx->host.hellos < want) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
}

static void daemon_exited(GPid pid, gint status, gpointer opaque)
{
    Daemon *d = opaque;

    d->running = false;
    d->status = status;
    g_spawn_close_pid(pid);
}

static bool daemon_stopped(gconstpointer p)
{
    return !((const Daemon *)p)->running;
}

/* A test that aborts must not leave its daemon behind. */
static void die_with_parent(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
}

static bool log_says_started(gconstpointer p)
{
    const Fixture *fx = p;
    g_autofree char *log = NULL;

    return g_file_get_contents(fx->log, &log, NULL, NULL) &&
           strstr(log, " started on ");
}

/* Starts qemu-va in unix-listen mode with @extra options (NULL-ended). */
static void daemon_start(Fixture *fx, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    GError *err = NULL;
    const char *arg;
    va_list ap;
    int i;

    for (i = 0; daemon_wrapper && daemon_wrapper[i]; i++) {
        g_ptr_array_add(argv, g_strdup(daemon_wrapper[i]));
    }
    g_ptr_array_add(argv, g_strdup(qemu_va_bin));
    g_ptr_array_add(argv, g_strdup("-m"));
    g_ptr_array_add(argv, g_strdup("unix-listen"));
    g_ptr_array_add(argv, g_strdup("-p"));
    g_ptr_array_add(argv, g_strdup(fx->host_sock));
    g_ptr_array_add(argv, g_strdup("-t"));
    g_ptr_array_add(argv, g_strdup(fx->dir));
    g_ptr_array_add(argv, g_strdup("-v"));
    g_ptr_array_add(argv, g_strdup("-l"));
    g_ptr_array_add(argv, g_strdup(fx->log));
    g_ptr_array_add(argv, g_strdup_printf("--reboot-command=touch %s/reboot",
                                          fx->dir));
    g_ptr_array_add(argv, g_strdup_printf("--halt-command=touch %s/halt",
                                          fx->dir));
    va_start(ap, fx);
    while ((arg = va_arg(ap, const char *))) {
        g_ptr_array_add(argv, g_strdup(arg));
    }
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_async(NULL, (char **)argv->pdata, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD |
                                G_SPAWN_SEARCH_PATH, die_with_parent, NULL,
                                &fx->daemon.pid, &err));
    g_assert_no_error(err);
    fx->daemon.running = true;
    g_child_watch_add(fx->daemon.pid, daemon_exited, &fx->daemon);
    /* Logged once both sockets are set up. */
    g_assert_true(wait_for(log_says_started, fx));
}

static void daemon_stop(Fixture *fx)
{
    if (fx->daemon.running) {
        kill(fx->daemon.pid, SIGTERM);
        g_assert_true(wait_for(daemon_stopped, &fx->daemon));
        /* A clean exit: no crash, no sanitizer report. */
        g_assert_true(WIFEXITED(fx->daemon.status));
        g_assert_cmpint(WEXITSTATUS(fx->daemon.status), ==, 0);
    }
}

static void fx_setup(Fixture *fx, gconstpointer data)
{
    memset(fx, 0, sizeof(*fx));
    fx_current = fx;
    fx->dir = g_dir_make_tmp("test-qemu-va-XXXXXX", NULL);
    fx->host_sock = g_build_filename(fx->dir, "host.sock", NULL);
    fx->local_sock = g_build_filename(fx->dir, "qemu-va.sock", NULL);
    fx->log = g_build_filename(fx->dir, "log", NULL);
    host_init(&fx->host);
}

static void fx_teardown(Fixture *fx, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", fx->dir);

    host_destroy(&fx->host);
    daemon_stop(fx);
    if (g_test_failed()) {
        g_autofree char *log = NULL;

        if (g_file_get_contents(fx->log, &log, NULL, NULL)) {
            g_test_message("qemu-va log:\n%s", log);
        }
    }
    g_assert_cmpint(system(cmd), ==, 0);
    g_free(fx->dir);
    g_free(fx->host_sock);
    g_free(fx->local_sock);
    g_free(fx->log);
}

/* The guest's hello, then every RPC with good and bad arguments. */
static void test_rpcs(Fixture *fx, gconstpointer data)
{
    g_autofree char *file = g_build_filename(fx->dir, "data", NULL);
    g_autofree char *missing = g_build_filename(fx->dir, "missing", NULL);
    g_autofree char *session = NULL, *version = NULL, *methods = NULL;
    VAGlibChannel *gc = fx->host.gc;
    const unsigned char *bytes;
    xmlrpc_value *list;
    xmlrpc_env env;
    xmlrpc_bool eof;
    size_t len;
    Result r;

    daemon_start(fx, NULL);
    host_connect(fx);
    g_assert_cmpint(fx->host.hellos, ==, 1);
    g_assert_cmpuint(strlen(fx->host.guest_session), ==, 16);
    g_assert_true(g_str_has_prefix(fx->host.hello_methods,
                                   "va.ping va.capabilities va.info "
                                   "va.shutdown "));
    g_assert_nonnull(strstr(fx->host.hello_methods, " va.getfile "));
    g_assert_nonnull(strstr(fx->host.hello_methods, " va.getdmesg "));
    g_assert_true(fx->host.hello_limits);

    call_expect_string(gc, "va.ping", NULL, "pong");
    call_expect_fault(gc, "va.ping", build("(i)", 1), VA_FAULT_INVALID_ARGS);

    call(gc, "va.capabilities", NULL, &r);
    g_assert_no_error(r.err);
    version = struct_string(r.value, "version");
    g_assert_cmpstr(version, ==, QEMU_VA_VERSION);
    result_clear(&r);
    call_expect_fault(gc, "va.capabilities", build("(s)", "x"),
                      VA_FAULT_INVALID_ARGS);

    call(gc, "va.info", NULL, &r);
    g_assert_no_error(r.err);
    session = struct_string(r.value, "session");
    g_assert_cmpstr(session, ==, fx->host.guest_session);
    result_clear(&r);
    call_expect_fault(gc, "va.info", build("(n)"), VA_FAULT_INVALID_ARGS);

    g_assert_true(g_file_set_contents(file, "\x00\x01\xffxyz", 6, NULL));
    call(gc, "va.getfile", build("(sii)", file, 1, 1000), &r);
    g_assert_no_error(r.err);
    xmlrpc_env_init(&env);
    xmlrpc_decompose_value(&env, r.value, "{s:6,s:b,*}", "data", &bytes,
                           &len, "eof", &eof);
    g_assert_false(env.fault_occurred);
    g_assert_cmpmem(bytes, len, "\x01\xffxyz", 5);
    g_assert_true(eof);
    free((void *)bytes);
    result_clear(&r);
    call_expect_fault(gc, "va.getfile", build("(sii)", missing, 0, 1),
                      VA_FAULT_FAILED);
    call_expect_fault(gc, "va.getfile", build("(si)", file, 0),
                      VA_FAULT_INVALID_ARGS);
    call_expect_fault(gc, "va.getfile", build("(sis)", file, 0, "1"),
                      VA_FAULT_INVALID_ARGS);

    call(gc, "va.getdmesg", build("(i)", 64), &r);
    if (r.err) {
        g_assert_error(r.err, VA_FAULT, VA_FAULT_FAILED);
    } else {
        const char *s;

        xmlrpc_read_string(&env, r.value, &s);
        g_assert_cmpuint(strlen(s), <=, 64);
        free((void *)s);
    }
    result_clear(&r);
    call_expect_fault(gc, "va.getdmesg", build("(i)", -5),
                      VA_FAULT_INVALID_ARGS);
    call_expect_fault(gc, "va.getdmesg", NULL, VA_FAULT_INVALID_ARGS);

    call_expect_fault(gc, "va.shutdown", build("(s)", "explode"),
                      VA_FAULT_INVALID_ARGS);
    call_expect_fault(gc, "va.shutdown", build("(i)", 3),
                      VA_FAULT_INVALID_ARGS);
    call_expect_fault(gc, "va.nope", NULL, -506);

    call(gc, "system.listMethods", NULL, &r);
    g_assert_no_error(r.err);
    methods = join_strings(r.value);
    g_assert_nonnull(strstr(methods, "va.getdmesg"));
    result_clear(&r);

    call(gc, "system.multicall", build("(({s:s,s:()}{s:s,s:(i)}))",
                                       "methodName", "va.ping", "params",
                                       "methodName", "va.ping", "params", 1),
         &r);
    g_assert_no_error(r.err);
    list = r.value;
    g_assert_cmpint(xmlrpc_array_size(&env, list), ==, 2);
    result_clear(&r);
    xmlrpc_env_clean(&env);
}

/* A getfile answer's data, eof and size, read by xmlrpc-c. */
static void getfile_expect(VAGlibChannel *gc, const char *path,
                           int64_t offset, int64_t length,
                           const uint8_t *want, size_t want_len,
                           int64_t want_size)
{
    const unsigned char *bytes;
    xmlrpc_int64 size;
    xmlrpc_bool eof;
    xmlrpc_env env;
    size_t len;
    Result r;

    call(gc, "va.getfile", build("(sII)", path, (xmlrpc_int64)offset,
                                 (xmlrpc_int64)length), &r);
    g_assert_no_error(r.err);
    xmlrpc_env_init(&env);
    xmlrpc_decompose_value(&env, r.value, "{s:6,s:b,s:I,*}", "data", &bytes,
                           &len, "eof", &eof, "size", &size);
    g_assert_false(env.fault_occurred);
    g_assert_cmpmem(bytes, len, want, want_len);
    g_assert_cmpint(eof, ==, offset + (int64_t)len >= want_size);
    g_assert_cmpint(size, ==, want_size);
    free((void *)bytes);
    xmlrpc_env_clean(&env);
    result_clear(&r);
}

/*
 * qemu-va writes the answers of va.getfile and va.file_read itself,
 * base64 and all: xmlrpc-c on the host reads every tail length (0 to 2
 * bytes left over) and a whole chunk of every byte value, at odd
 * offsets.
 */
static void test_base64_answers(Fixture *fx, gconstpointer data)
{
    g_autofree char *path = g_build_filename(fx->dir, "bytes", NULL);
    const size_t size = VA_GETFILE_CHUNK_MAX + 77;
    g_autofree uint8_t *buf = g_malloc(size);
    VAGlibChannel *gc = fx->host.gc;
    const unsigned char *bytes;
    xmlrpc_int64 h;
    xmlrpc_env env;
    size_t i, len;
    int count;
    Result r;

    for (i = 0; i < size; i++) {
        buf[i] = i % 3 ? 0xff - (i % 7) : (i * 131) >> 3;
    }
    g_assert_true(g_file_set_contents(path, (char *)buf, size, NULL));
    daemon_start(fx, NULL);
    host_connect(fx);
    for (i = 0; i <= 9; i++) {
        getfile_expect(gc, path, 1000 + i, i, buf + 1000 + i, i, size);
    }
    getfile_expect(gc, path, 5, VA_GETFILE_CHUNK_MAX, buf + 5,
                   VA_GETFILE_CHUNK_MAX, size);
    getfile_expect(gc, path, size - 7, 100, buf + size - 7, 7, size);
    getfile_expect(gc, path, size, 100, buf, 0, size);

    call(gc, "va.file_open", build("(s)", path), &r);
    g_assert_no_error(r.err);
    xmlrpc_env_init(&env);
    xmlrpc_read_i8(&env, r.value, &h);
    result_clear(&r);
    for (i = 0, len = 0; i <= 5; i++) {
        call(gc, "va.file_read", build("(Ii)", h, (int)i), &r);
        g_assert_no_error(r.err);
        xmlrpc_decompose_value(&env, r.value, "{s:i,s:6,*}", "count", &count,
                               "buf-b64", &bytes, &len);
        g_assert_false(env.fault_occurred);
        g_assert_cmpint(count, ==, i);
        g_assert_cmpmem(bytes, len, buf + i * (i - 1) / 2, i);
        free((void *)bytes);
        result_clear(&r);
    }
    xmlrpc_env_clean(&env);
}

/* One data stream of the host's: what it sends, or what it got. */
typedef struct Xfer {
    const uint8_t *data;    /* an upload's bytes */
    size_t len;
    size_t pos;             /* sent so far */
    size_t abort_at;        /* abort the upload here; 0: never */
    GByteArray *got;        /* a download's bytes */
    bool hold;              /* take a download's bytes, grant no credit */
    VAStream *held;         /* the stream then, to grant it later */
    bool ended;
    VAStreamEnd how;
} Xfer;

static void xfer_writable(VAStream *s, void *opaque)
{
    Xfer *x = opaque;

    while (x->pos < x->len) {
        size_t n = MIN(MIN(va_stream_room(s), VA_DATA_CHUNK_MAX),
                       x->len - x->pos);

        if (x->abort_at && x->pos >= x->abort_at) {
            va_stream_abort(s);
            return;
        }
        if (!n) {
            return;
        }
        g_assert_true(va_stream_send(s, x->data + x->pos, n));
        x->pos += n;
    }
    va_stream_finish(s);
}

static void xfer_data(VAStream *s, const uint8_t *buf, size_t len,
                      void *opaque)
{
    Xfer *x = opaque;

    g_byte_array_append(x->got, buf, len);
    if (x->hold) {
        x->held = s;
        return;
    }
    va_stream_consumed(s, len);
}

static void xfer_end(VAStream *s, VAStreamEnd how, void *opaque)
{
    Xfer *x = opaque;

    g_assert_false(x->ended);
    x->ended = true;
    x->how = how;
}

static const VAStreamOps xfer_up_ops = {
    .writable = xfer_writable,
    .end = xfer_end,
};

static const VAStreamOps xfer_down_ops = {
    .data = xfer_data,
    .end = xfer_end,
};

/* A call with a stream: @x uploads, or (x->got set) downloads. */
static void call_stream(VAGlibChannel *gc, const char *method,
                        xmlrpc_value *params, Xfer *x, Result *r)
{
    VAChannel *ch = va_glib_channel_get(gc);
    GError *err = NULL;
    VACallId id;

    memset(r, 0, sizeof(*r));
    id = va_channel_call(ch, method, params, wait_ms, result_done, r, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(id, !=, 0);
    xmlrpc_DECREF(params);
    g_assert_nonnull(va_channel_call_stream(ch, id,
                                            x->got ? VA_STREAM_DOWNLOAD
                                                   : VA_STREAM_UPLOAD,
                                            x->got ? &xfer_down_ops
                                                   : &xfer_up_ops, x));
    g_assert_true(wait_for(flag_is_set, &r->done));
}

/* A data method's answer {size, sha256, ...}. */
static void expect_data_answer(Result *r, int64_t size, const void *data)
{
    g_autofree char *want = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
                                                        data, size);
    xmlrpc_int64 got_size;
    const char *sha;
    xmlrpc_env env;

    g_assert_no_error(r->err);
    xmlrpc_env_init(&env);
    xmlrpc_decompose_value(&env, r->value, "{s:I,s:s,*}", "size", &got_size,
                           "sha256", &sha);
    g_assert_false(env.fault_occurred);
    g_assert_cmpint(got_size, ==, size);
    g_assert_cmpstr(sha, ==, want);
    free((void *)sha);
    xmlrpc_env_clean(&env);
}

/*
 * Downloads @path's range, in raw DATA bodies if @raw, and checks it
 * against @want.
 */
static void getfile_data_expect(VAGlibChannel *gc, const char *path,
                                int64_t offset, int64_t length,
                                const uint8_t *want, size_t want_len,
                                bool want_eof, bool raw)
{
    VAChannel *ch = va_glib_channel_get(gc);
    Xfer x = { .got = g_byte_array_new() };
    VAChannelStats before, after;
    xmlrpc_bool eof;
    xmlrpc_env env;
    Result r;

    va_channel_get_stats(ch, &before);
    call_stream(gc, "va.getfile_data",
                build("(sII{s:b})", path, (xmlrpc_int64)offset,
                      (xmlrpc_int64)length, "raw", (xmlrpc_bool)raw),
                &x, &r);
    va_channel_get_stats(ch, &after);
    g_assert_cmpuint(after.data_received_raw - before.data_received_raw, ==,
                     raw ? want_len : 0);
    expect_data_answer(&r, want_len, want);
    g_assert_true(x.ended);
    g_assert_cmpint(x.how, ==, VA_STREAM_END_OK);
    g_assert_cmpmem(x.got->data, x.got->len, want, want_len);
    xmlrpc_env_init(&env);
    xmlrpc_decompose_value(&env, r.value, "{s:b,*}", "eof", &eof);
    g_assert_false(env.fault_occurred);
    g_assert_cmpint(eof, ==, want_eof);
    xmlrpc_env_clean(&env);
    g_byte_array_unref(x.got);
    result_clear(&r);
}

/* 4 MiB, a third of it runs of 0xFF and 0xFE (the escaped bytes). */
static uint8_t *data_bytes(size_t len)
{
    uint8_t *buf = g_malloc(len);
    GRand *rand = g_rand_new_with_seed(11);
    size_t i;

    for (i = 0; i < len; i++) {
        switch ((i / 4096) % 3) {
        case 0:
            buf[i] = g_rand_int(rand);
            break;
        case 1:
            buf[i] = i & 1 ? 0xff : 0xfe;
            break;
        default:
            buf[i] = g_rand_int_range(rand, 0, 3) ? 0xff : 0x7e;
            break;
        }
    }
    g_rand_free(rand);
    return buf;
}

/* No temporary file of a putfile left in @dir. */
static bool no_temp_files(gconstpointer p)
{
    GDir *dir = g_dir_open(p, 0, NULL);
    const char *name;
    bool none = true;

    while (dir && (name = g_dir_read_name(dir))) {
        if (strstr(name, ".va-")) {
            none = false;
        }
    }
    if (dir) {
        g_dir_close(dir);
    }
    return none;
}

/*
 * va.getfile_data and va.putfile_data move 4 MiB each way through data
 * frames, checked by sha256; the bytes that need escaping survive.
 */
static void test_data_files(Fixture *fx, gconstpointer data)
{
    g_autofree char *src = g_build_filename(fx->dir, "src", NULL);
    g_autofree char *dst = g_build_filename(fx->dir, "dst", NULL);
    const size_t size = 4 * 1024 * 1024;
    g_autofree uint8_t *buf = data_bytes(size);
    g_autofree char *back = NULL;
    VAGlibChannel *gc = fx->host.gc;
    Xfer up = { .data = buf, .len = size };
    struct stat st;
    size_t len;
    Result r;

    g_assert_true(g_file_set_contents(src, (char *)buf, size, NULL));
    daemon_start(fx, NULL);
    host_connect(fx);
    g_assert_nonnull(strstr(fx->host.hello_methods, " va.getfile_data "));
    g_assert_nonnull(strstr(fx->host.hello_methods, " va.putfile_data"));
    g_assert_cmpstr(fx->host.hello_features, ==, "data data-raw");

    for (int raw = 0; raw < 2; raw++) {
        getfile_data_expect(gc, src, 0, -1, buf, size, true, raw);
        getfile_data_expect(gc, src, 4095, 70000, buf + 4095, 70000, false,
                            raw);
        getfile_data_expect(gc, src, size - 10, 100, buf + size - 10, 10,
                            true, raw);
        getfile_data_expect(gc, src, size + 5, -1, buf, 0, true, raw);
    }

    /* Without the digest (costly under TCG): "" in its place. */
    memset(&up, 0, sizeof(up));
    up.got = g_byte_array_new();
    call_stream(gc, "va.getfile_data",
                build("(sii{s:b})", src, 0, -1, "sha256", false), &up, &r);
    g_assert_no_error(r.err);
    g_assert_cmpmem(up.got->data, up.got->len, buf, size);
    back = struct_string(r.value, "sha256");
    g_assert_cmpstr(back, ==, "");
    g_clear_pointer(&back, g_free);
    g_byte_array_unref(up.got);
    result_clear(&r);
    memset(&up, 0, sizeof(up));
    up.data = buf;
    up.len = size;

    call_stream(gc, "va.putfile_data",
                build("(s{s:i,s:I})", dst, "mode", 0640, "size",
                      (xmlrpc_int64)size), &up, &r);
    expect_data_answer(&r, size, buf);
    result_clear(&r);
    g_assert_true(up.ended);
    g_assert_cmpint(up.how, ==, VA_STREAM_END_OK);
    g_assert_true(g_file_get_contents(dst, &back, &len, NULL));
    g_assert_cmpmem(back, len, buf, size);
    g_assert_cmpint(stat(dst, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0640);
    g_assert_true(no_temp_files(fx->dir));

    /* A size announced and not met: nothing replaces the old file. */
    memset(&up, 0, sizeof(up));
    up.data = buf + 1;
    up.len = 1000;
    call_stream(gc, "va.putfile_data",
                build("(s{s:I})", dst, "size", (xmlrpc_int64)1001), &up,
                &r);
    g_assert_error(r.err, VA_FAULT, VA_FAULT_INVALID_ARGS);
    result_clear(&r);
    g_clear_pointer(&back, g_free);
    g_assert_true(g_file_get_contents(dst, &back, &len, NULL));
    g_assert_cmpuint(len, ==, size);
    g_assert_true(wait_for(no_temp_files, fx->dir));
    call_expect_string(gc, "va.ping", NULL, "pong");
}

static bool window_full(gconstpointer p)
{
    const Xfer *x = p;

    return x->got->len >= VA_STREAM_WINDOW;
}

/*
 * A download the host stops granting credit to waits on its window and
 * holds up nothing: a ping is answered meanwhile, and the rest comes
 * once the host consumes.
 */
static void test_data_stalled(Fixture *fx, gconstpointer data)
{
    g_autofree char *src = g_build_filename(fx->dir, "src", NULL);
    const size_t size = 3 * VA_STREAM_WINDOW;
    g_autofree uint8_t *buf = data_bytes(size);
    VAChannel *ch = va_glib_channel_get(fx->host.gc);
    Xfer x = { .got = g_byte_array_new(), .hold = true };
    xmlrpc_value *params;
    VACallId id;
    Result r = { 0 };

    g_assert_true(g_file_set_contents(src, (char *)buf, size, NULL));
    daemon_start(fx, NULL);
    host_connect(fx);
    params = build("(sii)", src, 0, -1);
    id = va_channel_call(ch, "va.getfile_data", params, wait_ms, result_done,
                         &r, NULL);
    xmlrpc_DECREF(params);
    g_assert_cmpuint(id, !=, 0);
    g_assert_nonnull(va_channel_call_stream(ch, id, VA_STREAM_DOWNLOAD,
                                            &xfer_down_ops, &x));
    g_assert_true(wait_for(window_full, &x));
    spin(50);
    /* No more than the window came without credit. */
    g_assert_cmpuint(x.got->len, ==, VA_STREAM_WINDOW);
    call_expect_string(fx->host.gc, "va.ping", NULL, "pong");
    g_assert_false(r.done);
    x.hold = false;
    va_stream_consumed(x.held, x.got->len);
    g_assert_true(wait_for(flag_is_set, &r.done));
    expect_data_answer(&r, size, buf);
    g_assert_cmpmem(x.got->data, x.got->len, buf, size);
    result_clear(&r);
    g_byte_array_unref(x.got);
}

/* A fault with 1008 whose message names @ename. */
static void expect_errno_fault(Result *r, const char *ename)
{
    g_assert_error(r->err, VA_FAULT, VA_FAULT_FAILED);
    g_assert_nonnull(strstr(r->err->message, ename));
    result_clear(r);
}

/*
 * Failures are faults with the errno's name, at once; an upload aborted
 * or cut by a reset leaves no temporary file; the policy refuses data
 * methods as any other.
 */
static void test_data_errors(Fixture *fx, gconstpointer data)
{
    g_autofree char *missing = g_build_filename(fx->dir, "no", "f", NULL);
    g_autofree char *dst = g_build_filename(fx->dir, "dst", NULL);
    const size_t size = 2 * 1024 * 1024;
    g_autofree uint8_t *buf = data_bytes(size);
    VAGlibChannel *gc = fx->host.gc;
    Xfer x = { .got = g_byte_array_new() };
    Xfer up = { .data = buf, .len = size };
    xmlrpc_value *params;
    Result r;

    daemon_start(fx, NULL);
    host_connect(fx);
    call_stream(gc, "va.getfile_data", build("(sii)", missing, 0, -1), &x,
                &r);
    expect_errno_fault(&r, "ENOENT");
    x.ended = false;
    call_stream(gc, "va.getfile_data", build("(sii)", fx->dir, 0, -1), &x,
                &r);
    expect_errno_fault(&r, "EISDIR");
    g_assert_cmpuint(x.got->len, ==, 0);
    g_byte_array_unref(x.got);
    call_stream(gc, "va.putfile_data", build("(s)", missing), &up, &r);
    expect_errno_fault(&r, "ENOENT");
    call_expect_fault(gc, "va.putfile_data", build("(s{s:i})", dst, "mod",
                                                   1),
                      VA_FAULT_INVALID_ARGS);
    call_expect_fault(gc, "va.getfile_data", build("(sii)", "rel", 0, 1),
                      VA_FAULT_INVALID_ARGS);

    /* Aborted by the host midway: a fault, and no file at all. */
    memset(&up, 0, sizeof(up));
    up.data = buf;
    up.len = size;
    up.abort_at = 512 * 1024;
    call_stream(gc, "va.putfile_data", build("(s)", dst), &up, &r);
    g_assert_error(r.err, VA_FAULT, VA_FAULT_FAILED);
    result_clear(&r);
    g_assert_true(up.ended);
    g_assert_cmpint(up.how, ==, VA_STREAM_END_ABORT);
    g_assert_true(wait_for(no_temp_files, fx->dir));
    g_assert_false(g_file_test(dst, G_FILE_TEST_EXISTS));
    call_expect_string(gc, "va.ping", NULL, "pong");

    /* Cut by the host going away: the temporary goes with the session. */
    memset(&r, 0, sizeof(r));
    params = build("(s)", dst);
    g_assert_cmpuint(va_channel_call(va_glib_channel_get(gc),
                                     "va.putfile_data", params, wait_ms,
                                     result_done, &r, NULL), !=, 0);
    xmlrpc_DECREF(params);
    spin(50);
    g_assert_false(no_temp_files(fx->dir));
    va_glib_channel_set_fd(gc, -1, false);
    g_assert_true(r.done);
    result_clear(&r);
    g_assert_true(wait_for(no_temp_files, fx->dir));
    g_assert_false(g_file_test(dst, G_FILE_TEST_EXISTS));
    daemon_stop(fx);

    /* Blocked by policy like any method. */
    daemon_start(fx, "-b", "va.putfile_data", NULL);
    host_connect(fx);
    g_assert_null(strstr(fx->host.hello_methods, "va.putfile_data"));
    g_assert_nonnull(strstr(fx->host.hello_methods, "va.getfile_data"));
    call_expect_fault(gc, "va.putfile_data", build("(s)", dst),
                      VA_FAULT_DISABLED);
    g_assert_true(no_temp_files(fx->dir));
}

/* Completion order of a batch of calls. */
typedef struct Order {
    int done;
    int ping_rank;          /* how many answers came before the ping's */
} Order;

static void order_getfile_done(VAChannel *ch, VACallId id,
                               xmlrpc_value *value, const GError *err,
                               void *opaque)
{
    g_assert_no_error(err);
    ((Order *)opaque)->done++;
}

static void order_ping_done(VAChannel *ch, VACallId id, xmlrpc_value *value,
                            const GError *err, void *opaque)
{
    Order *o = opaque;

    g_assert_no_error(err);
    o->ping_rank = o->done++;
}

static bool order_complete(gconstpointer p)
{
    return ((const Order *)p)->done == 5;
}

/*
 * Large getfiles run in the thread pool: a ping sent after four of them
 * is answered before they all are. Run inline, it would come last.
 */
static void test_slow_methods_in_pool(Fixture *fx, gconstpointer data)
{
    g_autofree char *file = g_build_filename(fx->dir, "big", NULL);
    g_autofree char *big = g_malloc0(VA_GETFILE_CHUNK_MAX);
    VAChannel *ch;
    Order order = { 0, -1 };

    g_assert_true(g_file_set_contents(file, big, VA_GETFILE_CHUNK_MAX,
                                      NULL));
    daemon_start(fx, NULL);
    host_connect(fx);
    ch = va_glib_channel_get(fx->host.gc);
    for (int i = 0; i < 4; i++) {
        xmlrpc_value *params = build("(sii)", file, 0, VA_GETFILE_CHUNK_MAX);

        g_assert_cmpuint(va_channel_call(ch, "va.getfile", params, wait_ms,
                                         order_getfile_done, &order, NULL),
                         !=, 0);
        xmlrpc_DECREF(params);
    }
    g_assert_cmpuint(va_channel_call(ch, "va.ping", NULL, wait_ms,
                                     order_ping_done, &order, NULL), !=, 0);
    g_assert_true(wait_for(order_complete, &order));
    g_assert_cmpint(order.ping_rank, <, 4);
}

static bool path_exists(gconstpointer path)
{
    return g_file_test(path, G_FILE_TEST_EXISTS);
}

static bool path_gone(gconstpointer path)
{
    return !g_file_test(path, G_FILE_TEST_EXISTS);
}

/* va.shutdown answers first, then runs the configured command once. */
static void test_shutdown(Fixture *fx, gconstpointer data)
{
    g_autofree char *reboot = g_build_filename(fx->dir, "reboot", NULL);
    g_autofree char *halt = g_build_filename(fx->dir, "halt", NULL);
    VAGlibChannel *gc = fx->host.gc;
    Result r;

    daemon_start(fx, NULL);
    host_connect(fx);
    call(gc, "va.shutdown", build("(s)", "reboot"), &r);
    g_assert_no_error(r.err);
    g_assert_cmpint(xmlrpc_value_type(r.value), ==, XMLRPC_TYPE_BOOL);
    result_clear(&r);
    g_assert_true(wait_for(path_exists, reboot));
    /* One shutdown at a time; the daemon itself carries on. */
    call_expect_fault(gc, "va.shutdown", build("(s)", "halt"),
                      VA_FAULT_FAILED);
    call_expect_string(gc, "va.ping", NULL, "pong");
    g_assert_false(g_file_test(halt, G_FILE_TEST_EXISTS));
}

/* Writes one call frame by hand, as a host that is not reading would. */
static void write_call(int fd, const char *tag, const char *method,
                       xmlrpc_value *params)
{
    xmlrpc_env env;
    xmlrpc_mem_block *body;
    g_autofree char *head = NULL;
    size_t len;

    xmlrpc_env_init(&env);
    body = XMLRPC_MEMBLOCK_NEW(char, &env, 0);
    xmlrpc_serialize_call2(&env, body, method, params, xmlrpc_dialect_i8);
    g_assert_false(env.fault_occurred);
    len = XMLRPC_MEMBLOCK_SIZE(char, body);
    head = g_strdup_printf("\xffPOST /RPC2 HTTP/1.1\r\n"
                           "Content-Type: text/xml\r\n"
                           "Content-Length: %zu\r\n"
                           "X-Virtagent-Client-Tag: %s\r\n\r\n", len, tag);
    g_assert_cmpint(write(fd, head, strlen(head)), ==, strlen(head));
    g_assert_cmpint(write(fd, XMLRPC_MEMBLOCK_CONTENTS(char, body), len), ==,
                    len);
    XMLRPC_MEMBLOCK_FREE(char, body);
    xmlrpc_DECREF(params);
    xmlrpc_env_clean(&env);
}

/*
 * The reply to va.shutdown is written out before the command runs: with
 * the reply stuck behind big answers the host does not read, nothing
 * runs; once the host reads, the command does, then and not when the
 * fallback timer gives up waiting.
 */
static void test_shutdown_after_reply(Fixture *fx, gconstpointer data)
{
    g_autofree char *reboot = g_build_filename(fx->dir, "reboot", NULL);
    g_autofree char *big = g_build_filename(fx->dir, "big", NULL);
    g_autofree char *zeros = g_malloc0(VA_GETFILE_CHUNK_MAX);
    g_autoptr(GString) seen = g_string_new(NULL);
    g_autofree char *log = NULL;
    bool replied = false;
    int64_t end;
    char buf[65536];
    int fd, i;

    g_assert_true(g_file_set_contents(big, zeros, VA_GETFILE_CHUNK_MAX,
                                      NULL));
    daemon_start(fx, NULL);
    fd = connect_to(fx->host_sock);
    for (i = 0; i < 4; i++) {
        g_autofree char *tag = g_strdup_printf("t.%d", i);

        write_call(fd, tag, "va.getfile", build("(sii)", big, 0, 1 << 20));
    }
    write_call(fd, "t.9", "va.shutdown", build("(s)", "reboot"));
    spin(1000);
    g_assert_false(g_file_test(reboot, G_FILE_TEST_EXISTS));

    /*
     * Read, keeping the tail, until the shutdown reply has come and the
     * command has run.
     */
    g_assert_true(g_unix_set_fd_nonblocking(fd, true, NULL));
    end = g_get_monotonic_time() + wait_ms * 1000;
    while (!replied || !path_exists(reboot)) {
        ssize_t n = read(fd, buf, sizeof(buf) - 1);

        g_assert_cmpint(g_get_monotonic_time(), <, end);
        if (n > 0) {
            buf[n] = '\0';
            g_string_append(seen, buf);
            replied = replied ||
                      strstr(seen->str, "X-Virtagent-Client-Tag: t.9");
            /* A header may straddle two reads. */
            if (seen->len > 4096) {
                g_string_erase(seen, 0, seen->len - 4096);
            }
        } else {
            g_assert_cmpint(errno, ==, EAGAIN);
            g_usleep(1000);
        }
    }
    close(fd);
    g_assert_true(g_file_get_contents(fx->log, &log, NULL, NULL));
    g_assert_null(strstr(log, "reply not written out"));
}

static bool log_has_refusal(gconstpointer p)
{
    const Fixture *fx = p;
    g_autofree char *log = NULL;

    return g_file_get_contents(fx->log, &log, NULL, NULL) &&
           strstr(log, "the host refused our hello");
}

/* A host without va.hello is logged and served all the same. */
static void test_hello_refused(Fixture *fx, gconstpointer data)
{
    fx->host.refuse_hello = true;
    daemon_start(fx, NULL);
    host_connect(fx);
    g_assert_true(wait_for(log_has_refusal, fx));
    call_expect_string(fx->host.gc, "va.ping", NULL, "pong");
    g_assert_cmpint(fx->host.hellos, ==, 1);
}

/* A shutdown command that cannot run is logged, and nothing else. */
static void test_shutdown_bad_command(Fixture *fx, gconstpointer data)
{
    VAGlibChannel *gc = fx->host.gc;
    g_autofree char *log = NULL;
    Result r;

    daemon_start(fx, "--powerdown-command=/nonexistent/poweroff", NULL);
    host_connect(fx);
    call(gc, "va.shutdown", build("(s)", "powerdown"), &r);
    g_assert_no_error(r.err);
    result_clear(&r);
    spin(200);
    call_expect_string(gc, "va.ping", NULL, "pong");
    g_assert_true(g_file_get_contents(fx->log, &log, NULL, NULL));
    g_assert_nonnull(strstr(log, "cannot run '/nonexistent/poweroff'"));
}

static void test_policy(Fixture *fx, gconstpointer data)
{
    g_autofree char *reboot = g_build_filename(fx->dir, "reboot", NULL);
    g_autofree char *file = g_build_filename(fx->dir, "log", NULL);
    VAGlibChannel *gc = fx->host.gc;
    xmlrpc_value *item;
    xmlrpc_env env;
    Result r;
    int code;

    daemon_start(fx, "-b", "va.shutdown,va.getfile", NULL);
    host_connect(fx);
    g_assert_true(g_str_has_prefix(fx->host.hello_methods,
                                   "va.ping va.capabilities va.info "));
    g_assert_null(strstr(fx->host.hello_methods, "va.shutdown"));
    g_assert_null(strstr(fx->host.hello_methods, " va.getfile "));
    g_assert_nonnull(strstr(fx->host.hello_methods, " va.getdmesg "));
    call_expect_fault(gc, "va.shutdown", build("(s)", "reboot"),
                      VA_FAULT_DISABLED);
    call_expect_fault(gc, "va.getfile", build("(sii)", file, 0, 10),
                      VA_FAULT_DISABLED);
    /* No way around the block list through system.multicall. */
    call(gc, "system.multicall", build("(({s:s,s:(s)}))", "methodName",
                                       "va.shutdown", "params", "reboot"),
         &r);
    g_assert_no_error(r.err);
    xmlrpc_env_init(&env);
    xmlrpc_array_read_item(&env, r.value, 0, &item);
    xmlrpc_decompose_value(&env, item, "{s:i,*}", "faultCode", &code);
    g_assert_false(env.fault_occurred);
    g_assert_cmpint(code, ==, VA_FAULT_DISABLED);
    xmlrpc_DECREF(item);
    xmlrpc_env_clean(&env);
    result_clear(&r);
    call_expect_string(gc, "va.ping", NULL, "pong");
    spin(100);
    g_assert_false(g_file_test(reboot, G_FILE_TEST_EXISTS));
    daemon_stop(fx);

    /* An allow list alone disables everything else. */
    daemon_start(fx, "-a", "va.ping,va.capabilities", NULL);
    host_connect(fx);
    g_assert_cmpstr(fx->host.hello_methods, ==, "va.ping va.capabilities");
    call_expect_string(gc, "va.ping", NULL, "pong");
    call_expect_fault(gc, "va.info", NULL, VA_FAULT_DISABLED);
    call_expect_fault(gc, "va.getdmesg", build("(i)", 10), VA_FAULT_DISABLED);
}

/*
 * Every method the agent registers obeys the policy: an allow list of
 * va.ping alone disables each of the others, before any argument check.
 */
static void test_policy_every_method(Fixture *fx, gconstpointer data)
{
    VAGlibChannel *gc = fx->host.gc;
    g_autofree char *names = NULL;
    g_auto(GStrv) list = NULL;
    Result r;
    int i, n = 0;

    daemon_start(fx, NULL);
    host_connect(fx);
    call(gc, "system.listMethods", NULL, &r);
    g_assert_no_error(r.err);
    names = join_strings(r.value);
    result_clear(&r);
    daemon_stop(fx);

    daemon_start(fx, "-a", "va.ping", NULL);
    host_connect(fx);
    list = g_strsplit(names, " ", -1);
    for (i = 0; list[i]; i++) {
        if (strcmp(list[i], "va.ping") == 0) {
            continue;
        }
        call_expect_fault(gc, list[i], NULL, VA_FAULT_DISABLED);
        n++;
    }
    /* The va.* methods and xmlrpc-c's system.* ones. */
    g_assert_cmpint(n, >, 10);
    call_expect_string(gc, "va.ping", NULL, "pong");
}

static bool exec_done_arrived(gconstpointer p)
{
    return fx_current->host.exec_done->len > 0;
}

/*
 * va.exec through the real channel: the pid at once, then va.exec_done
 * on the host with the status and output; the host's fault (today's QEMU
 * has no such method) leaves the status there for va.exec_status.
 */
static void test_exec_done(Fixture *fx, gconstpointer data)
{
    VAGlibChannel *gc = fx->host.gc;
    g_autofree char *want = NULL;
    xmlrpc_env env;
    xmlrpc_bool exited;
    int pid, code;
    Result r;

    daemon_start(fx, NULL);
    host_connect(fx);
    call(gc, "va.exec", build("((sss){s:b})", "sh", "-c", "echo hi; exit 7",
                              "capture-output", (xmlrpc_bool)1), &r);
    g_assert_no_error(r.err);
    xmlrpc_env_init(&env);
    xmlrpc_decompose_value(&env, r.value, "{s:i,*}", "pid", &pid);
    g_assert_false(env.fault_occurred);
    result_clear(&r);
    g_assert_true(wait_for(exec_done_arrived, NULL));
    want = g_strdup_printf("%d:7:hi\n;", pid);
    g_assert_cmpstr(fx->host.exec_done->str, ==, want);
    call(gc, "va.exec_status", build("(i)", pid), &r);
    g_assert_no_error(r.err);
    xmlrpc_decompose_value(&env, r.value, "{s:b,s:i,*}", "exited", &exited,
                           "exitcode", &code);
    g_assert_false(env.fault_occurred);
    g_assert_true(exited);
    g_assert_cmpint(code, ==, 7);
    result_clear(&r);
    xmlrpc_env_clean(&env);
    call_expect_string(gc, "va.ping", NULL, "pong");
}

/* A file handle belongs to its session: a new host cannot use it. */
static void test_file_handle_session(Fixture *fx, gconstpointer data)
{
    g_autofree char *path = g_build_filename(fx->dir, "f", NULL);
    g_autofree char *log = NULL;
    VAGlibChannel *gc = fx->host.gc;
    xmlrpc_env env;
    xmlrpc_int64 h;
    Result r;

    g_assert_true(g_file_set_contents(path, "data", -1, NULL));
    daemon_start(fx, "-v", NULL);
    host_connect(fx);
    call(gc, "va.file_open", build("(s)", path), &r);
    g_assert_no_error(r.err);
    xmlrpc_env_init(&env);
    xmlrpc_read_i8(&env, r.value, &h);
    g_assert_false(env.fault_occurred);
    xmlrpc_env_clean(&env);
    result_clear(&r);
    call(gc, "va.file_read", build("(I)", h), &r);
    g_assert_no_error(r.err);
    result_clear(&r);

    va_glib_channel_set_fd(gc, -1, false);
    host_connect(fx);
    call_expect_fault(gc, "va.file_read", build("(I)", h),
                      VA_FAULT_INVALID_ARGS);
    call_expect_fault(gc, "va.file_close", build("(I)", h),
                      VA_FAULT_INVALID_ARGS);
    /* Not only hidden: closed when the first host went. */
    g_assert_true(g_file_get_contents(fx->log, &log, NULL, NULL));
    g_assert_nonnull(strstr(log, "session ended: 1 file handle closed"));
}

typedef struct Run {
    bool done;
    int status;
    int out_fd;
    int err_fd;
} Run;

static void run_exited(GPid pid, gint status, gpointer opaque)
{
    Run *run = opaque;

    run->done = true;
    run->status = status;
    g_spawn_close_pid(pid);
}

/* Starts @argv0 with the NULL-terminated arguments that follow. */
static void run_start(Run *run, const char *argv0, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    GError *err = NULL;
    const char *arg;
    GPid pid;
    va_list ap;

    memset(run, 0, sizeof(*run));
    g_ptr_array_add(argv, (char *)argv0);
    va_start(ap, argv0);
    while ((arg = va_arg(ap, const char *))) {
        g_ptr_array_add(argv, (char *)arg);
    }
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv->pdata, NULL,
                                           G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                           NULL, &pid, NULL, &run->out_fd,
                                           &run->err_fd, &err));
    g_assert_no_error(err);
    g_child_watch_add(pid, run_exited, run);
}

static char *read_all(int fd)
{
    GString *s = g_string_new(NULL);
    char buf[4096];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        g_string_append_len(s, buf, n);
    }
    close(fd);
    return g_string_free(s, false);
}

/* Waits for the program; its exit code, and what it printed. */
static int run_finish(Run *run, char **out, char **err)
{
    g_assert_true(wait_for(flag_is_set, &run->done));
    *out = read_all(run->out_fd);
    *err = read_all(run->err_fd);
    g_assert_true(WIFEXITED(run->status));
    return WEXITSTATUS(run->status);
}

static void test_pidfile(Fixture *fx, gconstpointer data)
{
    g_autofree char *pidfile = g_build_filename(fx->dir, "qemu-va.pid",
                                                NULL);
    g_autofree char *other = g_build_filename(fx->dir, "other.sock", NULL);
    g_autofree char *out = NULL, *err = NULL, *text = NULL;
    g_autofree char *holder = NULL;
    Run run;
    int pid;

    daemon_start(fx, NULL);
    host_connect(fx);
    run_start(&run, qemu_va_bin, "-m", "unix-listen", "-p", other, "-t",
              fx->dir, NULL);
    g_assert_cmpint(run_finish(&run, &out, &err), ==, 1);
    holder = g_strdup_printf("another qemu-va (pid %d)", fx->daemon.pid);
    g_assert_nonnull(strstr(err, holder));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    daemon_stop(fx);
    g_assert_false(g_file_test(pidfile, G_FILE_TEST_EXISTS));

    /*
     * Daemonized, the first process returns once the daemon runs; a
     * second one reports the lock on the terminal and fails.
     */
    run_start(&run, qemu_va_bin, "-d", "-m", "unix-listen", "-p", other,
              "-t", fx->dir, NULL);
    g_assert_cmpint(run_finish(&run, &out, &err), ==, 0);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_true(g_file_get_contents(pidfile, &text, NULL, NULL));
    pid = atoi(text);
    g_assert_cmpint(pid, >, 0);
    g_assert_cmpint(kill(pid, 0), ==, 0);
    run_start(&run, qemu_va_bin, "-d", "-m", "unix-listen", "-p", other,
              "-t", fx->dir, NULL);
    g_assert_cmpint(run_finish(&run, &out, &err), ==, 1);
    g_assert_nonnull(strstr(err, "another qemu-va"));
    g_assert_cmpint(kill(pid, SIGTERM), ==, 0);
    g_assert_true(wait_for(path_gone, pidfile));
}

/* The host goes away and comes back: hello again, with a new session. */
static void test_reconnect(Fixture *fx, gconstpointer data)
{
    g_autofree char *big = g_build_filename(fx->dir, "big", NULL);
    g_autofree char *zeros = g_malloc0(VA_GETFILE_CHUNK_MAX);
    VAGlibChannel *gc = fx->host.gc;
    GError *err = NULL;
    Result r;
    int i;

    daemon_start(fx, NULL);
    host_connect(fx);
    g_assert_true(g_file_set_contents(big, zeros, VA_GETFILE_CHUNK_MAX,
                                      NULL));
    for (i = 0; i < 3; i++) {
        g_autofree char *before = g_strdup(fx->host.guest_session);
        g_autofree char *info_session = NULL;

        xmlrpc_value *params = build("(sii)", big, 0, 1 << 30);

        /* Leave in the middle of a big answer. */
        memset(&r, 0, sizeof(r));
        g_assert_cmpuint(va_channel_call(va_glib_channel_get(gc),
                                         "va.getfile", params, wait_ms,
                                         result_done, &r, &err), !=, 0);
        xmlrpc_DECREF(params);
        spin(i * 5);
        va_glib_channel_set_fd(gc, -1, false);
        g_assert_true(r.done);
        result_clear(&r);

        host_connect(fx);
        g_assert_cmpint(fx->host.hellos, ==, i + 2);
        g_assert_cmpstr(fx->host.guest_session, !=, before);
        call(gc, "va.info", NULL, &r);
        g_assert_no_error(r.err);
        info_session = struct_string(r.value, "session");
        g_assert_cmpstr(info_session, ==, fx->host.guest_session);
        result_clear(&r);
        call_expect_string(gc, "va.ping", NULL, "pong");
    }
}

/* A channel of the test's own on the daemon's local socket. */
static VAGlibChannel *local_client(Fixture *fx)
{
    VAChannelConfig cfg;
    GError *err = NULL;
    VAGlibChannel *gc;

    va_channel_config_init(&cfg);
    gc = va_glib_channel_new(NULL, &cfg, NULL, NULL, &err);
    g_assert_no_error(err);
    va_glib_channel_set_fd(gc, connect_to(fx->local_sock), true);
    return gc;
}

typedef struct EchoBatch {
    int answered;
    int wrong;
} EchoBatch;

typedef struct EchoCall {
    EchoBatch *batch;
    int value;
} EchoCall;

static void echo_done(VAChannel *ch, VACallId id, xmlrpc_value *value,
                      const GError *err, void *opaque)
{
    EchoCall *ec = opaque;
    xmlrpc_env env;
    int got = -1;

    xmlrpc_env_init(&env);
    if (!err) {
        xmlrpc_decompose_value(&env, value, "(i)", &got);
    }
    ec->batch->answered++;
    ec->batch->wrong += got != ec->value;
    xmlrpc_env_clean(&env);
    g_free(ec);
}

static bool batch_complete(gconstpointer p)
{
    const EchoBatch *b = p;

    return b->answered == 2 * 20;
}

/*
 * Two va-call processes at once, two local channels with 20 calls each,
 * and the host calling the guest meanwhile: every answer reaches its
 * own caller.
 */
static void test_forward(Fixture *fx, gconstpointer data)
{
    g_autofree char *out1 = NULL, *err1 = NULL, *out2 = NULL, *err2 = NULL;
    g_autofree char *out3 = NULL, *err3 = NULL, *out4 = NULL, *err4 = NULL;
    VAGlibChannel *clients[2];
    EchoBatch batch = { 0 };
    Run run1, run2, run3, run4;
    struct group *gr;
    struct stat st;
    int i, c;

    /* A group given by name, found in /etc/group. */
    daemon_start(fx, "-g", "daemon", NULL);
    host_connect(fx);
    g_assert_true(wait_for(path_exists, fx->local_sock));
    gr = getgrnam("daemon");
    g_assert_nonnull(gr);
    g_assert_cmpint(stat(fx->local_sock, &st), ==, 0);
    g_assert_cmpint(st.st_gid, ==, gr->gr_gid);
    run_start(&run1, va_call_bin, "-s", fx->local_sock, "va.notify",
              "backup-done", "s:ok", NULL);
    run_start(&run2, va_call_bin, "-s", fx->local_sock, "test.echo", "i:42",
              "s:text", "b:true", "d:1.5", "I:9007199254740993",
              "[1, \"a\"]", "{\"k\": null}", "plain", NULL);
    run_start(&run3, va_call_bin, "-s", fx->local_sock, "test.fail", NULL);
    clients[0] = local_client(fx);
    clients[1] = local_client(fx);
    for (i = 0; i < 20; i++) {
        for (c = 0; c < 2; c++) {
            xmlrpc_value *params = build("(i)", c * 1000 + i);
            EchoCall *ec = g_new0(EchoCall, 1);
            GError *err = NULL;

            ec->batch = &batch;
            ec->value = c * 1000 + i;
            g_assert_cmpuint(va_channel_call(va_glib_channel_get(clients[c]),
                                             "test.echo", params, wait_ms,
                                             echo_done, ec, &err), !=, 0);
            g_assert_no_error(err);
            xmlrpc_DECREF(params);
        }
        call_expect_string(fx->host.gc, "va.ping", NULL, "pong");
    }
    g_assert_cmpint(run_finish(&run1, &out1, &err1), ==, 0);
    g_assert_cmpstr(out1, ==, "true\n");
    g_assert_cmpint(run_finish(&run2, &out2, &err2), ==, 0);
    g_assert_cmpstr(out2, ==, "[42, \"text\", true, 1.5, 9007199254740993, "
                    "[1, \"a\"], {\"k\": null}, \"plain\"]\n");
    g_assert_cmpint(run_finish(&run3, &out3, &err3), ==, 1);
    g_assert_cmpstr(err3, ==, "va-call: fault 42: deliberate\n");
    g_assert_true(wait_for(batch_complete, &batch));
    g_assert_cmpint(batch.wrong, ==, 0);
    g_assert_cmpstr(fx->host.notes->str, ==, "backup-done=ok;");

    /* The host's own va.ping, reached from the guest. */
    run_start(&run4, va_call_bin, "-s", fx->local_sock, "va.ping", NULL);
    g_assert_cmpint(run_finish(&run4, &out4, &err4), ==, 0);
    g_assert_cmpstr(out4, ==, "host-pong\n");
    va_glib_channel_free(clients[0]);
    va_glib_channel_free(clients[1]);
}

static bool blocked_at_least(gconstpointer p)
{
    const Fixture *fx = p;

    return host_blocked((Host *)&fx->host) >= VA_FWD_IN_FLIGHT_MAX;
}

/*
 * Clients that disconnect in the middle of calls lose those calls only:
 * the host slots they held are given back (a new call goes through
 * while their calls are still blocked on the host) and a client that
 * stayed still gets its answer.
 */
static void test_client_drop(Fixture *fx, gconstpointer data)
{
    VAGlibChannel *survivor, *late, *droppers[10];
    Result kept, r[10];
    GError *err = NULL;
    int i;

    daemon_start(fx, NULL);
    host_connect(fx);
    g_assert_true(wait_for(path_exists, fx->local_sock));
    survivor = local_client(fx);
    memset(&kept, 0, sizeof(kept));
    g_assert_cmpuint(va_channel_call(va_glib_channel_get(survivor),
                                     "test.block", NULL, 0, result_done,
                                     &kept, &err), !=, 0);
    for (i = 0; i < 10; i++) {
        droppers[i] = local_client(fx);
        memset(&r[i], 0, sizeof(r[i]));
        g_assert_cmpuint(va_channel_call(va_glib_channel_get(droppers[i]),
                                         "test.block", NULL, 0, result_done,
                                         &r[i], &err), !=, 0);
    }
    /* The forwarder's limit: eight calls on the host, three waiting. */
    g_assert_true(wait_for(blocked_at_least, fx));
    spin(50);
    g_assert_cmpint(host_blocked(&fx->host), ==, VA_FWD_IN_FLIGHT_MAX);
    for (i = 0; i < 10; i++) {
        va_glib_channel_free(droppers[i]);
        result_clear(&r[i]);
    }

    late = local_client(fx);
    call_expect_string(late, "va.ping", NULL, "host-pong");
    g_assert_false(kept.done);
    host_open_gate(&fx->host);
    g_assert_true(wait_for(flag_is_set, &kept.done));
    g_assert_no_error(kept.err);
    result_clear(&kept);
    call_expect_string(fx->host.gc, "va.ping", NULL, "pong");
    va_glib_channel_free(late);
    va_glib_channel_free(survivor);
}

/*
 * Two noisy clients keep every host slot busy and more calls waiting; a
 * quiet client's call still goes out within one round of turns, not
 * behind all of theirs.
 */
static void test_fairness(Fixture *fx, gconstpointer data)
{
    VAGlibChannel *noisy[2], *quiet;
    Result flood[2][10], q;
    GError *err = NULL;
    int c, i, turns;

    daemon_start(fx, NULL);
    host_connect(fx);
    g_assert_true(wait_for(path_exists, fx->local_sock));
    for (c = 0; c < 2; c++) {
        noisy[c] = local_client(fx);
        for (i = 0; i < 10; i++) {
            memset(&flood[c][i], 0, sizeof(flood[c][i]));
            g_assert_cmpuint(va_channel_call(va_glib_channel_get(noisy[c]),
                                             "test.block", NULL, 0,
                                             result_done, &flood[c][i],
                                             &err), !=, 0);
        }
    }
    g_assert_true(wait_for(blocked_at_least, fx));
    quiet = local_client(fx);
    memset(&q, 0, sizeof(q));
    g_assert_cmpuint(va_channel_call(va_glib_channel_get(quiet), "test.echo",
                                     NULL, 0, result_done, &q, &err), !=, 0);
    spin(50);
    g_assert_false(q.done);
    /* A slot freed goes to each waiting client in turn: two at most. */
    for (turns = 0; turns < 2 && !q.done; turns++) {
        host_pass_one(&fx->host);
        spin(100);
    }
    g_assert_true(q.done);
    g_assert_no_error(q.err);
    result_clear(&q);

    host_open_gate(&fx->host);
    for (c = 0; c < 2; c++) {
        for (i = 0; i < 10; i++) {
            g_assert_true(wait_for(flag_is_set, &flood[c][i].done));
            g_assert_no_error(flood[c][i].err);
            result_clear(&flood[c][i]);
        }
        va_glib_channel_free(noisy[c]);
    }
    va_glib_channel_free(quiet);
}

static bool log_has_hangup(gconstpointer p)
{
    const Fixture *fx = p;
    g_autofree char *log = NULL;

    return g_file_get_contents(fx->log, &log, NULL, NULL) &&
           strstr(log, "host went away");
}

/* isa-serial on a pseudo-terminal: raw mode, hello, calls. */
static void test_isa_serial(Fixture *fx, gconstpointer data)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    int want = fx->host.hellos + 1;

    g_assert_cmpint(master, >=, 0);
    g_assert_cmpint(grantpt(master), ==, 0);
    g_assert_cmpint(unlockpt(master), ==, 0);
    daemon_start(fx, "-m", "isa-serial", "-p", ptsname(master), NULL);
    va_glib_channel_set_fd(fx->host.gc, master, true);
    g_assert_true(wait_for(hello_count_reached, &want));
    call_expect_string(fx->host.gc, "va.ping", NULL, "pong");
    call_expect_string(fx->host.gc, "va.getdmesg", build("(i)", 0), "");

    /* The line hangs up, then retries meet a device that is gone. */
    va_glib_channel_set_fd(fx->host.gc, -1, false);
    g_assert_true(wait_for(log_has_hangup, fx));
    spin(300);
    g_assert_true(fx->daemon.running);
}

/* CPU time the daemon used so far, in clock ticks. */
static long daemon_cpu_ticks(Fixture *fx)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat",
                                            fx->daemon.pid);
    g_autofree char *stat = NULL;
    g_auto(GStrv) fields = NULL;
    char *end;

    g_assert_true(g_file_get_contents(path, &stat, NULL, NULL));
    /* Fields 14 and 15, counted after the ")" closing the name. */
    end = strrchr(stat, ')');
    g_assert_nonnull(end);
    fields = g_strsplit(end + 2, " ", -1);
    return atol(fields[11]) + atol(fields[12]);
}

static bool log_has_third_attempt(gconstpointer p)
{
    const Fixture *fx = p;
    g_autofree char *log = NULL;

    return g_file_get_contents(fx->log, &log, NULL, NULL) &&
           strstr(log, "trying again in 400 ms");
}

static int listen_on(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    strcpy(addr.sun_path, path);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fd, 1), ==, 0);
    return fd;
}

static bool fd_readable(gconstpointer p)
{
    GPollFD pfd = { .fd = *(const int *)p, .events = G_IO_IN };

    return g_poll(&pfd, 1, 0) == 1;
}

/*
 * unix-connect to a host that is not there yet, then leaves and comes
 * back: the daemon retries without spinning, and says hello with a new
 * session each time.
 */
static void test_unix_connect(Fixture *fx, gconstpointer data)
{
    g_autofree char *first = NULL;
    long ticks;
    int lfd, want, i;

    daemon_start(fx, "-m", "unix-connect", NULL);
    /*
     * Two seconds with no host: a few attempts, hardly any CPU. Counted
     * from the third attempt, once start-up (slow under valgrind) is over.
     */
    g_assert_true(wait_for(log_has_third_attempt, fx));
    ticks = daemon_cpu_ticks(fx);
    g_usleep(2 * G_USEC_PER_SEC);
    g_assert_cmpint(daemon_cpu_ticks(fx) - ticks, <, 10);

    for (i = 0; i < 2; i++) {
        lfd = listen_on(fx->host_sock);
        /* Within the longest retry delay, one second. */
        g_assert_true(wait_for(fd_readable, &lfd));
        want = fx->host.hellos + 1;
        va_glib_channel_set_fd(fx->host.gc, accept(lfd, NULL, NULL), true);
        g_assert_true(wait_for(hello_count_reached, &want));
        call_expect_string(fx->host.gc, "va.ping", NULL, "pong");
        if (first) {
            g_assert_cmpstr(fx->host.guest_session, !=, first);
        } else {
            first = g_strdup(fx->host.guest_session);
        }
        close(lfd);
        unlink(fx->host_sock);
        va_glib_channel_set_fd(fx->host.gc, -1, false);
    }
}

/* Without a host, a forwarded call fails at once instead of hanging. */
static void test_host_absent(Fixture *fx, gconstpointer data)
{
    g_autofree char *out = NULL, *err = NULL;
    struct stat st;
    Run run;

    daemon_start(fx, "-g", "4242", NULL);
    g_assert_true(wait_for(path_exists, fx->local_sock));
    /* Reserved to the owner and the configured group. */
    g_assert_cmpint(stat(fx->local_sock, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0660);
    g_assert_cmpint(st.st_gid, ==, 4242);
    run_start(&run, va_call_bin, "-s", fx->local_sock, "va.notify", "x",
              "s:y", NULL);
    g_assert_cmpint(run_finish(&run, &out, &err), ==, 1);
    g_assert_cmpstr(err, ==, "va-call: fault 1008: host not connected\n");
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* Bad arguments never leave va-call. */
    run_start(&run, va_call_bin, "-s", fx->local_sock, "va.notify", "i:x",
              NULL);
    g_assert_cmpint(run_finish(&run, &out, &err), ==, 2);
    g_assert_nonnull(strstr(err, "bad argument 'i:x'"));
}

static void write_all(int fd, const void *buf, size_t len)
{
    g_assert_cmpint(write(fd, buf, len), ==, len);
}

/* Garbage from the host is dropped; the stream resynchronises. */
static void test_garbage(Fixture *fx, gconstpointer data)
{
    static const char frames[] =
        "random \x01\x02 bytes\r\n\r\n"
        "\xff" "POST /RPC2 HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"
        "\xff" "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
        "X-Virtagent-Client-Tag: bogus\r\n\r\nhello"
        "\xff" "POST /RPC2 HTTP/1.1\r\nContent-Type: text/xml\r\n"
        "Content-Length: 9\r\nX-Virtagent-Client-Tag: 1.1\r\n\r\nnot xml!!"
        "\xff" "POST /RPC2 HTTP/1.1\r\nContent-Length: 5\r\n"
        "\xff\xff\xff" "GET / HTTP/1.0\r\n\r\n";
    GRand *rand = g_rand_new_with_seed(42);
    uint8_t noise[4096];
    int fd, i;

    daemon_start(fx, NULL);
    fd = connect_to(fx->host_sock);
    for (i = 0; i < (int)sizeof(noise); i++) {
        noise[i] = g_rand_int(rand);
    }
    write_all(fd, noise, sizeof(noise));
    write_all(fd, frames, sizeof(frames) - 1);
    g_rand_free(rand);
    /* The same stream then carries real calls. */
    va_glib_channel_set_fd(fx->host.gc, fd, true);
    call_expect_string(fx->host.gc, "va.ping", NULL, "pong");
    g_assert_true(fx->daemon.running);
}

/*
 * xmlrpc-c 1.33.14 dereferences garbage while building the fault for a
 * malformed <i8> ("12x", "1.5", out of range): the message must be
 * refused before it reaches the parser, and the daemon live on.
 */
static void test_malformed_i8(Fixture *fx, gconstpointer data)
{
    static const char *const bodies[] = {
        "<?xml version=\"1.0\"?><methodCall><methodName>va.ping"
        "</methodName><params><param><value><i8>12x</i8></value></param>"
        "</params></methodCall>",
        "<?xml version=\"1.0\"?><methodCall><methodName>va.ping"
        "</methodName><params><param><value><i8>9223372036854775808</i8>"
        "</value></param></params></methodCall>",
    };
    size_t i;
    int fd;

    daemon_start(fx, NULL);
    fd = connect_to(fx->host_sock);
    for (i = 0; i < G_N_ELEMENTS(bodies); i++) {
        g_autofree char *head =
            g_strdup_printf("\xffPOST /RPC2 HTTP/1.1\r\n"
                            "Content-Length: %zu\r\n"
                            "X-Virtagent-Client-Tag: m.%zu\r\n\r\n",
                            strlen(bodies[i]), i);

        write_all(fd, head, strlen(head));
        write_all(fd, bodies[i], strlen(bodies[i]));
    }
    spin(300);
    if (!fx->daemon.running) {
        g_error("daemon died: status %d", fx->daemon.status);
    }
    va_glib_channel_set_fd(fx->host.gc, fd, true);
    call_expect_string(fx->host.gc, "va.ping", NULL, "pong");
}

/* Reads and drops whatever the daemon has sent so far. */
static void drain(int fd)
{
    char buf[65536];

    while (read(fd, buf, sizeof(buf)) > 0) {
        continue;
    }
}

/*
 * Random calls, values of every type, flipped bytes and cut frames, over
 * several connections: the daemon answers, drops, and carries on (under
 * check-guest-asan, without a memory error either).
 */
static void test_fuzz_host(Fixture *fx, gconstpointer data)
{
    static const char *const methods[] = {
        "va.ping", "va.capabilities", "va.info", "va.shutdown",
        "va.getfile", "va.getdmesg", "system.multicall",
        "system.methodHelp", "system.methodSignature", "va.nope",
    };
    static const char *const values[] = {
        "<i4>1</i4>", "<i4>-1</i4>", "<i8>99999999999999</i8>",
        "<i8>-9223372036854775808</i8>", "<string>/etc/hostname</string>",
        "<string>reboot</string>", "<string></string>",
        "<string>/dev/zero</string>", "<string>/</string>",
        "<boolean>1</boolean>", "<double>1e308</double>",
        "<base64>AAAA</base64>", "<nil/>",
        "<array><data><value><i4>1</i4></value></data></array>",
        "<struct><member><name>a</name><value><i4>1</i4></value>"
        "</member></struct>",
        "<dateTime.iso8601>20240102T03:04:05</dateTime.iso8601>",
        "<i4>2147483647</i4>",
    };
    GRand *rand = g_rand_new_with_seed(7);
    int conn, i, fd;

    daemon_start(fx, "--powerdown-command=true", NULL);
    for (conn = 0; conn < 10; conn++) {
        fd = connect_to(fx->host_sock);
        g_assert_true(g_unix_set_fd_nonblocking(fd, true, NULL));
        for (i = 0; i < 100; i++) {
            g_autoptr(GString) body = g_string_new(NULL);
            g_autofree char *head = NULL;
            int n = g_rand_int_range(rand, 0, 5);
            size_t len;

            g_string_append_printf(body, "<?xml version=\"1.0\"?>"
                                   "<methodCall><methodName>%s</methodName>"
                                   "<params>",
                                   methods[g_rand_int_range(rand, 0,
                                           G_N_ELEMENTS(methods))]);
            while (n--) {
                g_string_append_printf(body, "<param><value>%s</value>"
                                       "</param>",
                                       values[g_rand_int_range(rand, 0,
                                              G_N_ELEMENTS(values))]);
            }
            g_string_append(body, "</params></methodCall>");
            if (g_rand_int_range(rand, 0, 5) == 0) {
                body->str[g_rand_int_range(rand, 0, body->len)] =
                    g_rand_int(rand);
            }
            head = g_strdup_printf("\xff%s\r\nContent-Length: %zu\r\n"
                                   "X-Virtagent-Client-Tag: f.%d\r\n\r\n",
                                   g_rand_int_range(rand, 0, 10) ?
                                   "POST /RPC2 HTTP/1.1" : "HTTP/1.1 200 OK",
                                   body->len, i);
            len = body->len;
            if (g_rand_int_range(rand, 0, 20) == 0) {
                len = g_rand_int_range(rand, 0, len);
            }
            /* A full socket drops the frame: garbage of its own kind. */
            if (write(fd, head, strlen(head)) > 0 &&
                write(fd, body->str, len) < 0) {
                g_assert_cmpint(errno, ==, EAGAIN);
            }
            drain(fd);
        }
        spin(20);
        drain(fd);
        close(fd);
        if (!fx->daemon.running) {
            g_error("daemon died: status %d", fx->daemon.status);
        }
    }
    g_rand_free(rand);
    host_connect(fx);
    call_expect_string(fx->host.gc, "va.ping", NULL, "pong");
}

static void test_binary_options(Fixture *fx, gconstpointer data)
{
    static const char *const options[] = {
        "-m,", "-p,", "-d,", "-f,", "-l,", "-v,", "-V,", "-c,", "-a,",
        "-b,", "-t,", "-s,", "-g,", "-D,", "--halt-command",
        "--powerdown-command", "--reboot-command",
    };
    g_autofree char *conf = g_build_filename(fx->dir, "qemu-va.conf", NULL);
    g_autofree char *bad = g_build_filename(fx->dir, "bad.conf", NULL);
    g_autofree char *out = NULL, *err = NULL;
    Run run;
    size_t i;

    run_start(&run, qemu_va_bin, "--help", NULL);
    g_assert_cmpint(run_finish(&run, &out, &err), ==, 0);
    for (i = 0; i < G_N_ELEMENTS(options); i++) {
        g_assert_nonnull(strstr(out, options[i]));
    }
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    run_start(&run, qemu_va_bin, "-V", NULL);
    g_assert_cmpint(run_finish(&run, &out, &err), ==, 0);
    g_assert_cmpstr(out, ==, "qemu-va " QEMU_VA_VERSION "\n");
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_true(g_file_set_contents(conf, "[general]\n"
                                      "method=isa-serial\nverbose=true\n"
                                      "block-rpcs=va.shutdown\n", -1, NULL));
    run_start(&run, qemu_va_bin, "-c", conf, "-p", "/dev/ttyS3", "-D", NULL);
    g_assert_cmpint(run_finish(&run, &out, &err), ==, 0);
    g_assert_nonnull(strstr(out, "method=isa-serial\n"));
    g_assert_nonnull(strstr(out, "path=/dev/ttyS3\n"));
    g_assert_nonnull(strstr(out, "verbose=true\n"));
    g_assert_nonnull(strstr(out, "block-rpcs=va.shutdown\n"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_true(g_file_set_contents(bad, "[general]\nmethd=isa-serial\n",
                                      -1, NULL));
    run_start(&run, qemu_va_bin, "-c", bad, NULL);
    g_assert_cmpint(run_finish(&run, &out, &err), ==, 1);
    g_assert_nonnull(strstr(err, "unknown key 'methd'"));
}

int main(int argc, char **argv)
{
    g_autofree char *dir = g_path_get_dirname(argv[0]);
    int ret;

    g_test_init(&argc, &argv, NULL);
    /* The test plays a host that may send big answers. */
    xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, 4 * 1024 * 1024);
    signal(SIGPIPE, SIG_IGN);
    qemu_va_bin = g_strdup(g_getenv("QEMU_VA"));
    if (!qemu_va_bin) {
        qemu_va_bin = g_build_filename(dir, "..", "..", "qemu-va", NULL);
    }
    if (g_getenv("QEMU_VA_WRAPPER")) {
        g_assert_true(g_shell_parse_argv(g_getenv("QEMU_VA_WRAPPER"), NULL,
                                         &daemon_wrapper, NULL));
        wait_ms *= 6;
    }
    va_call_bin = g_strdup(g_getenv("VA_CALL"));
    if (!va_call_bin) {
        va_call_bin = g_build_filename(dir, "..", "..", "va-call", NULL);
    }
#define ADD(name, fn) \
    g_test_add(name, Fixture, NULL, fx_setup, fn, fx_teardown)
    ADD("/qemu-va/rpcs", test_rpcs);
    ADD("/qemu-va/base64-answers", test_base64_answers);
    ADD("/qemu-va/data-files", test_data_files);
    ADD("/qemu-va/data-errors", test_data_errors);
    ADD("/qemu-va/data-stalled", test_data_stalled);
    ADD("/qemu-va/slow-methods-in-pool", test_slow_methods_in_pool);
    ADD("/qemu-va/hello-refused", test_hello_refused);
    ADD("/qemu-va/shutdown", test_shutdown);
    ADD("/qemu-va/shutdown-after-reply", test_shutdown_after_reply);
    ADD("/qemu-va/shutdown-bad-command", test_shutdown_bad_command);
    ADD("/qemu-va/policy", test_policy);
    ADD("/qemu-va/policy-every-method", test_policy_every_method);
    ADD("/qemu-va/exec-done", test_exec_done);
    ADD("/qemu-va/file-handle-session", test_file_handle_session);
    ADD("/qemu-va/pidfile", test_pidfile);
    ADD("/qemu-va/reconnect", test_reconnect);
    ADD("/qemu-va/forward", test_forward);
    ADD("/qemu-va/client-drop", test_client_drop);
    ADD("/qemu-va/fairness", test_fairness);
    ADD("/qemu-va/isa-serial", test_isa_serial);
    ADD("/qemu-va/unix-connect", test_unix_connect);
    ADD("/qemu-va/host-absent", test_host_absent);
    ADD("/qemu-va/garbage", test_garbage);
    ADD("/qemu-va/options", test_binary_options);
    /* Last: they fail while the core lets a malformed <i8> through. */
    ADD("/qemu-va/malformed-i8", test_malformed_i8);
    ADD("/qemu-va/fuzz-host", test_fuzz_host);
#undef ADD
    ret = g_test_run();
    g_free(qemu_va_bin);
    g_free(va_call_bin);
    g_strfreev(daemon_wrapper);
    return ret;
}
