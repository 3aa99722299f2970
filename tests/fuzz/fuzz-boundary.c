/*
 * virtagent - fuzz target: the boundary, and xmlrpc-c behind it
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input is a document as a hostile peer sends it, checked both as a
 * call and as an answer. A refusal must come with a message that is
 * valid UTF-8 (it travels in a fault string and into QMP). Whatever is
 * accepted goes on to xmlrpc-c, which must not crash, and must take every
 * accepted call without a fault: the two agree on what a document is.
 * Build with "make fuzz" (clang, libFuzzer).
 */
#include <stdint.h>
#include <stdlib.h>

#include "va-boundary.h"
#include "va-codec.h"
#include "va-errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_call(const char *xml, size_t len)
{
    const char *method = NULL;
    xmlrpc_value *params = NULL;
    xmlrpc_env env;

    xmlrpc_env_init(&env);
    xmlrpc_parse_call(&env, xml, len, &method, &params);
    if (env.fault_occurred) {
        abort();    /* accepted by the boundary, refused by xmlrpc-c */
    }
    free((void *)method);
    xmlrpc_DECREF(params);
    xmlrpc_env_clean(&env);
}

static void parse_response(const char *xml, size_t len)
{
    xmlrpc_value *result = NULL;
    const char *fault_string = NULL;
    int fault_code;
    xmlrpc_env env;

    /* A <fault> may lack faultCode: a fault of xmlrpc-c's, not a crash. */
    xmlrpc_env_init(&env);
    xmlrpc_parse_response2(&env, xml, len, &result, &fault_code,
                           &fault_string);
    if (result) {
        xmlrpc_DECREF(result);
    }
    free((void *)fault_string);
    xmlrpc_env_clean(&env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *xml = (const char *)data;

    va_codec_init();
    for (int kind = VA_DOC_CALL; kind <= VA_DOC_RESPONSE; kind++) {
        GError *err = NULL;

        if (!va_boundary_check(xml, size, size, kind, &err)) {
            if (!err || err->domain != VA_FAULT ||
                err->code != VA_FAULT_UNSAFE_XML ||
                !g_utf8_validate(err->message, -1, NULL)) {
                abort();
            }
            g_error_free(err);
        } else if (kind == VA_DOC_CALL) {
            parse_call(xml, size);
        } else {
            parse_response(xml, size);
        }
    }
    return 0;
}
