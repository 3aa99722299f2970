/*
 * virtagent - tests of the XML-RPC codec and its safety checks
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
#include "va-test-util.h"
#include "va-value-equal.h"

#define MAX_LEN (1024 * 1024)

static xmlrpc_registry *registry_new(void)
{
    xmlrpc_env env;
    xmlrpc_registry *reg;
    struct xmlrpc_method_info3 echo = {
        .methodName = "test.echo",
        .methodFunction = va_test_echo,
    };

    xmlrpc_env_init(&env);
    reg = xmlrpc_registry_new(&env);
    xmlrpc_registry_add_method3(&env, reg, &echo);
    g_assert_false(env.fault_occurred);
    xmlrpc_env_clean(&env);
    return reg;
}

/* Encode a call, dispatch it, decode the answer: the value comes back. */
static void test_roundtrip(void)
{
    static const unsigned char bin[] = { 0, 0xff, 0x80, '<', '&' };
    xmlrpc_registry *reg = registry_new();
    xmlrpc_env env;
    xmlrpc_value *arg;
    xmlrpc_value *params;
    xmlrpc_value *result;
    g_autoptr(GBytes) call = NULL;
    g_autoptr(GBytes) answer = NULL;
    g_autoptr(GError) err = NULL;
    xmlrpc_int64 big;
    const unsigned char *data;
    size_t data_len;
    const char *text;
    gsize len;
    const char *xml;
    bool refused = true;

    va_codec_init();
    xmlrpc_env_init(&env);
    arg = xmlrpc_build_value(&env, "{s:I,s:6,s:s,s:n}",
                             "big", (xmlrpc_int64)9007199254740993LL,
                             "bin", bin, sizeof(bin),
                             "text", "a <tag> & more",
                             "none");
    params = xmlrpc_build_value(&env, "(V)", arg);
    g_assert_false(env.fault_occurred);
    call = va_codec_encode_call("test.echo", params, &err);
    g_assert_no_error(err);
    xml = g_bytes_get_data(call, &len);
    g_assert_nonnull(g_strstr_len(xml, len, "<i8>9007199254740993</i8>"));
    answer = va_codec_dispatch(reg, xml, len, MAX_LEN, NULL, &refused);
    g_assert_false(refused);
    xml = g_bytes_get_data(answer, &len);
    result = va_codec_decode_reply(xml, len, MAX_LEN, &err);
    g_assert_no_error(err);
    xmlrpc_decompose_value(&env, result, "{s:I,s:6,s:s,*}", "big", &big,
                           "bin", &data, &data_len, "text", &text);
    g_assert_false(env.fault_occurred);
    g_assert_cmpint(big, ==, 9007199254740993LL);
    g_assert_cmpmem(data, data_len, bin, sizeof(bin));
    g_assert_cmpstr(text, ==, "a <tag> & more");
    free((void *)data);
    free((void *)text);
    xmlrpc_DECREF(result);
    xmlrpc_DECREF(params);
    xmlrpc_DECREF(arg);
    xmlrpc_env_clean(&env);
    xmlrpc_registry_free(reg);
}

/*
 * @v's answer as va_codec_encode_response() writes it must read, by
 * xmlrpc-c's parser and by ours, as xmlrpc-c's own serialization does:
 * @v itself, or the same fault.
 */
