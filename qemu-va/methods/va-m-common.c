/*
 * qemu-va - argument checks and result builders the methods share
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE     /* strerrorname_np */
#include <errno.h>
#include <string.h>

#include "va-errors.h"
#include "qemu-va/methods/va-methods.h"

void va_fault_errno(xmlrpc_env *env, const char *what, int err)
{
    const char *name = strerrorname_np(err);

    xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED, "%s: %s (%s)",
                                   what, g_strerror(err),
                                   name ? name : "?");
}

int va_check_args(xmlrpc_env *env, const char *method, xmlrpc_value *params,
                  int min, int max)
{
    int n = xmlrpc_array_size(env, params);

    /* GLib formats a message before the handler drops it: not per call. */
    if (g_log_get_debug_enabled()) {
        g_debug("host calls %s (%d argument%s)", method, n,
                n == 1 ? "" : "s");
    }

    if (env->fault_occurred) {
        return -1;
    }
    if (n < min || n > max) {
        if (min == max) {
            xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                           "expected %d argument%s, got %d",
                                           min, min == 1 ? "" : "s", n);
        } else {
            xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                           "expected %d to %d arguments, "
                                           "got %d", min, max, n);
        }
        return -1;
    }
    return n;
}

bool va_check_count(xmlrpc_env *env, const char *method,
                    xmlrpc_value *params, int count)
{
    return va_check_args(env, method, params, count, count) >= 0;
}

/* @v as an integer (int or i8); false if it is neither. */
static bool va_value_int(xmlrpc_env *env, xmlrpc_value *v, int64_t *out)
{
    if (xmlrpc_value_type(v) == XMLRPC_TYPE_INT) {
        int i;

        xmlrpc_read_int(env, v, &i);
        *out = i;
        return !env->fault_occurred;
    }
    if (xmlrpc_value_type(v) == XMLRPC_TYPE_I8) {
        xmlrpc_int64 i;

        xmlrpc_read_i8(env, v, &i);
        *out = i;
        return !env->fault_occurred;
    }
    return false;
}

/* @v as a string without NULs, or NULL. */
static char *va_value_string(xmlrpc_env *env, xmlrpc_value *v)
{
    const char *s = NULL;
    size_t len = 0;
    char *ret = NULL;

    if (xmlrpc_value_type(v) != XMLRPC_TYPE_STRING) {
        return NULL;
    }
    xmlrpc_read_string_lp(env, v, &len, &s);
    if (!env->fault_occurred && !memchr(s, '\0', len)) {
        ret = g_strndup(s, len);
    }
    free((void *)s);
    return ret;
}

/* @v as an array of at most @max strings, or NULL. */
static GStrv va_value_strv(xmlrpc_env *env, xmlrpc_value *v, int max)
{
    g_autoptr(GPtrArray) out = NULL;
    int i, n;

    if (xmlrpc_value_type(v) != XMLRPC_TYPE_ARRAY) {
        return NULL;
    }
    n = xmlrpc_array_size(env, v);
    if (env->fault_occurred || n > max) {
        return NULL;
    }
    out = g_ptr_array_new_with_free_func(g_free);
    for (i = 0; i < n; i++) {
        xmlrpc_value *item;
        char *s;

        xmlrpc_array_read_item(env, v, i, &item);
        if (env->fault_occurred) {
            return NULL;
        }
        s = va_value_string(env, item);
        xmlrpc_DECREF(item);
        if (!s) {
            return NULL;
        }
        g_ptr_array_add(out, s);
    }
    g_ptr_array_add(out, NULL);
    return (GStrv)g_ptr_array_free(g_steal_pointer(&out), false);
}

static void va_bad_arg(xmlrpc_env *env, const char *name, const char *what)
{
    if (!env->fault_occurred) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "argument '%s' must be %s", name,
                                       what);
    }
}

/*
 * The argument or option @v, named @name, as each type: these drop the
 * reference to @v, and fault @env when it has another type.
 */
static bool va_take_int(xmlrpc_env *env, xmlrpc_value *v, const char *name,
                        int64_t *out)
{
    bool ok = va_value_int(env, v, out);

    xmlrpc_DECREF(v);
    if (!ok) {
        va_bad_arg(env, name, "an integer");
    }
    return ok;
}

static char *va_take_string(xmlrpc_env *env, xmlrpc_value *v,
                            const char *name)
{
    char *ret = va_value_string(env, v);

    xmlrpc_DECREF(v);
    if (!ret) {
        va_bad_arg(env, name, "a string");
    }
    return ret;
}

static bool va_take_bool(xmlrpc_env *env, xmlrpc_value *v, const char *name,
                         bool *out)
{
    xmlrpc_bool b;
    bool ok = false;

    if (xmlrpc_value_type(v) == XMLRPC_TYPE_BOOL) {
        xmlrpc_read_bool(env, v, &b);
        *out = b;
        ok = !env->fault_occurred;
    }
    xmlrpc_DECREF(v);
    if (!ok) {
        va_bad_arg(env, name, "a boolean");
    }
    return ok;
}

