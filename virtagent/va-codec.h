/*
 * virtagent - XML-RPC codec on xmlrpc-c, with the checks that keep
 * untrusted documents away from its parser
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every document received passes va-boundary.c's checks before xmlrpc-c
 * parses it. Bodies travel as GBytes.
 */
#ifndef VIRTAGENT_CODEC_H
#define VIRTAGENT_CODEC_H

#include <stdbool.h>
#include <glib.h>
#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>

/* Process-wide xmlrpc-c limits; idempotent, call before any parse. */
void va_codec_init(void);

GBytes *va_codec_encode_call(const char *method, xmlrpc_value *params,
                             GError **errp);
GBytes *va_codec_encode_fault(int code, const char *msg);
/*
 * The answer document of a method's @result, or the fault xmlrpc-c
 * gives a value it cannot serialize.
 */
GBytes *va_codec_encode_response(xmlrpc_value *result);

/*
 * Run a call through @reg and return the answer document (faults
 * included). @call_info reaches the method as its callInfo. *@refused
 * (if not NULL) tells whether the boundary refused the document, which
 * the answer then reports as a VA_FAULT_TOO_LARGE or VA_FAULT_UNSAFE_XML
 * fault.
 */
GBytes *va_codec_dispatch(xmlrpc_registry *reg, const char *xml, size_t len,
                          size_t max_len, void *call_info, bool *refused);

/*
 * Finds @method without the registry's walk of its method list: the
 * method as it was registered in the registry, or NULL (and no fault)
 * for the registry to look it up. When it finds one it runs the
 * registry's pre-invoke check itself, whose fault in @env refuses the
 * call.
 */
typedef const struct xmlrpc_method_info3 *VACodecFind(xmlrpc_env *env,
                                                      const char *method,
                                                      xmlrpc_value *params,
                                                      void *opaque);

/* va_codec_dispatch(), trying @find before the registry. */
GBytes *va_codec_dispatch_find(xmlrpc_registry *reg, VACodecFind *find,
                               void *find_opaque, const char *xml,
                               size_t len, size_t max_len, void *call_info,
                               bool *refused);

/*
 * Decode an answer: the result (a new reference), or NULL with a VA_FAULT
 * error (the peer's fault) or VA_ERROR_PROTOCOL ("bad answer: ...": the
 * boundary refused it, or it is not an XML-RPC answer).
 */
xmlrpc_value *va_codec_decode_reply(const char *xml, size_t len,
                                    size_t max_len, GError **errp);

#endif
