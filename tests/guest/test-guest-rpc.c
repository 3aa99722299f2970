/*
 * qemu-va - tests of the guest RPC methods, straight through the registry
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <crypt.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <utmpx.h>
#include <sys/stat.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "va-errors.h"
#include "qemu-va/guest-rpc.h"
#include "qemu-va/methods/va-methods.h"
#include "tests/guest/guest-test.h"

typedef struct Fixture {
    VAGuestRpc rpc;
    VAChannel *ch;          /* holds the registry */
    xmlrpc_registry *reg;
    char *dir;
    /* What the shutdown op saw. */
    int shutdowns;
    VAShutdownMode last_mode;
    bool refuse_shutdown;
    const char *blocked;
    const char *session;    /* NULL: the default one */
    /* What the set_clock stub saw, and its errno to fail with. */
    int64_t clock_ns;
    int clock_errno;
    /* The fs_ioctl stub: what it did, what is frozen, what fails. */
    GString *fs_log;
    GHashTable *fs_frozen;
    const char *fs_unsupported;
    const char *fs_failing;
    int frozen_calls;
    /* What after_reply was given: the last action waiting. */
    void (*after_fn)(void *data, bool run);
    void *after_data;
    /* The calls to the host: method names, and the last params. */
    GString *host_calls;
    xmlrpc_value *host_params;
    /* The last call's fault, 0 if none. */
    int fault_code;
    char *fault_string;
} Fixture;

static const char *fx_session(void *call_info, void *opaque)
{
    Fixture *fx = opaque;

    return fx->session ? fx->session : "0123456789abcdef";
}

static bool fx_shutdown(void *call_info, VAShutdownMode mode, void *opaque)
{
    Fixture *fx = opaque;

    if (fx->refuse_shutdown) {
        return false;
    }
    fx->shutdowns++;
    fx->last_mode = mode;
    return true;
}

static bool fx_enabled(const char *method, void *opaque)
{
    Fixture *fx = opaque;

    return !fx->blocked || strcmp(method, fx->blocked) != 0;
}

static Fixture *fx_current;

static int fx_set_clock(int64_t ns)
{
    if (fx_current->clock_errno) {
        errno = fx_current->clock_errno;
        return -1;
    }
    fx_current->clock_ns = ns;
    return 0;
}

/* The path under the fixture's root that @fd is open on. */
static char *fd_path(Fixture *fx, int fd)
{
    g_autofree char *link = g_strdup_printf("/proc/self/fd/%d", fd);
    g_autofree char *target = g_file_read_link(link, NULL);

    g_assert_nonnull(target);
    g_assert_true(g_str_has_prefix(target, fx->dir));
    return g_strdup(target[strlen(fx->dir)] ? target + strlen(fx->dir) :
                    "/");
}

/* FIFREEZE, FITHAW and FITRIM on the fixture's tree, not the machine. */
static int fx_fs_ioctl(int fd, unsigned long req, void *arg)
{
    Fixture *fx = fx_current;
    g_autofree char *path = fd_path(fx, fd);
    const char *op = req == FIFREEZE ? "freeze" : req == FITHAW ? "thaw" :
                     req == FITRIM ? "trim" : "?";

    g_string_append_printf(fx->fs_log, "%s %s|", op, path);
    if (g_strcmp0(path, fx->fs_unsupported) == 0) {
        errno = EOPNOTSUPP;
        return -1;
    }
    if (g_strcmp0(path, fx->fs_failing) == 0) {
        errno = EIO;
        return -1;
    }
    if (req == FIFREEZE) {
        if (g_hash_table_contains(fx->fs_frozen, path)) {
            errno = EBUSY;
            return -1;
        }
        g_hash_table_add(fx->fs_frozen, g_steal_pointer(&path));
        return 0;
    }
    if (req == FITHAW) {
        if (!g_hash_table_remove(fx->fs_frozen, path)) {
            errno = EINVAL;
            return -1;
        }
        return 0;
    }
    if (req == FITRIM) {
        struct fstrim_range *r = arg;

        r->len = 4096;
        return 0;
    }
    errno = ENOTTY;
    return -1;
}

static void fx_frozen(bool frozen, void *opaque)
{
    Fixture *fx = opaque;

    fx->frozen_calls++;
}

static bool fx_after_reply(void *call_info, void (*fn)(void *data, bool run),
                           void *data, void *opaque)
{
    Fixture *fx = opaque;

    g_assert_null(fx->after_fn);
    fx->after_fn = fn;
    fx->after_data = data;
    return true;
}

/* The reply has been written out (@run) or the channel reset. */
static void fx_after_reply_done(Fixture *fx, bool run)
{
    g_assert_nonnull(fx->after_fn);
    fx->after_fn(fx->after_data, run);
    fx->after_fn = NULL;
}

static void fx_call_host(const char *method, xmlrpc_value *params,
                         void *opaque)
{
    Fixture *fx = opaque;

    g_string_append_printf(fx->host_calls, "%s ", method);
    if (fx->host_params) {
        xmlrpc_DECREF(fx->host_params);
    }
    xmlrpc_INCREF(params);
    fx->host_params = params;
}

static int64_t fx_now_ms(void *opaque)
{
    return g_get_monotonic_time() / 1000;
}

static void fx_wakeup(void *opaque)
{
}

/* The channel only holds the methods: calls go to its registry. */
static const VAChannelOps fx_channel_ops = {
    .now_ms = fx_now_ms,
    .wakeup = fx_wakeup,
};

static void fx_setup(Fixture *fx, gconstpointer data)
{
    VAChannelConfig cfg;
    xmlrpc_env env;

    memset(fx, 0, sizeof(*fx));
    fx->dir = g_dir_make_tmp("test-guest-rpc-XXXXXX", NULL);
    g_assert_nonnull(fx->dir);
    fx->rpc.ops.session = fx_session;
    fx->rpc.ops.shutdown = fx_shutdown;
    fx->rpc.ops.method_enabled = fx_enabled;
    fx->rpc.ops.call_host = fx_call_host;
    fx->host_calls = g_string_new(NULL);
    fx->rpc.ops.frozen = fx_frozen;
    fx->rpc.ops.after_reply = fx_after_reply;
    fx->rpc.fs_ioctl = fx_fs_ioctl;
    fx->fs_log = g_string_new(NULL);
    fx->fs_frozen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          NULL);
    fx->rpc.opaque = fx;
    fx->rpc.sysroot = fx->dir;
    fx->rpc.set_clock = fx_set_clock;
    fx_current = fx;
    xmlrpc_env_init(&env);
    va_channel_config_init(&cfg);
    fx->ch = va_channel_new(&cfg, &fx_channel_ops, fx, NULL);
    g_assert_nonnull(fx->ch);
    fx->reg = va_channel_registry(fx->ch);
    va_guest_rpc_register(&fx->rpc, fx->ch, &env);
    g_assert_false(env.fault_occurred);
    xmlrpc_env_clean(&env);
}

static void fx_teardown(Fixture *fx, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", fx->dir);

    g_assert_cmpint(system(cmd), ==, 0);
    g_free(fx->dir);
    g_free(fx->fault_string);
    va_channel_free(fx->ch);
    va_guest_rpc_cleanup(&fx->rpc);
    g_string_free(fx->host_calls, true);
    g_string_free(fx->fs_log, true);
    g_hash_table_unref(fx->fs_frozen);
    if (fx->host_params) {
        xmlrpc_DECREF(fx->host_params);
    }
}

/*
 * Calls @method with the parameters @format builds (an array format such
 * as "(si)"); returns the result, or NULL with fx->fault_code set.
 */
static xmlrpc_value *fx_call(Fixture *fx, const char *method,
                             const char *format, ...)
{
    xmlrpc_env env;
    xmlrpc_value *params, *result = NULL;
    xmlrpc_mem_block *call, *resp = NULL;
    const char *fault_string = NULL, *tail;
    va_list ap;

    xmlrpc_env_init(&env);
    va_start(ap, format);
    xmlrpc_build_value_va(&env, format, ap, &params, &tail);
    va_end(ap);
    g_assert_false(env.fault_occurred);
    call = XMLRPC_MEMBLOCK_NEW(char, &env, 0);
    xmlrpc_serialize_call2(&env, call, method, params, xmlrpc_dialect_i8);
    g_assert_false(env.fault_occurred);
    xmlrpc_registry_process_call2(&env, fx->reg,
                                  XMLRPC_MEMBLOCK_CONTENTS(char, call),
                                  XMLRPC_MEMBLOCK_SIZE(char, call),
                                  NULL, &resp);
    g_assert_false(env.fault_occurred);
    fx->fault_code = 0;
    g_clear_pointer(&fx->fault_string, g_free);
    xmlrpc_parse_response2(&env, XMLRPC_MEMBLOCK_CONTENTS(char, resp),
                           XMLRPC_MEMBLOCK_SIZE(char, resp), &result,
                           &fx->fault_code, &fault_string);
    g_assert_false(env.fault_occurred);
    if (fault_string) {
        fx->fault_string = g_strdup(fault_string);
        free((void *)fault_string);
        g_assert_cmpint(fx->fault_code, !=, 0);
        result = NULL;
    }
    XMLRPC_MEMBLOCK_FREE(char, call);
    XMLRPC_MEMBLOCK_FREE(char, resp);
    xmlrpc_DECREF(params);
    xmlrpc_env_clean(&env);
    return result;
}

