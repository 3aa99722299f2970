/*
 * virtagent - XML-RPC codec on xmlrpc-c
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Received documents are decoded by va-boundary.c in the pass that checks
 * them, not by xmlrpc-c's parser; calls and answers are written here,
 * faults by xmlrpc-c's serializer, and its registry dispatches.
 */
#include <stdint.h>
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

/* An answer being written. */
typedef struct Out {
    char *buf;
    size_t len;
    size_t cap;
} Out;

/* Room for @n more bytes. */
static void reserve(Out *out, size_t n)
{
    if (out->cap - out->len < n) {
        out->cap = MAX(out->cap * 2, out->len + n);
        out->buf = g_realloc(out->buf, out->cap);
    }
}

static inline void put(Out *out, const char *s, size_t n)
{
    reserve(out, n);
    memcpy(out->buf + out->len, s, n);
    out->len += n;
}

#define put_lit(out, lit) put(out, lit, sizeof(lit) - 1)

/* What xmlrpc-c's escapeForXml() escapes: & < >, and CR, else lost. */
static const char *const xml_escapes[256] = {
    ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['\r'] = "&#x0d;",
};

static void put_escaped(Out *out, const char *s, size_t n)
{
    const char *end = s + n;

    while (s < end) {
        const char *p = s;

        while (p < end && !xml_escapes[(unsigned char)*p]) {
            p++;
        }
        put(out, s, p - s);
        if (p == end) {
            break;
        }
        put(out, xml_escapes[(unsigned char)*p],
            strlen(xml_escapes[(unsigned char)*p]));
        s = p + 1;
    }
}

static void put_int(Out *out, int64_t v)
{
    char buf[24];
    char *p = buf + sizeof(buf);
    uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;

    do {
        *--p = '0' + mag % 10;
        mag /= 10;
    } while (mag);
    if (v < 0) {
        *--p = '-';
    }
    put(out, p, buf + sizeof(buf) - p);
}

static void put_base64(Out *out, const unsigned char *data, size_t len)
{
    gint state = 0;
    gint save = 0;
    char *p;

    /* g_base64_encode_step()'s bound, without line breaks. */
    reserve(out, (len / 3 + 1) * 4 + 4);
    p = out->buf + out->len;
    p += g_base64_encode_step(data, len, FALSE, p, &state, &save);
    p += g_base64_encode_close(FALSE, p, &state, &save);
    out->len = p - out->buf;
}

/*
 * xmlrpc-c's own text of a value: for the types rare in answers (double,
 * dateTime), whose exact digits matter, and for its faults on those it
 * cannot serialize (a C pointer).
 */
static bool put_xmlrpc_c_value(xmlrpc_env *env, Out *out,
                               xmlrpc_value *v)
{
    xmlrpc_mem_block *mb = XMLRPC_MEMBLOCK_NEW(char, env, 0);

    if (env->fault_occurred) {
        return false;
    }
    xmlrpc_serialize_value2(env, mb, v, xmlrpc_dialect_i8);
    if (!env->fault_occurred) {
        put(out, XMLRPC_MEMBLOCK_CONTENTS(char, mb),
                            XMLRPC_MEMBLOCK_SIZE(char, mb));
    }
    XMLRPC_MEMBLOCK_FREE(char, mb);
    return !env->fault_occurred;
}

/* @v as a <value> element, as xmlrpc_serialize_value2() means it. */
static bool put_value(xmlrpc_env *env, Out *out, xmlrpc_value *v)
{
    xmlrpc_type type = xmlrpc_value_type(v);
    int i, n;

    switch (type) {
    case XMLRPC_TYPE_INT:
    case XMLRPC_TYPE_I8:
    case XMLRPC_TYPE_BOOL:
    case XMLRPC_TYPE_STRING:
    case XMLRPC_TYPE_BASE64:
    case XMLRPC_TYPE_ARRAY:
    case XMLRPC_TYPE_STRUCT:
    case XMLRPC_TYPE_NIL:
        break;
    default:
        return put_xmlrpc_c_value(env, out, v);
    }
    put_lit(out, "<value>");
    switch (type) {
    case XMLRPC_TYPE_INT: {
        int x = 0;

        xmlrpc_read_int(env, v, &x);
        put_lit(out, "<i4>");
        put_int(out, x);
        put_lit(out, "</i4>");
        break;
    }
    case XMLRPC_TYPE_I8: {
        xmlrpc_int64 x = 0;

        xmlrpc_read_i8(env, v, &x);
        put_lit(out, "<i8>");
        put_int(out, x);
        put_lit(out, "</i8>");
        break;
    }
    case XMLRPC_TYPE_BOOL: {
        xmlrpc_bool b = 0;

        xmlrpc_read_bool(env, v, &b);
        put_lit(out, "<boolean>");
        put(out, b ? "1" : "0", 1);
        put_lit(out, "</boolean>");
        break;
    }
    case XMLRPC_TYPE_STRING: {
        const char *s = NULL;
        size_t len = 0;

        xmlrpc_read_string_lp(env, v, &len, &s);
        if (env->fault_occurred) {
            return false;
        }
        put_lit(out, "<string>");
        put_escaped(out, s, len);
        put_lit(out, "</string>");
        free((void *)s);
        break;
    }
    case XMLRPC_TYPE_BASE64: {
        const unsigned char *data = NULL;
        size_t len = 0;

        xmlrpc_read_base64(env, v, &len, &data);
        if (env->fault_occurred) {
            return false;
        }
        put_lit(out, "<base64>");
        put_base64(out, data, len);
        put_lit(out, "</base64>");
        free((void *)data);
        break;
    }
    case XMLRPC_TYPE_ARRAY:
        n = xmlrpc_array_size(env, v);
        put_lit(out, "<array><data>");
        for (i = 0; i < n && !env->fault_occurred; i++) {
            xmlrpc_value *item = xmlrpc_array_get_item(env, v, i);

            if (!env->fault_occurred) {
                put_value(env, out, item);
            }
        }
        put_lit(out, "</data></array>");
        break;
    case XMLRPC_TYPE_STRUCT:
        n = xmlrpc_struct_size(env, v);
        put_lit(out, "<struct>");
        for (i = 0; i < n && !env->fault_occurred; i++) {
            xmlrpc_value *key, *member;
            const char *name = NULL;
            size_t len = 0;

            xmlrpc_struct_get_key_and_value(env, v, i, &key, &member);
            if (!env->fault_occurred) {
                xmlrpc_read_string_lp(env, key, &len, &name);
            }
            if (!env->fault_occurred) {
                put_lit(out, "<member><name>");
                put_escaped(out, name, len);
                put_lit(out, "</name>");
                free((void *)name);
                put_value(env, out, member);
                put_lit(out, "</member>");
            }
        }
        put_lit(out, "</struct>");
        break;
    default:
        put_lit(out, "<nil/>");
        break;
    }
    put_lit(out, "</value>");
    return !env->fault_occurred;
}

