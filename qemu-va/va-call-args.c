/*
 * va-call - typed arguments in, printable answers out
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <math.h>
#include <string.h>
#include <glib.h>
#include <xmlrpc-c/json.h>

#include "va-errors.h"
#include "va-call-args.h"

static void bad_arg(xmlrpc_env *env, const char *arg, const char *why)
{
    xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                   "bad argument '%s': %s", arg, why);
}

/* JSON's integers arrive as i8; most methods expect int where it fits. */
static xmlrpc_value *narrow(xmlrpc_env *env, xmlrpc_value *v)
{
    xmlrpc_value *out = NULL;
    int i, n;

    switch (xmlrpc_value_type(v)) {
    case XMLRPC_TYPE_I8: {
        xmlrpc_int64 i8;

        xmlrpc_read_i8(env, v, &i8);
        if (i8 >= G_MININT32 && i8 <= G_MAXINT32) {
            return xmlrpc_int_new(env, i8);
        }
        break;
    }
    case XMLRPC_TYPE_ARRAY:
        out = xmlrpc_array_new(env);
        n = xmlrpc_array_size(env, v);
        for (i = 0; i < n && !env->fault_occurred; i++) {
            xmlrpc_value *item, *item2;

            xmlrpc_array_read_item(env, v, i, &item);
            item2 = narrow(env, item);
            xmlrpc_DECREF(item);
            if (item2) {
                xmlrpc_array_append_item(env, out, item2);
                xmlrpc_DECREF(item2);
            }
        }
        return out;
    case XMLRPC_TYPE_STRUCT:
        out = xmlrpc_struct_new(env);
        n = xmlrpc_struct_size(env, v);
        for (i = 0; i < n && !env->fault_occurred; i++) {
            xmlrpc_value *key, *val, *val2 = NULL;
            const char *k = NULL;

            xmlrpc_struct_read_member(env, v, i, &key, &val);
            if (env->fault_occurred) {
                break;
            }
            xmlrpc_read_string(env, key, &k);
            if (!env->fault_occurred) {
                val2 = narrow(env, val);
            }
            if (val2 && !env->fault_occurred) {
                xmlrpc_struct_set_value(env, out, k, val2);
            }
            if (val2) {
                xmlrpc_DECREF(val2);
            }
            free((void *)k);
            xmlrpc_DECREF(key);
            xmlrpc_DECREF(val);
        }
        return out;
    default:
        break;
    }
    xmlrpc_INCREF(v);
    return v;
}

static xmlrpc_value *parse_json(xmlrpc_env *env, const char *arg,
                                const char *text)
{
    xmlrpc_env jenv;
    xmlrpc_value *v, *out;

    xmlrpc_env_init(&jenv);
    v = xmlrpc_parse_json(&jenv, text);
    if (jenv.fault_occurred) {
        bad_arg(env, arg, jenv.fault_string);
        xmlrpc_env_clean(&jenv);
        return NULL;
    }
    xmlrpc_env_clean(&jenv);
    out = narrow(env, v);
    xmlrpc_DECREF(v);
    if (env->fault_occurred && out) {
        xmlrpc_DECREF(out);
        return NULL;
    }
    return out;
}

xmlrpc_value *va_call_parse_arg(xmlrpc_env *env, const char *arg)
{
    const char *val = arg + 2;
    g_autoptr(GError) err = NULL;
    gint64 n;

    if (!g_utf8_validate(arg, -1, NULL)) {
        bad_arg(env, "?", "not valid UTF-8");
        return NULL;
    }
    if (arg[0] == '[' || arg[0] == '{') {
        return parse_json(env, arg, arg);
    }
    if (!arg[0] || arg[1] != ':') {
        return xmlrpc_string_new(env, arg);
    }
    switch (arg[0]) {
    case 's':
        return xmlrpc_string_new(env, val);
    case 'i':
    case 'I':
        if (!g_ascii_string_to_signed(val, 10,
                                      arg[0] == 'i' ? G_MININT32 : G_MININT64,
                                      arg[0] == 'i' ? G_MAXINT32 : G_MAXINT64,
                                      &n, &err)) {
            bad_arg(env, arg, err->message);
            return NULL;
        }
        return arg[0] == 'i' ? xmlrpc_int_new(env, n) : xmlrpc_i8_new(env, n);
    case 'd': {
        char *end;
        double d = g_ascii_strtod(val, &end);

        if (!*val || *end || !isfinite(d)) {
            bad_arg(env, arg, "not a finite number");
            return NULL;
        }
        return xmlrpc_double_new(env, d);
    }
    case 'b':
        if (!strcmp(val, "true") || !strcmp(val, "1") ||
            !strcmp(val, "yes")) {
            return xmlrpc_bool_new(env, true);
        }
        if (!strcmp(val, "false") || !strcmp(val, "0") ||
            !strcmp(val, "no")) {
            return xmlrpc_bool_new(env, false);
        }
        bad_arg(env, arg, "not true or false");
        return NULL;
    case 'n':
        if (*val) {
            bad_arg(env, arg, "nil takes no value");
            return NULL;
        }
        return xmlrpc_nil_new(env);
    case '6': {
        g_autofree guchar *data = NULL;
        gsize len;
        const char *p;

        for (p = val; *p; p++) {
            if (!g_ascii_isalnum(*p) && !strchr("+/=", *p)) {
                bad_arg(env, arg, "not base64");
                return NULL;
            }
        }
        data = g_base64_decode(val, &len);
        return xmlrpc_base64_new(env, len, data);
    }
    case 'j':
        return parse_json(env, arg, val);
    default:
        return xmlrpc_string_new(env, arg);
    }
}