/* Writes @text to @rel under the fixture's system root. */
static void fx_file(Fixture *fx, const char *rel, const char *text)
{
    g_autofree char *path = g_build_filename(fx->dir, rel, NULL);
    g_autofree char *dir = g_path_get_dirname(path);

    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void assert_fault(Fixture *fx, xmlrpc_value *result, int code)
{
    g_assert_null(result);
    g_assert_cmpint(fx->fault_code, ==, code);
}

/* A string member of a struct result; freed by the caller. */
static char *member_string(xmlrpc_value *st, const char *key)
{
    xmlrpc_env env;
    xmlrpc_value *v;
    const char *s;
    char *ret;

    xmlrpc_env_init(&env);
    xmlrpc_struct_find_value(&env, st, key, &v);
    g_assert_false(env.fault_occurred);
    g_assert_nonnull(v);
    xmlrpc_read_string(&env, v, &s);
    g_assert_false(env.fault_occurred);
    ret = g_strdup(s);
    free((void *)s);
    xmlrpc_DECREF(v);
    xmlrpc_env_clean(&env);
    return ret;
}

static char *result_string(xmlrpc_value *v)
{
    xmlrpc_env env;
    const char *s;
    char *ret;

    g_assert_nonnull(v);
    xmlrpc_env_init(&env);
    xmlrpc_read_string(&env, v, &s);
    g_assert_false(env.fault_occurred);
    ret = g_strdup(s);
    free((void *)s);
    xmlrpc_DECREF(v);
    xmlrpc_env_clean(&env);
    return ret;
}

static void test_ping(Fixture *fx, gconstpointer data)
{
    g_autofree char *s = result_string(fx_call(fx, "va.ping", "()"));

    g_assert_cmpstr(s, ==, "pong");
    assert_fault(fx, fx_call(fx, "va.ping", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
    g_assert_nonnull(strstr(fx->fault_string, "expected 0 arguments"));
}

/* The names in capabilities' method list, joined by spaces. */
static char *capability_names(Fixture *fx)
{
    xmlrpc_env env;
    xmlrpc_value *caps = fx_call(fx, "va.capabilities", "()");
    xmlrpc_value *methods;
    g_autofree char *version = NULL;
    GString *names = g_string_new(NULL);
    int i, n;

    g_assert_nonnull(caps);
    version = member_string(caps, "version");
    g_assert_cmpstr(version, ==, QEMU_VA_VERSION);
    xmlrpc_env_init(&env);
    xmlrpc_struct_find_value(&env, caps, "methods", &methods);
    g_assert_nonnull(methods);
    n = xmlrpc_array_size(&env, methods);
    for (i = 0; i < n; i++) {
        xmlrpc_value *item;
        g_autofree char *name = NULL;

        xmlrpc_array_read_item(&env, methods, i, &item);
        name = result_string(item);
        g_string_append_printf(names, "%s%s", i ? " " : "", name);
    }
    g_assert_false(env.fault_occurred);
    xmlrpc_DECREF(methods);
    xmlrpc_DECREF(caps);
    xmlrpc_env_clean(&env);
    return g_string_free(names, false);
}

static xmlrpc_value *member(xmlrpc_value *st, const char *key);

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The va.* names system.listMethods gives, sorted, joined by spaces. */
static char *listed_names(Fixture *fx)
{
    xmlrpc_value *list = fx_call(fx, "system.listMethods", "()");
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    xmlrpc_env env;
    int i, n;

    g_assert_nonnull(list);
    xmlrpc_env_init(&env);
    n = xmlrpc_array_size(&env, list);
    for (i = 0; i < n; i++) {
        xmlrpc_value *item;
        char *name;

        xmlrpc_array_read_item(&env, list, i, &item);
        name = result_string(item);
        if (g_str_has_prefix(name, "va.")) {
            g_ptr_array_add(names, name);
        } else {
            g_free(name);
        }
    }
    g_assert_false(env.fault_occurred);
    xmlrpc_DECREF(list);
    xmlrpc_env_clean(&env);
    g_ptr_array_sort(names, cmp_strp);
    g_ptr_array_add(names, NULL);
    return g_strjoinv(" ", (char **)names->pdata);
}

static char *sorted_words(const char *text)
{
    g_auto(GStrv) words = g_strsplit(text, " ", -1);

    qsort(words, g_strv_length(words), sizeof(char *), cmp_strp);
    return g_strjoinv(" ", words);
}

static void test_capabilities(Fixture *fx, gconstpointer data)
{
    g_autofree char *all = capability_names(fx);
    g_autofree char *listed = listed_names(fx);
    g_autofree char *sorted = NULL, *some = NULL, *sig = NULL;
    g_auto(GStrv) words = g_strsplit(all, " ", -1);
    g_autofree char *feature = NULL;
    xmlrpc_value *caps, *sigs, *features, *item;
    xmlrpc_env env;

    /* The oldest first, in their order, then the rest. */
    g_assert_true(g_str_has_prefix(all, "va.ping va.capabilities va.info "
                                   "va.shutdown"));
    /* Every registered method, none twice. */
    sorted = sorted_words(all);
    g_assert_cmpstr(sorted, ==, listed);
    caps = fx_call(fx, "va.capabilities", "()");
    features = member(caps, "features");
    g_assert_nonnull(features);
    xmlrpc_env_init(&env);
    g_assert_cmpint(xmlrpc_array_size(&env, features), ==, 2);
    for (int i = 0; i < 2; i++) {
        xmlrpc_array_read_item(&env, features, i, &item);
        g_assert_false(env.fault_occurred);
        feature = result_string(item);
        g_assert_cmpstr(feature, ==, i ? "data-raw" : "data");
        g_clear_pointer(&feature, g_free);
    }
    xmlrpc_env_clean(&env);
    xmlrpc_DECREF(features);
    sigs = member(caps, "signatures");
    g_assert_nonnull(sigs);
    sig = member_string(sigs, "va.exec");
    g_assert_cmpstr(sig, ==, "S:A,S:AS");
    xmlrpc_env_init(&env);
    g_assert_cmpint(xmlrpc_struct_size(&env, sigs), ==,
                    (int)g_strv_length(words));
    xmlrpc_env_clean(&env);
    xmlrpc_DECREF(sigs);
    xmlrpc_DECREF(caps);
    fx->blocked = "va.shutdown";
    some = capability_names(fx);
    g_assert_null(strstr(some, "va.shutdown"));
    caps = fx_call(fx, "va.capabilities", "()");
    sigs = member(caps, "signatures");
    g_assert_null(member(sigs, "va.shutdown"));
    xmlrpc_DECREF(sigs);
    xmlrpc_DECREF(caps);
    g_assert_cmpuint(strlen(some), ==, strlen(all) - strlen(" va.shutdown"));
    assert_fault(fx, fx_call(fx, "va.capabilities", "(s)", "x"),
                 VA_FAULT_INVALID_ARGS);
}

static void test_info(Fixture *fx, gconstpointer data)
{
    g_autofree char *osr = g_build_filename(fx->dir, "os-release", NULL);
    g_autofree char *session = NULL, *kernel = NULL, *host = NULL;
    g_autofree char *pretty = NULL, *id = NULL;
    xmlrpc_value *info, *os, *v;
    xmlrpc_env env;

    g_assert_true(g_file_set_contents(osr, "# comment\nNAME=\"Debian "
                                      "GNU/Linux\"\nID=debian\n"
                                      "PRETTY_NAME='Debian 12 (bookworm)'\n"
                                      "HOME_URL=x\nbroken line\n", -1,
                                      NULL));
    fx->rpc.os_release_path = osr;
    info = fx_call(fx, "va.info", "()");
    g_assert_nonnull(info);
    session = member_string(info, "session");
    g_assert_cmpstr(session, ==, "0123456789abcdef");
    kernel = member_string(info, "kernel");
    g_assert_cmpstr(kernel, !=, "");
    host = member_string(info, "hostname");
    g_assert_cmpstr(host, ==, g_get_host_name());
    xmlrpc_env_init(&env);
    xmlrpc_struct_find_value(&env, info, "uptime_s", &v);
    g_assert_nonnull(v);
    g_assert_cmpint(xmlrpc_value_type(v), ==, XMLRPC_TYPE_I8);
    xmlrpc_DECREF(v);
    xmlrpc_struct_find_value(&env, info, "os", &os);
    g_assert_nonnull(os);
    pretty = member_string(os, "pretty_name");
    g_assert_cmpstr(pretty, ==, "Debian 12 (bookworm)");
    id = member_string(os, "id");
    g_assert_cmpstr(id, ==, "debian");
    g_assert_cmpint(xmlrpc_struct_size(&env, os), ==, 3);
    g_assert_false(env.fault_occurred);
    xmlrpc_DECREF(os);
    xmlrpc_DECREF(info);
    xmlrpc_env_clean(&env);
    assert_fault(fx, fx_call(fx, "va.info", "(b)", 1),
                 VA_FAULT_INVALID_ARGS);
}

static void test_shutdown(Fixture *fx, gconstpointer data)
{
    xmlrpc_value *v;
    int mode;

    for (mode = 0; mode < VA_SHUTDOWN__MAX; mode++) {
        v = fx_call(fx, "va.shutdown", "(s)", va_shutdown_mode_names[mode]);
        g_assert_nonnull(v);
        g_assert_cmpint(xmlrpc_value_type(v), ==, XMLRPC_TYPE_BOOL);
        xmlrpc_DECREF(v);
        g_assert_cmpint(fx->shutdowns, ==, mode + 1);
        g_assert_cmpint(fx->last_mode, ==, mode);
    }
    assert_fault(fx, fx_call(fx, "va.shutdown", "(s)", "explode"),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.shutdown", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.shutdown", "()"),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.shutdown", "(ss)", "halt", "now"),
                 VA_FAULT_INVALID_ARGS);
    g_assert_cmpint(fx->shutdowns, ==, VA_SHUTDOWN__MAX);
    fx->refuse_shutdown = true;
    assert_fault(fx, fx_call(fx, "va.shutdown", "(s)", "reboot"),
                 VA_FAULT_FAILED);
}

/* Reads a getfile result: data into @data, and its eof and size. */
static void read_chunk(xmlrpc_value *v, GBytes **data, bool *eof,
                       int64_t *size)
{
    xmlrpc_env env;
    const unsigned char *bytes;
    size_t len;
    xmlrpc_bool e;
    xmlrpc_int64 s;

    g_assert_nonnull(v);
    xmlrpc_env_init(&env);
    xmlrpc_decompose_value(&env, v, "{s:6,s:b,s:I,*}", "data", &bytes, &len,
                           "eof", &e, "size", &s);
    g_assert_false(env.fault_occurred);
    *data = g_bytes_new(bytes, len);
    *eof = e;
    *size = s;
    free((void *)bytes);
    xmlrpc_DECREF(v);
    xmlrpc_env_clean(&env);
}

/*
 * The data methods need the daemon's executor and a stream: through the
 * registry alone (system.multicall) they fault. How the executor runs
 * each method follows the tables.
 */
static void test_data_methods(Fixture *fx, gconstpointer data)
{
    g_autofree char *path = g_build_filename(fx->dir, "f", NULL);

    assert_fault(fx, fx_call(fx, "va.getfile_data", "(sii)", path, 0, -1),
                 VA_FAULT_FAILED);
    assert_fault(fx, fx_call(fx, "va.putfile_data", "(s)", path),
                 VA_FAULT_FAILED);
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    g_assert_cmpint(va_guest_method_run("va.getfile_data"), ==,
                    VA_GUEST_RUN_START);
    g_assert_cmpint(va_guest_method_run("va.putfile_data"), ==,
                    VA_GUEST_RUN_START);
    g_assert_cmpint(va_guest_method_run("va.getfile"), ==,
                    VA_GUEST_RUN_POOL);
    g_assert_cmpint(va_guest_method_run("va.ping"), ==,
                    VA_GUEST_RUN_INLINE);
    g_assert_cmpint(va_guest_method_run("va.nope"), ==,
                    VA_GUEST_RUN_INLINE);
}

static void test_getfile(Fixture *fx, gconstpointer data)
{
    g_autofree char *path = g_build_filename(fx->dir, "f", NULL);
    g_autofree char *big = g_build_filename(fx->dir, "big", NULL);
    g_autofree char *missing = g_build_filename(fx->dir, "nope", NULL);
    static const char content[] = "ab\0\xff\x01xyz";
    g_autofree char *huge = g_malloc0(VA_GETFILE_CHUNK_MAX + 10);
    GBytes *chunk;
    bool eof;
    int64_t size;

    g_assert_true(g_file_set_contents(path, content, 8, NULL));
    read_chunk(fx_call(fx, "va.getfile", "(sii)", path, 0, 100), &chunk,
               &eof, &size);
    g_assert_cmpmem(g_bytes_get_data(chunk, NULL), g_bytes_get_size(chunk),
                    content, 8);
    g_assert_true(eof);
    g_assert_cmpint(size, ==, 8);
    g_bytes_unref(chunk);

    /* i8 arguments, a chunk in the middle, then exactly up to the end. */
    read_chunk(fx_call(fx, "va.getfile", "(sII)", path, (xmlrpc_int64)2,
                       (xmlrpc_int64)3), &chunk, &eof, &size);
    g_assert_cmpmem(g_bytes_get_data(chunk, NULL), g_bytes_get_size(chunk),
                    content + 2, 3);
    g_assert_false(eof);
    g_bytes_unref(chunk);
    read_chunk(fx_call(fx, "va.getfile", "(sii)", path, 5, 3), &chunk, &eof,
               &size);
    g_assert_cmpint(g_bytes_get_size(chunk), ==, 3);
    g_assert_true(eof);
    g_bytes_unref(chunk);
    read_chunk(fx_call(fx, "va.getfile", "(sii)", path, 100, 3), &chunk,
               &eof, &size);
    g_assert_cmpint(g_bytes_get_size(chunk), ==, 0);
    g_assert_true(eof);
    g_bytes_unref(chunk);

    /* A huge length is clamped to the chunk size, not allocated. */
    g_assert_true(g_file_set_contents(big, huge, VA_GETFILE_CHUNK_MAX + 10,
                                      NULL));
    read_chunk(fx_call(fx, "va.getfile", "(sII)", big, (xmlrpc_int64)0,
                       (xmlrpc_int64)1 << 60), &chunk, &eof, &size);
    g_assert_cmpint(g_bytes_get_size(chunk), ==, VA_GETFILE_CHUNK_MAX);
    g_assert_false(eof);
    g_assert_cmpint(size, ==, VA_GETFILE_CHUNK_MAX + 10);
    g_bytes_unref(chunk);

    assert_fault(fx, fx_call(fx, "va.getfile", "(sii)", missing, 0, 1),
                 VA_FAULT_FAILED);
    g_assert_nonnull(strstr(fx->fault_string, "No such file or directory"));
    g_assert_nonnull(strstr(fx->fault_string, "ENOENT"));
    assert_fault(fx, fx_call(fx, "va.getfile", "(sii)", fx->dir, 0, 1),
                 VA_FAULT_FAILED);
    g_assert_nonnull(strstr(fx->fault_string, "EISDIR"));

    assert_fault(fx, fx_call(fx, "va.getfile", "(sii)", path, -1, 1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.getfile", "(sii)", path, 0, -1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.getfile", "(sII)", path,
                             (xmlrpc_int64)G_MAXINT64, (xmlrpc_int64)10),
                 VA_FAULT_INVALID_ARGS);
    /* Far past the end, yet representable: empty, at the end. */
    read_chunk(fx_call(fx, "va.getfile", "(sII)", path,
                       (xmlrpc_int64)1 << 62, (xmlrpc_int64)10), &chunk,
               &eof, &size);
    g_assert_cmpint(g_bytes_get_size(chunk), ==, 0);
    g_assert_true(eof);
    g_bytes_unref(chunk);
    assert_fault(fx, fx_call(fx, "va.getfile", "(sii)", "f", 0, 1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.getfile", "(ssi)", path, "0", 1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.getfile", "(iii)", 1, 0, 1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.getfile", "(si)", path, 0),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.getfile", "(siii)", path, 0, 1, 1),
                 VA_FAULT_INVALID_ARGS);
}

static void test_getdmesg(Fixture *fx, gconstpointer data)
{
    g_autofree char *kmsg = g_build_filename(fx->dir, "kmsg", NULL);
    g_autofree char *all = NULL, *tail = NULL, *none = NULL;
    xmlrpc_value *v;

    g_assert_true(g_file_set_contents(kmsg,
        "6,1,0,-;Linux version 6.1\n"
        " SUBSYSTEM=cpu\n"
        "4,2,1500000,-;second line\n"
        "6,3,12345678,c;third line\n", -1, NULL));
    fx->rpc.kmsg_path = kmsg;
    all = result_string(fx_call(fx, "va.getdmesg", "(i)", 4096));
    g_assert_cmpstr(all, ==, "[    0.000000] Linux version 6.1\n"
                    "[    1.500000] second line\n"
                    "[   12.345678] third line\n");
    /* The tail starts at a line, within max_bytes. */
    tail = result_string(fx_call(fx, "va.getdmesg", "(i)", 40));
    g_assert_cmpstr(tail, ==, "[   12.345678] third line\n");
    none = result_string(fx_call(fx, "va.getdmesg", "(i)", 0));
    g_assert_cmpstr(none, ==, "");
    assert_fault(fx, fx_call(fx, "va.getdmesg", "(i)", -1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.getdmesg", "(s)", "100"),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.getdmesg", "()"),
                 VA_FAULT_INVALID_ARGS);
    fx->rpc.kmsg_path = "/nonexistent/kmsg";
    assert_fault(fx, fx_call(fx, "va.getdmesg", "(i)", 10),
                 VA_FAULT_FAILED);

    /* The real log: text within the bound, or a fault saying why not. */
    fx->rpc.kmsg_path = NULL;
    v = fx_call(fx, "va.getdmesg", "(i)", 1000);
    if (v) {
        g_autofree char *real = result_string(v);

        g_assert_cmpuint(strlen(real), <=, 1000);
    } else {
        g_assert_cmpint(fx->fault_code, ==, VA_FAULT_FAILED);
    }
}

static int64_t result_i8(xmlrpc_value *v)
{
    xmlrpc_env env;
    xmlrpc_int64 i;

    g_assert_nonnull(v);
    xmlrpc_env_init(&env);
    xmlrpc_read_i8(&env, v, &i);
    g_assert_false(env.fault_occurred);
    xmlrpc_DECREF(v);
    xmlrpc_env_clean(&env);
    return i;
}

static int64_t member_int(xmlrpc_value *st, const char *key)
{
    xmlrpc_env env;
    xmlrpc_value *v;
    int64_t ret;

    xmlrpc_env_init(&env);
    xmlrpc_struct_find_value(&env, st, key, &v);
    g_assert_nonnull(v);
    if (xmlrpc_value_type(v) == XMLRPC_TYPE_INT) {
        int i;

        xmlrpc_read_int(&env, v, &i);
        ret = i;
        xmlrpc_DECREF(v);
    } else {
        ret = result_i8(v);
    }
    g_assert_false(env.fault_occurred);
    xmlrpc_env_clean(&env);
    return ret;
}

static double member_double(xmlrpc_value *st, const char *key)
{
    xmlrpc_env env;
    xmlrpc_value *v;
    double d;

    xmlrpc_env_init(&env);
    xmlrpc_struct_find_value(&env, st, key, &v);
    g_assert_nonnull(v);
    xmlrpc_read_double(&env, v, &d);
    g_assert_false(env.fault_occurred);
    xmlrpc_DECREF(v);
    xmlrpc_env_clean(&env);
    return d;
}

static void test_get_time(Fixture *fx, gconstpointer data)
{
    int64_t ns = result_i8(fx_call(fx, "va.get_time", "()"));
    int64_t now = g_get_real_time() * 1000;

    /* The same clock: a minute apart would be a wrong unit or clock. */
    g_assert_cmpint(ns, >, now - 60 * G_GINT64_CONSTANT(1000000000));
    g_assert_cmpint(ns, <=, now + 60 * G_GINT64_CONSTANT(1000000000));
    assert_fault(fx, fx_call(fx, "va.get_time", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
}

/* Sets TZ to @tz; NULL puts back what it was. */
static void with_tz(const char *tz)
{
    static char *saved;
    static bool had;

    if (tz) {
        had = g_getenv("TZ") != NULL;
        saved = g_strdup(g_getenv("TZ"));
        g_setenv("TZ", tz, true);
    } else if (had) {
        g_setenv("TZ", saved, true);
        g_clear_pointer(&saved, g_free);
    } else {
        g_unsetenv("TZ");
    }
    tzset();
}

static void test_set_time(Fixture *fx, gconstpointer data)
{
    const int64_t t = G_GINT64_CONSTANT(1700000000123456789);

    g_assert_cmpint(result_i8(fx_call(fx, "va.set_time", "(I)",
                                      (xmlrpc_int64)t)), ==, t);
    g_assert_cmpint(fx->clock_ns, ==, t);
    assert_fault(fx, fx_call(fx, "va.set_time", "(I)", (xmlrpc_int64)-1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.set_time", "(s)", "now"),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.set_time", "(ii)", 1, 2),
                 VA_FAULT_INVALID_ARGS);

    /* No RTC at all: the clock is left alone. */
    fx->clock_ns = 0;
    assert_fault(fx, fx_call(fx, "va.set_time", "()"), VA_FAULT_FAILED);
    g_assert_nonnull(strstr(fx->fault_string, "reading the RTC"));
    g_assert_cmpint(fx->clock_ns, ==, 0);

    /* From the RTC, which keeps UTC... */
    fx_file(fx, "sys/class/rtc/rtc0/since_epoch", "1700000000\n");
    g_assert_cmpint(result_i8(fx_call(fx, "va.set_time", "()")), ==,
                    G_GINT64_CONSTANT(1700000000000000000));
    g_assert_cmpint(fx->clock_ns, ==, G_GINT64_CONSTANT(1700000000000000000));
    /* ...or local time, as /etc/adjtime says (hwclock's file). */
    fx_file(fx, "etc/adjtime", "0.0 0 0.0\n0\nLOCAL\n");
    with_tz("EST5");
    g_assert_cmpint(result_i8(fx_call(fx, "va.set_time", "()")), ==,
                    G_GINT64_CONSTANT(1700018000000000000));
    with_tz(NULL);
    fx_file(fx, "sys/class/rtc/rtc0/since_epoch", "garbage\n");
    assert_fault(fx, fx_call(fx, "va.set_time", "()"), VA_FAULT_FAILED);

    /* The clock refuses (not root): the errno says so. */
    fx->clock_errno = EPERM;
    assert_fault(fx, fx_call(fx, "va.set_time", "(I)", (xmlrpc_int64)t),
                 VA_FAULT_FAILED);
    g_assert_nonnull(strstr(fx->fault_string, "EPERM"));
}

static void test_hostname_timezone(Fixture *fx, gconstpointer data)
{
    xmlrpc_value *v = fx_call(fx, "va.get_hostname", "()");
    g_autofree char *host = member_string(v, "host-name");
    g_autofree char *zone = NULL;

    g_assert_cmpstr(host, ==, g_get_host_name());
    xmlrpc_DECREF(v);
    with_tz("EST5");
    v = fx_call(fx, "va.get_timezone", "()");
    with_tz(NULL);
    g_assert_nonnull(v);
    zone = member_string(v, "zone");
    g_assert_cmpstr(zone, ==, "EST");
    g_assert_cmpint(member_int(v, "offset"), ==, -5 * 3600);
    xmlrpc_DECREF(v);
    assert_fault(fx, fx_call(fx, "va.get_hostname", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.get_timezone", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
}

static void test_osinfo(Fixture *fx, gconstpointer data)
{
    g_autofree char *osr = g_build_filename(fx->dir, "os-release", NULL);
    g_autofree char *kernel = NULL, *pretty = NULL, *vid = NULL;
    xmlrpc_env env;
    xmlrpc_value *v;

    g_assert_true(g_file_set_contents(osr, "NAME=Debian\nID=debian\n"
                                      "VERSION_ID=\"12\"\nPRETTY_NAME="
                                      "'Debian 12'\n", -1, NULL));
    fx->rpc.os_release_path = osr;
    v = fx_call(fx, "va.get_osinfo", "()");
    g_assert_nonnull(v);
    kernel = member_string(v, "kernel-release");
    g_assert_cmpstr(kernel, !=, "");
    pretty = member_string(v, "pretty-name");
    g_assert_cmpstr(pretty, ==, "Debian 12");
    vid = member_string(v, "version-id");
    g_assert_cmpstr(vid, ==, "12");
    xmlrpc_env_init(&env);
    /* Three from uname, four from the file. */
    g_assert_cmpint(xmlrpc_struct_size(&env, v), ==, 7);
    xmlrpc_env_clean(&env);
    xmlrpc_DECREF(v);
    assert_fault(fx, fx_call(fx, "va.get_osinfo", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
}

static void test_get_load(Fixture *fx, gconstpointer data)
{
    xmlrpc_value *v;

    assert_fault(fx, fx_call(fx, "va.get_load", "()"), VA_FAULT_FAILED);
    fx_file(fx, "proc/loadavg", "0.50 1.25 12.00 1/100 4242\n");
    v = fx_call(fx, "va.get_load", "()");
    g_assert_nonnull(v);
    g_assert_cmpfloat(member_double(v, "load1"), ==, 0.5);
    g_assert_cmpfloat(member_double(v, "load5"), ==, 1.25);
    g_assert_cmpfloat(member_double(v, "load15"), ==, 12.0);
    xmlrpc_DECREF(v);
    fx_file(fx, "proc/loadavg", "0.50 x\n");
    assert_fault(fx, fx_call(fx, "va.get_load", "()"), VA_FAULT_FAILED);
    assert_fault(fx, fx_call(fx, "va.get_load", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
}

static int array_len(xmlrpc_value *a)
{
    xmlrpc_env env;
    int n;

    xmlrpc_env_init(&env);
    n = xmlrpc_array_size(&env, a);
    g_assert_false(env.fault_occurred);
    xmlrpc_env_clean(&env);
    return n;
}

/* Item @i of an array (a new reference). */
static xmlrpc_value *array_item(xmlrpc_value *a, int i)
{
    xmlrpc_env env;
    xmlrpc_value *v;

    xmlrpc_env_init(&env);
    xmlrpc_array_read_item(&env, a, i, &v);
    g_assert_false(env.fault_occurred);
    xmlrpc_env_clean(&env);
    return v;
}

/* Member @key of a struct (a new reference), or NULL. */
static xmlrpc_value *member(xmlrpc_value *st, const char *key)
{
    xmlrpc_env env;
    xmlrpc_value *v = NULL;

    xmlrpc_env_init(&env);
    xmlrpc_struct_find_value(&env, st, key, &v);
    g_assert_false(env.fault_occurred);
    xmlrpc_env_clean(&env);
    return v;
}

/* The element of array @a whose string member @key is @value. */
static xmlrpc_value *find_by(xmlrpc_value *a, const char *key,
                             const char *value)
{
    int i, n = array_len(a);

    for (i = 0; i < n; i++) {
        xmlrpc_value *item = array_item(a, i);
        xmlrpc_value *m = member(item, key);
        g_autofree char *s = NULL;

        if (m) {
            s = result_string(m);
            if (strcmp(s, value) == 0) {
                return item;
            }
        }
        xmlrpc_DECREF(item);
    }
    return NULL;
}

static void test_network_interfaces(Fixture *fx, gconstpointer data)
{
    xmlrpc_value *ifs, *lo, *addrs, *a, *st;
    g_autofree char *mac = NULL, *type = NULL;

    fx_file(fx, "proc/net/dev",
            "Inter-|   Receive                            |  Transmit\n"
            " face |bytes    packets errs drop fifo frame compressed "
            "multicast|bytes    packets errs drop fifo colls carrier "
            "compressed\n"
            "    lo:    3267      29    1    2    0     0          0"
            "         0     4000      30    3    4    0     0       0"
            "          0\n");
    ifs = fx_call(fx, "va.network_get_interfaces", "()");
    g_assert_nonnull(ifs);
    lo = find_by(ifs, "name", "lo");
    g_assert_nonnull(lo);
    mac = member_string(lo, "hardware-address");
    g_assert_cmpstr(mac, ==, "00:00:00:00:00:00");
    addrs = member(lo, "ip-addresses");
    a = find_by(addrs, "ip-address", "127.0.0.1");
    g_assert_nonnull(a);
    type = member_string(a, "ip-address-type");
    g_assert_cmpstr(type, ==, "ipv4");
    g_assert_cmpint(member_int(a, "prefix"), ==, 8);
    st = member(lo, "statistics");
    g_assert_nonnull(st);
    g_assert_cmpint(member_int(st, "rx-bytes"), ==, 3267);
    g_assert_cmpint(member_int(st, "rx-errs"), ==, 1);
    g_assert_cmpint(member_int(st, "rx-dropped"), ==, 2);
    g_assert_cmpint(member_int(st, "tx-bytes"), ==, 4000);
    g_assert_cmpint(member_int(st, "tx-packets"), ==, 30);
    g_assert_cmpint(member_int(st, "tx-dropped"), ==, 4);
    xmlrpc_DECREF(st);
    xmlrpc_DECREF(a);
    xmlrpc_DECREF(addrs);
    xmlrpc_DECREF(lo);
    xmlrpc_DECREF(ifs);

    /* No counters to read: the interfaces come without statistics. */
    fx_file(fx, "proc/net/dev", "");
    ifs = fx_call(fx, "va.network_get_interfaces", "()");
    lo = find_by(ifs, "name", "lo");
    g_assert_null(member(lo, "statistics"));
    xmlrpc_DECREF(lo);
    xmlrpc_DECREF(ifs);
    assert_fault(fx, fx_call(fx, "va.network_get_interfaces", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
}

static void test_network_route(Fixture *fx, gconstpointer data)
{
    xmlrpc_value *routes, *r;
    g_autofree char *s1 = NULL, *s2 = NULL, *s3 = NULL, *s4 = NULL;
    g_autofree char *s5 = NULL, *s6 = NULL;

    routes = fx_call(fx, "va.network_get_route", "()");
    g_assert_cmpint(array_len(routes), ==, 0);
    xmlrpc_DECREF(routes);
    /* Not even the header line. */
    fx_file(fx, "proc/net/route", "");
    fx_file(fx, "proc/net/ipv6_route", "");
    routes = fx_call(fx, "va.network_get_route", "()");
    g_assert_cmpint(array_len(routes), ==, 0);
    xmlrpc_DECREF(routes);
    fx_file(fx, "proc/net/route",
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask"
            "\t\tMTU\tWindow\tIRTT\n"
            "eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
            "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t1500\t0\t0\n"
            "eth0\tnothex\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
            "short\n");
    fx_file(fx, "proc/net/ipv6_route",
            "fd000000000000000000000000000000 40 "
            "00000000000000000000000000000000 00 "
            "00000000000000000000000000000000 00000100 00000001 00000000 "
            "00000001     eth0\n"
            "00000000000000000000000000000000 00 "
            "00000000000000000000000000000000 00 "
            "fd000000000000000000000000000001 00000400 00000002 00000000 "
            "00000003     eth0\n"
            "fd00 40 x\n");
    routes = fx_call(fx, "va.network_get_route", "()");
    g_assert_nonnull(routes);
    g_assert_cmpint(array_len(routes), ==, 4);
    r = array_item(routes, 0);
    s1 = member_string(r, "destination");
    s2 = member_string(r, "gateway");
    g_assert_cmpstr(s1, ==, "0.0.0.0");
    g_assert_cmpstr(s2, ==, "192.0.2.1");
    g_assert_cmpint(member_int(r, "metric"), ==, 100);
    g_assert_cmpint(member_int(r, "flags"), ==, 3);
    g_assert_cmpint(member_int(r, "version"), ==, 4);
    xmlrpc_DECREF(r);
    r = array_item(routes, 1);
    s3 = member_string(r, "mask");
    g_assert_cmpstr(s3, ==, "255.255.255.0");
    g_assert_cmpint(member_int(r, "mtu"), ==, 1500);
    xmlrpc_DECREF(r);
    r = array_item(routes, 2);
    s4 = member_string(r, "destination");
    g_assert_cmpstr(s4, ==, "fd00::");
    g_assert_cmpint(member_int(r, "desprefixlen"), ==, 64);
    g_assert_cmpint(member_int(r, "metric"), ==, 256);
    g_assert_cmpint(member_int(r, "version"), ==, 6);
    xmlrpc_DECREF(r);
    r = array_item(routes, 3);
    s5 = member_string(r, "nexthop");
    g_assert_cmpstr(s5, ==, "fd00::1");
    s6 = member_string(r, "iface");
    g_assert_cmpstr(s6, ==, "eth0");
    xmlrpc_DECREF(r);
    xmlrpc_DECREF(routes);
    assert_fault(fx, fx_call(fx, "va.network_get_route", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
}

static void utmp_add(GString *buf, short type, const char *user, long sec,
                     long usec)
{
    struct utmpx ut;

    memset(&ut, 0, sizeof(ut));
    ut.ut_type = type;
    strncpy(ut.ut_user, user, sizeof(ut.ut_user));
    ut.ut_tv.tv_sec = sec;
    ut.ut_tv.tv_usec = usec;
    g_string_append_len(buf, (const char *)&ut, sizeof(ut));
}

static void test_get_users(Fixture *fx, gconstpointer data)
{
    g_autoptr(GString) utmp = g_string_new(NULL);
    g_autofree char *path = g_build_filename(fx->dir, "var/run/utmp", NULL);
    g_autofree char *u0 = NULL, *u1 = NULL;
    xmlrpc_value *users, *u;

    users = fx_call(fx, "va.get_users", "()");
    g_assert_cmpint(array_len(users), ==, 0);
    xmlrpc_DECREF(users);
    utmp_add(utmp, USER_PROCESS, "alice", 100, 500000);
    utmp_add(utmp, LOGIN_PROCESS, "LOGIN", 90, 0);
    utmp_add(utmp, USER_PROCESS, "alice", 50, 250000);
    utmp_add(utmp, DEAD_PROCESS, "dave", 10, 0);
    utmp_add(utmp, USER_PROCESS, "carol", 200, 0);
    /* A torn record at the end is ignored. */
    g_string_append_len(utmp, "xyz", 3);
    fx_file(fx, "var/run/utmp", "");
    g_assert_true(g_file_set_contents(path, utmp->str, utmp->len, NULL));
    users = fx_call(fx, "va.get_users", "()");
    g_assert_cmpint(array_len(users), ==, 2);
    u = array_item(users, 0);
    u0 = member_string(u, "user");
    g_assert_cmpstr(u0, ==, "alice");
    g_assert_cmpfloat(member_double(u, "login-time"), ==, 50.25);
    xmlrpc_DECREF(u);
    u = array_item(users, 1);
    u1 = member_string(u, "user");
    g_assert_cmpstr(u1, ==, "carol");
    xmlrpc_DECREF(u);
    xmlrpc_DECREF(users);
    assert_fault(fx, fx_call(fx, "va.get_users", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
}

/* Field @n of @user's line in the fixture's /etc/shadow. */
static char *shadow_field(Fixture *fx, const char *user, int n)
{
    g_autofree char *path = g_build_filename(fx->dir, "etc/shadow", NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    int i;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i]; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], ":", -1);

        if (g_strv_length(f) > (guint)n && strcmp(f[0], user) == 0) {
            return g_strdup(f[n]);
        }
    }
    return NULL;
}

static void test_set_user_password(Fixture *fx, gconstpointer data)
{
    g_autofree char *path = g_build_filename(fx->dir, "etc/shadow", NULL);
    g_autofree char *etc = g_build_filename(fx->dir, "etc", NULL);
    g_autofree char *hash = NULL, *root = NULL, *day = NULL;
    g_autofree char *today = g_strdup_printf("%ld",
                                             (long)(time(NULL) / 86400));
    struct crypt_data cd;
    struct stat st;
    xmlrpc_value *v;
    GDir *dir;
    const char *name;

    fx_file(fx, "etc/shadow", "root:$6$x$rootHash:19000:0:99999:7:::\n"
            "alice:!:19000:0:99999:7:::\n");
    g_assert_cmpint(chmod(path, 0640), ==, 0);
    v = fx_call(fx, "va.set_user_password", "(ssb)", "alice", "s3cret:x",
                (xmlrpc_bool)false);
    g_assert_nonnull(v);
    xmlrpc_DECREF(v);
    hash = shadow_field(fx, "alice", 1);
    g_assert_true(g_str_has_prefix(hash, "$6$"));
    memset(&cd, 0, sizeof(cd));
    g_assert_cmpstr(crypt_r("s3cret:x", hash, &cd), ==, hash);
    day = shadow_field(fx, "alice", 2);
    g_assert_cmpstr(day, ==, today);
    root = shadow_field(fx, "root", 1);
    g_assert_cmpstr(root, ==, "$6$x$rootHash");
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0640);

    v = fx_call(fx, "va.set_user_password", "(ssb)", "alice", "$6$s$h",
                (xmlrpc_bool)true);
    g_assert_nonnull(v);
    xmlrpc_DECREF(v);
    g_free(hash);
    hash = shadow_field(fx, "alice", 1);
    g_assert_cmpstr(hash, ==, "$6$s$h");

    assert_fault(fx, fx_call(fx, "va.set_user_password", "(ssb)", "bob",
                             "pw", (xmlrpc_bool)false), VA_FAULT_FAILED);
    g_assert_nonnull(strstr(fx->fault_string, "'bob' not in"));
    assert_fault(fx, fx_call(fx, "va.set_user_password", "(ssb)", "al:ice",
                             "pw", (xmlrpc_bool)false),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.set_user_password", "(ssb)", "alice",
                             "p\nw", (xmlrpc_bool)false),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.set_user_password", "(ssb)", "alice",
                             "$6$a:b", (xmlrpc_bool)true),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.set_user_password", "(ssb)", "alice",
                             "", (xmlrpc_bool)false), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.set_user_password", "(sss)", "alice",
                             "pw", "no"), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.set_user_password", "(ss)", "alice",
                             "pw"), VA_FAULT_INVALID_ARGS);
    g_free(hash);
    hash = shadow_field(fx, "alice", 1);
    g_assert_cmpstr(hash, ==, "$6$s$h");
    /* No temporary file left behind. */
    dir = g_dir_open(etc, 0, NULL);
    while ((name = g_dir_read_name(dir))) {
        g_assert_cmpstr(name, ==, "shadow");
    }
    g_dir_close(dir);
}

/* The keys va.ssh_get_authorized_keys gives for alice, joined by '|'. */
static char *alice_keys(Fixture *fx)
{
    xmlrpc_value *v = fx_call(fx, "va.ssh_get_authorized_keys", "(s)",
                              "alice");
    xmlrpc_value *keys;
    GString *out = g_string_new(NULL);
    int i, n;

    g_assert_nonnull(v);
    keys = member(v, "keys");
    n = array_len(keys);
    for (i = 0; i < n; i++) {
        g_autofree char *k = result_string(array_item(keys, i));

        g_string_append_printf(out, "%s%s", i ? "|" : "", k);
    }
    xmlrpc_DECREF(keys);
    xmlrpc_DECREF(v);
    return g_string_free(out, false);
}

static void ssh_add(Fixture *fx, bool reset, ...)
{
    xmlrpc_env env;
    xmlrpc_value *keys, *params, *v;
    const char *k;
    va_list ap;

    xmlrpc_env_init(&env);
    keys = xmlrpc_array_new(&env);
    va_start(ap, reset);
    while ((k = va_arg(ap, const char *))) {
        xmlrpc_value *s = xmlrpc_string_new(&env, k);

        xmlrpc_array_append_item(&env, keys, s);
        xmlrpc_DECREF(s);
    }
    va_end(ap);
    params = keys;
    v = fx_call(fx, "va.ssh_add_authorized_keys", "(sAb)", "alice", params,
                (xmlrpc_bool)reset);
    g_assert_nonnull(v);
    xmlrpc_DECREF(v);
    xmlrpc_DECREF(keys);
    xmlrpc_env_clean(&env);
}

static void test_ssh_keys(Fixture *fx, gconstpointer data)
{
    g_autofree char *passwd = g_strdup_printf(
        "root:x:0:0:root:/root:/bin/sh\n"
        "alice:x:%u:%u:Alice:/home/alice:/bin/sh\n", getuid(), getgid());
    g_autofree char *ssh = g_build_filename(fx->dir, "home/alice/.ssh",
                                            NULL);
    g_autofree char *file = g_build_filename(ssh, "authorized_keys", NULL);
    g_autofree char *target = g_build_filename(fx->dir, "etc/target", NULL);
    g_autofree char *k = NULL, *text = NULL;
    struct stat st;
    xmlrpc_value *v;

    fx_file(fx, "etc/passwd", passwd);
    fx_file(fx, "home/alice/.profile", "");
    k = alice_keys(fx);
    g_assert_cmpstr(k, ==, "");
    g_assert_false(g_file_test(ssh, G_FILE_TEST_EXISTS));

    ssh_add(fx, false, "ssh-ed25519 AAAA one", "ssh-rsa BBBB two", NULL);
    g_free(k);
    k = alice_keys(fx);
    g_assert_cmpstr(k, ==, "ssh-ed25519 AAAA one|ssh-rsa BBBB two");
    g_assert_cmpint(stat(ssh, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0700);
    g_assert_cmpint(st.st_uid, ==, getuid());
    g_assert_cmpint(stat(file, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0600);

    /* Comments stay, known keys are not added twice. */
    g_assert_true(g_file_set_contents(file, "# mine\nssh-rsa BBBB two\n\n",
                                      -1, NULL));
    ssh_add(fx, false, "ssh-rsa BBBB two", "ssh-ed25519 CCCC three", NULL);
    g_assert_true(g_file_get_contents(file, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "# mine\nssh-rsa BBBB two\n\n"
                    "ssh-ed25519 CCCC three\n");
    g_free(k);
    k = alice_keys(fx);
    g_assert_cmpstr(k, ==, "ssh-rsa BBBB two|ssh-ed25519 CCCC three");

    v = fx_call(fx, "va.ssh_remove_authorized_keys", "(s(ss))", "alice",
                "ssh-rsa BBBB two", "not there");
    g_assert_nonnull(v);
    xmlrpc_DECREF(v);
    g_free(k);
    k = alice_keys(fx);
    g_assert_cmpstr(k, ==, "ssh-ed25519 CCCC three");
    ssh_add(fx, true, "ssh-ed25519 DDDD four", NULL);
    g_free(k);
    k = alice_keys(fx);
    g_assert_cmpstr(k, ==, "ssh-ed25519 DDDD four");

    assert_fault(fx, fx_call(fx, "va.ssh_add_authorized_keys", "(s(s))",
                             "alice", "two\nlines"), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.ssh_add_authorized_keys", "(s(s))",
                             "alice", ""), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.ssh_add_authorized_keys", "(s(s))",
                             "alice", "# comment"), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.ssh_add_authorized_keys", "(ss)",
                             "alice", "key"), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.ssh_remove_authorized_keys", "(s(s)b)",
                             "alice", "key", (xmlrpc_bool)true),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.ssh_get_authorized_keys", "(s)", "bob"),
                 VA_FAULT_FAILED);
    assert_fault(fx, fx_call(fx, "va.ssh_get_authorized_keys", "(s)",
                             "../x"), VA_FAULT_INVALID_ARGS);

    /* A link planted by the user is not followed, nor its target hurt. */
    fx_file(fx, "etc/target", "precious\n");
    g_assert_cmpint(unlink(file), ==, 0);
    g_assert_cmpint(symlink(target, file), ==, 0);
    assert_fault(fx, fx_call(fx, "va.ssh_get_authorized_keys", "(s)",
                             "alice"), VA_FAULT_FAILED);
    assert_fault(fx, fx_call(fx, "va.ssh_add_authorized_keys", "(s(s))",
                             "alice", "k"), VA_FAULT_FAILED);
    g_free(text);
    g_assert_true(g_file_get_contents(target, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "precious\n");
}
static bool member_bool(xmlrpc_value *st, const char *key)
{
    xmlrpc_value *v = member(st, key);
    xmlrpc_env env;
    xmlrpc_bool b;

    g_assert_nonnull(v);
    xmlrpc_env_init(&env);
    xmlrpc_read_bool(&env, v, &b);
    g_assert_false(env.fault_occurred);
    xmlrpc_env_clean(&env);
    xmlrpc_DECREF(v);
    return b;
}


/* Bytes of a base64 member, as a string; NULL when absent. */
static char *member_data(xmlrpc_value *st, const char *key)
{
    xmlrpc_value *v = member(st, key);
    const unsigned char *bytes;
    xmlrpc_env env;
    size_t len;
    char *ret;

    if (!v) {
        return NULL;
    }
    xmlrpc_env_init(&env);
    xmlrpc_read_base64(&env, v, &len, &bytes);
    g_assert_false(env.fault_occurred);
    ret = g_strndup((const char *)bytes, len);
    g_assert_cmpuint(strlen(ret), ==, len);
    free((void *)bytes);
    xmlrpc_DECREF(v);
    xmlrpc_env_clean(&env);
    return ret;
}

static bool has_member(xmlrpc_value *st, const char *key)
{
    xmlrpc_value *v = member(st, key);

    if (v) {
        xmlrpc_DECREF(v);
    }
    return v != NULL;
}

/* Starts a process; returns its pid. */
static int exec_start(Fixture *fx, xmlrpc_value *argv, xmlrpc_value *opts)
{
    xmlrpc_value *v = opts ?
                      fx_call(fx, "va.exec", "(AS)", argv, opts) :
                      fx_call(fx, "va.exec", "(A)", argv);
    int pid;

    xmlrpc_DECREF(argv);
    if (opts) {
        xmlrpc_DECREF(opts);
    }
    g_assert_nonnull(v);
    pid = member_int(v, "pid");
    xmlrpc_DECREF(v);
    g_assert_cmpint(pid, >, 0);
    return pid;
}

/* Runs the main loop until the process has finished; its status. */
static xmlrpc_value *exec_wait(Fixture *fx, int pid)
{
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    for (;;) {
        xmlrpc_value *st = fx_call(fx, "va.exec_status", "(i)", pid);

        g_assert_nonnull(st);
        if (member_bool(st, "exited")) {
            return st;
        }
        xmlrpc_DECREF(st);
        /* A guard against a hang, not a measurement. */
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, true);
    }
}

static void test_exec(Fixture *fx, gconstpointer data)
{
    g_autofree char *out = NULL, *err = NULL;
    xmlrpc_value *st, *done;
    int pid;

    pid = exec_start(fx, build("(sss)", "sh", "-c",
                               "echo out; echo err >&2; exit 3"),
                     build("{s:s}", "capture-output", "separated"));
    st = exec_wait(fx, pid);
    g_assert_cmpint(member_int(st, "exitcode"), ==, 3);
    g_assert_false(has_member(st, "signal"));
    out = member_data(st, "out-data");
    err = member_data(st, "err-data");
    g_assert_cmpstr(out, ==, "out\n");
    g_assert_cmpstr(err, ==, "err\n");
    g_assert_false(has_member(st, "out-truncated"));
    xmlrpc_DECREF(st);
    /* The host was told, with the same status. */
    g_assert_cmpstr(fx->host_calls->str, ==, "va.exec_done ");
    g_assert_cmpint(array_len(fx->host_params), ==, 2);
    done = array_item(fx->host_params, 1);
    g_assert_cmpint(member_int(done, "exitcode"), ==, 3);
    g_free(out);
    out = member_data(done, "out-data");
    g_assert_cmpstr(out, ==, "out\n");
    xmlrpc_DECREF(done);
    /* A finished process's status is given once. */
    assert_fault(fx, fx_call(fx, "va.exec_status", "(i)", pid),
                 VA_FAULT_INVALID_ARGS);

    /* Merged output, stdin data, an environment of its own. */
    pid = exec_start(fx, build("(sss)", "sh", "-c",
                               "cat; echo \"$FOO\" >&2"),
                     build("{s:s,s:6,s:(s)}", "capture-output", "merged",
                           "input-data", "hello ", (size_t)6,
                           "env", "FOO=bar"));
    st = exec_wait(fx, pid);
    g_free(out);
    out = member_data(st, "out-data");
    g_assert_cmpstr(out, ==, "hello bar\n");
    g_assert_false(has_member(st, "err-data"));
    g_assert_cmpint(member_int(st, "exitcode"), ==, 0);
    xmlrpc_DECREF(st);

    /* No capture: no data; a signal instead of an exit code. */
    pid = exec_start(fx, build("(sss)", "sh", "-c", "echo x; kill -TERM $$"),
                     NULL);
    st = exec_wait(fx, pid);
    g_assert_cmpint(member_int(st, "signal"), ==, SIGTERM);
    g_assert_false(has_member(st, "exitcode"));
    g_assert_false(has_member(st, "out-data"));
    xmlrpc_DECREF(st);
}

static void test_exec_limits(Fixture *fx, gconstpointer data)
{
    g_autofree char *out = NULL;
    xmlrpc_value *st, *done;
    int pid;

    /* Output over the limit is read and dropped; the child finishes. */
    pid = exec_start(fx, build("(sss)", "sh", "-c",
                               "head -c 300000 /dev/zero | tr '\\0' a"),
                     build("{s:b,s:i}", "capture-output", (xmlrpc_bool)1,
                           "output-limit", 1000));
    st = exec_wait(fx, pid);
    out = member_data(st, "out-data");
    g_assert_cmpuint(strlen(out), ==, 1000);
    g_assert_true(member_bool(st, "out-truncated"));
    g_assert_cmpint(member_int(st, "exitcode"), ==, 0);
    xmlrpc_DECREF(st);
    done = array_item(fx->host_params, 1);
    g_assert_true(member_bool(done, "out-truncated"));
    g_assert_false(has_member(done, "data-omitted"));
    xmlrpc_DECREF(done);

    /* Too much for the host's call limit: the host is told to poll. */
    pid = exec_start(fx, build("(sss)", "sh", "-c",
                               "head -c 300000 /dev/zero | tr '\\0' a"),
                     build("{s:b}", "capture-output", (xmlrpc_bool)1));
    st = exec_wait(fx, pid);
    g_free(out);
    out = member_data(st, "out-data");
    g_assert_cmpuint(strlen(out), ==, 300000);
    g_assert_false(has_member(st, "out-truncated"));
    xmlrpc_DECREF(st);
    done = array_item(fx->host_params, 1);
    g_assert_false(has_member(done, "out-data"));
    g_assert_true(member_bool(done, "data-omitted"));
    g_assert_cmpint(member_int(done, "exitcode"), ==, 0);
    xmlrpc_DECREF(done);

    /* The timeout kills the whole process group. */
    pid = exec_start(fx, build("(sss)", "sh", "-c", "sleep 100 & wait"),
                     build("{s:i,s:b}", "timeout-ms", 100,
                           "capture-output", (xmlrpc_bool)1));
    st = exec_wait(fx, pid);
    g_assert_cmpint(member_int(st, "signal"), ==, SIGKILL);
    g_assert_true(member_bool(st, "timed-out"));
    xmlrpc_DECREF(st);

    /* Running until killed: exited is false meanwhile. */
    pid = exec_start(fx, build("(ss)", "sleep", "100"), NULL);
    st = fx_call(fx, "va.exec_status", "(i)", pid);
    g_assert_false(member_bool(st, "exited"));
    g_assert_false(has_member(st, "exitcode"));
    xmlrpc_DECREF(st);
    g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
    st = exec_wait(fx, pid);
    g_assert_cmpint(member_int(st, "signal"), ==, SIGKILL);
    g_assert_false(has_member(st, "timed-out"));
    xmlrpc_DECREF(st);

    assert_fault(fx, fx_call(fx, "va.exec", "((s))", "/nonexistent/prog"),
                 VA_FAULT_FAILED);
    assert_fault(fx, fx_call(fx, "va.exec", "(())"), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.exec", "((s))", ""),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.exec", "((i))", 1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.exec", "(s)", "true"),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.exec", "((s){s:i})", "true", "bogus",
                             1), VA_FAULT_INVALID_ARGS);
    g_assert_nonnull(strstr(fx->fault_string, "unknown option 'bogus'"));
    assert_fault(fx, fx_call(fx, "va.exec", "((s){s:s})", "true",
                             "capture-output", "all"),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.exec", "((s){s:i})", "true",
                             "timeout-ms", -1), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.exec", "((s){s:i})", "true",
                             "output-limit", 600 * 1024),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.exec", "((s){s:s})", "true",
                             "input-data", "not base64"),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.exec", "((s)s)", "true", "x"),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.exec_status", "(i)", 0),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.exec_status", "(s)", "1"),
                 VA_FAULT_INVALID_ARGS);
}

static int64_t file_open(Fixture *fx, const char *path, const char *mode)
{
    return result_i8(fx_call(fx, "va.file_open", "(ss)", path, mode));
}

/* Reads @count bytes; returns them as a string, and the eof flag. */
static char *file_read(Fixture *fx, int64_t h, int count, bool *eof)
{
    xmlrpc_value *v = fx_call(fx, "va.file_read", "(Ii)", (xmlrpc_int64)h,
                              count);
    char *data;

    g_assert_nonnull(v);
    data = member_data(v, "buf-b64");
    g_assert_cmpint(member_int(v, "count"), ==, strlen(data));
    *eof = member_bool(v, "eof");
    xmlrpc_DECREF(v);
    return data;
}

static void file_close(Fixture *fx, int64_t h)
{
    xmlrpc_value *v = fx_call(fx, "va.file_close", "(I)", (xmlrpc_int64)h);

    g_assert_nonnull(v);
    xmlrpc_DECREF(v);
}

static void test_file_handles(Fixture *fx, gconstpointer data)
{
    g_autofree char *path = g_build_filename(fx->dir, "f", NULL);
    g_autofree char *text = NULL, *got = NULL;
    xmlrpc_value *v;
    struct stat st;
    int64_t h;
    bool eof;

    h = file_open(fx, path, "w+");
    g_assert_cmpint(h, >, 0);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    v = fx_call(fx, "va.file_write", "(I6)", (xmlrpc_int64)h,
                "hello world", (size_t)11);
    g_assert_cmpint(member_int(v, "count"), ==, 11);
    xmlrpc_DECREF(v);
    /* count: only the first bytes of the data. */
    v = fx_call(fx, "va.file_write", "(I6i)", (xmlrpc_int64)h, "!?", 2, 1);
    g_assert_cmpint(member_int(v, "count"), ==, 1);
    xmlrpc_DECREF(v);
    v = fx_call(fx, "va.file_seek", "(Iis)", (xmlrpc_int64)h, 0, "set");
    g_assert_cmpint(member_int(v, "position"), ==, 0);
    g_assert_false(member_bool(v, "eof"));
    xmlrpc_DECREF(v);
    got = file_read(fx, h, 5, &eof);
    g_assert_cmpstr(got, ==, "hello");
    g_assert_false(eof);
    g_free(got);
    v = fx_call(fx, "va.file_read", "(I)", (xmlrpc_int64)h);
    got = member_data(v, "buf-b64");
    g_assert_cmpstr(got, ==, " world!");
    g_assert_true(member_bool(v, "eof"));
    xmlrpc_DECREF(v);
    v = fx_call(fx, "va.file_seek", "(Iii)", (xmlrpc_int64)h, -3, 2);
    g_assert_cmpint(member_int(v, "position"), ==, 9);
    xmlrpc_DECREF(v);
    v = fx_call(fx, "va.file_flush", "(I)", (xmlrpc_int64)h);
    g_assert_nonnull(v);
    xmlrpc_DECREF(v);

    assert_fault(fx, fx_call(fx, "va.file_read", "(Ii)", (xmlrpc_int64)h,
                             -1), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.file_read", "(Ii)", (xmlrpc_int64)h,
                             VA_GETFILE_CHUNK_MAX + 1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.file_write", "(I6i)", (xmlrpc_int64)h,
                             "ab", (size_t)2, 3), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.file_write", "(Is)", (xmlrpc_int64)h,
                             "text"), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.file_seek", "(Iii)", (xmlrpc_int64)h,
                             0, 3), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.file_seek", "(Iis)", (xmlrpc_int64)h,
                             0, "middle"), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.file_seek", "(Iii)", (xmlrpc_int64)h,
                             -100, 0), VA_FAULT_FAILED);
    file_close(fx, h);
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "hello world!");
    /* A closed handle is gone. */
    assert_fault(fx, fx_call(fx, "va.file_read", "(I)", (xmlrpc_int64)h),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.file_close", "(I)", (xmlrpc_int64)h),
                 VA_FAULT_INVALID_ARGS);

    /* Append mode; "b" is accepted and means nothing. */
    h = file_open(fx, path, "ab");
    v = fx_call(fx, "va.file_write", "(I6)", (xmlrpc_int64)h, "+", 1);
    xmlrpc_DECREF(v);
    file_close(fx, h);
    g_free(text);
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "hello world!+");
    /* Read only by default. */
    h = result_i8(fx_call(fx, "va.file_open", "(s)", path));
    assert_fault(fx, fx_call(fx, "va.file_write", "(I6)", (xmlrpc_int64)h,
                             "x", 1), VA_FAULT_FAILED);
    g_assert_nonnull(strstr(fx->fault_string, "EBADF"));
    file_close(fx, h);

    assert_fault(fx, fx_call(fx, "va.file_open", "(ss)", "rel", "r"),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.file_open", "(ss)", path, "rw"),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.file_open", "(ss)", fx->dir, "r"),
                 VA_FAULT_FAILED);
    g_assert_nonnull(strstr(fx->fault_string, "EISDIR"));
    assert_fault(fx, fx_call(fx, "va.file_open", "(ss)", "/nonexistent/x",
                             "r"), VA_FAULT_FAILED);
    g_assert_nonnull(strstr(fx->fault_string, "ENOENT"));
    assert_fault(fx, fx_call(fx, "va.file_open", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.file_read", "(s)", "1000"),
                 VA_FAULT_INVALID_ARGS);
}

