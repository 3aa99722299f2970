/*
 * virtagent - tests of the boundary in front of xmlrpc-c
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One test per class of refusal, in UTF-8 and in other encodings; the
 * limits at their value and one past it; numbers at their edges. Every
 * document the boundary accepts here is also parsed by xmlrpc-c, which
 * must take it: the two agree on what a document is.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "va-boundary.h"
#include "va-codec.h"
#include "va-errors.h"
#include "va-limits.h"
#include "va-value-equal.h"

#define MAX_LEN (64 * 1024 * 1024)

/*
 * xmlrpc-c parses @xml without a fault, into what va_boundary_decode()
 * gives.
 */
static void xmlrpc_c_takes(const char *xml, size_t len, VADocKind kind)
{
    g_autoptr(GError) err = NULL;
    VADecoded ours;
    xmlrpc_env env;
    bool same = false;

    if (!va_boundary_decode(xml, len, MAX_LEN, kind, &ours, &err)) {
        g_error("checked but not decoded (%s): %.*s", err->message,
                (int)MIN(len, 300), xml);
    }
    xmlrpc_env_init(&env);
    if (kind == VA_DOC_CALL) {
        const char *method = NULL;
        xmlrpc_value *params = NULL;

        xmlrpc_parse_call(&env, xml, len, &method, &params);
        if (!env.fault_occurred) {
            same = !strcmp(method, ours.method) &&
                   va_value_equal(params, ours.value);
            free((void *)method);
            xmlrpc_DECREF(params);
        }
    } else {
        xmlrpc_value *result = NULL;
        const char *fault_string = NULL;
        int fault_code;

        xmlrpc_parse_response2(&env, xml, len, &result, &fault_code,
                               &fault_string);
        if (result) {
            same = !ours.fault && va_value_equal(result, ours.value);
            xmlrpc_DECREF(result);
        } else {
            same = ours.fault;
        }
        free((void *)fault_string);
    }
    if (env.fault_occurred) {
        g_error("xmlrpc-c refuses what the boundary accepted (%s): %.*s",
                env.fault_string, (int)MIN(len, 300), xml);
    }
    if (!same) {
        g_error("decoded other than xmlrpc-c parses it: %.*s",
                (int)MIN(len, 300), xml);
    }
    va_decoded_clear(&ours);
    xmlrpc_env_clean(&env);
}

static void accepted_kind(const char *xml, size_t len, VADocKind kind)
{
    g_autoptr(GError) err = NULL;

    if (!va_boundary_check(xml, len, MAX_LEN, kind, &err)) {
        g_error("refused (%s): %.*s", err->message, (int)MIN(len, 300), xml);
    }
    xmlrpc_c_takes(xml, len, kind);
}

static void accepted(const char *xml)
{
    accepted_kind(xml, strlen(xml), VA_DOC_CALL);
}

/* Refused as unsafe, with a message that contains @what. */
static void refused_len(const char *xml, size_t len, VADocKind kind,
                        const char *what)
{
    g_autoptr(GError) err = NULL;

    if (va_boundary_check(xml, len, MAX_LEN, kind, &err)) {
        g_error("accepted, expected \"%s\": %.*s", what, (int)MIN(len, 300),
                xml);
    }
    g_assert_error(err, VA_FAULT, VA_FAULT_UNSAFE_XML);
    g_assert_true(g_utf8_validate(err->message, -1, NULL));
    if (!strstr(err->message, what)) {
        g_error("\"%s\" lacks \"%s\"", err->message, what);
    }
    g_assert_nonnull(strstr(err->message, " at byte "));
}

static void refused(const char *xml, const char *what)
{
    refused_len(xml, strlen(xml), VA_DOC_CALL, what);
}

/* A call of m() with one parameter, @value the content of its <value>. */
static char *call_with(const char *value)
{
    return g_strdup_printf("<?xml version=\"1.0\"?><methodCall>"
                           "<methodName>m</methodName><params><param>"
                           "<value>%s</value></param></params></methodCall>",
                           value);
}

static void value_accepted(const char *value)
{
    g_autofree char *xml = call_with(value);

    accepted(xml);
}

static void value_refused(const char *value, const char *what)
{
    g_autofree char *xml = call_with(value);

    refused(xml, what);
}

static void put_unit(GByteArray *out, gunichar u, int width, bool big)
{
    guint8 b[4];

    for (int i = 0; i < width; i++) {
        b[i] = u >> (8 * (big ? width - 1 - i : i));
    }
    g_byte_array_append(out, b, width);
}

/* @utf8 (BMP only) in UTF-16 or UTF-32, @big endian, maybe with a BOM. */
static GByteArray *transcode(const char *utf8, int width, bool big,
                             bool bom)
{
    GByteArray *out = g_byte_array_new();
    g_autofree gunichar *chars = g_utf8_to_ucs4_fast(utf8, -1, NULL);

    if (bom) {
        put_unit(out, 0xfeff, width, big);
    }
    for (gunichar *c = chars; *c; c++) {
        put_unit(out, *c, width, big);
    }
    return out;
}

/*
 * The crash of the issue: a UTF-16 body carrying a malformed <i8>. Expat
 * would read it as UTF-16; the boundary reads bytes and refuses them.
 */
static void test_utf16_utf32(void)
{
    static const char doc[] =
        "<?xml version=\"1.0\"?><methodCall><methodName>m</methodName>"
        "<params><param><value><i8>99999999999999999999999</i8></value>"
        "</param></params></methodCall>";
    static const struct {
        int width;
        bool big;
        bool bom;
        const char *what;
    } cases[] = {
        { 2, true, false, "UTF-16 document" },
        { 2, false, false, "UTF-16 document" },
        { 2, true, true, "UTF-16 byte order mark" },
        { 2, false, true, "UTF-16 byte order mark" },
        { 4, true, false, "UTF-32 document" },
        { 4, false, false, "UTF-32 document" },
        { 4, true, true, "UTF-32 byte order mark" },
        { 4, false, true, "UTF-32 byte order mark" },
    };
    xmlrpc_env env;
    xmlrpc_registry *reg;

    va_codec_init();
    xmlrpc_env_init(&env);
    reg = xmlrpc_registry_new(&env);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GByteArray) b = transcode(doc, cases[i].width,
                                            cases[i].big, cases[i].bom);
        g_autoptr(GBytes) answer = NULL;
        bool was_refused = false;

        refused_len((const char *)b->data, b->len, VA_DOC_CALL,
                    cases[i].what);
        refused_len((const char *)b->data, b->len, VA_DOC_RESPONSE,
                    cases[i].what);
        /* Through the dispatcher: a fault answer, no crash. */
        answer = va_codec_dispatch(reg, (const char *)b->data, b->len,
                                   MAX_LEN, NULL, &was_refused);
        g_assert_true(was_refused);
    }
    xmlrpc_registry_free(reg);
    xmlrpc_env_clean(&env);
}

