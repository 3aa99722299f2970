/*
 * virtagent - helpers for the core's tests
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "va-test-util.h"

static int64_t link_now(void *opaque)
{
    return ((VATestLink *)opaque)->now;
}

static void link_wakeup(void *opaque)
{
    ((VATestLink *)opaque)->wakeups++;
}

void va_test_link_init(VATestLink *l, const VAChannelConfig *cfg_a,
                       const VAChannelConfig *cfg_b)
{
    static const VAChannelOps ops = {
        .now_ms = link_now,
        .wakeup = link_wakeup,
    };
    VAChannelConfig def;

    memset(l, 0, sizeof(*l));
    l->now = 1000;
    va_channel_config_init(&def);
    l->a = va_channel_new(cfg_a ? cfg_a : &def, &ops, l, NULL);
    l->b = va_channel_new(cfg_b ? cfg_b : &def, &ops, l, NULL);
    g_assert_nonnull(l->a);
    g_assert_nonnull(l->b);
    va_test_add_method(l->a, "va.ping", va_test_ping, NULL, "s:");
    va_test_add_method(l->b, "va.ping", va_test_ping, NULL, "s:");
    va_test_add_method(l->a, "test.echo", va_test_echo, NULL, NULL);
    va_test_add_method(l->b, "test.echo", va_test_echo, NULL, NULL);
}

void va_test_link_destroy(VATestLink *l)
{
    va_channel_free(l->a);
    va_channel_free(l->b);
}

size_t va_test_move(VAChannel *from, VAChannel *to, size_t chunk)
{
    size_t len;
    const uint8_t *buf = va_channel_output(from, &len);
    g_autofree uint8_t *copy = NULL;

    if (chunk && len > chunk) {
        len = chunk;
    }
    if (!len) {
        return 0;
    }
    /* The receiver may call back into the sender's buffer: copy first. */
    copy = g_memdup2(buf, len);
    va_channel_output_done(from, len);
    va_channel_input(to, copy, len);
    return len;
}

void va_test_link_run(VATestLink *l)
{
    int rounds = 0;

    while (va_test_move(l->a, l->b, l->chunk) +
           va_test_move(l->b, l->a, l->chunk)) {
        g_assert_cmpint(++rounds, <, 10000000);
    }
}

void va_test_link_advance(VATestLink *l, int64_t ms)
{
    l->now += ms;
    va_channel_run_timers(l->a);
    va_channel_run_timers(l->b);
}

void va_test_add_method(VAChannel *ch, const char *name, xmlrpc_method2 fn,
                        void *server_info, const char *sig)
{
    struct xmlrpc_method_info3 info = {
        .methodName = name,
        .methodFunction = fn,
        .serverInfo = server_info,
        .signatureString = sig,
    };
    xmlrpc_env env;

    xmlrpc_env_init(&env);
    va_channel_add_method(ch, &env, &info);
    g_assert_false(env.fault_occurred);
    xmlrpc_env_clean(&env);
}

xmlrpc_value *va_test_ping(xmlrpc_env *env, xmlrpc_value *params,
                           void *server_info, void *call_info)
{
    return xmlrpc_string_new(env, "pong");
}

xmlrpc_value *va_test_echo(xmlrpc_env *env, xmlrpc_value *params,
                           void *server_info, void *call_info)
{
    xmlrpc_value *v = NULL;

    if (xmlrpc_array_size(env, params) != 1) {
        xmlrpc_env_set_fault(env, 1007, "one argument expected");
        return NULL;
    }
    xmlrpc_array_read_item(env, params, 0, &v);
    return v;
}

void va_test_result_done(VAChannel *ch, VACallId id, xmlrpc_value *result,
                         const GError *err, void *opaque)
{
    VATestResult *r = opaque;

    r->completions++;
    if (result) {
        xmlrpc_INCREF(result);
        r->value = result;
    }
    if (err) {
        r->err = g_error_copy(err);
    }
}

void va_test_result_clear(VATestResult *r)
{
    if (r->value) {
        xmlrpc_DECREF(r->value);
    }
    g_clear_error(&r->err);
    memset(r, 0, sizeof(*r));
}

char *va_test_result_string(VATestResult *r)
{
    xmlrpc_env env;
    const char *s = NULL;
    char *out = NULL;

    if (!r->value) {
        return NULL;
    }
    xmlrpc_env_init(&env);
    xmlrpc_read_string(&env, r->value, &s);
    if (!env.fault_occurred) {
        out = g_strdup(s);
        free((void *)s);
    }
    xmlrpc_env_clean(&env);
    return out;
}

int va_test_result_int(VATestResult *r)
{
    xmlrpc_env env;
    int v = 0;

    g_assert_no_error(r->err);
    g_assert_nonnull(r->value);
    xmlrpc_env_init(&env);
    xmlrpc_read_int(&env, r->value, &v);
    g_assert_false(env.fault_occurred);
    xmlrpc_env_clean(&env);
    return v;
}

VACallId va_test_call_echo(VAChannel *ch, int value, VATestResult *r)
{
    xmlrpc_env env;
    xmlrpc_value *params;
    VACallId id;

    xmlrpc_env_init(&env);
    params = xmlrpc_build_value(&env, "(i)", value);
    id = va_channel_call(ch, "test.echo", params, -1, va_test_result_done,
                         r, NULL);
    g_assert_cmpuint(id, !=, 0);
    xmlrpc_DECREF(params);
    xmlrpc_env_clean(&env);
    return id;
}