static void test_file_limits(Fixture *fx, gconstpointer data)
{
    g_autofree char *path = g_build_filename(fx->dir, "f", NULL);
    int64_t handles[VA_FILE_HANDLES_MAX];
    g_autofree char *got = NULL;
    int64_t h;
    bool eof;
    int i;

    g_assert_true(g_file_set_contents(path, "data", -1, NULL));
    for (i = 0; i < VA_FILE_HANDLES_MAX; i++) {
        handles[i] = file_open(fx, path, "r");
    }
    assert_fault(fx, fx_call(fx, "va.file_open", "(ss)", path, "r"),
                 VA_FAULT_BUSY);
    file_close(fx, handles[0]);
    handles[0] = file_open(fx, path, "r");

    /* Another session does not see them... */
    fx->session = "fedcba9876543210";
    assert_fault(fx, fx_call(fx, "va.file_read", "(I)",
                             (xmlrpc_int64)handles[1]),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.file_close", "(I)",
                             (xmlrpc_int64)handles[1]),
                 VA_FAULT_INVALID_ARGS);
    fx->session = NULL;
    got = file_read(fx, handles[1], 10, &eof);
    g_assert_cmpstr(got, ==, "data");
    g_assert_true(eof);

    /* ...and they die with theirs. */
    va_guest_rpc_session_end(&fx->rpc);
    for (i = 0; i < VA_FILE_HANDLES_MAX; i++) {
        assert_fault(fx, fx_call(fx, "va.file_read", "(I)",
                                 (xmlrpc_int64)handles[i]),
                     VA_FAULT_INVALID_ARGS);
    }
    h = file_open(fx, path, "r");
    /* Handles are not reused. */
    for (i = 0; i < VA_FILE_HANDLES_MAX; i++) {
        g_assert_cmpint(h, !=, handles[i]);
    }
    file_close(fx, h);
}