static void test_utf8_bom(void)
{
    refused("\xef\xbb\xbf<methodCall><methodName>m</methodName>"
            "</methodCall>", "byte order mark");
}

static void test_declaration(void)
{
    static const char *const good[] = {
        "<?xml version=\"1.0\"?>",
        "<?xml version='1.0'?>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        "<?xml version='1.0' encoding='utf-8'?>",
        "<?xml version = \"1.0\"\n encoding=\"Utf-8\" standalone='yes' ?>",
        "<?xml version=\"1.0\" standalone=\"no\"?>",
        "",
    };
    static const struct {
        const char *decl;
        const char *what;
    } bad[] = {
        { "<?xml version=\"1.0\" encoding=\"UTF-16\"?>", "encoding" },
        { "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>", "encoding" },
        { "<?xml version=\"1.0\" encoding=\"UTF8\"?>", "encoding" },
        { "<?xml version=\"1.0\" encoding=\"US-ASCII\"?>", "encoding" },
        { "<?xml version=\"1.1\"?>", "XML version" },
        { "<?xml version=1.0?>", "quote expected" },
        { "<?xml version=\"1.0'?>", "bad version value" },
        { "<?xml version=\"1.0\"encoding=\"UTF-8\"?>", "XML declaration" },
        { "<?xml encoding=\"UTF-8\" version=\"1.0\"?>", "\"version\"" },
        { "<?xml version=\"1.0\" standalone=\"maybe\"?>", "standalone" },
        { "<?xml version=\"1.0\" encoding=\"UTF-8\"", "XML declaration" },
        { " <?xml version=\"1.0\"?>", "processing instruction" },
        { "<?xml-stylesheet href=\"a\"?>", "processing instruction" },
        { "<?xml?>", "processing instruction" },
    };
    static const char body[] =
        "<methodCall><methodName>m</methodName></methodCall>";

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *xml = g_strconcat(good[i], body, NULL);

        accepted(xml);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *xml = g_strconcat(bad[i].decl, body, NULL);

        refused(xml, bad[i].what);
    }
}

static void test_utf8(void)
{
    static const struct {
        const char *text;
        const char *what;
    } bad[] = {
        { "\xc0\xbc", "overlong" },             /* '<' in two bytes */
        { "\xe0\x80\xbc", "overlong" },         /* '<' in three */
        { "\xf0\x80\x80\xbc", "overlong" },     /* '<' in four */
        { "\xed\xa0\x80", "surrogate" },        /* U+D800 */
        { "\xed\xbf\xbf", "surrogate" },        /* U+DFFF */
        { "\xf4\x90\x80\x80", "beyond U+10FFFF" },
        { "\xf0\x9f\x98\x80", "Basic Multilingual Plane" },
        { "\xf4\x8f\xbf\xbf", "Basic Multilingual Plane" },
        { "\xf5\x80\x80\x80", "invalid UTF-8" },
        { "\xff", "invalid UTF-8" },
        { "\x80", "invalid UTF-8" },
        { "\xc3", "invalid UTF-8" },            /* cut: '<' follows */
        { "\xef\xbf\xbe", "U+FFFE" },
        { "\xef\xbf\xbf", "U+FFFF" },
        { "\x01", "control character" },
        { "\x1f", "control character" },
    };
    static const char *const good[] = {
        "caf\xc3\xa9", "\xe2\x82\xac", "\xef\xbf\xbd", "\xee\x80\x80",
        "\xef\xbb\xbf", "a\tb\r\nc", "\xc2\x85",
    };
    static const char nul[] = "<methodCall><methodName>m</methodName>"
                              "<params><param><value>a\0b</value></param>"
                              "</params></methodCall>";

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *v = g_strdup_printf("<string>%s</string>",
                                             bad[i].text);

        value_refused(v, bad[i].what);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *v = g_strdup_printf("<string>%s</string>", good[i]);

        value_accepted(v);
    }
    refused_len(nul, sizeof(nul) - 1, VA_DOC_CALL, "NUL byte");
    /* A cut sequence at the very end of the document. */
    refused("<methodCall><methodName>m</methodName><params><param><value>"
            "\xe2\x82", "truncated");
}

/* A "billion laughs" document: refused at its DOCTYPE. */
static void test_entity_expansion(void)
{
    GString *xml = g_string_new("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n"
                                "<!ENTITY lol \"lol\">\n");

    for (int i = 1; i < 10; i++) {
        g_string_append_printf(xml, "<!ENTITY lol%d \"", i);
        for (int j = 0; j < 10; j++) {
            g_string_append_printf(xml, "&lol%.0d;", i - 1);
        }
        g_string_append(xml, "\">\n");
    }
    g_string_append(xml, "]>\n<methodCall><methodName>m</methodName>"
                    "<params><param><value><string>&lol9;</string>"
                    "</value></param></params></methodCall>");
    refused(xml->str, "DTD");
    g_string_free(xml, TRUE);
}

static void test_markup(void)
{
    value_refused("<string><!-- x --></string>", "comment");
    value_refused("<string><![CDATA[x]]></string>", "CDATA");
    value_refused("<string><?pi x?></string>", "processing instruction");
    value_refused("<string><!ENTITY a \"b\"></string>",
                  "markup declaration");
    refused("<methodCall><methodName>m</methodName></methodCall>"
            "<?pi x?>", "processing instruction");
    refused("<!DOCTYPE methodCall><methodCall><methodName>m</methodName>"
            "</methodCall>", "DTD");
}

