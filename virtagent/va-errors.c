/*
 * virtagent - error domains
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "va-errors.h"

G_DEFINE_QUARK(virtagent-error-quark, va_error)
G_DEFINE_QUARK(virtagent-fault-quark, va_fault)