/* Names in @dir other than "." and ".."; a leftover temporary shows. */
static guint dir_entries(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    guint n = 0;

    g_assert_nonnull(d);
    while (g_dir_read_name(d)) {
        n++;
    }
    g_dir_close(d);
    return n;
}

/* A chunk of a transfer; returns the answer's transfer id. */
static int64_t put_chunk(Fixture *fx, const char *path, const char *data,
                         int64_t transfer, bool final, int64_t size)
{
    xmlrpc_value *v;
    int64_t id;

    if (transfer < 0) {
        v = fx_call(fx, "va.putfile", "(s6{s:b})", path, data, strlen(data),
                    "final", (xmlrpc_bool)final);
    } else {
        v = fx_call(fx, "va.putfile", "(s6{s:I,s:b})", path, data,
                    strlen(data), "transfer", (xmlrpc_int64)transfer,
                    "final", (xmlrpc_bool)final);
    }
    g_assert_nonnull(v);
    g_assert_cmpint(member_int(v, "size"), ==, size);
    g_assert_cmpint(member_bool(v, "done"), ==, final);
    id = member_int(v, "transfer");
    xmlrpc_DECREF(v);
    return id;
}

static void test_putfile(Fixture *fx, gconstpointer data)
{
    g_autofree char *dir = g_build_filename(fx->dir, "put", NULL);
    g_autofree char *path = g_build_filename(dir, "f", NULL);
    g_autofree char *text = NULL;
    xmlrpc_value *v;
    struct stat st;
    int64_t t;

    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    /* One call: written, synced and in place; 0644 for a new file. */
    v = fx_call(fx, "va.putfile", "(s6)", path, "hello", (size_t)5);
    g_assert_nonnull(v);
    g_assert_true(member_bool(v, "done"));
    g_assert_cmpint(member_int(v, "size"), ==, 5);
    xmlrpc_DECREF(v);
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "hello");
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0644);
    g_assert_cmpuint(dir_entries(dir), ==, 1);

    /* In chunks: the old file stays until the last one. */
    g_assert_cmpint(chmod(path, 0640), ==, 0);
    t = put_chunk(fx, path, "new ", -1, false, 4);
    g_assert_cmpint(t, >, 0);
    g_assert_cmpuint(dir_entries(dir), ==, 2);
    g_clear_pointer(&text, g_free);
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "hello");
    g_assert_cmpint(put_chunk(fx, path, "con", t, false, 7), ==, t);
    g_assert_cmpint(put_chunk(fx, path, "tent", t, true, 11), ==, t);
    g_clear_pointer(&text, g_free);
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "new content");
    g_assert_cmpuint(dir_entries(dir), ==, 1);
    /* The old file's mode is kept. */
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0640);
    /* A complete transfer takes no more chunks. */
    assert_fault(fx, fx_call(fx, "va.putfile", "(s6{s:I})", path, "x", 1,
                             "transfer", (xmlrpc_int64)t),
                 VA_FAULT_INVALID_ARGS);

    /* Offsets, out of order; mode and owner (our own) on the last. */
    t = put_chunk(fx, path, "", -1, false, 0);
    v = fx_call(fx, "va.putfile", "(s6{s:I,s:I,s:b})", path, "world", 5,
                "transfer", (xmlrpc_int64)t, "offset", (xmlrpc_int64)6,
                "final", (xmlrpc_bool)false);
    g_assert_cmpint(member_int(v, "size"), ==, 11);
    xmlrpc_DECREF(v);
    g_free(text);
    text = g_strdup_printf("%u:%u", (unsigned)getuid(), (unsigned)getgid());
    v = fx_call(fx, "va.putfile", "(s6{s:I,s:I,s:i,s:s})", path, "hello ",
                6, "transfer", (xmlrpc_int64)t, "offset", (xmlrpc_int64)0,
                "mode", 0600, "owner", text);
    g_assert_true(member_bool(v, "done"));
    g_assert_cmpint(member_int(v, "size"), ==, 11);
    xmlrpc_DECREF(v);
    g_clear_pointer(&text, g_free);
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "hello world");
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0600);
    g_assert_cmpuint(dir_entries(dir), ==, 1);

    /* Another path under the same transfer is refused, and kept. */
    t = put_chunk(fx, path, "abc", -1, false, 3);
    assert_fault(fx, fx_call(fx, "va.putfile", "(s6{s:I})", dir, "x", 1,
                             "transfer", (xmlrpc_int64)t),
                 VA_FAULT_INVALID_ARGS);
    /* An unknown owner fails the commit, and the transfer with it. */
    assert_fault(fx, fx_call(fx, "va.putfile", "(s6{s:I,s:s})", path, "d",
                             1, "transfer", (xmlrpc_int64)t, "owner",
                             "no-such-user-here"), VA_FAULT_INVALID_ARGS);
    g_assert_cmpuint(dir_entries(dir), ==, 1);
    g_clear_pointer(&text, g_free);
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "hello world");
    assert_fault(fx, fx_call(fx, "va.putfile_abort", "(I)",
                             (xmlrpc_int64)t), VA_FAULT_INVALID_ARGS);

    /* Aborted: nothing left, the old file untouched. */
    t = put_chunk(fx, path, "partial", -1, false, 7);
    v = fx_call(fx, "va.putfile_abort", "(I)", (xmlrpc_int64)t);
    g_assert_nonnull(v);
    xmlrpc_DECREF(v);
    g_assert_cmpuint(dir_entries(dir), ==, 1);
    assert_fault(fx, fx_call(fx, "va.putfile", "(s6{s:I})", path, "x", 1,
                             "transfer", (xmlrpc_int64)t),
                 VA_FAULT_INVALID_ARGS);
    g_clear_pointer(&text, g_free);
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "hello world");

    /* Another session cannot see a transfer; its end aborts it. */
    t = put_chunk(fx, path, "partial", -1, false, 7);
    fx->session = "fedcba9876543210";
    assert_fault(fx, fx_call(fx, "va.putfile_abort", "(I)",
                             (xmlrpc_int64)t), VA_FAULT_INVALID_ARGS);
    fx->session = NULL;
    g_assert_cmpuint(dir_entries(dir), ==, 2);
    va_guest_rpc_session_end(&fx->rpc);
    g_assert_cmpuint(dir_entries(dir), ==, 1);
    assert_fault(fx, fx_call(fx, "va.putfile", "(s6{s:I})", path, "x", 1,
                             "transfer", (xmlrpc_int64)t),
                 VA_FAULT_INVALID_ARGS);

    /* One left open is dropped with the agent (ASan sees no leak). */
    put_chunk(fx, path, "left", -1, false, 4);
}