static GStrv va_take_strv(xmlrpc_env *env, xmlrpc_value *v, const char *name,
                          int max)
{
    GStrv ret = va_value_strv(env, v, max);

    xmlrpc_DECREF(v);
    if (!ret) {
        g_autofree char *what = g_strdup_printf("an array of at most %d "
                                                "strings", max);

        va_bad_arg(env, name, what);
    }
    return ret;
}

/* Argument @idx (a new reference), or NULL with @env set. */
static xmlrpc_value *va_param(xmlrpc_env *env, xmlrpc_value *params,
                              unsigned idx)
{
    xmlrpc_value *item;

    xmlrpc_array_read_item(env, params, idx, &item);
    return env->fault_occurred ? NULL : item;
}

bool va_param_int(xmlrpc_env *env, xmlrpc_value *params, unsigned idx,
                  const char *name, int64_t *out)
{
    xmlrpc_value *item = va_param(env, params, idx);

    return item && va_take_int(env, item, name, out);
}

char *va_param_string(xmlrpc_env *env, xmlrpc_value *params, unsigned idx,
                      const char *name)
{
    xmlrpc_value *item = va_param(env, params, idx);

    return item ? va_take_string(env, item, name) : NULL;
}

bool va_param_bool(xmlrpc_env *env, xmlrpc_value *params, unsigned idx,
                   const char *name, bool *out)
{
    xmlrpc_value *item = va_param(env, params, idx);

    return item && va_take_bool(env, item, name, out);
}

bool va_param_base64(xmlrpc_env *env, xmlrpc_value *params, unsigned idx,
                     const char *name, const unsigned char **data,
                     size_t *len)
{
    xmlrpc_value *item = va_param(env, params, idx);
    bool ok = false;

    if (!item) {
        return false;
    }
    if (xmlrpc_value_type(item) == XMLRPC_TYPE_BASE64) {
        xmlrpc_read_base64(env, item, len, data);
        ok = !env->fault_occurred;
    }
    xmlrpc_DECREF(item);
    if (!ok) {
        va_bad_arg(env, name, "base64");
    }
    return ok;
}

xmlrpc_value *va_param_struct(xmlrpc_env *env, xmlrpc_value *params,
                              unsigned idx, const char *name)
{
    xmlrpc_value *item = va_param(env, params, idx);

    if (item && xmlrpc_value_type(item) != XMLRPC_TYPE_STRUCT) {
        xmlrpc_DECREF(item);
        va_bad_arg(env, name, "a struct");
        return NULL;
    }
    return item;
}

GStrv va_param_strv(xmlrpc_env *env, xmlrpc_value *params, unsigned idx,
                    const char *name, int max)
{
    xmlrpc_value *item = va_param(env, params, idx);

    return item ? va_take_strv(env, item, name, max) : NULL;
}

bool va_opts_check(xmlrpc_env *env, xmlrpc_value *opts,
                   const char *const *known)
{
    int i, n = xmlrpc_struct_size(env, opts);

    for (i = 0; i < n && !env->fault_occurred; i++) {
        xmlrpc_value *key, *value;
        g_autofree char *name = NULL;

        xmlrpc_struct_read_member(env, opts, i, &key, &value);
        if (env->fault_occurred) {
            return false;
        }
        name = va_value_string(env, key);
        xmlrpc_DECREF(key);
        xmlrpc_DECREF(value);
        if (name && g_strv_contains(known, name)) {
            continue;
        }
        if (!env->fault_occurred) {
            xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                           "unknown option '%s'",
                                           name ? name : "?");
        }
    }
    return !env->fault_occurred;
}

/* The member @key of @opts (a new reference), or NULL if absent. */
static xmlrpc_value *va_opt_find(xmlrpc_env *env, xmlrpc_value *opts,
                                 const char *key)
{
    xmlrpc_value *v = NULL;

    if (opts) {
        xmlrpc_struct_find_value(env, opts, key, &v);
    }
    return env->fault_occurred ? NULL : v;
}

bool va_opt_int(xmlrpc_env *env, xmlrpc_value *opts, const char *key,
                int64_t *out)
{
    xmlrpc_value *v = va_opt_find(env, opts, key);

    if (!v) {
        return !env->fault_occurred;
    }
    return va_take_int(env, v, key, out);
}

bool va_opt_bool(xmlrpc_env *env, xmlrpc_value *opts, const char *key,
                 bool *out)
{
    xmlrpc_value *v = va_opt_find(env, opts, key);

    if (!v) {
        return !env->fault_occurred;
    }
    return va_take_bool(env, v, key, out);
}

bool va_opt_string(xmlrpc_env *env, xmlrpc_value *opts, const char *key,
                   char **out)
{
    xmlrpc_value *v = va_opt_find(env, opts, key);
    char *s;

    if (!v) {
        return !env->fault_occurred;
    }
    s = va_take_string(env, v, key);
    if (!s) {
        return false;
    }
    g_free(*out);
    *out = s;
    return true;
}

