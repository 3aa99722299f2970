/*
 * virtagent - XML-RPC codec on xmlrpc-c
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Received documents are decoded by va-boundary.c in the pass that checks
 * them, not by xmlrpc-c's parser; xmlrpc-c serializes, and its registry
 * dispatches.
 */
#include <stdlib.h>
#include <string.h>

#include "va-boundary.h"
#include "va-codec.h"
#include "va-errors.h"
#include "va-limits.h"

/*
 * The registry's dispatch of a parsed call: what
 * xmlrpc_registry_process_call2() does between its parse and its
 * serialization. libxmlrpc_server exports it (1.33.14 and later) but no
 * installed header declares it, and the public API only dispatches XML.
 */
void xmlrpc_dispatchCall(xmlrpc_env *env, xmlrpc_registry *reg,
                         const char *method_name, xmlrpc_value *params,
                         void *call_info, xmlrpc_value **result);

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
    VADecoded call;
    xmlrpc_env env;
    xmlrpc_env fault;
    xmlrpc_value *result = NULL;
    xmlrpc_mem_block *mb;
    bool ok = va_boundary_decode(xml, len, max_len, VA_DOC_CALL, &call,
                                 &err);

    if (refused) {
        *refused = !ok;
    }
    if (!ok) {
        return va_codec_encode_fault(err->code, err->message);
    }
    /* As xmlrpc_registry_process_call2() would, from here on. */
    xmlrpc_env_init(&env);
    xmlrpc_env_init(&fault);
    mb = XMLRPC_MEMBLOCK_NEW(char, &env, 0);
    g_assert(!env.fault_occurred);
    xmlrpc_dispatchCall(&fault, reg, call.method, call.value, call_info,
                        &result);
    if (!fault.fault_occurred) {
        /* xmlrpc_registry_new()'s dialect: ours never set another. */
        xmlrpc_serialize_response2(&env, mb, result, xmlrpc_dialect_i8);
        xmlrpc_DECREF(result);
    } else {
        xmlrpc_serialize_fault(&env, mb, &fault);
    }
    va_decoded_clear(&call);
    xmlrpc_env_clean(&fault);
    if (env.fault_occurred) {
        /* The answer could not be serialized (a method's bad value). */
        GBytes *out = va_codec_encode_fault(env.fault_code,
                                            env.fault_string);

        XMLRPC_MEMBLOCK_FREE(char, mb);
        xmlrpc_env_clean(&env);
        return out;
    }
    xmlrpc_env_clean(&env);
    return memblock_to_bytes(mb);
}

/*
 * A <fault>'s value, as xmlrpc_parse_response2() reads it: a struct with
 * an int faultCode and a string faultString (other members ignored).
 */
static void fault_error(xmlrpc_value *v, GError **errp)
{
    xmlrpc_env env;
    xmlrpc_value *code_v = NULL;
    xmlrpc_value *string_v = NULL;
    const char *string = NULL;
    int code = 0;

    xmlrpc_env_init(&env);
    if (xmlrpc_value_type(v) != XMLRPC_TYPE_STRUCT) {
        xmlrpc_env_set_fault(&env, XMLRPC_PARSE_ERROR,
                             "<value> element of <fault> response is not "
                             "of structure type");
    } else {
        xmlrpc_struct_find_value(&env, v, "faultCode", &code_v);
    }
    if (!env.fault_occurred && !code_v) {
        xmlrpc_env_set_fault(&env, XMLRPC_PARSE_ERROR,
                             "Member 'faultCode' is missing");
    } else if (!env.fault_occurred) {
        xmlrpc_read_int(&env, code_v, &code);
    }
    if (!env.fault_occurred) {
        xmlrpc_struct_find_value(&env, v, "faultString", &string_v);
    }
    if (!env.fault_occurred && !string_v) {
        xmlrpc_env_set_fault(&env, XMLRPC_PARSE_ERROR,
                             "Member 'faultString' is missing");
    } else if (!env.fault_occurred) {
        xmlrpc_read_string(&env, string_v, &string);
    }
    if (env.fault_occurred) {
        g_set_error(errp, VA_ERROR, VA_ERROR_PROTOCOL,
                    "bad answer: fault: %s", env.fault_string);
    } else {
        g_set_error_literal(errp, VA_FAULT, code, string);
        free((void *)string);
    }
    if (code_v) {
        xmlrpc_DECREF(code_v);
    }
    if (string_v) {
        xmlrpc_DECREF(string_v);
    }
    xmlrpc_env_clean(&env);
}

xmlrpc_value *va_codec_decode_reply(const char *xml, size_t len,
                                    size_t max_len, GError **errp)
{
    g_autoptr(GError) err = NULL;
    VADecoded answer;
    xmlrpc_value *result;

    if (!va_boundary_decode(xml, len, max_len, VA_DOC_RESPONSE, &answer,
                            &err)) {
        g_set_error(errp, VA_ERROR, VA_ERROR_PROTOCOL, "bad answer: %s",
                    err->message);
        return NULL;
    }
    if (answer.fault) {
        fault_error(answer.value, errp);
        va_decoded_clear(&answer);
        return NULL;
    }
    result = answer.value;
    answer.value = NULL;
    va_decoded_clear(&answer);
    return result;
}