/* Temporaries are recorded while they exist; a later start removes them. */
static void test_putfile_records(Fixture *fx, gconstpointer data)
{
    g_autofree char *state = g_build_filename(fx->dir, "state", NULL);
    g_autofree char *dir = g_build_filename(fx->dir, "rec", NULL);
    g_autofree char *path = g_build_filename(dir, "f", NULL);
    g_autofree char *tmp = g_build_filename(dir, ".f.va-ABCDEF", NULL);
    g_autofree char *other = g_build_filename(dir, "victim", NULL);
    g_autofree char *rec1 = g_build_filename(state, "qemu-va-putfile-1",
                                             NULL);
    g_autofree char *rec2 = g_build_filename(state, "qemu-va-putfile-2",
                                             NULL);
    xmlrpc_value *v;
    int64_t t;

    g_assert_cmpint(g_mkdir(state, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    fx->rpc.statedir = state;
    /* One record per transfer under way, gone when it ends either way. */
    t = put_chunk(fx, path, "a", -1, false, 1);
    g_assert_cmpuint(dir_entries(state), ==, 1);
    g_assert_cmpint(put_chunk(fx, path, "b", t, true, 2), ==, t);
    g_assert_cmpuint(dir_entries(state), ==, 0);
    t = put_chunk(fx, path, "c", -1, false, 1);
    g_assert_cmpuint(dir_entries(state), ==, 1);
    v = fx_call(fx, "va.putfile_abort", "(I)", (xmlrpc_int64)t);
    g_assert_nonnull(v);
    xmlrpc_DECREF(v);
    g_assert_cmpuint(dir_entries(state), ==, 0);

    /*
     * What a killed agent leaves: its temporary goes; a record naming
     * anything but a temporary's name removes only the record.
     */
    g_assert_true(g_file_set_contents(tmp, "partial", -1, NULL));
    g_assert_true(g_file_set_contents(rec1, tmp, -1, NULL));
    g_assert_true(g_file_set_contents(other, "keep", -1, NULL));
    g_assert_true(g_file_set_contents(rec2, other, -1, NULL));
    g_assert_cmpuint(va_put_reclaim(state), ==, 1);
    g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(other, G_FILE_TEST_EXISTS));
    g_assert_cmpuint(dir_entries(state), ==, 0);
    g_assert_cmpuint(dir_entries(dir), ==, 2);      /* f and victim */
    fx->rpc.statedir = NULL;
}

static void test_putfile_errors(Fixture *fx, gconstpointer data)
{
    g_autofree char *file = g_build_filename(fx->dir, "file", NULL);
    g_autofree char *under = g_build_filename(file, "x", NULL);
    g_autofree char *ro = g_build_filename(fx->dir, "ro", NULL);
    g_autofree char *in_ro = g_build_filename(ro, "x", NULL);

    g_assert_true(g_file_set_contents(file, "f", -1, NULL));
    assert_fault(fx, fx_call(fx, "va.putfile", "(s6)", "/nonexistent/dir/x",
                             "x", 1), VA_FAULT_FAILED);
    g_assert_nonnull(strstr(fx->fault_string, "/nonexistent/dir/x: "));
    g_assert_nonnull(strstr(fx->fault_string, "(ENOENT)"));
    assert_fault(fx, fx_call(fx, "va.putfile", "(s6)", under, "x", 1),
                 VA_FAULT_FAILED);
    g_assert_nonnull(strstr(fx->fault_string, "(ENOTDIR)"));
    assert_fault(fx, fx_call(fx, "va.putfile", "(s6)", fx->dir, "x", 1),
                 VA_FAULT_FAILED);
    g_assert_nonnull(strstr(fx->fault_string, "(EISDIR)"));
    /* root writes anywhere: EACCES only for an ordinary user. */
    if (geteuid() != 0) {
        g_assert_cmpint(g_mkdir(ro, 0500), ==, 0);
        assert_fault(fx, fx_call(fx, "va.putfile", "(s6)", in_ro, "x", 1),
                     VA_FAULT_FAILED);
        g_assert_nonnull(strstr(fx->fault_string, "(EACCES)"));
        g_assert_cmpuint(dir_entries(ro), ==, 0);
    }

    assert_fault(fx, fx_call(fx, "va.putfile", "(s6)", "rel", "x", 1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.putfile", "(ss)", file, "text"),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.putfile", "(s6{s:i})", file, "x", 1,
                             "mode", 010000), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.putfile", "(s6{s:i})", file, "x", 1,
                             "offset", -2), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.putfile", "(s6{s:i})", file, "x", 1,
                             "size", 1), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.putfile", "(s6{s:I})", file, "x", 1,
                             "transfer", (xmlrpc_int64)12345),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.putfile_abort", "(s)", "1"),
                 VA_FAULT_INVALID_ARGS);
    /* Nothing of all that was left behind. */
    g_assert_cmpuint(dir_entries(fx->dir), ==, geteuid() != 0 ? 2 : 1);
}

