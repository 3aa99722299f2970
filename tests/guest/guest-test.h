/*
 * virtagent - helpers the guest agent's tests share
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A header, not an object: the test programs link different objects,
 * and these are small.
 */
#ifndef GUEST_TEST_H
#define GUEST_TEST_H

#include <stdarg.h>
#include <glib.h>
#include <xmlrpc-c/base.h>

/* xmlrpc_build_value() for a test: a bad format fails the test. */
static inline xmlrpc_value *build(const char *format, ...)
{
    xmlrpc_env env;
    xmlrpc_value *v;
    const char *tail;
    va_list ap;

    xmlrpc_env_init(&env);
    va_start(ap, format);
    xmlrpc_build_value_va(&env, format, ap, &v, &tail);
    va_end(ap);
    g_assert_false(env.fault_occurred);
    xmlrpc_env_clean(&env);
    return v;
}

#endif
