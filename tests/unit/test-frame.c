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
    return !has_kind ? '-' : "CRDK"[kind];
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

/* Every frame a stream makes, decoded, with its DATA bodies joined. */
typedef struct DataParsed {
    GByteArray *data;
    GString *events;        /* "D tag offset len end" / "K tag credit" */
} DataParsed;

static void data_parse(DataParsed *d, const uint8_t *s, size_t len,
                       size_t chunk, bool accept_raw)
{
    VAFrameParser parser;

    d->data = g_byte_array_new();
    d->events = g_string_new(NULL);
    va_frame_parser_init(&parser, MAX_BODY);
    va_frame_parser_accept_raw(&parser, accept_raw);
    while (len) {
        size_t n = chunk && chunk < len ? chunk : len;
        size_t off = 0;

        while (off < n) {
            VAFrame f;
            VAFrameError e;
            size_t used = 0;
            VAParseResult r = va_frame_parser_feed(&parser, s + off, n - off,
                                                   &used, &f, &e);

            off += used;
            if (r == VA_PARSE_FRAME && f.kind == VA_FRAME_DATA) {
                g_byte_array_append(d->data, f.body, f.len);
                g_string_append_printf(d->events, "%s %s %" G_GUINT64_FORMAT
                                       " %zu %d\n", f.raw ? "R" : "D", f.tag,
                                       f.offset, f.len, f.end);
            } else if (r == VA_PARSE_FRAME && f.kind == VA_FRAME_CREDIT) {
                g_string_append_printf(d->events, "K %s ", f.tag);
                if (f.credit_abort) {
                    g_string_append(d->events, "abort\n");
                } else {
                    g_string_append_printf(d->events, "%" G_GUINT64_FORMAT
                                           "\n", f.credit);
                }
            } else if (r == VA_PARSE_FRAME) {
                g_string_append_printf(d->events, "%c %s\n",
                                       kind_char(true, f.kind), f.tag);
            } else if (r == VA_PARSE_ERROR) {
                g_string_append_printf(d->events, "E %d %c %s %s\n", e.fault,
                                       kind_char(e.has_kind, e.kind),
                                       e.tag[0] ? e.tag : "-", e.reason);
            }
        }
        s += n;
        len -= n;
    }
    va_frame_parser_destroy(&parser);
}

static void data_parsed_clear(DataParsed *d)
{
    g_byte_array_unref(d->data);
    g_string_free(d->events, TRUE);
}

/* Encode @buf as DATA frames of @frame bytes, parse back, compare. */
static void check_data_roundtrip(const uint8_t *buf, size_t len,
                                 size_t frame)
{
    static const size_t chunks[] = { 0, 1, 2, 3, 64, 4099 };
    g_autoptr(GByteArray) wire = g_byte_array_new();
    g_autoptr(GString) expect = g_string_new(NULL);

    for (size_t off = 0; off < len; off += frame) {
        size_t n = MIN(frame, len - off);

        va_frame_encode_data(wire, "d.1", off, VA_FRAME_END_NONE, buf + off,
                             n);
        g_string_append_printf(expect, "D d.1 %zu %zu 0\n", off, n);
    }
    va_frame_encode_data(wire, "d.1", len, VA_FRAME_END_OK, NULL, 0);
    g_string_append_printf(expect, "D d.1 %zu 0 1\n", len);
    /* 0xFF only as the sentinels, one per frame. */
    for (size_t i = 0, frames = 0; i < wire->len; i++) {
        if (wire->data[i] == 0xFF) {
            g_assert_cmpuint(++frames, <=, len / frame + 2);
        }
    }
    for (size_t i = 0; i < G_N_ELEMENTS(chunks); i++) {
        DataParsed d;

        data_parse(&d, wire->data, wire->len, chunks[i], false);
        g_assert_cmpstr(d.events->str, ==, expect->str);
        g_assert_cmpmem(d.data->data, d.data->len, buf, len);
        data_parsed_clear(&d);
    }
}

