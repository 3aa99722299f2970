/*
 * virtagent - tests of the framing layer
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "va-errors.h"
#include "va-frame.h"

#define MAX_BODY 1024

/* Everything the parser said about a stream. */
typedef struct Parsed {
    GPtrArray *frames;      /* "C|R tag body" */
    GPtrArray *errors;      /* "fault C|R|- tag reason" */
} Parsed;

static void parsed_init(Parsed *p)
{
    p->frames = g_ptr_array_new_with_free_func(g_free);
    p->errors = g_ptr_array_new_with_free_func(g_free);
}

static void parsed_clear(Parsed *p)
{
    g_ptr_array_unref(p->frames);
    g_ptr_array_unref(p->errors);
}

static char kind_char(bool has_kind, VAFrameKind kind)
{
    return !has_kind ? '-' : kind == VA_FRAME_CALL ? 'C' : 'R';
}

/* Feed @stream in chunks of @chunk bytes (0: all at once). */
static void feed(VAFrameParser *parser, Parsed *p, const void *stream,
                 size_t len, size_t chunk)
{
    const uint8_t *s = stream;

    while (len) {
        size_t n = chunk && chunk < len ? chunk : len;
        size_t off = 0;

        while (off < n) {
            VAFrame f;
            VAFrameError e;
            size_t used = 0;
            VAParseResult r = va_frame_parser_feed(parser, s + off, n - off,
                                                   &used, &f, &e);

            g_assert_cmpuint(used, <=, n - off);
            off += used;
            if (r == VA_PARSE_FRAME) {
                g_ptr_array_add(p->frames,
                                g_strdup_printf("%c %s %.*s",
                                                kind_char(true, f.kind),
                                                f.tag, (int)f.len,
                                                (const char *)f.body));
            } else if (r == VA_PARSE_ERROR) {
                g_ptr_array_add(p->errors,
                                g_strdup_printf("%d %c %s %s", e.fault,
                                                kind_char(e.has_kind,
                                                          e.kind),
                                                e.tag[0] ? e.tag : "-",
                                                e.reason));
            } else {
                g_assert_cmpuint(off, ==, n);  /* MORE eats it all */
            }
        }
        s += n;
        len -= n;
    }
}

static GByteArray *two_messages(void)
{
    GByteArray *out = g_byte_array_new();

    va_frame_encode(out, VA_FRAME_CALL, "s1.1", "<call/>", 7);
    va_frame_encode(out, VA_FRAME_REPLY, "s2.9", "<answer/>", 9);
    return out;
}

static void check_two(Parsed *p)
{
    g_assert_cmpuint(p->frames->len, ==, 2);
    g_assert_cmpstr(p->frames->pdata[0], ==, "C s1.1 <call/>");
    g_assert_cmpstr(p->frames->pdata[1], ==, "R s2.9 <answer/>");
}

static void test_roundtrip(void)
{
    static const size_t chunks[] = { 0, 1, 2, 3, 7, 64 };

    for (size_t i = 0; i < G_N_ELEMENTS(chunks); i++) {
        g_autoptr(GByteArray) s = two_messages();
        VAFrameParser parser;
        Parsed p;

        va_frame_parser_init(&parser, MAX_BODY);
        parsed_init(&p);
        feed(&parser, &p, s->data, s->len, chunks[i]);
        check_two(&p);
        g_assert_cmpuint(p.errors->len, ==, 0);
        g_assert_cmpuint(parser.garbage, ==, 0);
        parsed_clear(&p);
        va_frame_parser_destroy(&parser);
    }
}

static void test_wire_format(void)
{
    g_autoptr(GByteArray) s = g_byte_array_new();
    static const char expect[] =
        "\xffPOST /RPC2 HTTP/1.1\r\n"
        "Content-Type: text/xml\r\n"
        "Content-Length: 3\r\n"
        "X-Virtagent-Client-Tag: t.1\r\n"
        "\r\n"
        "abc";

    va_frame_encode(s, VA_FRAME_CALL, "t.1", "abc", 3);
    g_assert_cmpmem(s->data, s->len, expect, strlen(expect));
}

static void test_garbage(void)
{
    g_autoptr(GByteArray) s = g_byte_array_new();
    VAFrameParser parser;
    Parsed p;

    g_byte_array_append(s, (const guint8 *)"noise\0\x01", 8);
    va_frame_encode(s, VA_FRAME_CALL, "s1.1", "<call/>", 7);
    g_byte_array_append(s, (const guint8 *)"between", 7);
    va_frame_encode(s, VA_FRAME_REPLY, "s2.9", "<answer/>", 9);
    va_frame_parser_init(&parser, MAX_BODY);
    parsed_init(&p);
    feed(&parser, &p, s->data, s->len, 1);
    check_two(&p);
    g_assert_cmpuint(p.errors->len, ==, 0);
    g_assert_cmpuint(parser.garbage, ==, 15);
    parsed_clear(&p);
    va_frame_parser_destroy(&parser);
}

