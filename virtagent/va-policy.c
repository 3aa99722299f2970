/*
 * virtagent - policy: method allow/block lists and a token bucket
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include <glib.h>

#include "va-policy.h"

struct VAMethodPolicy {
    GHashTable *allow;  /* NULL: no allow list */
    GHashTable *block;  /* NULL: no block list */
};

static GHashTable *method_set_new(const char *csv)
{
    GHashTable *set;
    g_auto(GStrv) names = NULL;

    if (!csv) {
        return NULL;
    }
    set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    names = g_strsplit(csv, ",", -1);
    for (char **n = names; *n; n++) {
        char *name = g_strstrip(*n);

        if (*name) {
            g_hash_table_add(set, g_strdup(name));
        }
    }
    return set;
}

VAMethodPolicy *va_method_policy_new(const char *allow, const char *block)
{
    VAMethodPolicy *p = g_new0(VAMethodPolicy, 1);

    p->allow = method_set_new(allow);
    p->block = method_set_new(block);
    return p;
}

void va_method_policy_free(VAMethodPolicy *p)
{
    if (!p) {
        return;
    }
    if (p->allow) {
        g_hash_table_unref(p->allow);
    }
    if (p->block) {
        g_hash_table_unref(p->block);
    }
    g_free(p);
}

bool va_method_policy_allows(const VAMethodPolicy *p, const char *method)
{
    if (!p) {
        return true;
    }
    if (p->allow && !g_hash_table_contains(p->allow, method)) {
        return false;
    }
    return !(p->block && g_hash_table_contains(p->block, method));
}

void va_rate_limit_init(VARateLimit *rl, double rate, double burst,
                        int64_t now_ms)
{
    rl->rate = rate;
    rl->burst = burst < 1 ? 1 : burst;
    rl->tokens = rl->burst;
    rl->last_ms = now_ms;
}

bool va_rate_limit_take(VARateLimit *rl, int64_t now_ms)
{
    return va_rate_limit_take_n(rl, now_ms, 1);
}

bool va_rate_limit_take_n(VARateLimit *rl, int64_t now_ms, double n)
{
    if (rl->rate <= 0) {
        return true;
    }
    if (now_ms > rl->last_ms) {
        rl->tokens += (now_ms - rl->last_ms) * rl->rate / 1000.0;
        if (rl->tokens > rl->burst) {
            rl->tokens = rl->burst;
        }
        rl->last_ms = now_ms;
    }
    if (rl->tokens < n) {
        return false;
    }
    rl->tokens -= n;
    return true;
}
