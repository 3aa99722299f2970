/*
 * virtagent - fuzz target: the boundary and its decoder against xmlrpc-c
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input is a document as a hostile peer sends it, checked both as a
 * call and as an answer. A refusal must come with a message that is
 * valid UTF-8 (it travels in a fault string and into QMP). Checking and
 * decoding must accept the same documents. Whatever is accepted goes on
 * to xmlrpc-c's parser too, which must not crash and must take every
 * accepted call; and our decoding must give what it gives: the same
 * method name and equal params (and our writer's call of them read
 * as xmlrpc-c's serialization is), the same answer from the registry
 * (dispatched by va_codec_dispatch(), whose answer writer is ours,
 * against xmlrpc_registry_process_call2(): equal values or equal
 * faults as xmlrpc-c's parser reads them), the same result or
 * fault, or both refusing an answer's malformed <fault>.
 * Build with "make fuzz" (clang, libFuzzer).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "va-boundary.h"
#include "va-codec.h"
#include "va-errors.h"
#include "../unit/va-value-equal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every method: its name and params back, so that both are compared. */
static xmlrpc_value *echo(xmlrpc_env *env, const char *call_info,
                          const char *method, xmlrpc_value *params,
                          void *server_info)
{
    return xmlrpc_build_value(env, "(sV)", method, params);
}

static xmlrpc_registry *registry(void)
{
    static xmlrpc_registry *reg;
    xmlrpc_env env;

    if (!reg) {
        xmlrpc_env_init(&env);
        reg = xmlrpc_registry_new(&env);
        xmlrpc_registry_set_default_method(&env, reg, echo, NULL);
        if (env.fault_occurred) {
            abort();
        }
        xmlrpc_env_clean(&env);
    }
    return reg;
}

/*
 * Two answers to one call: the same result, or the same fault, as
 * xmlrpc-c's parser reads them (or both unreadable).
 */
static void compare_answers(const char *a, size_t a_len, const char *b,
                            size_t b_len)
{
    xmlrpc_value *va = NULL, *vb = NULL;
    const char *fa = NULL, *fb = NULL;
    int ca = 0, cb = 0;
    xmlrpc_env ea, eb;

    xmlrpc_env_init(&ea);
    xmlrpc_env_init(&eb);
    xmlrpc_parse_response2(&ea, a, a_len, &va, &ca, &fa);
    xmlrpc_parse_response2(&eb, b, b_len, &vb, &cb, &fb);
    if (ea.fault_occurred != eb.fault_occurred || !fa != !fb ||
        (fa && (ca != cb || strcmp(fa, fb))) ||
        (va && !va_value_equal(va, vb))) {
        abort();
    }
    if (va) {
        xmlrpc_DECREF(va);
        xmlrpc_DECREF(vb);
    }
    free((void *)fa);
    free((void *)fb);
    xmlrpc_env_clean(&ea);
    xmlrpc_env_clean(&eb);
}

/* Two documents of one call, as xmlrpc-c's parser reads them. */
static void compare_calls(const char *a, size_t a_len, GBytes *b)
{
    const char *ma = NULL, *mb = NULL;
    xmlrpc_value *pa = NULL, *pb = NULL;
    gsize b_len;
    const char *b_xml = g_bytes_get_data(b, &b_len);
    xmlrpc_env ea, eb;

    xmlrpc_env_init(&ea);
    xmlrpc_env_init(&eb);
    xmlrpc_parse_call(&ea, a, a_len, &ma, &pa);
    xmlrpc_parse_call(&eb, b_xml, b_len, &mb, &pb);
    if (ea.fault_occurred != eb.fault_occurred ||
        (!ea.fault_occurred && (strcmp(ma, mb) ||
                                !va_value_equal(pa, pb)))) {
        abort();
    }
    if (!ea.fault_occurred) {
        free((void *)ma);
        free((void *)mb);
        xmlrpc_DECREF(pa);
        xmlrpc_DECREF(pb);
    }
    xmlrpc_env_clean(&ea);
    xmlrpc_env_clean(&eb);
}