static void check_response(xmlrpc_value *v)
{
    g_autoptr(GBytes) ours = va_codec_encode_response(v);
    g_autoptr(GError) err = NULL;
    xmlrpc_mem_block *mb;
    xmlrpc_value *theirs_v = NULL;
    xmlrpc_value *ours_v = NULL;
    xmlrpc_value *decoded;
    const char *fault_string = NULL;
    int fault_code = 0;
    gsize len;
    const char *xml = g_bytes_get_data(ours, &len);
    xmlrpc_env env;
    xmlrpc_env ser;

    xmlrpc_env_init(&env);
    xmlrpc_env_init(&ser);
    mb = XMLRPC_MEMBLOCK_NEW(char, &env, 0);
    xmlrpc_serialize_response2(&ser, mb, v, xmlrpc_dialect_i8);
    decoded = va_codec_decode_reply(xml, len, MAX_LEN, &err);
    xmlrpc_parse_response2(&env, xml, len, &ours_v, &fault_code,
                           &fault_string);
    g_assert_false(env.fault_occurred);
    if (ser.fault_occurred) {
        /* xmlrpc-c's fault, as va_codec_dispatch() always answered it. */
        g_assert_null(decoded);
        g_assert_error(err, VA_FAULT, ser.fault_code);
        g_assert_cmpstr(err->message, ==, ser.fault_string);
        g_assert_cmpint(fault_code, ==, ser.fault_code);
        g_assert_cmpstr(fault_string, ==, ser.fault_string);
    } else {
        g_assert_no_error(err);
        g_assert_null(fault_string);
        xmlrpc_parse_response2(&env, XMLRPC_MEMBLOCK_CONTENTS(char, mb),
                               XMLRPC_MEMBLOCK_SIZE(char, mb), &theirs_v,
                               &fault_code, &fault_string);
        g_assert_false(env.fault_occurred);
        g_assert_true(va_value_equal(ours_v, theirs_v));
        g_assert_true(va_value_equal(ours_v, v));
        g_assert_true(va_value_equal(decoded, v));
        xmlrpc_DECREF(theirs_v);
        xmlrpc_DECREF(ours_v);
        xmlrpc_DECREF(decoded);
    }
    free((void *)fault_string);
    XMLRPC_MEMBLOCK_FREE(char, mb);
    xmlrpc_env_clean(&ser);
    xmlrpc_env_clean(&env);
}

/*
 * A call to @method with @params as va_codec_encode_call() writes it:
 * xmlrpc-c's parser and ours read the method and params xmlrpc-c's own
 * serialization gives, or both writers refuse the params.
 */
static void check_call(const char *method, xmlrpc_value *params)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) ours = va_codec_encode_call(method, params, &err);
    const char *name = NULL;
    xmlrpc_value *parsed = NULL;
    xmlrpc_mem_block *mb;
    VADecoded decoded;
    xmlrpc_env env;
    xmlrpc_env ser;
    const char *xml;
    gsize len;

    xmlrpc_env_init(&env);
    xmlrpc_env_init(&ser);
    mb = XMLRPC_MEMBLOCK_NEW(char, &env, 0);
    xmlrpc_serialize_call2(&ser, mb, method, params, xmlrpc_dialect_i8);
    if (ser.fault_occurred) {
        g_assert_null(ours);
        g_assert_error(err, VA_ERROR, VA_ERROR_INVALID);
        g_assert_nonnull(strstr(err->message, ser.fault_string));
    } else {
        g_assert_no_error(err);
        xml = g_bytes_get_data(ours, &len);
        xmlrpc_parse_call(&env, xml, len, &name, &parsed);
        g_assert_false(env.fault_occurred);
        g_assert_cmpstr(name, ==, method);
        g_assert_true(va_value_equal(parsed, params));
        g_assert_true(va_boundary_decode(xml, len, MAX_LEN, VA_DOC_CALL,
                                         &decoded, NULL));
        g_assert_cmpstr(decoded.method, ==, method);
        g_assert_true(va_value_equal(decoded.value, params));
        va_decoded_clear(&decoded);
        free((void *)name);
        xmlrpc_DECREF(parsed);
    }
    XMLRPC_MEMBLOCK_FREE(char, mb);
    xmlrpc_env_clean(&ser);
    xmlrpc_env_clean(&env);
}