static void test_data_escape(void)
{
    uint8_t all[256];
    uint8_t runs[600];
    uint8_t wire[2 * sizeof(runs)];
    g_autofree uint8_t *rnd = g_malloc(3 * VA_DATA_CHUNK_MAX);
    GRand *r = g_rand_new_with_seed(11);

    for (int i = 0; i < 256; i++) {
        all[i] = i;
    }
    for (size_t i = 0; i < sizeof(runs); i++) {
        runs[i] = i < 100 ? 0xFE : i < 200 ? 0xFF : i < 300 ? 0x7E :
                  (i & 1) ? 0xFE : 0xFF;
    }
    g_assert_cmpuint(va_data_escape(wire, all, 256), ==, 258);
    g_assert_cmphex(wire[254], ==, 0xFE);
    g_assert_cmphex(wire[255], ==, 0x7E);
    g_assert_cmphex(wire[256], ==, 0xFE);
    g_assert_cmphex(wire[257], ==, 0x7F);
    g_assert_cmpuint(va_data_escape(wire, runs, sizeof(runs)), ==,
                     sizeof(runs) + 500);
    g_assert_null(memchr(wire, 0xFF, sizeof(runs) + 500));
    for (size_t i = 0; i < 3 * VA_DATA_CHUNK_MAX; i++) {
        rnd[i] = g_rand_int(r);
    }
    g_rand_free(r);
    check_data_roundtrip(all, sizeof(all), sizeof(all));
    check_data_roundtrip(all, sizeof(all), 7);
    check_data_roundtrip(runs, sizeof(runs), sizeof(runs));
    check_data_roundtrip(runs, sizeof(runs), 33);
    check_data_roundtrip(rnd, 3 * VA_DATA_CHUNK_MAX, VA_DATA_CHUNK_MAX);
}

/* The plain definition that va_data_escape()'s word scan must match. */
static size_t escape_ref(uint8_t *dst, const uint8_t *src, size_t len)
{
    uint8_t *out = dst;

    for (size_t i = 0; i < len; i++) {
        if (src[i] >= VA_DATA_ESCAPE) {
            *out++ = VA_DATA_ESCAPE;
            *out++ = src[i] ^ 0x80;
        } else {
            *out++ = src[i];
        }
    }
    return out - dst;
}

static void check_escape_ref(const uint8_t *src, size_t len)
{
    uint8_t want[2 * 128];
    uint8_t got[2 * 128 + 1];
    size_t n = escape_ref(want, src, len);

    g_assert_cmpuint(len, <=, 128);
    got[n] = 0xA5;
    g_assert_cmpuint(va_data_escape(got, src, len), ==, n);
    g_assert_cmpmem(got, n, want, n);
    g_assert_cmphex(got[n], ==, 0xA5);
}

/* What fits in @room: the longest prefix whose escaped form does. */
static void check_escape_upto(const uint8_t *src, size_t len, size_t room)
{
    uint8_t want[2 * 128];
    uint8_t got[2 * 128 + 1];
    size_t taken = len;
    size_t n = va_data_escape_upto(got, room, src, &taken);
    size_t ref = escape_ref(want, src, taken);

    g_assert_cmpuint(taken, <=, len);
    g_assert_cmpuint(n, ==, ref);
    g_assert_cmpuint(n, <=, room);
    g_assert_cmpmem(got, n, want, n);
    if (taken < len) {
        /* The next byte did not fit. */
        g_assert_cmpuint(n + (src[taken] >= VA_DATA_ESCAPE ? 2 : 1), >, room);
    }
}

/*
 * Every byte value at every place in a word, misaligned every way, among
 * neighbours that need no escape and that do (a borrow from a special
 * byte must not hide or fake another), and random lengths of random data,
 * escaped and decoded.
 */