static void format_string(GString *out, const char *s, size_t len)
{
    size_t i;

    g_string_append_c(out, '"');
    for (i = 0; i < len; i++) {
        unsigned char c = s[i];

        if (c == '"' || c == '\\') {
            g_string_append_printf(out, "\\%c", c);
        } else if (c == '\n') {
            g_string_append(out, "\\n");
        } else if (c == '\t') {
            g_string_append(out, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            g_string_append_printf(out, "\\u%04x", c);
        } else {
            g_string_append_c(out, c);
        }
    }
    g_string_append_c(out, '"');
}

static void format_value(xmlrpc_env *env, GString *out, xmlrpc_value *v)
{
    int i, n;

    switch (xmlrpc_value_type(v)) {
    case XMLRPC_TYPE_INT: {
        int x;

        xmlrpc_read_int(env, v, &x);
        g_string_append_printf(out, "%d", x);
        break;
    }
    case XMLRPC_TYPE_I8: {
        xmlrpc_int64 x;

        xmlrpc_read_i8(env, v, &x);
        g_string_append_printf(out, "%" G_GINT64_FORMAT, (gint64)x);
        break;
    }
    case XMLRPC_TYPE_BOOL: {
        xmlrpc_bool b;

        xmlrpc_read_bool(env, v, &b);
        g_string_append(out, b ? "true" : "false");
        break;
    }
    case XMLRPC_TYPE_DOUBLE: {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        double d;

        xmlrpc_read_double(env, v, &d);
        g_string_append(out, g_ascii_dtostr(buf, sizeof(buf), d));
        break;
    }
    case XMLRPC_TYPE_STRING: {
        const char *s;
        size_t len;

        xmlrpc_read_string_lp(env, v, &len, &s);
        if (!env->fault_occurred) {
            format_string(out, s, len);
            free((void *)s);
        }
        break;
    }
    case XMLRPC_TYPE_DATETIME: {
        const char *s;

        xmlrpc_read_datetime_str(env, v, &s);
        if (!env->fault_occurred) {
            format_string(out, s, strlen(s));
            free((void *)s);
        }
        break;
    }
    case XMLRPC_TYPE_BASE64: {
        const unsigned char *data;
        size_t len;

        xmlrpc_read_base64(env, v, &len, &data);
        if (!env->fault_occurred) {
            g_autofree char *text = g_base64_encode(data, len);

            format_string(out, text, strlen(text));
            free((void *)data);
        }
        break;
    }
    case XMLRPC_TYPE_NIL:
        g_string_append(out, "null");
        break;
    case XMLRPC_TYPE_ARRAY:
        g_string_append_c(out, '[');
        n = xmlrpc_array_size(env, v);
        for (i = 0; i < n && !env->fault_occurred; i++) {
            xmlrpc_value *item;

            xmlrpc_array_read_item(env, v, i, &item);
            if (!env->fault_occurred) {
                g_string_append(out, i ? ", " : "");
                format_value(env, out, item);
                xmlrpc_DECREF(item);
            }
        }
        g_string_append_c(out, ']');
        break;
    case XMLRPC_TYPE_STRUCT:
        g_string_append_c(out, '{');
        n = xmlrpc_struct_size(env, v);
        for (i = 0; i < n && !env->fault_occurred; i++) {
            xmlrpc_value *key, *val;

            xmlrpc_struct_read_member(env, v, i, &key, &val);
            if (!env->fault_occurred) {
                g_string_append(out, i ? ", " : "");
                format_value(env, out, key);
                g_string_append(out, ": ");
                format_value(env, out, val);
                xmlrpc_DECREF(key);
                xmlrpc_DECREF(val);
            }
        }
        g_string_append_c(out, '}');
        break;
    default:
        g_string_append(out, "null");
        break;
    }
}

char *va_call_format(xmlrpc_env *env, xmlrpc_value *v, bool raw_string)
{
    GString *out = g_string_new(NULL);

    if (raw_string && xmlrpc_value_type(v) == XMLRPC_TYPE_STRING) {
        const char *s;
        size_t len;

        xmlrpc_read_string_lp(env, v, &len, &s);
        if (!env->fault_occurred) {
            g_string_append_len(out, s, len);
            free((void *)s);
        }
    } else {
        format_value(env, out, v);
    }
    if (env->fault_occurred) {
        g_string_free(out, true);
        return NULL;
    }
    return g_string_free(out, false);
}