/*
 * A method's answer, written in one pass into one buffer where
 * xmlrpc-c's serializer makes a memory block for each string it escapes
 * and formats each number with vsnprintf: about a sixth of a ping's
 * instructions. Not xmlrpc-c's document byte for byte (no line breaks,
 * base64 on one line), but one its parser and ours read as the same
 * value (tests/unit/test-codec.c, tests/fuzz/fuzz-boundary.c).
 */
GBytes *va_codec_encode_response(xmlrpc_value *result)
{
    Out out = { g_malloc(256), 0, 256 };
    xmlrpc_env env;

    xmlrpc_env_init(&env);
    put_lit(&out, "<methodResponse><params><param>");
    if (!put_value(&env, &out, result)) {
        /* The answer could not be serialized (a method's bad value). */
        GBytes *fault = va_codec_encode_fault(env.fault_code,
                                              env.fault_string);

        g_free(out.buf);
        xmlrpc_env_clean(&env);
        return fault;
    }
    put_lit(&out, "</param></params></methodResponse>");
    xmlrpc_env_clean(&env);
    return g_bytes_new_take(out.buf, out.len);
}

/*
 * A call, written as answers are: the peer parses fewer bytes than
 * xmlrpc-c's serializer wrote (no line breaks), and a guest whose vCPU
 * is emulated pays for each one.
 */
GBytes *va_codec_encode_call(const char *method, xmlrpc_value *params,
                             GError **errp)
{
    Out out = { g_malloc(256), 0, 256 };
    xmlrpc_env env;
    int i, n = 0;

    xmlrpc_env_init(&env);
    if (params) {
        n = xmlrpc_array_size(&env, params);
    }
    put_lit(&out, "<methodCall><methodName>");
    put_escaped(&out, method, strlen(method));
    put_lit(&out, "</methodName><params>");
    for (i = 0; i < n && !env.fault_occurred; i++) {
        xmlrpc_value *item = xmlrpc_array_get_item(&env, params, i);

        if (!env.fault_occurred) {
            put_lit(&out, "<param>");
            put_value(&env, &out, item);
            put_lit(&out, "</param>");
        }
    }
    put_lit(&out, "</params></methodCall>");
    if (env.fault_occurred) {
        g_set_error(errp, VA_ERROR, VA_ERROR_INVALID,
                    "cannot encode call to %s: %s", method,
                    env.fault_string);
        g_free(out.buf);
        xmlrpc_env_clean(&env);
        return NULL;
    }
    xmlrpc_env_clean(&env);
    return g_bytes_new_take(out.buf, out.len);
}

GBytes *va_codec_dispatch_find(xmlrpc_registry *reg, VACodecFind *find,
                               void *find_opaque, const char *xml,
                               size_t len, size_t max_len, void *call_info,
                               bool *refused)
{
    g_autoptr(GError) err = NULL;
    const struct xmlrpc_method_info3 *m = NULL;
    VADecoded call;
    xmlrpc_env fault;
    xmlrpc_value *result = NULL;
    GBytes *out;
    bool ok = va_boundary_decode(xml, len, max_len, VA_DOC_CALL, &call,
                                 &err);

    if (refused) {
        *refused = !ok;
    }
    if (!ok) {
        return va_codec_encode_fault(err->code, err->message);
    }
    xmlrpc_env_init(&fault);
    if (find) {
        m = find(&fault, call.method, call.value, find_opaque);
    }
    if (m) {
        /* As xmlrpc_dispatchCall() runs a method it has found. */
        if (!fault.fault_occurred) {
            result = m->methodFunction(&fault, call.value, m->serverInfo,
                                       call_info);
        }
        if (fault.fault_occurred && result) {
            xmlrpc_DECREF(result);
        }
    } else {
        /* As xmlrpc_registry_process_call2() would, from here on. */
        xmlrpc_dispatchCall(&fault, reg, call.method, call.value, call_info,
                            &result);
    }
    va_decoded_clear(&call);
    if (!fault.fault_occurred) {
        out = va_codec_encode_response(result);
        xmlrpc_DECREF(result);
    } else {
        out = va_codec_encode_fault(fault.fault_code, fault.fault_string);
    }
    xmlrpc_env_clean(&fault);
    return out;
}

GBytes *va_codec_dispatch(xmlrpc_registry *reg, const char *xml, size_t len,
                          size_t max_len, void *call_info, bool *refused)
{
    return va_codec_dispatch_find(reg, NULL, NULL, xml, len, max_len,
                                  call_info, refused);
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
