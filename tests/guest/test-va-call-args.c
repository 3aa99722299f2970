/*
 * va-call - tests of typed arguments and of printed answers
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include <glib.h>

#include "va-errors.h"
#include "qemu-va/va-call-args.h"

/* @arg parsed, then printed as JSON. */
static char *round_trip(const char *arg)
{
    xmlrpc_env env;
    xmlrpc_value *v;
    char *text;

    xmlrpc_env_init(&env);
    v = va_call_parse_arg(&env, arg);
    g_assert_false(env.fault_occurred);
    g_assert_nonnull(v);
    text = va_call_format(&env, v, false);
    g_assert_nonnull(text);
    xmlrpc_DECREF(v);
    xmlrpc_env_clean(&env);
    return text;
}

static xmlrpc_type type_of(const char *arg)
{
    xmlrpc_env env;
    xmlrpc_value *v;
    xmlrpc_type t;

    xmlrpc_env_init(&env);
    v = va_call_parse_arg(&env, arg);
    g_assert_nonnull(v);
    t = xmlrpc_value_type(v);
    xmlrpc_DECREF(v);
    xmlrpc_env_clean(&env);
    return t;
}

static void expect(const char *arg, const char *json)
{
    g_autofree char *text = round_trip(arg);

    g_assert_cmpstr(text, ==, json);
}

static void expect_bad(const char *arg)
{
    xmlrpc_env env;

    xmlrpc_env_init(&env);
    if (va_call_parse_arg(&env, arg)) {
        g_error("%s accepted", arg);
    }
    g_assert_true(env.fault_occurred);
    g_assert_cmpint(env.fault_code, ==, VA_FAULT_INVALID_ARGS);
    g_assert_nonnull(strstr(env.fault_string, "bad argument"));
    xmlrpc_env_clean(&env);
}

static void test_typed(void)
{
    expect("i:42", "42");
    expect("i:-2147483648", "-2147483648");
    g_assert_cmpint(type_of("i:42"), ==, XMLRPC_TYPE_INT);
    expect("I:9007199254740993", "9007199254740993");
    g_assert_cmpint(type_of("I:1"), ==, XMLRPC_TYPE_I8);
    expect("d:1.5", "1.5");
    expect("d:-0.25e2", "-25");
    expect("b:true", "true");
    expect("b:0", "false");
    expect("s:i:42", "\"i:42\"");
    expect("s:", "\"\"");
    expect("n:", "null");
    expect("6:aGk=", "\"aGk=\"");
    g_assert_cmpint(type_of("6:aGk="), ==, XMLRPC_TYPE_BASE64);
    /* Untyped: a string as it is, whatever it looks like. */
    expect("backup-done", "\"backup-done\"");
    expect("42", "\"42\"");
    expect("x:y", "\"x:y\"");
    expect("", "\"\"");
    expect("tab\there \"q\" \\", "\"tab\\there \\\"q\\\" \\\\\"");
}

static void test_json(void)
{
    expect("[1, \"a\", true, null, 2.5]", "[1, \"a\", true, null, 2.5]");
    expect("{\"k\": [1, {\"n\": 3000000000}]}",
           "{\"k\": [1, {\"n\": 3000000000}]}");
    g_assert_cmpint(type_of("j:7"), ==, XMLRPC_TYPE_INT);
    g_assert_cmpint(type_of("j:3000000000"), ==, XMLRPC_TYPE_I8);
    expect("j:\"text\"", "\"text\"");
    expect("[]", "[]");
    expect("{}", "{}");
}

static void test_bad(void)
{
    expect_bad("i:x");
    expect_bad("i:2147483648");
    expect_bad("i:");
    expect_bad("I:1.5");
    expect_bad("d:abc");
    expect_bad("d:inf");
    expect_bad("d:");
    expect_bad("b:maybe");
    expect_bad("n:x");
    expect_bad("6:not base64!");
    /* xmlrpc-c's parser forgives "[1," (read as [1]), not this. */
    expect_bad("[1, 2");
    expect_bad("{\"k\" 1}");
    expect_bad("j:");
    expect_bad("s:\xff");
}

static void test_format(void)
{
    xmlrpc_env env;
    xmlrpc_value *v;
    char *text;

    xmlrpc_env_init(&env);
    v = xmlrpc_string_new(&env, "pong");
    text = va_call_format(&env, v, true);
    g_assert_cmpstr(text, ==, "pong");
    g_free(text);
    text = va_call_format(&env, v, false);
    g_assert_cmpstr(text, ==, "\"pong\"");
    g_free(text);
    xmlrpc_DECREF(v);

    v = xmlrpc_build_value(&env, "{s:8,s:6,s:s}", "when",
                           "20240102T03:04:05", "data", "\x01\xff", 2,
                           "ctl", "a\x1f");
    g_assert_false(env.fault_occurred);
    text = va_call_format(&env, v, true);
    g_assert_cmpstr(text, ==, "{\"when\": \"20240102T03:04:05\", "
                    "\"data\": \"Af8=\", \"ctl\": \"a\\u001f\"}");
    g_free(text);
    xmlrpc_DECREF(v);
    xmlrpc_env_clean(&env);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/va-call-args/typed", test_typed);
    g_test_add_func("/va-call-args/json", test_json);
    g_test_add_func("/va-call-args/bad", test_bad);
    g_test_add_func("/va-call-args/format", test_format);
    return g_test_run();
}
