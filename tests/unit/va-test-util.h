/*
 * virtagent - helpers for the core's tests
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VA_TEST_UTIL_H
#define VA_TEST_UTIL_H

#include "va-channel.h"

/* Two channels joined in memory, on a clock the test moves. */
typedef struct VATestLink {
    VAChannel *a;
    VAChannel *b;
    int64_t now;
    size_t chunk;           /* bytes moved per step; 0 = all at once */
    uint64_t wakeups;
} VATestLink;

void va_test_link_init(VATestLink *l, const VAChannelConfig *cfg_a,
                       const VAChannelConfig *cfg_b);
void va_test_link_destroy(VATestLink *l);
/* Move up to @chunk bytes (0: all there are) from @from to @to. */
size_t va_test_move(VAChannel *from, VAChannel *to, size_t chunk);
/* Move bytes both ways until neither side has output. */
void va_test_link_run(VATestLink *l);
/* Move the clock and fire both sides' timers. */
void va_test_link_advance(VATestLink *l, int64_t ms);

/* Register a method on @ch: @sig as xmlrpc-c signature strings. */
void va_test_add_method(VAChannel *ch, const char *name, xmlrpc_method2 fn,
                        void *server_info, const char *sig);

/* Methods used by several tests. */
xmlrpc_value *va_test_ping(xmlrpc_env *env, xmlrpc_value *params,
                           void *server_info, void *call_info);
xmlrpc_value *va_test_echo(xmlrpc_env *env, xmlrpc_value *params,
                           void *server_info, void *call_info);

/* A call's outcome, for VACallDone. */
typedef struct VATestResult {
    int completions;
    xmlrpc_value *value;
    GError *err;
} VATestResult;

void va_test_result_done(VAChannel *ch, VACallId id, xmlrpc_value *result,
                         const GError *err, void *opaque);
void va_test_result_clear(VATestResult *r);
/* The answer's string, or NULL. */
char *va_test_result_string(VATestResult *r);
/* The answer's integer; the call must have succeeded. */
int va_test_result_int(VATestResult *r);

/* Call test.echo(@value); its answer goes to @r. */
VACallId va_test_call_echo(VAChannel *ch, int value, VATestResult *r);

#endif