static const char mountinfo[] =
    "21 26 0:20 / /proc rw,relatime - proc proc rw\n"
    "26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
    "30 26 254:16 / /mnt/data\\040x rw - ext4 /dev/vdb rw\n"
    "31 26 254:16 /sub /bind rw - ext4 /dev/vdb rw\n"
    "32 26 0:45 / /tmp rw - tmpfs tmpfs rw\n"
    "33 26 254:32 / /mnt/vfat rw shared:7 master:2 - vfat /dev/vdc rw\n"
    "garbage\n";

static void fs_tree(Fixture *fx)
{
    fx_file(fx, "proc/self/mountinfo", mountinfo);
    fx_file(fx, "mnt/data x/.keep", "");
    fx_file(fx, "mnt/vfat/.keep", "");
    fx_file(fx, "tmp/.keep", "");
    fx->fs_unsupported = "/mnt/vfat";
}

static int call_int(Fixture *fx, const char *method, const char *format,
                    ...)
{
    xmlrpc_env env;
    xmlrpc_value *params, *v;
    const char *tail;
    va_list ap;
    int i;

    xmlrpc_env_init(&env);
    va_start(ap, format);
    xmlrpc_build_value_va(&env, format, ap, &params, &tail);
    va_end(ap);
    v = fx_call(fx, method, "A", params);
    xmlrpc_DECREF(params);
    g_assert_nonnull(v);
    xmlrpc_read_int(&env, v, &i);
    g_assert_false(env.fault_occurred);
    xmlrpc_DECREF(v);
    xmlrpc_env_clean(&env);
    return i;
}

static char *fs_status(Fixture *fx)
{
    return result_string(fx_call(fx, "va.fsfreeze_status", "()"));
}