/* Our call and answer writer against xmlrpc-c's serializer. */
static void test_writer(void)
{
    static const char *const strings[] = {
        "", "pong", "a <tag> & more > less", "cr\r\nlf\n\ttab",
        "]]>", "&amp; &#x0d;", "\xc3\xa9t\xc3\xa9 \xe2\x82\xac",
    };
    unsigned char bin[200];
    xmlrpc_env env;
    xmlrpc_value *all = NULL;
    xmlrpc_value *nested;
    xmlrpc_value *v;
    size_t i;

    for (i = 0; i < sizeof(bin); i++) {
        bin[i] = i * 37 + 11;
    }
    xmlrpc_env_init(&env);
    all = xmlrpc_array_new(&env);
    for (i = 0; i < G_N_ELEMENTS(strings); i++) {
        v = xmlrpc_string_new(&env, strings[i]);
        xmlrpc_array_append_item(&env, all, v);
        check_response(v);
        xmlrpc_DECREF(v);
    }
    for (i = 0; i <= 5; i++) {
        v = xmlrpc_base64_new(&env, i, bin);
        xmlrpc_array_append_item(&env, all, v);
        check_response(v);
        xmlrpc_DECREF(v);
    }
    v = xmlrpc_build_value(&env,
                           "(iiiiIIIbbddd6nssss()(())"
                           "{}{s:{s:i},s:(s{s:n})})",
                           0, -1, G_MININT32, G_MAXINT32,
                           (xmlrpc_int64)0, (xmlrpc_int64)G_MININT64,
                           (xmlrpc_int64)G_MAXINT64, 1, 0, 3.5, 0.1,
                           -2.5e10, bin, sizeof(bin), "", "x",
                           "<name>", "a&b\rc",
                           "k<&>\r", "", 7, "l", "m", "n\xc3\xa9");
    g_assert_false(env.fault_occurred);
    xmlrpc_array_append_item(&env, all, v);
    check_response(v);
    xmlrpc_DECREF(v);
    v = xmlrpc_datetime_new_str(&env, "20240102T03:04:05");
    xmlrpc_array_append_item(&env, all, v);
    check_response(v);
    xmlrpc_DECREF(v);
    v = xmlrpc_datetime_new_usec(&env, 1700000000, 123456);
    xmlrpc_array_append_item(&env, all, v);
    check_response(v);
    xmlrpc_DECREF(v);
    nested = xmlrpc_build_value(&env, "{s:A,s:b}", "all", all, "ok", 1);
    g_assert_false(env.fault_occurred);
    check_response(all);
    check_response(nested);
    check_call("test.echo", all);
    check_call("a.b_c:d/e", nested);
    xmlrpc_DECREF(nested);
    nested = xmlrpc_array_new(&env);
    check_call("va.ping", nested);
    xmlrpc_DECREF(nested);
    /* What xmlrpc-c cannot serialize answers its fault, alone or within. */
    v = xmlrpc_cptr_new(&env, &env);
    check_response(v);
    nested = xmlrpc_build_value(&env, "(s{s:V})", "x", "p", v);
    check_response(nested);
    check_call("test.echo", nested);
    xmlrpc_DECREF(nested);
    xmlrpc_DECREF(v);
    g_assert_false(env.fault_occurred);
    xmlrpc_DECREF(all);
    xmlrpc_env_clean(&env);
}

static void test_fault(void)
{
    g_autoptr(GBytes) fault = va_codec_encode_fault(42, "deliberate");
    g_autoptr(GError) err = NULL;
    gsize len;
    const char *xml = g_bytes_get_data(fault, &len);

    g_assert_null(va_codec_decode_reply(xml, len, MAX_LEN, &err));
    g_assert_error(err, VA_FAULT, 42);
    g_assert_cmpstr(err->message, ==, "deliberate");
}

static void test_not_xmlrpc(void)
{
    static const char *bad[] = {
        "hello", "<methodResponse></methodResponse>", "",
        "<methodResponse><params><param><value><i4>x</i4></value>"
        "</param></params></methodResponse>",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;

        g_assert_null(va_codec_decode_reply(bad[i], strlen(bad[i]), MAX_LEN,
                                            &err));
        g_assert_error(err, VA_ERROR, VA_ERROR_PROTOCOL);
    }
}

/* A "billion laughs" document: refused before xmlrpc-c sees it. */
static void test_entities_refused(void)
{
    GString *xml = g_string_new("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n"
                                "<!ENTITY lol \"lol\">\n");
    xmlrpc_registry *reg = registry_new();
    g_autoptr(GBytes) answer = NULL;
    g_autoptr(GError) err = NULL;
    gsize len;
    const char *out;
    bool refused = false;

    for (int i = 1; i < 10; i++) {
        g_string_append_printf(xml, "<!ENTITY lol%d \"", i);
        for (int j = 0; j < 10; j++) {
            if (i == 1) {
                g_string_append(xml, "&lol;");
            } else {
                g_string_append_printf(xml, "&lol%d;", i - 1);
            }
        }
        g_string_append(xml, "\">\n");
    }
    g_string_append(xml, "]>\n<methodCall><methodName>test.echo</methodName>"
                    "<params><param><value><string>&lol9;</string></value>"
                    "</param></params></methodCall>");
    /* Through the dispatcher: a small fault, not a gigabyte of "lol". */
    answer = va_codec_dispatch(reg, xml->str, xml->len, MAX_LEN, NULL,
                               &refused);
    g_assert_true(refused);
    out = g_bytes_get_data(answer, &len);
    g_assert_cmpuint(len, <, 1024);
    g_assert_null(va_codec_decode_reply(out, len, MAX_LEN, &err));
    g_assert_error(err, VA_FAULT, VA_FAULT_UNSAFE_XML);

    /* And an answer carrying a DTD is a protocol error. */
    g_clear_error(&err);
    g_assert_null(va_codec_decode_reply(xml->str, xml->len, MAX_LEN, &err));
    g_assert_error(err, VA_ERROR, VA_ERROR_PROTOCOL);
    g_string_free(xml, TRUE);
    xmlrpc_registry_free(reg);
}

