/*
 * virtagent - XML-RPC codec on xmlrpc-c
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "va-boundary.h"
#include "va-codec.h"
#include "va-errors.h"
#include "va-limits.h"

void va_codec_init(void)
{
    static gsize done;

    if (g_once_init_enter(&done)) {
        /*
         * Our own checks come first with each channel's limits; these only
         * stop xmlrpc-c from refusing what a channel allows.
         */
        xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, VA_MAX_BODY_LIMIT);
        xmlrpc_limit_set(XMLRPC_NESTING_LIMIT_ID, VA_XML_DEPTH_MAX);
        g_once_init_leave(&done, 1);
    }
}

static void memblock_free(gpointer mb)
{
    XMLRPC_MEMBLOCK_FREE(char, mb);
}

/*
 * The document xmlrpc-c wrote, without the XML declaration it starts
 * with: the declaration is optional (docs/protocol.md), and parsing it
 * costs the peer's expat about 2 500 instructions a document, a twentieth
 * of a ping in the guest, where every instruction is emulated.
 */
static GBytes *memblock_to_bytes(xmlrpc_mem_block *mb)
{
    static const char decl[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n";
    const char *xml = XMLRPC_MEMBLOCK_CONTENTS(char, mb);
    size_t len = XMLRPC_MEMBLOCK_SIZE(char, mb);
    size_t skip = sizeof(decl) - 1;

    if (len < skip || memcmp(xml, decl, skip)) {
        skip = 0;
    }
    return g_bytes_new_with_free_func(xml + skip, len - skip, memblock_free,
                                      mb);
}

GBytes *va_codec_encode_call(const char *method, xmlrpc_value *params,
                             GError **errp)
{
    xmlrpc_env env;
    xmlrpc_mem_block *mb;
    xmlrpc_value *empty = NULL;
    GBytes *out = NULL;

    xmlrpc_env_init(&env);
    mb = XMLRPC_MEMBLOCK_NEW(char, &env, 0);
    if (!env.fault_occurred && !params) {
        params = empty = xmlrpc_array_new(&env);
    }
    if (!env.fault_occurred) {
        xmlrpc_serialize_call2(&env, mb, method, params, xmlrpc_dialect_i8);
    }
    if (env.fault_occurred) {
        g_set_error(errp, VA_ERROR, VA_ERROR_INVALID,
                    "cannot encode call to %s: %s", method,
                    env.fault_string);
        if (mb) {
            XMLRPC_MEMBLOCK_FREE(char, mb);
        }
    } else {
        out = memblock_to_bytes(mb);
    }
    if (empty) {
        xmlrpc_DECREF(empty);
    }
    xmlrpc_env_clean(&env);
    return out;
}

GBytes *va_codec_encode_fault(int code, const char *msg)
{
    xmlrpc_env env;
    xmlrpc_env fault;
    xmlrpc_mem_block *mb;

    xmlrpc_env_init(&env);
    xmlrpc_env_init(&fault);
    xmlrpc_env_set_fault(&fault, code, msg);
    mb = XMLRPC_MEMBLOCK_NEW(char, &env, 0);
    if (!env.fault_occurred) {
        xmlrpc_serialize_fault(&env, mb, &fault);
    }
    /* Only allocation can fail here, and GLib aborts on that too. */
    g_assert(!env.fault_occurred);
    xmlrpc_env_clean(&fault);
    xmlrpc_env_clean(&env);
    return memblock_to_bytes(mb);
}

GBytes *va_codec_dispatch(xmlrpc_registry *reg, const char *xml, size_t len,
                          size_t max_len, void *call_info, bool *refused)
{
    g_autoptr(GError) err = NULL;
    xmlrpc_env env;
    xmlrpc_mem_block *mb = NULL;
    GBytes *out;
    bool ok = va_boundary_check(xml, len, max_len, VA_DOC_CALL, &err);

    if (refused) {
        *refused = !ok;
    }
    if (!ok) {
        return va_codec_encode_fault(err->code, err->message);
    }
    xmlrpc_env_init(&env);
    xmlrpc_registry_process_call2(&env, reg, xml, len, call_info, &mb);
    if (env.fault_occurred) {
        /* Internal failure: the registry could not even build a fault. */
        out = va_codec_encode_fault(env.fault_code, env.fault_string);
    } else {
        out = memblock_to_bytes(mb);
    }
    xmlrpc_env_clean(&env);
    return out;
}

xmlrpc_value *va_codec_decode_reply(const char *xml, size_t len,
                                    size_t max_len, GError **errp)
{
    g_autoptr(GError) err = NULL;
    xmlrpc_env env;
    xmlrpc_value *result = NULL;
    const char *fault_string = NULL;
    int fault_code = 0;

    if (!va_boundary_check(xml, len, max_len, VA_DOC_RESPONSE, &err)) {
        g_set_error(errp, VA_ERROR, VA_ERROR_PROTOCOL, "bad answer: %s",
                    err->message);
        return NULL;
    }
    xmlrpc_env_init(&env);
    xmlrpc_parse_response2(&env, xml, len, &result, &fault_code,
                           &fault_string);
    if (env.fault_occurred) {
        g_set_error(errp, VA_ERROR, VA_ERROR_PROTOCOL, "bad answer: %s",
                    env.fault_string);
        result = NULL;
    } else if (fault_string) {
        g_set_error_literal(errp, VA_FAULT, fault_code, fault_string);
        free((void *)fault_string);
        result = NULL;
    }
    xmlrpc_env_clean(&env);
    return result;
}