static void test_fsfreeze(Fixture *fx, gconstpointer data)
{
    g_autofree char *hook = g_build_filename(fx->dir, "hook", NULL);
    g_autofree char *hook_log = g_build_filename(fx->dir, "hook.log", NULL);
    g_autofree char *script = g_strdup_printf("#!/bin/sh\necho \"$1\" >> "
                                              "'%s'\n", hook_log);
    g_autofree char *st = NULL, *text = NULL;

    fs_tree(fx);
    g_assert_true(g_file_set_contents(hook, script, -1, NULL));
    g_assert_cmpint(chmod(hook, 0700), ==, 0);
    fx->rpc.fsfreeze_hook = hook;

    st = fs_status(fx);
    g_assert_cmpstr(st, ==, "thawed");
    /* The last mounted first; each device once; vfat cannot freeze. */
    g_assert_cmpint(call_int(fx, "va.fsfreeze_freeze", "()"), ==, 2);
    g_assert_cmpstr(fx->fs_log->str, ==, "freeze /mnt/vfat|"
                    "freeze /mnt/data x|freeze /|");
    g_free(st);
    st = fs_status(fx);
    g_assert_cmpstr(st, ==, "frozen");
    g_assert_cmpint(fx->frozen_calls, ==, 1);

    /* Frozen: qemu-ga's few methods only. */
    assert_fault(fx, fx_call(fx, "va.get_time", "()"), VA_FAULT_FAILED);
    g_assert_nonnull(strstr(fx->fault_string, "frozen"));
    g_free(st);
    st = result_string(fx_call(fx, "va.ping", "()"));
    g_assert_cmpstr(st, ==, "pong");
    assert_fault(fx, fx_call(fx, "va.fsfreeze_freeze", "()"),
                 VA_FAULT_FAILED);

    g_string_truncate(fx->fs_log, 0);
    g_assert_cmpint(call_int(fx, "va.fsfreeze_thaw", "()"), ==, 2);
    g_assert_cmpint(g_hash_table_size(fx->fs_frozen), ==, 0);
    g_free(st);
    st = fs_status(fx);
    g_assert_cmpstr(st, ==, "thawed");
    g_assert_cmpint(fx->frozen_calls, ==, 2);
    g_assert_true(g_file_get_contents(hook_log, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "freeze\nthaw\n");
    /* Thawing what is thawed: nothing, and no fault. */
    g_assert_cmpint(call_int(fx, "va.fsfreeze_thaw", "()"), ==, 0);

    /* A list; its mountpoints must be block-device filesystems. */
    g_string_truncate(fx->fs_log, 0);
    g_assert_cmpint(call_int(fx, "va.fsfreeze_freeze_list", "((s))",
                             "/mnt/data x"), ==, 1);
    g_assert_cmpstr(fx->fs_log->str, ==, "freeze /mnt/data x|");
    g_assert_cmpint(call_int(fx, "va.fsfreeze_thaw", "()"), ==, 1);
    assert_fault(fx, fx_call(fx, "va.fsfreeze_freeze_list", "((s))", "/tmp"),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.fsfreeze_freeze_list", "((s))",
                             "/nope"), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.fsfreeze_freeze_list", "(s)", "/"),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.fsfreeze_freeze", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);

    /* One fails: all or nothing. */
    fx->fs_failing = "/";
    assert_fault(fx, fx_call(fx, "va.fsfreeze_freeze", "()"),
                 VA_FAULT_FAILED);
    g_assert_nonnull(strstr(fx->fault_string, "freezing /: "));
    g_assert_cmpint(g_hash_table_size(fx->fs_frozen), ==, 0);
    g_free(st);
    st = fs_status(fx);
    g_assert_cmpstr(st, ==, "thawed");
    fx->fs_failing = NULL;

    /* A failing hook: nothing is frozen. */
    g_assert_true(g_file_set_contents(hook, "#!/bin/sh\nexit 3\n", -1, NULL));
    assert_fault(fx, fx_call(fx, "va.fsfreeze_freeze", "()"),
                 VA_FAULT_FAILED);
    g_assert_nonnull(strstr(fx->fault_string, "fsfreeze hook"));
    g_assert_cmpint(g_hash_table_size(fx->fs_frozen), ==, 0);
    fx->rpc.fsfreeze_hook = "/nonexistent/hook";
    assert_fault(fx, fx_call(fx, "va.fsfreeze_freeze", "()"),
                 VA_FAULT_FAILED);
    fx->rpc.fsfreeze_hook = NULL;

    /* The host goes: thawed at once. */
    g_assert_cmpint(call_int(fx, "va.fsfreeze_freeze", "()"), ==, 2);
    va_guest_rpc_session_end(&fx->rpc);
    g_assert_cmpint(g_hash_table_size(fx->fs_frozen), ==, 0);
    g_free(st);
    st = fs_status(fx);
    g_assert_cmpstr(st, ==, "thawed");
}

static bool fs_thawed(Fixture *fx)
{
    g_autofree char *st = fs_status(fx);

    return strcmp(st, "thawed") == 0;
}

/* The host never thaws: the timer does. */
static void test_fsfreeze_timeout(Fixture *fx, gconstpointer data)
{
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

    fs_tree(fx);
    fx->rpc.fsfreeze_timeout_s = 1;
    g_assert_cmpint(call_int(fx, "va.fsfreeze_freeze", "()"), ==, 2);
    g_assert_false(fs_thawed(fx));
    while (!fs_thawed(fx)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_main_context_iteration(NULL, true);
    }
    g_assert_cmpint(g_hash_table_size(fx->fs_frozen), ==, 0);
    g_assert_cmpint(fx->frozen_calls, ==, 2);
    /* And frozen again later, the timer starts anew. */
    g_assert_cmpint(call_int(fx, "va.fsfreeze_freeze", "()"), ==, 2);
    g_assert_cmpint(call_int(fx, "va.fsfreeze_thaw", "()"), ==, 2);
}