bool va_opt_strv(xmlrpc_env *env, xmlrpc_value *opts, const char *key,
                 int max, GStrv *out)
{
    xmlrpc_value *v = va_opt_find(env, opts, key);
    GStrv s;

    if (!v) {
        return !env->fault_occurred;
    }
    s = va_take_strv(env, v, key, max);
    if (!s) {
        return false;
    }
    g_strfreev(*out);
    *out = s;
    return true;
}

bool va_opt_base64(xmlrpc_env *env, xmlrpc_value *opts, const char *key,
                   size_t max, GBytes **out)
{
    xmlrpc_value *v = va_opt_find(env, opts, key);
    const unsigned char *data;
    size_t len;
    bool ok = false;

    if (!v) {
        return !env->fault_occurred;
    }
    if (xmlrpc_value_type(v) == XMLRPC_TYPE_BASE64) {
        xmlrpc_read_base64(env, v, &len, &data);
        if (!env->fault_occurred) {
            ok = len <= max;
            if (ok) {
                g_clear_pointer(out, g_bytes_unref);
                *out = g_bytes_new(data, len);
            }
            free((void *)data);
        }
    }
    xmlrpc_DECREF(v);
    if (!ok) {
        g_autofree char *what = g_strdup_printf("base64 of at most %zu "
                                                "bytes", max);

        va_bad_arg(env, key, what);
    }
    return ok;
}

void va_struct_set_take(xmlrpc_env *env, xmlrpc_value *st, const char *key,
                        xmlrpc_value *v)
{
    if (v) {
        if (!env->fault_occurred) {
            xmlrpc_struct_set_value(env, st, key, v);
        }
        xmlrpc_DECREF(v);
    }
}

void va_struct_set_text(xmlrpc_env *env, xmlrpc_value *st, const char *key,
                        const char *text)
{
    if (!env->fault_occurred) {
        va_struct_set_take(env, st, key,
                           va_text_value(env, text, strlen(text)));
    }
}

void va_struct_set_i8(xmlrpc_env *env, xmlrpc_value *st, const char *key,
                      int64_t i)
{
    if (!env->fault_occurred) {
        va_struct_set_take(env, st, key, xmlrpc_i8_new(env, i));
    }
}

void va_struct_set_int(xmlrpc_env *env, xmlrpc_value *st, const char *key,
                       int i)
{
    if (!env->fault_occurred) {
        va_struct_set_take(env, st, key, xmlrpc_int_new(env, i));
    }
}

void va_struct_set_bool(xmlrpc_env *env, xmlrpc_value *st, const char *key,
                        bool b)
{
    if (!env->fault_occurred) {
        va_struct_set_take(env, st, key, xmlrpc_bool_new(env, b));
    }
}

void va_array_append_take(xmlrpc_env *env, xmlrpc_value *array,
                          xmlrpc_value *item)
{
    if (item) {
        if (!env->fault_occurred) {
            xmlrpc_array_append_item(env, array, item);
        }
        xmlrpc_DECREF(item);
    }
}

char *va_sys_path(const VAGuestRpc *rpc, const char *path)
{
    return g_strconcat(rpc->sysroot ? rpc->sysroot : "", path, NULL);
}

GStrv va_sys_lines(const VAGuestRpc *rpc, xmlrpc_env *env, const char *file)
{
    g_autofree char *path = va_sys_path(rpc, file);
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;

    if (!g_file_get_contents(path, &text, NULL, env ? &err : NULL)) {
        if (env) {
            xmlrpc_env_set_fault_formatted(env, VA_FAULT_FAILED, "%s",
                                           err->message);
        }
        return NULL;
    }
    return g_strsplit(text, "\n", -1);
}

void va_os_release_to_struct(const VAGuestRpc *rpc, xmlrpc_env *env,
                             xmlrpc_value *os, const char *const keys[][2],
                             size_t nkeys)
{
    const char *path = rpc->os_release_path;
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    int i;
    size_t k;

    if (!path) {
        path = g_file_test("/etc/os-release", G_FILE_TEST_EXISTS) ?
               "/etc/os-release" : "/usr/lib/os-release";
    }
    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return;
    }
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i] && !env->fault_occurred; i++) {
        char *eq = strchr(lines[i], '=');
        g_autofree char *value = NULL;
        xmlrpc_value *v;

        if (!eq) {
            continue;
        }
        *eq = '\0';
        for (k = 0; k < nkeys; k++) {
            if (strcmp(lines[i], keys[k][0]) == 0) {
                break;
            }
        }
        if (k == nkeys) {
            continue;
        }
        value = g_shell_unquote(eq + 1, NULL);
        if (!value) {
            continue;
        }
        v = va_text_value(env, value, strlen(value));
        if (v) {
            xmlrpc_struct_set_value(env, os, keys[k][1], v);
            xmlrpc_DECREF(v);
        }
    }
}

int va_strv_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int va_int64_cmp(const void *a, const void *b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

    return x < y ? -1 : x > y;
}

xmlrpc_value *va_result(xmlrpc_env *env, xmlrpc_value *v)
{
    if (env->fault_occurred && v) {
        xmlrpc_DECREF(v);
        return NULL;
    }
    return env->fault_occurred ? NULL : v;
}
