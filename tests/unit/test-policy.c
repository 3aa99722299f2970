/*
 * virtagent - tests of the method policy and the rate limiter
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <glib.h>

#include "va-policy.h"

static void test_no_lists(void)
{
    VAMethodPolicy *p = va_method_policy_new(NULL, NULL);

    g_assert_true(va_method_policy_allows(p, "va.ping"));
    g_assert_true(va_method_policy_allows(NULL, "va.ping"));
    va_method_policy_free(p);
}

static void test_allow_only(void)
{
    VAMethodPolicy *p = va_method_policy_new(" va.ping , va.info,", NULL);

    g_assert_true(va_method_policy_allows(p, "va.ping"));
    g_assert_true(va_method_policy_allows(p, "va.info"));
    g_assert_false(va_method_policy_allows(p, "va.shutdown"));
    g_assert_false(va_method_policy_allows(p, ""));
    va_method_policy_free(p);
}

static void test_block_only(void)
{
    VAMethodPolicy *p = va_method_policy_new(NULL, "va.shutdown");

    g_assert_true(va_method_policy_allows(p, "va.ping"));
    g_assert_false(va_method_policy_allows(p, "va.shutdown"));
    va_method_policy_free(p);
}

/* As qemu-ga: the allow list first, then the block list. */
static void test_both(void)
{
    VAMethodPolicy *p = va_method_policy_new("va.ping,va.shutdown",
                                             "va.shutdown");

    g_assert_true(va_method_policy_allows(p, "va.ping"));
    g_assert_false(va_method_policy_allows(p, "va.shutdown"));
    g_assert_false(va_method_policy_allows(p, "va.info"));
    va_method_policy_free(p);
}

static void test_rate_limit(void)
{
    VARateLimit rl;
    int taken = 0;

    va_rate_limit_init(&rl, 10, 5, 0);
    while (va_rate_limit_take(&rl, 0)) {
        taken++;
    }
    g_assert_cmpint(taken, ==, 5);
    /* 10 per second: one more token every 100 ms, no more. */
    g_assert_false(va_rate_limit_take(&rl, 99));
    g_assert_true(va_rate_limit_take(&rl, 100));
    g_assert_false(va_rate_limit_take(&rl, 100));
    /* A long pause refills only up to the burst. */
    taken = 0;
    while (va_rate_limit_take(&rl, 100000)) {
        taken++;
    }
    g_assert_cmpint(taken, ==, 5);
}

static void test_rate_unlimited(void)
{
    VARateLimit rl;

    va_rate_limit_init(&rl, 0, 0, 0);
    for (int i = 0; i < 1000; i++) {
        g_assert_true(va_rate_limit_take(&rl, 0));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/policy/no-lists", test_no_lists);
    g_test_add_func("/policy/allow-only", test_allow_only);
    g_test_add_func("/policy/block-only", test_block_only);
    g_test_add_func("/policy/both", test_both);
    g_test_add_func("/policy/rate-limit", test_rate_limit);
    g_test_add_func("/policy/rate-unlimited", test_rate_unlimited);
    return g_test_run();
}