static char *response_with(const char *type, const char *text)
{
    return g_strdup_printf("<?xml version=\"1.0\"?><methodResponse><params>"
                           "<param><value><%s>%s</%s></value></param>"
                           "</params></methodResponse>", type, text, type);
}

/*
 * xmlrpc-c crashes on a malformed <i8>: the boundary must stop every such
 * answer (a crash here fails the test) and let good ones through.
 */
static void test_bad_i8_refused(void)
{
    static const char *bad[] = {
        "12x", "x", "-", "1.5", "0x10", "9223372036854775808",
        "-9223372036854775809", "&#49;x", "1 ", "5<?pi x?>x", "5<b/>x",
        "", " 5", "5 ", "99999999999999999999999",
    };
    static const struct {
        const char *text;
        gint64 value;
    } good[] = {
        { "0", 0 }, { "-0", 0 }, { "007", 7 }, { "+5", 5 },
        { "9223372036854775807", G_MAXINT64 },
        { "-9223372036854775808", G_MININT64 },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *xml = response_with("i8", bad[i]);
        g_autoptr(GError) err = NULL;

        g_assert_null(va_codec_decode_reply(xml, strlen(xml), MAX_LEN, &err));
        g_assert_error(err, VA_ERROR, VA_ERROR_PROTOCOL);
        g_assert_true(g_str_has_prefix(err->message, "bad answer: "));
    }
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *xml = response_with("i8", good[i].text);
        g_autoptr(GError) err = NULL;
        xmlrpc_value *v = va_codec_decode_reply(xml, strlen(xml), MAX_LEN,
                                                &err);
        xmlrpc_env env;
        xmlrpc_int64 n = 1;

        g_assert_no_error(err);
        xmlrpc_env_init(&env);
        xmlrpc_read_i8(&env, v, &n);
        g_assert_false(env.fault_occurred);
        g_assert_cmpint(n, ==, good[i].value);
        xmlrpc_DECREF(v);
        xmlrpc_env_clean(&env);
    }
}

/* A refused call is answered with a fault, and the caller is told. */
static void test_dispatch_refused(void)
{
    static const char call[] =
        "<methodCall><methodName>test.echo</methodName><params><param>"
        "<value><double>nan</double></value></param></params></methodCall>";
    xmlrpc_registry *reg = registry_new();
    g_autoptr(GBytes) answer = NULL;
    g_autoptr(GError) err = NULL;
    bool refused = false;
    const char *out;
    gsize len;

    answer = va_codec_dispatch(reg, call, sizeof(call) - 1, MAX_LEN, NULL,
                               &refused);
    g_assert_true(refused);
    out = g_bytes_get_data(answer, &len);
    g_assert_null(va_codec_decode_reply(out, len, MAX_LEN, &err));
    g_assert_error(err, VA_FAULT, VA_FAULT_UNSAFE_XML);
    g_assert_nonnull(strstr(err->message, "<double>"));
    g_clear_pointer(&answer, g_bytes_unref);
    g_clear_error(&err);

    /* Over the size limit: VA_FAULT_TOO_LARGE. */
    answer = va_codec_dispatch(reg, call, sizeof(call) - 1, 10, NULL,
                               &refused);
    g_assert_true(refused);
    out = g_bytes_get_data(answer, &len);
    g_assert_null(va_codec_decode_reply(out, len, MAX_LEN, &err));
    g_assert_error(err, VA_FAULT, VA_FAULT_TOO_LARGE);
    xmlrpc_registry_free(reg);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/codec/roundtrip", test_roundtrip);
    g_test_add_func("/codec/fault", test_fault);
    g_test_add_func("/codec/writer", test_writer);
    g_test_add_func("/codec/not-xmlrpc", test_not_xmlrpc);
    g_test_add_func("/codec/entities-refused", test_entities_refused);
    g_test_add_func("/codec/bad-i8-refused", test_bad_i8_refused);
    g_test_add_func("/codec/dispatch-refused", test_dispatch_refused);
    return g_test_run();
}
