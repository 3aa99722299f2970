/*
 * virtagent - the strict boundary every received document passes before
 * xmlrpc-c parses it
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xmlrpc-c 1.33.14 parses with a 2001 fork of Expat: it detects UTF-16
 * on its own, expands entities without limit, crashes on a malformed
 * <i8>, builds structs in quadratic time and turns "nan" into a double.
 * So what reaches it is checked first, in one linear pass with a fixed
 * stack: UTF-8 only, XML-RPC's elements only, in their places, within
 * the limits of va-limits.h, numbers in range. docs/protocol.md ("What a
 * receiver accepts") lists the rules.
 */
#ifndef VIRTAGENT_BOUNDARY_H
#define VIRTAGENT_BOUNDARY_H

#include <stdbool.h>
#include <stddef.h>
#include <glib.h>
#include <xmlrpc-c/base.h>

#include "va-limits.h"

/* What the document must be: the root element expected. */
typedef enum VADocKind {
    VA_DOC_CALL,        /* <methodCall> */
    VA_DOC_RESPONSE,    /* <methodResponse> */
} VADocKind;

/*
 * True if @xml (@len bytes) may be handed to xmlrpc-c. Otherwise false
 * with a VA_FAULT error: VA_FAULT_TOO_LARGE when @len > @max_len, else
 * VA_FAULT_UNSAFE_XML naming what was wrong and its byte offset.
 */
bool va_boundary_check(const char *xml, size_t len, size_t max_len,
                       VADocKind kind, GError **errp);

/* A document decoded: what xmlrpc-c's parser would have made of it. */
typedef struct VADecoded {
    char method[VA_XML_NAME_MAX + 1];   /* a call's method name, or "" */
    xmlrpc_value *value;    /* a call's params (an array), an answer's
                               result or its <fault>'s value */
    bool fault;             /* the answer is a <fault> */
} VADecoded;

/*
 * va_boundary_check(), and in the same pass the document's values, built
 * with xmlrpc-c's constructors into *@out (release with
 * va_decoded_clear()). A <fault>'s value is not checked for its members.
 */
bool va_boundary_decode(const char *xml, size_t len, size_t max_len,
                        VADocKind kind, VADecoded *out, GError **errp);
void va_decoded_clear(VADecoded *d);

#endif