static void test_data_escape_words(void)
{
    static const uint8_t fills[] = { 0x00, 0x7F, 0xFD, 0xFE, 0xFF };
    uint8_t buf[128 + 16];
    GRand *r = g_rand_new_with_seed(12);

    for (size_t f = 0; f < G_N_ELEMENTS(fills); f++) {
        for (int v = 0; v < 256; v++) {
            for (size_t align = 0; align < 8; align++) {
                for (size_t pos = 0; pos < 40; pos++) {
                    memset(buf, fills[f], sizeof(buf));
                    buf[align + pos] = v;
                    check_escape_ref(buf + align, 40);
                    check_escape_ref(buf + align, pos + 1);
                }
            }
        }
    }
    for (int i = 0; i < 20000; i++) {
        size_t len = g_rand_int_range(r, 0, 129);
        size_t align = g_rand_int_range(r, 0, 8);

        for (size_t j = 0; j < sizeof(buf); j++) {
            /* Half the bytes 0xF8..0xFF: many words with several. */
            buf[j] = g_rand_boolean(r) ? g_rand_int(r) : 0xF8 | g_rand_int(r);
        }
        check_escape_ref(buf + align, len);
        check_escape_upto(buf + align, len, g_rand_int_range(r, 0, 2 * len + 2));
        if (len && i % 8 == 0) {
            /* And back through the parser's word scan, cut every way. */
            check_data_roundtrip(buf + align, len, len);
        }
    }
    g_rand_free(r);
}

/* Exactly VA_DATA_CHUNK_MAX decoded passes; all-0xFF twice that wire. */
static void test_data_limits(void)
{
    g_autofree uint8_t *ff = g_malloc(VA_DATA_CHUNK_MAX + 1);
    g_autoptr(GByteArray) wire = g_byte_array_new();
    DataParsed d;

    memset(ff, 0xFF, VA_DATA_CHUNK_MAX + 1);
    va_frame_encode_data(wire, "l.1", 0, VA_FRAME_END_NONE, ff,
                         VA_DATA_CHUNK_MAX);
    va_frame_encode_data(wire, "l.2", 0, VA_FRAME_END_NONE, ff,
                         VA_DATA_CHUNK_MAX + 1);
    va_frame_encode_data(wire, "l.3", 0, VA_FRAME_END_NONE, "x", 1);
    data_parse(&d, wire->data, wire->len, 1000, false);
    g_assert_cmpstr(d.events->str, ==,
                    "D l.1 0 65536 0\n"
                    "E 1002 D l.2 data frame too large\n"
                    "D l.3 0 1 0\n");
    data_parsed_clear(&d);
}

static void test_credit_frames(void)
{
    g_autoptr(GByteArray) wire = g_byte_array_new();
    static const char expect[] =
        "\xff" "CREDIT VA/1\r\n"
        "Content-Length: 0\r\n"
        "X-Virtagent-Client-Tag: c.1\r\n"
        "X-Virtagent-Credit: 1048576\r\n"
        "\r\n";
    DataParsed d;

    va_frame_encode_credit(wire, "c.1", 1048576, false);
    g_assert_cmpmem(wire->data, wire->len, expect, strlen(expect));
    va_frame_encode_credit(wire, "c.2", 0, true);
    va_frame_encode_data(wire, "c.3", 77, VA_FRAME_END_ABORT, NULL, 0);
    data_parse(&d, wire->data, wire->len, 1, false);
    g_assert_cmpstr(d.events->str, ==,
                    "K c.1 1048576\nK c.2 abort\nD c.3 77 0 2\n");
    data_parsed_clear(&d);
}

#define DATA_HDR(len, extra) \
    "\xff" "DATA VA/1\r\nContent-Length: " len \
    "\r\nX-Virtagent-Client-Tag: d.9\r\n" extra "\r\n"