static void test_references(void)
{
    static const char *const good[] = {
        "&lt;&gt;&amp;&quot;&apos;", "&#65;", "&#x41;", "&#xFFFD;",
        "&#65533;", "&#xE000;", "&#9;&#10;&#13;", "&#0000065;",
        "&#x00041;", "]]&gt;", "]>", "]] >",
    };
    static const struct {
        const char *text;
        const char *what;
    } bad[] = {
        { "&lol;", "entity reference" },
        { "&LT;", "entity reference" },
        { "&amp", "entity reference" },
        { "& ", "entity reference" },
        { "&#0;", "not an XML character" },
        { "&#x0;", "not an XML character" },
        { "&#1;", "not an XML character" },
        { "&#xD800;", "not an XML character" },
        { "&#xDFFF;", "not an XML character" },
        { "&#xFFFE;", "not an XML character" },
        { "&#x110000;", "not an XML character" },
        { "&#1114112;", "not an XML character" },
        { "&#x1F600;", "Basic Multilingual Plane" },
        { "&#1114111;", "Basic Multilingual Plane" },
        { "&#x10000;", "Basic Multilingual Plane" },
        { "&#00000065;", "malformed character reference" },
        { "&#x0000041;", "malformed character reference" },
        { "&#99999999999999999999;", "malformed character reference" },
        { "&#;", "malformed character reference" },
        { "&#x;", "malformed character reference" },
        { "&#X41;", "malformed character reference" },
        { "&#65", "malformed character reference" },
        { "&#-1;", "malformed character reference" },
        { "]]>", "\"]]>\"" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *v = g_strdup_printf("<string>%s</string>", good[i]);
        g_autofree char *n = g_strdup_printf(
            "<struct><member><name>%s</name><value/></member></struct>",
            good[i]);

        value_accepted(v);
        value_accepted(n);
        value_accepted(good[i]);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *v = g_strdup_printf("<string>%s</string>",
                                             bad[i].text);

        value_refused(v, bad[i].what);
    }
    /* No reference where text is raw or absent. */
    value_refused("<i4>&#49;</i4>", "reference in <i4>");
    value_refused("<base64>&#65;AAA</base64>", "reference in <base64>");
    refused("<methodCall><methodName>&#109;</methodName></methodCall>",
            "reference in <methodName>");
    value_refused("<struct>&#32;</struct>", "text in <struct>");
}

static void test_vocabulary(void)
{
    value_refused("<foo>1</foo>", "element \"foo\" is not XML-RPC");
    value_refused("<ex:i8>1</ex:i8>", "element \"ex:i8\" is not XML-RPC");
    value_refused("<ex:nil/>", "is not XML-RPC");
    value_refused("<i1>1</i1>", "is not XML-RPC");
    value_refused("<String>x</String>", "is not XML-RPC");
    value_refused("<string a=\"1\">x</string>", "attribute");
    value_refused("<string xmlns=\"x\">x</string>", "attribute");
    value_refused("<nil/ >", "malformed tag");
    value_refused("<string\x01>x</string>", "malformed tag");
    value_refused("< string>x</string>", "malformed tag");
    value_refused("<string>x</ string>", "end tag does not close");
    value_refused("<string>x</strin>", "end tag does not close");
    value_refused("<string>x</string x>", "malformed end tag");
    /* Whitespace inside tags is fine. */
    value_accepted("<string >x</string\n>");
    value_accepted("<nil />");
    value_accepted("<nil/>");
    value_accepted("<nil></nil>");
    value_accepted("<string/>");
}

static void test_structure(void)
{
    static const struct {
        const char *value;
        const char *what;
    } bad[] = {
        { "<i4>1</i4><i4>2</i4>", "<i4> out of place in <value>" },
        { "x<i4>1</i4>", "beside text" },
        { "<i4>1</i4>x", "text beside an element" },
        { "<nil>x</nil>", "text in <nil>" },
        { "<nil><i4>1</i4></nil>", "inside <nil>" },
        { "<i4><i4>1</i4></i4>", "inside <i4>" },
        { "<string><string/></string>", "inside <string>" },
        { "<struct>x</struct>", "text in <struct>" },
        { "<struct><value/></struct>", "<value> out of place in <struct>" },
        { "<struct><member><value/><name>a</name></member></struct>",
          "out of place in <member>" },
        { "<struct><member><name>a</name></member></struct>",
          "<member> has 1 child elements, needs 2" },
        { "<struct><member><name>a</name><value/><value/></member>"
          "</struct>", "out of place in <member>" },
        { "<struct><member><name>a</name><name>b</name></member></struct>",
          "out of place in <member>" },
        { "<struct><member><name><i4>1</i4></name><value/></member>"
          "</struct>", "inside <name>" },
        { "<array/>", "<array> has 0 child elements" },
        { "<array><value/></array>", "out of place in <array>" },
        { "<array><data/><data/></array>", "out of place in <array>" },
        { "<array><data><i4>1</i4></data></array>", "out of place in <data>" },
        { "<array><data>x</data></array>", "text in <data>" },
        { "<params/>", "out of place in <value>" },
        { "<value/>", "out of place in <value>" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        value_refused(bad[i].value, bad[i].what);
    }
    value_accepted(" \n<i4>1</i4>\r\n\t");
    value_accepted("");
    value_accepted("<struct/>");
    value_accepted("<array><data/></array>");
    value_accepted("<struct>\n<member>\n<name>a</name>\n<value>1</value>\n"
                   "</member>\n</struct>");

    refused("", "empty document");
    refused("  \n", "no root element");
    refused("<?xml version=\"1.0\"?>", "no root element");
    refused("<methodCall><methodName>m</methodName>", "document ends inside");
    refused("<methodCall><methodName>m</methodName></methodCall><methodCall>"
            "<methodName>m</methodName></methodCall>", "after the root");
    refused("<methodCall><methodName>m</methodName></methodCall>x",
            "text outside the root element");
    refused("x<methodCall><methodName>m</methodName></methodCall>",
            "text outside the root element");
    refused("<methodCall><methodName>m</methodName></methodCall></a>",
            "end tag outside");
    refused("<methodCall><methodName>m</methodName></methodCall", "malformed");
    refused("<methodCall><methodName>m</methodName><", "ends inside a tag");
    refused("<methodCall><methodName>m</methodName><params", "ends inside");
    refused("<methodCall/>", "<methodCall> has 0 child elements");
    refused("<methodCall><params/></methodCall>", "out of place");
    refused("<methodCall><methodName>m</methodName><params/><params/>"
            "</methodCall>", "out of place");
    refused("<methodCall><methodName>m</methodName><fault/></methodCall>",
            "out of place");
    refused("<methodCall><methodName>m</methodName><params><value/>"
            "</params></methodCall>", "out of place in <params>");
    refused("<methodCall><methodName>m</methodName><params><param/>"
            "</params></methodCall>", "<param> has 0 child elements");
    refused("<methodCall><methodName>m</methodName><params><param><value/>"
            "<value/></param></params></methodCall>", "out of place");
    refused("<methodResponse><params><param><value/></param></params>"
            "</methodResponse>", "root element <methodResponse>");
    accepted("<methodCall>\n<methodName>m</methodName>\n</methodCall>\n");
    accepted("<methodCall><methodName>m</methodName><params/></methodCall>");
    accepted("<methodCall><methodName>a.B_c:d/9</methodName></methodCall>");
}

static void response_refused(const char *xml, const char *what)
{
    refused_len(xml, strlen(xml), VA_DOC_RESPONSE, what);
}

static void test_response_structure(void)
{
    static const char ok[] = "<methodResponse><params><param><value>x"
                             "</value></param></params></methodResponse>";

    accepted_kind(ok, sizeof(ok) - 1, VA_DOC_RESPONSE);
    response_refused("<methodCall><methodName>m</methodName></methodCall>",
                     "root element <methodCall>, <methodResponse> expected");
    response_refused("<methodResponse/>", "has 0 child elements");
    response_refused("<methodResponse><params/></methodResponse>",
                     "<params> has 0 child elements, needs 1");
    response_refused("<methodResponse><params><param><value/></param>"
                     "<param><value/></param></params></methodResponse>",
                     "<param> out of place in <params>");
    response_refused("<methodResponse><params><param><value/></param>"
                     "</params><fault><value/></fault></methodResponse>",
                     "out of place in <methodResponse>");
    response_refused("<methodResponse><fault/></methodResponse>",
                     "<fault> has 0 child elements");
    response_refused("<methodResponse><methodName>m</methodName>"
                     "</methodResponse>", "out of place");
}

static void test_names(void)
{
    static const char nul[] = "<methodCall><methodName>a\0b</methodName>"
                              "</methodCall>";
    g_autofree char *name_max = g_strnfill(VA_XML_NAME_MAX, 'n');
    g_autofree char *name_over = g_strnfill(VA_XML_NAME_MAX + 1, 'n');
    g_autofree char *v = NULL;
    g_autofree char *call = NULL;

    v = g_strdup_printf("<struct><member><name>%s</name><value/></member>"
                        "</struct>", name_max);
    value_accepted(v);
    g_free(v);
    v = g_strdup_printf("<struct><member><name>%s</name><value/></member>"
                        "</struct>", name_over);
    value_refused(v, "<name> longer than");
    value_accepted("<struct><member><name></name><value/></member>"
                   "</struct>");

    call = g_strdup_printf("<methodCall><methodName>%s</methodName>"
                           "</methodCall>", name_max);
    accepted(call);
    g_free(call);
    call = g_strdup_printf("<methodCall><methodName>%s</methodName>"
                           "</methodCall>", name_over);
    refused(call, "<methodName> is not 1 to");
    refused("<methodCall><methodName></methodName></methodCall>",
            "<methodName> is not");
    refused("<methodCall><methodName/></methodCall>", "<methodName> is not");
    refused("<methodCall><methodName>a-b</methodName></methodCall>",
            "<methodName> is not");
    refused("<methodCall><methodName> m</methodName></methodCall>",
            "<methodName> is not");
    refused("<methodCall><methodName>caf\xc3\xa9</methodName></methodCall>",
            "\"caf??\"");
    refused_len(nul, sizeof(nul) - 1, VA_DOC_CALL, "\"a?b\"");
}

/* <value><array><data>, nested @levels times, around @inner. */
static char *nested_arrays(int levels, const char *inner)
{
    GString *v = g_string_new(NULL);

    for (int i = 0; i < levels; i++) {
        g_string_append(v, "<array><data><value>");
    }
    g_string_append(v, inner);
    for (int i = 0; i < levels; i++) {
        g_string_append(v, "</value></data></array>");
    }
    return g_string_free(v, FALSE);
}

static void test_depth(void)
{
    /* methodCall params param value: 4; each array level adds 3. */
    int levels = (VA_XML_DEPTH_MAX - 4) / 3;
    g_autofree char *deepest = NULL;
    g_autofree char *over = NULL;
    GString *deep = g_string_new(NULL);

    g_assert_cmpint(4 + 3 * levels, ==, VA_XML_DEPTH_MAX);
    deepest = nested_arrays(levels, "x");
    value_accepted(deepest);
    over = nested_arrays(levels, "<nil/>");
    value_refused(over, "nested deeper than");

    /* And far deeper, in a single stream of start tags. */
    g_string_append(deep, "<methodCall><methodName>m</methodName><params>"
                    "<param><value>");
    for (int i = 0; i < 100000; i++) {
        g_string_append(deep, "<array><data><value>");
    }
    refused(deep->str, "nested deeper than");
    g_string_free(deep, TRUE);
}

/* A call whose document has exactly @n elements (n >= 7). */
static char *call_with_elements(size_t n)
{
    GString *v = g_string_new("<methodCall><methodName>m</methodName>"
                              "<params><param><value><array><data>");
    size_t left = n - 7;

    while (left >= 4) {
        size_t values = MIN(left - 3, VA_XML_ITEMS_MAX - 3);

        g_string_append(v, "<value><array><data>");
        for (size_t i = 0; i < values; i++) {
            g_string_append(v, "<value/>");
        }
        g_string_append(v, "</data></array></value>");
        left -= 3 + values;
    }
    while (left--) {
        g_string_append(v, "<value/>");
    }
    g_string_append(v, "</data></array></value></param></params>"
                    "</methodCall>");
    return g_string_free(v, FALSE);
}

static void test_element_limit(void)
{
    g_autofree char *at = call_with_elements(VA_XML_ELEMENTS_MAX);
    g_autofree char *over = call_with_elements(VA_XML_ELEMENTS_MAX + 1);

    accepted(at);
    refused(over, "more than " G_STRINGIFY(VA_XML_ELEMENTS_MAX)
            " elements");
}

static char *struct_of(int members)
{
    GString *v = g_string_new("<struct>");

    for (int i = 0; i < members; i++) {
        g_string_append_printf(v, "<member><name>k%d</name><value><i4>%d"
                               "</i4></value></member>", i, i);
    }
    g_string_append(v, "</struct>");
    return g_string_free(v, FALSE);
}

static char *array_of(int items)
{
    GString *v = g_string_new("<array><data>");

    for (int i = 0; i < items; i++) {
        g_string_append(v, "<value><i4>1</i4></value>");
    }
    g_string_append(v, "</data></array>");
    return g_string_free(v, FALSE);
}

static char *call_of(int params)
{
    GString *v = g_string_new("<methodCall><methodName>m</methodName>"
                              "<params>");

    for (int i = 0; i < params; i++) {
        g_string_append(v, "<param><value/></param>");
    }
    g_string_append(v, "</params></methodCall>");
    return g_string_free(v, FALSE);
}

static void test_member_limit(void)
{
    g_autofree char *at = struct_of(VA_XML_MEMBERS_MAX);
    g_autofree char *over = struct_of(VA_XML_MEMBERS_MAX + 1);

    value_accepted(at);
    value_refused(over, "more than " G_STRINGIFY(VA_XML_MEMBERS_MAX)
                  " members");
}

static void test_array_limit(void)
{
    g_autofree char *at = array_of(VA_XML_ITEMS_MAX);
    g_autofree char *over = array_of(VA_XML_ITEMS_MAX + 1);
    g_autofree char *params_at = call_of(VA_XML_ITEMS_MAX);
    g_autofree char *params_over = call_of(VA_XML_ITEMS_MAX + 1);

    value_accepted(at);
    value_refused(over, "more than " G_STRINGIFY(VA_XML_ITEMS_MAX)
                  " values");
    accepted(params_at);
    refused(params_over, "more than " G_STRINGIFY(VA_XML_ITEMS_MAX)
            " params");
}

static void test_datetime_limit(void)
{
    GString *v = g_string_new("<array><data>");

    for (int i = 0; i < VA_XML_DATETIMES_MAX; i++) {
        g_string_append(v, "<value><dateTime.iso8601>20240102T03:04:05"
                        "</dateTime.iso8601></value>");
    }
    g_string_append(v, "</data></array>");
    value_accepted(v->str);
    g_string_insert(v, 13, "<value><dateTime.iso8601>20240102T03:04:05"
                    "</dateTime.iso8601></value>");
    value_refused(v->str, "more than " G_STRINGIFY(VA_XML_DATETIMES_MAX)
                  " <dateTime.iso8601>");
    g_string_free(v, TRUE);
}

static void test_size_limit(void)
{
    static const char xml[] = "<methodCall><methodName>m</methodName>"
                              "</methodCall>";
    g_autoptr(GError) err = NULL;

    g_assert_true(va_boundary_check(xml, sizeof(xml) - 1, sizeof(xml) - 1,
                                    VA_DOC_CALL, &err));
    g_assert_false(va_boundary_check(xml, sizeof(xml) - 1, sizeof(xml) - 2,
                                     VA_DOC_CALL, &err));
    g_assert_error(err, VA_FAULT, VA_FAULT_TOO_LARGE);
}

/*
 * Values whose decoding is easy to get subtly wrong: each is decoded as
 * xmlrpc-c parses it (accepted() compares the two).
 */
static void test_decode(void)
{
    static const char *const values[] = {
        "<double>0.3</double>", "<double>0.1</double>",
        "<double>123.456789012345678901</double>",
        "<double>-0.000001</double>", "<double>-0</double>",
        "<double>+2.675</double>", "<double>1.7976931348623157</double>",
        "<double>9007199254740993.5</double>", "<double>4.35e-7</double>",
        "<double>00012.50</double>",
        "<dateTime.iso8601>20240102T03:04:05.5</dateTime.iso8601>",
        "<dateTime.iso8601>20240102T03:04:05.050</dateTime.iso8601>",
        "<dateTime.iso8601>00000229T00:00:00</dateTime.iso8601>",
        "<base64>QUJD\r\nREVG</base64>", "<base64>QR==</base64>",
        "<base64>QUI=</base64>", "<base64> </base64>",
        "a\r\nb\rc&#13;d&#xD;&#10;e", "&lt;&gt;&amp;&quot;&apos;&#xFFFD;",
        "&#233;&#x20AC;\xc3\xa9", "  ", "", "<string/>",
        "<string>a\r</string>", "<i4>-2147483648</i4>", "<int>+7</int>",
        "<i8>-9223372036854775808</i8>", "<i8>0009</i8>",
        "<boolean>1</boolean>", "<nil/>", "<nil> </nil>", "<struct/>",
        "<struct><member><name>a</name><value>1</value></member>"
        "<member><name>b</name><value/></member>"
        "<member><name>a</name><value><i4>2</i4></value></member>"
        "</struct>",
        "<struct><member><name> a\r\n&amp;</name><value/></member>"
        "<member><name></name><value/></member></struct>",
        "<array><data/></array>",
        "<array><data> <value>x</value>\n<value><array><data><value>"
        "<nil/></value></data></array></value></data></array>",
    };
    static const char *const answers[] = {
        "<methodResponse><params><param><value><i4>5</i4></value></param>"
        "</params></methodResponse>",
        "<methodResponse><fault><value><struct><member><name>faultCode"
        "</name><value><int>4</int></value></member><member><name>"
        "faultString</name><value>no</value></member></struct></value>"
        "</fault></methodResponse>",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(values); i++) {
        g_autofree char *v = g_strcompress(values[i]);

        value_accepted(v);
    }
    accepted("<methodCall><methodName>a.b:c/d_e</methodName>"
             "</methodCall>");
    accepted("<methodCall> <methodName>m</methodName> <params/> "
             "</methodCall>");
    for (size_t i = 0; i < G_N_ELEMENTS(answers); i++) {
        accepted_kind(answers[i], strlen(answers[i]), VA_DOC_RESPONSE);
    }
}

/* Where the offset in a message points. */
static void test_offsets(void)
{
    static const char xml[] = "<methodCall><methodName>m</methodName>"
                              "<params><param><value><i4>1x</i4>";
    g_autoptr(GError) err = NULL;

    g_assert_false(va_boundary_check(xml, sizeof(xml) - 1, MAX_LEN,
                                     VA_DOC_CALL, &err));
    g_assert_cmpstr(err->message, ==,
                    "<i4> holds no 32-bit integer: \"1x\" at byte 64");
}

typedef struct NumberCase {
    const char *type;
    const char *text;
    bool ok;
} NumberCase;

static void test_numbers(void)
{
    static const NumberCase cases[] = {
        { "i4", "0", true }, { "i4", "-0", true }, { "i4", "+7", true },
        { "i4", "2147483647", true }, { "i4", "-2147483648", true },
        { "i4", "2147483648", false }, { "i4", "-2147483649", false },
        { "int", "2147483647", true }, { "int", "-2147483648", true },
        { "int", "2147483648", false }, { "int", "-2147483649", false },
        { "i4", "0000000001", true }, { "i4", "00000000001", false },
        { "i4", "99999999999999999999999", false }, { "i4", "", false },
        { "i4", " 1", false }, { "i4", "1 ", false }, { "i4", "1.0", false },
        { "i4", "0x10", false }, { "i4", "1e3", false }, { "i4", "-", false },
        { "i4", "+", false }, { "i4", "--1", false },
        { "i4", "\xd9\xa1", false },
        { "i8", "9223372036854775807", true },
        { "i8", "-9223372036854775808", true },
        { "i8", "9223372036854775808", false },
        { "i8", "-9223372036854775809", false },
        { "i8", "99999999999999999999999", false },
        { "i8", "18446744073709551615", false },
        { "i8", "12x", false }, { "i8", "", false }, { "i8", "1.5", false },
        { "double", "0", true }, { "double", "-0.0", true },
        { "double", "1.5", true }, { "double", "+1.5", true },
        { "double", "1e308", true }, { "double", "1E5", true },
        { "double", "1e+100", true }, { "double", "1.5e-300", true },
        { "double", "2.2250738585072014e-308", true },
        { "double", "nan", false }, { "double", "NaN", false },
        { "double", "-nan", false }, { "double", "inf", false },
        { "double", "-inf", false }, { "double", "Infinity", false },
        { "double", "1e400", false }, { "double", "-1e400", false },
        { "double", "1e-400", false }, { "double", "1e309", false },
        { "double", "0x1p3", false }, { "double", ".5", false },
        { "double", "5.", false }, { "double", "", false },
        { "double", " 1", false }, { "double", "1 ", false },
        { "double", "1,5", false }, { "double", "1e", false },
        { "double", "1e+", false }, { "double", "e5", false },
        { "double", "1.5.5", false },
        { "boolean", "0", true }, { "boolean", "1", true },
        { "boolean", "2", false }, { "boolean", "true", false },
        { "boolean", "", false }, { "boolean", " 1", false },
        { "boolean", "01", false },
        { "dateTime.iso8601", "20240102T03:04:05", true },
        { "dateTime.iso8601", "20240102T03:04:05.123456", true },
        { "dateTime.iso8601", "20240102T03:04:05.1", true },
        { "dateTime.iso8601", "99991231T23:59:59", true },
        { "dateTime.iso8601", "20241302T03:04:05", false },
        { "dateTime.iso8601", "20240100T03:04:05", false },
        { "dateTime.iso8601", "20240132T03:04:05", false },
        { "dateTime.iso8601", "20240102T24:00:00", false },
        { "dateTime.iso8601", "20240102T23:60:00", false },
        { "dateTime.iso8601", "20240102T23:59:60", false },
        { "dateTime.iso8601", "2024-01-02T03:04:05", false },
        { "dateTime.iso8601", "20240102t03:04:05", false },
        { "dateTime.iso8601", "20240102T03:04:05Z", false },
        { "dateTime.iso8601", "20240102T03:04:05.", false },
        { "dateTime.iso8601", "20240102T03:04:05.1234567", false },
        { "dateTime.iso8601", "20240102T030405", false },
        { "dateTime.iso8601", "", false },
        { "base64", "", true }, { "base64", "AAAA", true },
        { "base64", "AA==", true }, { "base64", "\nAA\r\n AA\n", true },
        { "base64", "+/+/", true }, { "base64", "AAA=", true },
        { "base64", "A=A", false }, { "base64", "AA*A", false },
        { "base64", "AA-_", false }, { "base64", "AAA", false },
        { "base64", "AAAAA", false }, { "base64", "A===", false },
        { "base64", "====", false }, { "base64", "AAAA====", false },
        { "base64", "AA\xc1" "A", false },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *v = g_strdup_printf("<%s>%s</%s>", cases[i].type,
                                             cases[i].text, cases[i].type);

        if (cases[i].ok) {
            value_accepted(v);
        } else {
            g_autofree char *what = g_strdup_printf("<%s> ", cases[i].type);

            value_refused(v, what);
        }
    }
}

/* The largest doubles are finite only up to DBL_MAX's integer digits. */
static void test_double_range(void)
{
    char max[DBL_MAX_10_EXP + 8];
    g_autofree char *over = NULL;
    g_autofree char *long_zeros = NULL;
    g_autofree char *v = NULL;

    snprintf(max, sizeof(max), "%.0f", DBL_MAX);
    g_assert_cmpuint(strlen(max), ==, DBL_MAX_10_EXP + 1);
    v = g_strdup_printf("<double>%s.999</double>", max);
    value_accepted(v);
    g_free(v);
    v = g_strdup_printf("<double>-000%s</double>", max);
    value_accepted(v);
    g_free(v);
    /* One more than DBL_MAX, and ten times it. */
    max[DBL_MAX_10_EXP] += 1;
    v = g_strdup_printf("<double>%s</double>", max);
    value_refused(v, "<double> holds no finite");
    g_free(v);
    over = g_strnfill(DBL_MAX_10_EXP + 2, '1');
    v = g_strdup_printf("<double>%s</double>", over);
    value_refused(v, "<double> holds no finite");
    g_free(v);
    /* Tiny ones are fine: they are read as 0 digit by digit. */
    long_zeros = g_strnfill(5000, '0');
    v = g_strdup_printf("<double>0.%s1</double>", long_zeros);
    value_accepted(v);
}

static xmlrpc_value *every_type(xmlrpc_env *env)
{
    static const unsigned char bin[] = { 0, 1, 0x7f, 0x80, 0xff, '<', '&' };
    xmlrpc_datetime dt = { 2024, 1, 2, 3, 4, 5, 123456 };
    xmlrpc_value *date = xmlrpc_datetime_new(env, dt);
    xmlrpc_value *nested = xmlrpc_build_value(
        env, "{s:(i{s:(())}),s:{}}", "list", 1, "deep", "empty");
    xmlrpc_value *v;

    v = xmlrpc_build_value(
        env, "(iiiIIIbbddddddddss#s6VVt{}()n)", 0, G_MAXINT32, G_MININT32,
        (xmlrpc_int64)0, (xmlrpc_int64)G_MAXINT64,
        (xmlrpc_int64)G_MININT64, 1, 0, 0.0, -0.0, 0.1, DBL_MAX, -DBL_MAX,
        DBL_MIN, 5e-324, 123456789.125,
        "<tag> & 'q' \"qq\" ]]> \t\n caf\xc3\xa9 \xef\xbf\xbd",
        "", (size_t)0, "\xef\xbf\xbd", bin, sizeof(bin), date, nested,
        (time_t)1700000000);
    xmlrpc_DECREF(date);
    xmlrpc_DECREF(nested);
    return v;
}

/*
 * What xmlrpc-c writes, calls, answers and faults, gets through: each
 * value type at its edges.
 */
static void test_roundtrip(void)
{
    xmlrpc_env env;
    xmlrpc_value *params;
    xmlrpc_value *big;
    xmlrpc_mem_block *mb;
    g_autoptr(GBytes) call = NULL;
    g_autoptr(GBytes) big_call = NULL;
    g_autoptr(GBytes) fault = NULL;
    g_autoptr(GError) err = NULL;
    const char *xml;
    gsize len;

    xmlrpc_env_init(&env);
    params = every_type(&env);
    g_assert_false(env.fault_occurred);
    call = va_codec_encode_call("va.test_all:types/1", params, &err);
    g_assert_no_error(err);
    xml = g_bytes_get_data(call, &len);
    accepted_kind(xml, len, VA_DOC_CALL);

    mb = XMLRPC_MEMBLOCK_NEW(char, &env, 0);
    xmlrpc_serialize_response2(&env, mb, params, xmlrpc_dialect_i8);
    g_assert_false(env.fault_occurred);
    accepted_kind(XMLRPC_MEMBLOCK_CONTENTS(char, mb),
                  XMLRPC_MEMBLOCK_SIZE(char, mb), VA_DOC_RESPONSE);
    XMLRPC_MEMBLOCK_FREE(char, mb);

    fault = va_codec_encode_fault(-506, "no <such> method & \xc3\xa9");
    xml = g_bytes_get_data(fault, &len);
    accepted_kind(xml, len, VA_DOC_RESPONSE);

    /* Limits of containers, as xmlrpc-c writes them. */
    big = xmlrpc_struct_new(&env);
    for (int i = 0; i < VA_XML_MEMBERS_MAX; i++) {
        g_autofree char *key = g_strdup_printf("member-%d", i);
        xmlrpc_value *item = xmlrpc_array_new(&env);

        xmlrpc_struct_set_value(&env, big, key, item);
        xmlrpc_DECREF(item);
    }
    xmlrpc_DECREF(params);
    params = xmlrpc_build_value(&env, "(V)", big);
    big_call = va_codec_encode_call("m", params, &err);
    g_assert_no_error(err);
    xml = g_bytes_get_data(big_call, &len);
    accepted_kind(xml, len, VA_DOC_CALL);
    xmlrpc_DECREF(big);
    xmlrpc_DECREF(params);
    xmlrpc_env_clean(&env);
}

static xmlrpc_value *echo(xmlrpc_env *env, xmlrpc_value *params,
                          void *server_info, void *call_info)
{
    xmlrpc_INCREF(params);
    return params;
}

/* The costliest documents we could think of, each within @limit bytes. */
static GPtrArray *worst_documents(size_t limit)
{
    static const char head[] = "<methodCall><methodName>m</methodName>"
                               "<params><param><value>";
    static const char tail[] = "</value></param></params></methodCall>";
    static const char *const kinds[] = {
        "empty values", "struct, colliding names", "dates", "doubles",
        "references", "string", "base64",
    };
    GPtrArray *docs = g_ptr_array_new_with_free_func(g_free);

    for (size_t k = 0; k < G_N_ELEMENTS(kinds); k++) {
        GString *d = g_string_new(head);
        size_t room = limit - sizeof(tail) - 400;
        int n = 0;

        g_string_prepend(d, "\n");
        g_string_prepend(d, kinds[k]);
        switch (k) {
        case 0:     /* as many elements as allowed */
            g_string_append(d, "<array><data>");
            while (d->len < room && n++ < VA_XML_ITEMS_MAX) {
                g_string_append(d, "<value/>");
            }
            g_string_append(d, "</data></array>");
            break;
        case 1:     /* one hash for every name: xmlrpc-c's worst */
            g_string_append(d, "<array><data>");
            while (d->len < room && n < VA_XML_ELEMENTS_MAX / 3 - 100) {
                g_string_append(d, "<value><struct>");
                for (int i = 0; i < VA_XML_MEMBERS_MAX && d->len < room;
                     i++, n++) {
                    g_string_append(d, "<member><name>");
                    for (int b = 0; b < 10; b++) {
                        g_string_append(d, (i >> b) & 1 ? "Ez" : "FY");
                    }
                    g_string_append(d, "</name><value/></member>");
                }
                g_string_append(d, "</struct></value>");
            }
            g_string_append(d, "</data></array>");
            break;
        case 2:
            g_string_append(d, "<array><data>");
            while (d->len < room && n++ < VA_XML_DATETIMES_MAX) {
                g_string_append(d, "<value><dateTime.iso8601>20240102T03:04:"
                                "05</dateTime.iso8601></value>");
            }
            g_string_append(d, "</data></array>");
            break;
        case 3:
            g_string_append(d, "<array><data>");
            while (d->len < room && n++ < VA_XML_ITEMS_MAX) {
                g_string_append(d, "<value><double>0.");
                for (int i = 0; i < 300; i++) {
                    g_string_append_c(d, '1');
                }
                g_string_append(d, "</double></value>");
            }
            g_string_append(d, "</data></array>");
            break;
        case 4:
            g_string_append(d, "<string>");
            while (d->len < room) {
                g_string_append(d, "&#x20AC;");
            }
            g_string_append(d, "</string>");
            break;
        case 5:
            g_string_append(d, "<string>");
            while (d->len < room) {
                g_string_append(d, "\xe2\x82\xac");
            }
            g_string_append(d, "</string>");
            break;
        case 6:
            g_string_append(d, "<base64>");
            while (d->len < room) {
                g_string_append(d, "AAAA\n");
            }
            g_string_append(d, "</base64>");
            break;
        }
        g_string_append(d, tail);
        g_ptr_array_add(docs, g_string_free(d, FALSE));
    }
    return docs;
}

/*
 * Print the time va_codec_dispatch() takes on the worst documents (a
 * method that echoes its parameters, so the answer is as large), at the
 * guest-call size and at the default body limit. Figures, not asserts.
 * The 2 MiB run is long under valgrind: only with -m perf.
 */
static void test_cost(void)
{
    size_t limits[] = { 16 * 1024, VA_DEFAULT_MAX_BODY };
    struct xmlrpc_method_info3 info = {
        .methodName = "m",
        .methodFunction = echo,
    };
    xmlrpc_env env;
    xmlrpc_registry *reg;

    va_codec_init();
    xmlrpc_env_init(&env);
    reg = xmlrpc_registry_new(&env);
    xmlrpc_registry_add_method3(&env, reg, &info);
    g_assert_false(env.fault_occurred);
    for (size_t l = 0; l < (g_test_perf() ? 2 : 1); l++) {
        g_autoptr(GPtrArray) docs = worst_documents(limits[l]);

        for (size_t i = 0; i < docs->len; i++) {
            const char *doc = docs->pdata[i];
            const char *xml = strchr(doc, '\n') + 1;
            size_t len = strlen(xml);
            gint64 best = G_MAXINT64;
            gint64 check = G_MAXINT64;

            for (int r = 0; r < 5; r++) {
                gint64 t0 = g_get_monotonic_time();
                bool was_refused = true;
                g_autoptr(GBytes) answer = NULL;
                gint64 t1;

                g_assert_true(va_boundary_check(xml, len, limits[l],
                                                VA_DOC_CALL, NULL));
                t1 = g_get_monotonic_time();
                answer = va_codec_dispatch(reg, xml, len, limits[l], NULL,
                                           &was_refused);
                g_assert_false(was_refused);
                check = MIN(check, t1 - t0);
                best = MIN(best, g_get_monotonic_time() - t1);
            }
            g_test_message("limit %7zu: %-24.*s %7zu bytes: boundary %5"
                           G_GINT64_FORMAT " us, dispatch %6"
                           G_GINT64_FORMAT " us", limits[l],
                           (int)(xml - doc - 1), doc, len, check, best);
        }
    }
    xmlrpc_registry_free(reg);
    xmlrpc_env_clean(&env);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    va_codec_init();
    g_test_add_func("/boundary/encoding/utf16-utf32", test_utf16_utf32);
    g_test_add_func("/boundary/encoding/utf8-bom", test_utf8_bom);
    g_test_add_func("/boundary/encoding/declaration", test_declaration);
    g_test_add_func("/boundary/encoding/utf8", test_utf8);
    g_test_add_func("/boundary/markup/entity-expansion",
                    test_entity_expansion);
    g_test_add_func("/boundary/markup/refused", test_markup);
    g_test_add_func("/boundary/markup/references", test_references);
    g_test_add_func("/boundary/vocabulary", test_vocabulary);
    g_test_add_func("/boundary/structure/call", test_structure);
    g_test_add_func("/boundary/structure/response", test_response_structure);
    g_test_add_func("/boundary/limits/names", test_names);
    g_test_add_func("/boundary/limits/depth", test_depth);
    g_test_add_func("/boundary/limits/elements", test_element_limit);
    g_test_add_func("/boundary/limits/members", test_member_limit);
    g_test_add_func("/boundary/limits/array", test_array_limit);
    g_test_add_func("/boundary/limits/datetimes", test_datetime_limit);
    g_test_add_func("/boundary/limits/size", test_size_limit);
    g_test_add_func("/boundary/offsets", test_offsets);
    g_test_add_func("/boundary/decode", test_decode);
    g_test_add_func("/boundary/numbers", test_numbers);
    g_test_add_func("/boundary/double-range", test_double_range);
    g_test_add_func("/boundary/roundtrip", test_roundtrip);
    g_test_add_func("/boundary/cost", test_cost);
    return g_test_run();
}