/* One bad input, then a good message: the error, then the message. */
static void check_recovers(const char *bad, size_t bad_len,
                           const char *expect_error)
{
    for (size_t chunk = 0; chunk < 3; chunk++) {
        g_autoptr(GByteArray) s = g_byte_array_new();
        VAFrameParser parser;
        Parsed p;

        g_byte_array_append(s, (const guint8 *)bad, bad_len);
        va_frame_encode(s, VA_FRAME_CALL, "ok.1", "<fine/>", 7);
        va_frame_parser_init(&parser, MAX_BODY);
        parsed_init(&p);
        feed(&parser, &p, s->data, s->len, chunk);
        g_assert_cmpuint(p.errors->len, ==, 1);
        g_assert_cmpstr(p.errors->pdata[0], ==, expect_error);
        g_assert_cmpuint(p.frames->len, ==, 1);
        g_assert_cmpstr(p.frames->pdata[0], ==, "C ok.1 <fine/>");
        parsed_clear(&p);
        va_frame_parser_destroy(&parser);
    }
}

#define CALL_HDR(len, tag) \
    "\xffPOST /RPC2 HTTP/1.1\r\nContent-Length: " len \
    "\r\nX-Virtagent-Client-Tag: " tag "\r\n\r\n"

static void test_truncated_header(void)
{
    static const char bad[] = "\xffPOST /RPC2 HTTP/1.1\r\nContent-Le";

    check_recovers(bad, sizeof(bad) - 1, "1001 - - truncated header");
}

static void test_truncated_body(void)
{
    static const char bad[] = CALL_HDR("50", "cut.7") "<methodCall>";

    check_recovers(bad, sizeof(bad) - 1, "1001 C cut.7 truncated body");
}

static void test_oversized(void)
{
    g_autofree char *bad = NULL;
    g_autofree char *body = g_strnfill(MAX_BODY + 1, 'x');

    bad = g_strdup_printf(CALL_HDR("%d", "big.2") "%s", MAX_BODY + 1, body);
    check_recovers(bad, strlen(bad), "1002 C big.2 message too large");
}

/* Oversized and cut short: the discarded body stops at the sentinel. */
static void test_oversized_truncated(void)
{
    static const char bad[] = CALL_HDR("99999999", "big.3") "xxxx";

    check_recovers(bad, sizeof(bad) - 1, "1002 C big.3 message too large");
}

static void test_header_too_long(void)
{
    g_autofree char *pad = g_strnfill(VA_HEADER_MAX + 10, 'h');
    g_autofree char *bad = g_strdup_printf("\xffPOST /RPC2 HTTP/1.1\r\n"
                                           "X-Pad: %s\r\n", pad);

    check_recovers(bad, strlen(bad), "1001 - - header too long");
}

static void test_bad_headers(void)
{
    static const struct {
        const char *in;
        const char *error;
    } cases[] = {
        { "\xffGET / HTTP/1.1\r\n\r\n", "1001 - - bad start line" },
        { "\xff\r\n\r\n", "1001 - - bad start line" },
        { "\xffPOST /RPC2 HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
          "1001 C - missing client tag" },
        { "\xffHTTP/1.1 200 OK\r\nX-Virtagent-Client-Tag: a.1\r\n\r\n",
          "1001 R a.1 missing Content-Length" },
        { CALL_HDR("-1", "a.1"), "1001 C - bad Content-Length" },
        { CALL_HDR("99999999999999999999999", "a.1"),
          "1001 C - bad Content-Length" },
        { CALL_HDR("3", "a b"), "1001 C - bad client tag" },
        { "\xffPOST /RPC2 HTTP/1.1\r\nno colon here\r\n\r\n",
          "1001 C - header line without a colon" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        check_recovers(cases[i].in, strlen(cases[i].in), cases[i].error);
    }
}

/* Header names in any case, unknown headers, bare LF, empty body. */
static void test_lenient_headers(void)
{
    static const char in[] =
        "\xffHTTP/1.0 500 Whatever\n"
        "x-virtagent-client-tag:  t.5 \n"
        "X-Unknown: yes\n"
        "CONTENT-LENGTH: 0\n"
        "\n";
    VAFrameParser parser;
    Parsed p;

    va_frame_parser_init(&parser, MAX_BODY);
    parsed_init(&p);
    feed(&parser, &p, in, sizeof(in) - 1, 1);
    g_assert_cmpuint(p.errors->len, ==, 0);
    g_assert_cmpuint(p.frames->len, ==, 1);
    g_assert_cmpstr(p.frames->pdata[0], ==, "R t.5 ");
    parsed_clear(&p);
    va_frame_parser_destroy(&parser);
}

static void test_tag_valid(void)
{
    g_autofree char *long_tag = g_strnfill(VA_TAG_MAX_LEN + 1, 'a');

    g_assert_true(va_tag_valid("0123abcdef.42", 13));
    g_assert_true(va_tag_valid("A-b_c:d", 7));
    g_assert_false(va_tag_valid("", 0));
    g_assert_false(va_tag_valid("a/b", 3));
    g_assert_false(va_tag_valid(long_tag, strlen(long_tag)));
    g_assert_true(va_tag_valid(long_tag, VA_TAG_MAX_LEN));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/frame/roundtrip", test_roundtrip);
    g_test_add_func("/frame/wire-format", test_wire_format);
    g_test_add_func("/frame/garbage", test_garbage);
    g_test_add_func("/frame/truncated-header", test_truncated_header);
    g_test_add_func("/frame/truncated-body", test_truncated_body);
    g_test_add_func("/frame/oversized", test_oversized);
    g_test_add_func("/frame/oversized-truncated", test_oversized_truncated);
    g_test_add_func("/frame/header-too-long", test_header_too_long);
    g_test_add_func("/frame/bad-headers", test_bad_headers);
    g_test_add_func("/frame/lenient-headers", test_lenient_headers);
    g_test_add_func("/frame/tag-valid", test_tag_valid);
    return g_test_run();
}