static void test_bad_data_frames(void)
{
    static const struct {
        const char *in;
        const char *error;
    } cases[] = {
        { DATA_HDR("2", "X-Virtagent-Offset: 0\r\n") "\xfe\x01",
          "1001 D d.9 bad data escape" },
        { DATA_HDR("2", "X-Virtagent-Offset: 0\r\n") "a\xfe",
          "1001 D d.9 data ends in an escape" },
        { DATA_HDR("3", "") "abc", "1001 D d.9 missing data offset" },
        { DATA_HDR("3", "X-Virtagent-Offset: x\r\n") "abc",
          "1001 D d.9 bad data offset" },
        { DATA_HDR("1", "X-Virtagent-Offset: 18446744073709551615\r\n") "a",
          "1001 D d.9 bad data offset" },
        { DATA_HDR("0", "X-Virtagent-Offset: 0\r\n"),
          "1001 D d.9 empty data frame" },
        { DATA_HDR("1", "X-Virtagent-Offset: 0\r\nX-Virtagent-End: ok\r\n")
          "a", "1001 D d.9 data end with a body" },
        { DATA_HDR("0", "X-Virtagent-Offset: 0\r\nX-Virtagent-End: yes\r\n"),
          "1001 D d.9 bad data end" },
        { DATA_HDR("131073", "X-Virtagent-Offset: 0\r\n") "abc",
          "1002 D d.9 data frame too large" },
        { "\xff" "CREDIT VA/1\r\nContent-Length: 0\r\n"
          "X-Virtagent-Client-Tag: k.1\r\n\r\n",
          "1001 K k.1 missing credit" },
        { "\xff" "CREDIT VA/1\r\nContent-Length: 1\r\n"
          "X-Virtagent-Client-Tag: k.1\r\nX-Virtagent-Credit: 5\r\n\r\nx",
          "1001 K k.1 credit with a body" },
        { "\xff" "CREDIT VA/1\r\nContent-Length: 0\r\n"
          "X-Virtagent-Credit: -5\r\n\r\n", "1001 K - bad credit" },
        { "\xff" "DATA VA/2\r\n\r\n", "1001 - - bad start line" },
        { DATA_HDR("1", "X-Virtagent-Offset: 0\r\n"
                   "X-Virtagent-Encoding: gzip\r\n") "a",
          "1001 D d.9 bad data encoding" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        check_recovers(cases[i].in, strlen(cases[i].in), cases[i].error);
    }
}

/*
 * A sentinel at any place of a DATA body, escapes and word boundaries
 * included, cuts it short; the frame after it is parsed.
 */
static void test_data_cut_anywhere(void)
{
    static const size_t chunks[] = { 0, 1, 5, 8 };
    uint8_t body[48];
    uint8_t escaped[2 * sizeof(body)];
    g_autoptr(GByteArray) frame = g_byte_array_new();
    size_t hdr;

    for (size_t i = 0; i < sizeof(body); i++) {
        body[i] = i % 5 == 3 ? 0xFE : i % 7 == 2 ? 0xFF : i * 37;
    }
    va_frame_encode_data(frame, "d.1", 0, VA_FRAME_END_NONE, body,
                         sizeof(body));
    hdr = frame->len - va_data_escape(escaped, body, sizeof(body));
    for (size_t k = hdr; k < frame->len; k++) {
        for (size_t c = 0; c < G_N_ELEMENTS(chunks); c++) {
            g_autoptr(GByteArray) wire = g_byte_array_new();
            DataParsed d;

            g_byte_array_append(wire, frame->data, k);
            va_frame_encode_credit(wire, "c.1", 5, false);
            data_parse(&d, wire->data, wire->len, chunks[c], false);
            g_assert_cmpstr(d.events->str, ==,
                            "E 1001 D d.1 truncated body\nK c.1 5\n");
            data_parsed_clear(&d);
        }
    }
}

/* Raw DATA frames, a body each, every byte value and a framed call in it. */
static GByteArray *raw_wire(const uint8_t *body, size_t len, size_t frame)
{
    GByteArray *wire = g_byte_array_new();

    for (size_t off = 0; off < len; off += frame) {
        size_t n = MIN(frame, len - off);

        va_frame_encode_data_header(wire, "r.1", off, VA_FRAME_END_NONE,
                                    true, n);
        g_byte_array_append(wire, body + off, n);
    }
    va_frame_encode_credit(wire, "c.1", 5, false);
    return wire;
}

/*
 * A parser that accepts raw bodies takes them by their length, 0xFF and
 * frames inside included, however the input is split; one that does not
 * refuses them and resynchronises at the next sentinel, which the body's
 * own framed call then is.
 */
static void test_raw_data(void)
{
    static const size_t chunks[] = { 0, 1, 2, 3, 64, 4099 };
    static const char wire_header[] =
        "\xff" "DATA VA/1\r\n"
        "Content-Length: 3\r\n"
        "X-Virtagent-Client-Tag: r.1\r\n"
        "X-Virtagent-Offset: 7\r\n"
        "X-Virtagent-Encoding: raw\r\n"
        "\r\n";
    g_autoptr(GByteArray) hdr = g_byte_array_new();
    g_autoptr(GByteArray) body = g_byte_array_new();
    g_autoptr(GByteArray) wire = NULL;
    g_autoptr(GString) expect = g_string_new(NULL);
    DataParsed d;

    va_frame_encode_data_header(hdr, "r.1", 7, VA_FRAME_END_NONE, true, 3);
    g_assert_cmpmem(hdr->data, hdr->len, wire_header, strlen(wire_header));
    g_assert_cmpuint(hdr->len + 8, <=, VA_DATA_HEADER_MAX);

    for (unsigned i = 0; i < 1000; i++) {
        uint8_t c = i * 7;

        g_byte_array_append(body, &c, 1);
    }
    va_frame_encode(body, VA_FRAME_CALL, "evil.1", "<x/>", 4);
    wire = raw_wire(body->data, body->len, 300);
    for (size_t off = 0; off < body->len; off += 300) {
        g_string_append_printf(expect, "R r.1 %zu %zu 0\n", off,
                               MIN(300, body->len - off));
    }
    g_string_append(expect, "K c.1 5\n");
    for (size_t i = 0; i < G_N_ELEMENTS(chunks); i++) {
        data_parse(&d, wire->data, wire->len, chunks[i], true);
        g_assert_cmpstr(d.events->str, ==, expect->str);
        g_assert_cmpmem(d.data->data, d.data->len, body->data, body->len);
        data_parsed_clear(&d);
    }

    /* Refused: the body's call is what the next sentinel starts. */
    g_byte_array_set_size(body, 0);
    g_byte_array_append(body, (const guint8 *)"plain", 5);
    va_frame_encode(body, VA_FRAME_CALL, "evil.1", "<x/>", 4);
    g_byte_array_unref(wire);
    wire = raw_wire(body->data, body->len, body->len);
    data_parse(&d, wire->data, wire->len, 0, false);
    g_assert_cmpstr(d.events->str, ==,
                    "E 1001 D r.1 raw data not accepted\n"
                    "C evil.1\n"
                    "K c.1 5\n");
    data_parsed_clear(&d);
}

/* A raw body is at most VA_DATA_WIRE_MAX; a longer one is not trusted. */
static void test_raw_data_limits(void)
{
    g_autofree uint8_t *ff = g_malloc(VA_DATA_WIRE_MAX);
    g_autoptr(GByteArray) wire = g_byte_array_new();
    DataParsed d;

    memset(ff, 0xFF, VA_DATA_WIRE_MAX);
    va_frame_encode_data_header(wire, "l.1", 0, VA_FRAME_END_NONE, true,
                                VA_DATA_WIRE_MAX);
    g_byte_array_append(wire, ff, VA_DATA_WIRE_MAX);
    va_frame_encode_data_header(wire, "l.2", 0, VA_FRAME_END_NONE, true,
                                VA_DATA_WIRE_MAX + 1);
    g_byte_array_append(wire, (const guint8 *)"abc", 3);
    va_frame_encode_data(wire, "l.3", 0, VA_FRAME_END_NONE, "x", 1);
    data_parse(&d, wire->data, wire->len, 1000, true);
    g_assert_cmpstr(d.events->str, ==,
                    "R l.1 0 131072 0\n"
                    "E 1002 D l.2 data frame too large\n"
                    "D l.3 0 1 0\n");
    data_parsed_clear(&d);
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
    g_test_add_func("/frame/data-escape", test_data_escape);
    g_test_add_func("/frame/data-escape-words", test_data_escape_words);
    g_test_add_func("/frame/data-limits", test_data_limits);
    g_test_add_func("/frame/credit-frames", test_credit_frames);
    g_test_add_func("/frame/bad-data-frames", test_bad_data_frames);
    g_test_add_func("/frame/data-cut-anywhere", test_data_cut_anywhere);
    g_test_add_func("/frame/raw-data", test_raw_data);
    g_test_add_func("/frame/raw-data-limits", test_raw_data_limits);
    return g_test_run();
}