static void test_fstrim(Fixture *fx, gconstpointer data)
{
    g_autofree char *mi = g_build_filename(fx->dir, "proc/self/mountinfo",
                                           NULL);
    xmlrpc_value *v, *paths, *p;
    g_autofree char *path = NULL, *err = NULL;

    fs_tree(fx);
    v = fx_call(fx, "va.fstrim", "(i)", 512);
    g_assert_nonnull(v);
    paths = member(v, "paths");
    g_assert_cmpint(array_len(paths), ==, 3);
    p = array_item(paths, 0);
    path = member_string(p, "path");
    g_assert_cmpstr(path, ==, "/");
    g_assert_cmpint(member_int(p, "trimmed"), ==, 4096);
    g_assert_cmpint(member_int(p, "minimum"), ==, 512);
    xmlrpc_DECREF(p);
    p = find_by(paths, "path", "/mnt/vfat");
    err = member_string(p, "error");
    g_assert_cmpstr(err, ==, g_strerror(EOPNOTSUPP));
    g_assert_false(has_member(p, "trimmed"));
    xmlrpc_DECREF(p);
    xmlrpc_DECREF(paths);
    xmlrpc_DECREF(v);
    v = fx_call(fx, "va.fstrim", "()");
    g_assert_nonnull(v);
    xmlrpc_DECREF(v);
    assert_fault(fx, fx_call(fx, "va.fstrim", "(i)", -1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.fstrim", "(s)", "1"),
                 VA_FAULT_INVALID_ARGS);
    g_assert_cmpint(unlink(mi), ==, 0);
    assert_fault(fx, fx_call(fx, "va.fstrim", "()"), VA_FAULT_FAILED);
}

/* A virtio disk vda with a partition vda1, as sysfs shows them. */
static void sys_tree(Fixture *fx)
{
    g_autofree char *block = g_build_filename(fx->dir, "sys/block", NULL);
    g_autofree char *devblock = g_build_filename(fx->dir, "sys/dev/block",
                                                 NULL);
    const char *dev = "devices/pci0000:00/0000:00:04.0/virtio2/block/vda";
    g_autofree char *t1 = g_strdup_printf("../%s", dev);
    g_autofree char *t2 = g_strdup_printf("../../%s/vda1", dev);
    g_autofree char *l1 = g_build_filename(block, "vda", NULL);
    g_autofree char *l2 = g_build_filename(devblock, "254:1", NULL);
    g_autofree char *f1 = g_strdup_printf("sys/%s/serial", dev);
    g_autofree char *f2 = g_strdup_printf("sys/%s/vda1/partition", dev);

    fx_file(fx, f1, "S123\n");
    fx_file(fx, f2, "1\n");
    g_assert_cmpint(g_mkdir_with_parents(block, 0700), ==, 0);
    g_assert_cmpint(g_mkdir_with_parents(devblock, 0700), ==, 0);
    g_assert_cmpint(symlink(t1, l1), ==, 0);
    g_assert_cmpint(symlink(t2, l2), ==, 0);
}

static void test_fsinfo_disks(Fixture *fx, gconstpointer data)
{
    xmlrpc_value *v, *fs, *disks, *d, *addr;
    g_autofree char *name = NULL, *type = NULL, *dev = NULL, *bus = NULL;
    g_autofree char *serial = NULL, *n0 = NULL, *n1 = NULL;

    fs_tree(fx);
    sys_tree(fx);
    v = fx_call(fx, "va.get_fsinfo", "()");
    g_assert_nonnull(v);
    g_assert_cmpint(array_len(v), ==, 3);
    fs = find_by(v, "mountpoint", "/");
    name = member_string(fs, "name");
    g_assert_cmpstr(name, ==, "vda1");
    type = member_string(fs, "type");
    g_assert_cmpstr(type, ==, "ext4");
    g_assert_cmpint(member_int(fs, "total-bytes-privileged"), >, 0);
    g_assert_cmpint(member_int(fs, "used-bytes"), <=,
                    member_int(fs, "total-bytes-privileged"));
    disks = member(fs, "disk");
    g_assert_cmpint(array_len(disks), ==, 1);
    d = array_item(disks, 0);
    dev = member_string(d, "dev");
    g_assert_cmpstr(dev, ==, "/dev/vda");
    bus = member_string(d, "bus-type");
    g_assert_cmpstr(bus, ==, "virtio");
    serial = member_string(d, "serial");
    g_assert_cmpstr(serial, ==, "S123");
    xmlrpc_DECREF(d);
    xmlrpc_DECREF(disks);
    xmlrpc_DECREF(fs);
    xmlrpc_DECREF(v);
    assert_fault(fx, fx_call(fx, "va.get_fsinfo", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);

    v = fx_call(fx, "va.get_disks", "()");
    g_assert_nonnull(v);
    g_assert_cmpint(array_len(v), ==, 2);
    d = array_item(v, 0);
    n0 = member_string(d, "name");
    g_assert_cmpstr(n0, ==, "/dev/vda");
    g_assert_false(member_bool(d, "partition"));
    addr = member(d, "address");
    g_assert_nonnull(addr);
    xmlrpc_DECREF(addr);
    xmlrpc_DECREF(d);
    d = array_item(v, 1);
    n1 = member_string(d, "name");
    g_assert_cmpstr(n1, ==, "/dev/vda1");
    g_assert_true(member_bool(d, "partition"));
    xmlrpc_DECREF(d);
    xmlrpc_DECREF(v);
    assert_fault(fx, fx_call(fx, "va.get_disks", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
}

/* Entry @i of @v is {@id_key: @id, online, can-offline} as given. */
static void assert_id_online(xmlrpc_value *v, int i, const char *id_key,
                             int id, bool online, bool can_offline)
{
    xmlrpc_value *e = array_item(v, i);

    g_assert_cmpint(member_int(e, id_key), ==, id);
    g_assert_cmpint(member_bool(e, "online"), ==, online);
    g_assert_cmpint(member_bool(e, "can-offline"), ==, can_offline);
    xmlrpc_DECREF(e);
}

static void test_vcpus(Fixture *fx, gconstpointer data)
{
    const char *cpu = "sys/devices/system/cpu";
    g_autofree char *f1 = g_strdup_printf("%s/cpu1/online", cpu);
    g_autofree char *f2 = g_strdup_printf("%s/cpu2/online", cpu);
    g_autofree char *f10 = g_strdup_printf("%s/cpu10/online", cpu);
    g_autofree char *f0 = g_strdup_printf("%s/cpu0/topology/core_id", cpu);
    g_autofree char *fq = g_strdup_printf("%s/cpufreq/boost", cpu);
    g_autofree char *fo = g_strdup_printf("%s/online", cpu);
    g_autofree char *p1 = g_build_filename(fx->dir, f1, NULL);
    g_autofree char *p2 = g_build_filename(fx->dir, f2, NULL);
    g_autofree char *t1 = NULL, *t2 = NULL;
    xmlrpc_value *v, *c;

    fx_file(fx, f0, "0\n");
    fx_file(fx, f1, "1\n");
    fx_file(fx, f2, "0\n");
    fx_file(fx, f10, "1\n");
    fx_file(fx, fq, "1\n");
    fx_file(fx, fo, "0-1,10\n");
    v = fx_call(fx, "va.get_vcpus", "()");
    g_assert_cmpint(array_len(v), ==, 4);
    assert_id_online(v, 0, "logical-id", 0, true, false);
    assert_id_online(v, 2, "logical-id", 2, false, true);
    c = array_item(v, 3);
    g_assert_cmpint(member_int(c, "logical-id"), ==, 10);
    xmlrpc_DECREF(c);
    xmlrpc_DECREF(v);

    g_assert_cmpint(call_int(fx, "va.set_vcpus", "(({s:i,s:b}{s:i,s:b}))",
                             "logical-id", 1, "online", (xmlrpc_bool)0,
                             "logical-id", 2, "online", (xmlrpc_bool)1),
                    ==, 2);
    g_assert_true(g_file_get_contents(p1, &t1, NULL, NULL));
    g_assert_true(g_file_get_contents(p2, &t2, NULL, NULL));
    g_assert_cmpstr(t1, ==, "0");
    g_assert_cmpstr(t2, ==, "1");
    /* Already so, or cpu0 kept online: nothing written, no error. */
    g_assert_cmpint(call_int(fx, "va.set_vcpus", "(({s:i,s:b}{s:i,s:b}))",
                             "logical-id", 1, "online", (xmlrpc_bool)0,
                             "logical-id", 0, "online", (xmlrpc_bool)1),
                    ==, 2);
    /* Stops at the first failure: a fault if nothing was done... */
    assert_fault(fx, fx_call(fx, "va.set_vcpus", "(({s:i,s:b}))",
                             "logical-id", 0, "online", (xmlrpc_bool)0),
                 VA_FAULT_FAILED);
    g_assert_nonnull(strstr(fx->fault_string, "EOPNOTSUPP"));
    /* ...else the count. */
    g_assert_cmpint(call_int(fx, "va.set_vcpus", "(({s:i,s:b}{s:i,s:b}))",
                             "logical-id", 2, "online", (xmlrpc_bool)0,
                             "logical-id", 7, "online", (xmlrpc_bool)1),
                    ==, 1);
    assert_fault(fx, fx_call(fx, "va.set_vcpus", "(())"),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.set_vcpus", "(({s:s}))", "logical-id",
                             "1"), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.set_vcpus", "(({s:i,s:i}))",
                             "logical-id", 1, "cpu", 1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.set_vcpus", "(({s:b}))", "online",
                             (xmlrpc_bool)1), VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.set_vcpus", "((i))", 1),
                 VA_FAULT_INVALID_ARGS);
    assert_fault(fx, fx_call(fx, "va.get_vcpus", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
}

static void test_memory_blocks(Fixture *fx, gconstpointer data)
{
    g_autofree char *state8 = g_build_filename(
        fx->dir, "sys/devices/system/memory/memory8/state", NULL);
    g_autofree char *resp = NULL, *text = NULL;
    xmlrpc_value *v, *b;

    v = fx_call(fx, "va.get_memory_blocks", "()");
    g_assert_cmpint(array_len(v), ==, 0);
    xmlrpc_DECREF(v);
    fx_file(fx, "sys/devices/system/memory/memory8/state", "offline\n");
    fx_file(fx, "sys/devices/system/memory/memory8/removable", "1\n");
    fx_file(fx, "sys/devices/system/memory/memory0/state", "online\n");
    fx_file(fx, "sys/devices/system/memory/memory0/removable", "0\n");
    fx_file(fx, "sys/devices/system/memory/block_size_bytes", "8000000\n");
    v = fx_call(fx, "va.get_memory_blocks", "()");
    g_assert_cmpint(array_len(v), ==, 2);
    assert_id_online(v, 0, "phys-index", 0, true, false);
    assert_id_online(v, 1, "phys-index", 8, false, true);
    xmlrpc_DECREF(v);
    assert_fault(fx, fx_call(fx, "va.get_memory_blocks", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);

    v = fx_call(fx, "va.get_memory_block_info", "()");
    g_assert_cmpint(member_int(v, "size"), ==, 0x8000000);
    xmlrpc_DECREF(v);

    v = fx_call(fx, "va.set_memory_blocks", "(({s:i,s:b}{s:i,s:b}{s:i,s:b}))",
                "phys-index", 8, "online", (xmlrpc_bool)1,
                "phys-index", 0, "online", (xmlrpc_bool)1,
                "phys-index", 5, "online", (xmlrpc_bool)0);
    g_assert_cmpint(array_len(v), ==, 3);
    b = array_item(v, 0);
    resp = member_string(b, "response");
    g_assert_cmpstr(resp, ==, "success");
    xmlrpc_DECREF(b);
    b = array_item(v, 2);
    g_free(resp);
    resp = member_string(b, "response");
    g_assert_cmpstr(resp, ==, "not-found");
    xmlrpc_DECREF(b);
    xmlrpc_DECREF(v);
    g_assert_true(g_file_get_contents(state8, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "online");
    /* A bad entry anywhere: nothing is changed. */
    assert_fault(fx, fx_call(fx, "va.set_memory_blocks",
                             "(({s:i,s:b}{s:s}))", "phys-index", 8, "online",
                             (xmlrpc_bool)0, "phys-index", "0"),
                 VA_FAULT_INVALID_ARGS);
    g_free(text);
    g_assert_true(g_file_get_contents(state8, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "online");
    assert_fault(fx, fx_call(fx, "va.set_memory_blocks", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
}

static char *sys_power(Fixture *fx, const char *name)
{
    g_autofree char *path = g_build_filename(fx->dir, "sys/power", name,
                                             NULL);
    char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    return text;
}

static void test_suspend(Fixture *fx, gconstpointer data)
{
    g_autofree char *state = NULL, *disk = NULL;
    xmlrpc_value *v;

    /* Nothing to suspend with: refused, nothing scheduled. */
    assert_fault(fx, fx_call(fx, "va.suspend_ram", "()"), VA_FAULT_FAILED);
    fx_file(fx, "sys/power/state", "freeze\n");
    fx_file(fx, "sys/power/disk", "[platform] shutdown reboot\n");
    assert_fault(fx, fx_call(fx, "va.suspend_ram", "()"), VA_FAULT_FAILED);
    assert_fault(fx, fx_call(fx, "va.suspend_disk", "()"), VA_FAULT_FAILED);
    g_assert_null(fx->after_fn);

    fx_file(fx, "sys/power/state", "freeze mem disk\n");
    v = fx_call(fx, "va.suspend_ram", "()");
    g_assert_nonnull(v);
    xmlrpc_DECREF(v);
    /* Nothing happens until the reply is out. */
    state = sys_power(fx, "state");
    g_assert_cmpstr(state, ==, "freeze mem disk\n");
    fx_after_reply_done(fx, true);
    g_free(state);
    state = sys_power(fx, "state");
    g_assert_true(g_str_has_prefix(state, "mem"));

    /* A reset before the reply left: nothing happens. */
    fx_file(fx, "sys/power/state", "freeze mem disk\n");
    v = fx_call(fx, "va.suspend_disk", "()");
    g_assert_nonnull(v);
    xmlrpc_DECREF(v);
    fx_after_reply_done(fx, false);
    g_free(state);
    state = sys_power(fx, "state");
    g_assert_cmpstr(state, ==, "freeze mem disk\n");

    /* Hybrid needs the suspend disk mode. */
    assert_fault(fx, fx_call(fx, "va.suspend_hybrid", "()"),
                 VA_FAULT_FAILED);
    fx_file(fx, "sys/power/disk", "[platform] shutdown reboot suspend\n");
    v = fx_call(fx, "va.suspend_hybrid", "()");
    g_assert_nonnull(v);
    xmlrpc_DECREF(v);
    fx_after_reply_done(fx, true);
    disk = sys_power(fx, "disk");
    g_assert_true(g_str_has_prefix(disk, "suspend"));
    g_free(state);
    state = sys_power(fx, "state");
    g_assert_true(g_str_has_prefix(state, "disk"));
    assert_fault(fx, fx_call(fx, "va.suspend_ram", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
}

static void test_cpu_disk_stats(Fixture *fx, gconstpointer data)
{
    long hz = sysconf(_SC_CLK_TCK);
    xmlrpc_value *v, *c, *st;
    g_autofree char *type = NULL, *name = NULL;

    assert_fault(fx, fx_call(fx, "va.get_cpustats", "()"), VA_FAULT_FAILED);
    assert_fault(fx, fx_call(fx, "va.get_diskstats", "()"), VA_FAULT_FAILED);
    fx_file(fx, "proc/stat", "cpu  300 0 30 900 0 0 0 0 0 0\n"
            "cpu0 100 0 10 300 1 0 0 0 0 0\n"
            "cpu1 200 5 20 600\n"
            "intr 12345\n");
    fx_file(fx, "proc/diskstats",
            "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
            " 254       1 vda1 11 2 300 4 5 6 700 8 0 9 10\n"
            "short 1 2\n");
    v = fx_call(fx, "va.get_cpustats", "()");
    g_assert_cmpint(array_len(v), ==, 2);
    c = array_item(v, 0);
    type = member_string(c, "type");
    g_assert_cmpstr(type, ==, "linux");
    g_assert_cmpint(member_int(c, "cpu"), ==, 0);
    g_assert_cmpint(member_int(c, "user"), ==, 100 * 1000 / hz);
    g_assert_cmpint(member_int(c, "idle"), ==, 300 * 1000 / hz);
    g_assert_cmpint(member_int(c, "iowait"), ==, 1000 / hz);
    xmlrpc_DECREF(c);
    c = array_item(v, 1);
    g_assert_cmpint(member_int(c, "cpu"), ==, 1);
    g_assert_false(has_member(c, "iowait"));
    xmlrpc_DECREF(c);
    xmlrpc_DECREF(v);

    v = fx_call(fx, "va.get_diskstats", "()");
    g_assert_cmpint(array_len(v), ==, 2);
    c = array_item(v, 1);
    name = member_string(c, "name");
    g_assert_cmpstr(name, ==, "vda1");
    g_assert_cmpint(member_int(c, "major"), ==, 254);
    st = member(c, "stats");
    g_assert_cmpint(member_int(st, "read-ios"), ==, 11);
    g_assert_cmpint(member_int(st, "read-sectors"), ==, 300);
    g_assert_cmpint(member_int(st, "write-sectors"), ==, 700);
    g_assert_cmpint(member_int(st, "weight-ticks"), ==, 10);
    g_assert_false(has_member(st, "discard-ios"));
    xmlrpc_DECREF(st);
    xmlrpc_DECREF(c);
    xmlrpc_DECREF(v);
    assert_fault(fx, fx_call(fx, "va.get_cpustats", "(i)", 1),
                 VA_FAULT_INVALID_ARGS);
}

static void test_text_value(void)
{
    xmlrpc_env env;
    g_autofree char *s = NULL;

    xmlrpc_env_init(&env);
    s = result_string(va_text_value(&env, "a\x01\xff\r\tb\n", 7));
    g_assert_cmpstr(s, ==, "a \xef\xbf\xbd \tb\n");
    xmlrpc_env_clean(&env);
}

static void test_introspection(Fixture *fx, gconstpointer data)
{
    g_autofree char *help = NULL;
    xmlrpc_value *v;
    xmlrpc_env env;

    help = result_string(fx_call(fx, "system.methodHelp", "(s)",
                                 "va.getfile"));
    g_assert_nonnull(strstr(help, "va.getfile(path, offset, length)"));
    v = fx_call(fx, "system.methodSignature", "(s)", "va.getdmesg");
    g_assert_nonnull(v);
    xmlrpc_env_init(&env);
    g_assert_cmpint(xmlrpc_array_size(&env, v), ==, 2);
    xmlrpc_DECREF(v);
    xmlrpc_env_clean(&env);
    v = fx_call(fx, "system.multicall", "(({s:s,s:()}{s:s,s:(s)}))",
                "methodName", "va.ping", "params",
                "methodName", "va.shutdown", "params", "bogus");
    g_assert_nonnull(v);
    xmlrpc_env_init(&env);
    g_assert_cmpint(xmlrpc_array_size(&env, v), ==, 2);
    xmlrpc_DECREF(v);
    xmlrpc_env_clean(&env);
    assert_fault(fx, fx_call(fx, "va.nope", "()"), -506);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* As the daemon: a child that stops reading its stdin is no crash. */
    signal(SIGPIPE, SIG_IGN);
    /* A full getfile chunk is larger than xmlrpc-c's default 512 KiB. */
    xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, 4 * 1024 * 1024);
#define ADD(name, fn) \
    g_test_add(name, Fixture, NULL, fx_setup, fn, fx_teardown)
    ADD("/guest-rpc/ping", test_ping);
    ADD("/guest-rpc/capabilities", test_capabilities);
    ADD("/guest-rpc/info", test_info);
    ADD("/guest-rpc/shutdown", test_shutdown);
    ADD("/guest-rpc/getfile", test_getfile);
    ADD("/guest-rpc/data-methods", test_data_methods);
    ADD("/guest-rpc/getdmesg", test_getdmesg);
    ADD("/guest-rpc/introspection", test_introspection);
    ADD("/guest-rpc/system/get-time", test_get_time);
    ADD("/guest-rpc/system/set-time", test_set_time);
    ADD("/guest-rpc/system/hostname-timezone", test_hostname_timezone);
    ADD("/guest-rpc/system/osinfo", test_osinfo);
    ADD("/guest-rpc/system/load", test_get_load);
    ADD("/guest-rpc/network/interfaces", test_network_interfaces);
    ADD("/guest-rpc/network/route", test_network_route);
    ADD("/guest-rpc/users/get-users", test_get_users);
    ADD("/guest-rpc/users/set-user-password", test_set_user_password);
    ADD("/guest-rpc/users/ssh-keys", test_ssh_keys);
    ADD("/guest-rpc/process/exec", test_exec);
    ADD("/guest-rpc/process/exec-limits", test_exec_limits);
    ADD("/guest-rpc/files/handles", test_file_handles);
    ADD("/guest-rpc/files/limits", test_file_limits);
    ADD("/guest-rpc/files/putfile", test_putfile);
    ADD("/guest-rpc/files/putfile-records", test_putfile_records);
    ADD("/guest-rpc/files/putfile-errors", test_putfile_errors);
    ADD("/guest-rpc/fs/freeze", test_fsfreeze);
    ADD("/guest-rpc/fs/freeze-timeout", test_fsfreeze_timeout);
    ADD("/guest-rpc/fs/trim", test_fstrim);
    ADD("/guest-rpc/fs/fsinfo-disks", test_fsinfo_disks);
    ADD("/guest-rpc/hw/vcpus", test_vcpus);
    ADD("/guest-rpc/hw/memory-blocks", test_memory_blocks);
    ADD("/guest-rpc/power/suspend", test_suspend);
    ADD("/guest-rpc/system/cpu-disk-stats", test_cpu_disk_stats);
#undef ADD
    g_test_add_func("/guest-rpc/text-value", test_text_value);
    return g_test_run();
}