static void compare_call(const char *xml, size_t len, VADecoded *ours)
{
    const char *method = NULL;
    xmlrpc_value *params = NULL;
    xmlrpc_mem_block *mb = NULL;
    g_autoptr(GBytes) answer = NULL;
    g_autoptr(GBytes) call = NULL;
    const char *data;
    size_t data_len;
    bool refused;
    xmlrpc_env env;

    xmlrpc_env_init(&env);
    xmlrpc_parse_call(&env, xml, len, &method, &params);
    if (env.fault_occurred) {
        abort();    /* accepted by the boundary, refused by xmlrpc-c */
    }
    if (strcmp(method, ours->method) || !va_value_equal(params,
                                                        ours->value)) {
        abort();
    }
    free((void *)method);
    xmlrpc_DECREF(params);

    /*
     * The call written again by our writer reads as xmlrpc-c's own
     * serialization of it does (not always as the original: xmlrpc-c
     * writes a year below 1000 with fewer than four digits).
     */
    call = va_codec_encode_call(ours->method, ours->value, NULL);
    mb = XMLRPC_MEMBLOCK_NEW(char, &env, 0);
    xmlrpc_serialize_call2(&env, mb, ours->method, ours->value,
                           xmlrpc_dialect_i8);
    if (env.fault_occurred) {
        abort();
    }
    compare_calls(XMLRPC_MEMBLOCK_CONTENTS(char, mb),
                  XMLRPC_MEMBLOCK_SIZE(char, mb), call);
    XMLRPC_MEMBLOCK_FREE(char, mb);
    mb = NULL;

    xmlrpc_registry_process_call2(&env, registry(), xml, len, NULL, &mb);
    answer = va_codec_dispatch(registry(), xml, len, len, NULL, &refused);
    if (env.fault_occurred || refused) {
        abort();
    }
    /* Our answer writer against xmlrpc-c's serializer. */
    data = g_bytes_get_data(answer, &data_len);
    compare_answers(XMLRPC_MEMBLOCK_CONTENTS(char, mb),
                    XMLRPC_MEMBLOCK_SIZE(char, mb), data, data_len);
    XMLRPC_MEMBLOCK_FREE(char, mb);
    xmlrpc_env_clean(&env);
}

static void compare_response(const char *xml, size_t len)
{
    xmlrpc_value *result = NULL;
    xmlrpc_value *ours;
    const char *fault_string = NULL;
    int fault_code = 0;
    GError *err = NULL;
    xmlrpc_env env;

    /* A <fault> may lack faultCode: a fault of xmlrpc-c's, not a crash. */
    xmlrpc_env_init(&env);
    xmlrpc_parse_response2(&env, xml, len, &result, &fault_code,
                           &fault_string);
    ours = va_codec_decode_reply(xml, len, len, &err);
    if (env.fault_occurred) {
        /* Only a malformed <fault> makes xmlrpc-c refuse what we took. */
        if (ours || !g_error_matches(err, VA_ERROR, VA_ERROR_PROTOCOL)) {
            abort();
        }
    } else if (fault_string) {
        if (ours || !err || err->domain != VA_FAULT ||
            err->code != fault_code || strcmp(err->message, fault_string)) {
            abort();
        }
    } else if (!ours || !va_value_equal(result, ours)) {
        abort();
    }
    if (result) {
        xmlrpc_DECREF(result);
    }
    if (ours) {
        xmlrpc_DECREF(ours);
    }
    g_clear_error(&err);
    free((void *)fault_string);
    xmlrpc_env_clean(&env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *xml = (const char *)data;

    va_codec_init();
    for (int kind = VA_DOC_CALL; kind <= VA_DOC_RESPONSE; kind++) {
        GError *err = NULL;
        VADecoded ours;
        bool checked = va_boundary_check(xml, size, size, kind, NULL);

        if (!va_boundary_decode(xml, size, size, kind, &ours, &err)) {
            if (checked || !err || err->domain != VA_FAULT ||
                err->code != VA_FAULT_UNSAFE_XML ||
                !g_utf8_validate(err->message, -1, NULL)) {
                abort();
            }
            g_error_free(err);
            continue;
        }
        if (!checked) {
            abort();
        }
        if (kind == VA_DOC_CALL) {
            compare_call(xml, size, &ours);
        } else {
            compare_response(xml, size);
        }
        va_decoded_clear(&ours);
    }
    return 0;
}
