/*
 * virtagent - policy: which methods the peer may call, and how often
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VIRTAGENT_POLICY_H
#define VIRTAGENT_POLICY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct VAMethodPolicy VAMethodPolicy;

/*
 * Allow and block lists, comma-separated method names, either NULL.
 * As qemu-ga: an allow list alone blocks everything else; with both, the
 * allow list applies first, then the block list.
 */
VAMethodPolicy *va_method_policy_new(const char *allow, const char *block);
void va_method_policy_free(VAMethodPolicy *p);
bool va_method_policy_allows(const VAMethodPolicy *p, const char *method);

/* A token bucket: @rate tokens per second, at most @burst stored. */
typedef struct VARateLimit {
    double rate;
    double burst;
    double tokens;
    int64_t last_ms;
} VARateLimit;

void va_rate_limit_init(VARateLimit *rl, double rate, double burst,
                        int64_t now_ms);
/* Take one token; false when none is left. Always true when rate is 0. */
bool va_rate_limit_take(VARateLimit *rl, int64_t now_ms);
/* Take @n tokens at once, or none. */
bool va_rate_limit_take_n(VARateLimit *rl, int64_t now_ms, double n);

#endif
