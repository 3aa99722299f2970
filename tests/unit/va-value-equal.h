/*
 * virtagent - tests: are two xmlrpc-c values the same value
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * For the differential tests of va_boundary_decode() against xmlrpc-c's
 * parser: types, contents, struct members in order, doubles bit for bit,
 * datetimes to the microsecond.
 */
#ifndef VA_VALUE_EQUAL_H
#define VA_VALUE_EQUAL_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xmlrpc-c/base.h>

static inline bool va_value_equal(xmlrpc_value *a, xmlrpc_value *b)
{
    xmlrpc_type t = xmlrpc_value_type(a);
    xmlrpc_env env;
    bool eq = false;

    if (t != xmlrpc_value_type(b)) {
        return false;
    }
    xmlrpc_env_init(&env);
    switch (t) {
    case XMLRPC_TYPE_INT:
    case XMLRPC_TYPE_BOOL: {
        int x = 0, y = 0;

        if (t == XMLRPC_TYPE_INT) {
            xmlrpc_read_int(&env, a, &x);
            xmlrpc_read_int(&env, b, &y);
        } else {
            xmlrpc_bool bx = 0, by = 0;

            xmlrpc_read_bool(&env, a, &bx);
            xmlrpc_read_bool(&env, b, &by);
            x = bx;
            y = by;
        }
        eq = x == y;
        break;
    }
    case XMLRPC_TYPE_I8: {
        xmlrpc_int64 x = 0, y = 0;

        xmlrpc_read_i8(&env, a, &x);
        xmlrpc_read_i8(&env, b, &y);
        eq = x == y;
        break;
    }
    case XMLRPC_TYPE_DOUBLE: {
        double x = 0, y = 0;

        xmlrpc_read_double(&env, a, &x);
        xmlrpc_read_double(&env, b, &y);
        eq = !memcmp(&x, &y, sizeof(x));
        break;
    }
    case XMLRPC_TYPE_DATETIME: {
        xmlrpc_datetime x, y;

        memset(&x, 0, sizeof(x));
        memset(&y, 0, sizeof(y));
        xmlrpc_read_datetime(&env, a, &x);
        xmlrpc_read_datetime(&env, b, &y);
        eq = !memcmp(&x, &y, sizeof(x));
        break;
    }
    case XMLRPC_TYPE_STRING:
    case XMLRPC_TYPE_BASE64: {
        const unsigned char *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;

        if (t == XMLRPC_TYPE_STRING) {
            xmlrpc_read_string_lp(&env, a, &nx, (const char **)&x);
            xmlrpc_read_string_lp(&env, b, &ny, (const char **)&y);
        } else {
            xmlrpc_read_base64(&env, a, &nx, &x);
            xmlrpc_read_base64(&env, b, &ny, &y);
        }
        eq = x && y && nx == ny && !memcmp(x, y, nx);
        free((void *)x);
        free((void *)y);
        break;
    }
    case XMLRPC_TYPE_ARRAY: {
        int n = xmlrpc_array_size(&env, a);

        eq = n == xmlrpc_array_size(&env, b);
        for (int i = 0; eq && i < n; i++) {
            xmlrpc_value *x, *y;

            xmlrpc_array_read_item(&env, a, i, &x);
            xmlrpc_array_read_item(&env, b, i, &y);
            eq = va_value_equal(x, y);
            xmlrpc_DECREF(x);
            xmlrpc_DECREF(y);
        }
        break;
    }
    case XMLRPC_TYPE_STRUCT: {
        int n = xmlrpc_struct_size(&env, a);

        eq = n == xmlrpc_struct_size(&env, b);
        for (int i = 0; eq && i < n; i++) {
            xmlrpc_value *kx, *vx, *ky, *vy;

            xmlrpc_struct_read_member(&env, a, i, &kx, &vx);
            xmlrpc_struct_read_member(&env, b, i, &ky, &vy);
            eq = va_value_equal(kx, ky) && va_value_equal(vx, vy);
            xmlrpc_DECREF(kx);
            xmlrpc_DECREF(vx);
            xmlrpc_DECREF(ky);
            xmlrpc_DECREF(vy);
        }
        break;
    }
    case XMLRPC_TYPE_NIL:
        eq = true;
        break;
    default:
        break;
    }
    eq = eq && !env.fault_occurred;
    xmlrpc_env_clean(&env);
    return eq;
}

#endif
