/*
 * virtagent - framing: incremental parser and encoder
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "va-errors.h"
#include "va-frame.h"

#define CALL_START_LINE "POST /RPC2 HTTP/1.1"
#define REPLY_START_LINE "HTTP/1.1 200 OK"
#define DATA_START_LINE "DATA VA/1"
#define CREDIT_START_LINE "CREDIT VA/1"
#define TAG_HEADER "X-Virtagent-Client-Tag"
#define OFFSET_HEADER "X-Virtagent-Offset"
#define END_HEADER "X-Virtagent-End"
#define CREDIT_HEADER "X-Virtagent-Credit"
#define ENCODING_HEADER "X-Virtagent-Encoding"

void va_frame_parser_init(VAFrameParser *p, size_t max_body)
{
    memset(p, 0, sizeof(*p));
    p->max_body = max_body;
    p->max_call = max_body;
    p->state = VA_PARSER_SYNC;
}

void va_frame_parser_limit_calls(VAFrameParser *p, size_t max_call)
{
    p->max_call = MIN(max_call, p->max_body);
}

void va_frame_parser_accept_raw(VAFrameParser *p, bool accept)
{
    p->accept_raw = accept;
}

void va_frame_parser_reset(VAFrameParser *p)
{
    g_clear_pointer(&p->body, g_free);
    p->state = VA_PARSER_SYNC;
    p->header_len = 0;
}

void va_frame_parser_destroy(VAFrameParser *p)
{
    va_frame_parser_reset(p);
}

bool va_tag_valid(const char *tag, size_t len)
{
    if (len == 0 || len > VA_TAG_MAX_LEN) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = tag[i];

        if (!g_ascii_isalnum(c) && c != '.' && c != '_' && c != ':' &&
            c != '-') {
            return false;
        }
    }
    return true;
}

static void start_header(VAFrameParser *p)
{
    g_clear_pointer(&p->body, g_free);
    p->state = VA_PARSER_HEADER;
    p->header_len = 0;
    p->tag[0] = '\0';
    p->offset = 0;
    p->end = VA_FRAME_END_NONE;
    p->credit = 0;
    p->credit_abort = false;
    p->escape = false;
    p->raw = false;
    p->data_len = 0;
}

static VAParseResult parse_error(VAFrameParser *p, VAFrameError *err,
                                 int fault, bool has_kind,
                                 const char *reason)
{
    err->fault = fault;
    err->has_kind = has_kind;
    err->kind = p->kind;
    g_strlcpy(err->tag, p->tag, sizeof(err->tag));
    err->reason = reason;
    return VA_PARSE_ERROR;
}

/* Digits only, no sign, no overflow. */
static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (!len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!g_ascii_isdigit(s[i]) || v > (UINT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool parse_length(const char *s, size_t len, size_t *out)
{
    uint64_t v;

    if (!parse_u64(s, len, &v) || v > SIZE_MAX) {
        return false;
    }
    *out = v;
    return true;
}

/* A repeated header must say the same. */
static bool parse_once(const char *s, size_t len, bool *have, uint64_t *out)
{
    uint64_t v;

    if (!parse_u64(s, len, &v) || (*have && v != *out)) {
        return false;
    }
    *out = v;
    *have = true;
    return true;
}

static bool value_is(const char *s, size_t len, const char *want)
{
    return len == strlen(want) && !memcmp(s, want, len);
}

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);

    return len >= n && !memcmp(s, prefix, n);
}

static bool parse_start_line(const char *line, size_t len, VAFrameKind *kind)
{
    static const char call_end[] = " HTTP/1.1";
    size_t n = sizeof(call_end) - 1;

    if (value_is(line, len, DATA_START_LINE)) {
        *kind = VA_FRAME_DATA;
        return true;
    }
    if (value_is(line, len, CREDIT_START_LINE)) {
        *kind = VA_FRAME_CREDIT;
        return true;
    }
    if (has_prefix(line, len, "POST ") && len >= n &&
        !memcmp(line + len - n, call_end, n)) {
        *kind = VA_FRAME_CALL;
        return true;
    }
    if (has_prefix(line, len, "HTTP/1.")) {
        *kind = VA_FRAME_REPLY;
        return true;
    }
    return false;
}

/* Any case matches; the exact spelling, which we write, is checked first. */
static bool header_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) &&
           (!memcmp(name, want, len) || !g_ascii_strncasecmp(name, want, len));
}

/*
 * DATA and CREDIT have limits of their own, whatever max_body says: data
 * frames are small by design, and a stream never goes through XML.
 */
static VAParseResult check_data_header(VAFrameParser *p, VAFrameError *err,
                                       bool have_offset, bool have_credit)
{
    const char *bad = NULL;

    if (p->kind == VA_FRAME_CREDIT) {
        bad = !have_credit ? "missing credit" :
              p->body_need ? "credit with a body" : NULL;
    } else if (!have_offset) {
        bad = "missing data offset";
    } else if (p->end != VA_FRAME_END_NONE) {
        bad = p->body_need ? "data end with a body" : NULL;
    } else if (!p->body_need) {
        bad = "empty data frame";
    } else if (p->offset > UINT64_MAX - p->body_need) {
        bad = "bad data offset";
    } else if (p->raw && !p->accept_raw) {
        bad = "raw data not accepted";
    }
    if (bad) {
        p->state = VA_PARSER_SYNC;
        return parse_error(p, err, VA_FAULT_MALFORMED, true, bad);
    }
    if (p->body_need > VA_DATA_WIRE_MAX) {
        /* Skipped up to a sentinel: a length too large is not trusted. */
        p->state = VA_PARSER_DISCARD;
        return parse_error(p, err, VA_FAULT_TOO_LARGE, true,
                           "data frame too large");
    }
    p->state = VA_PARSER_BODY;
    return VA_PARSE_MORE;
}

/*
 * The whole header block is in p->header and ends in an empty line, so
 * every line ends in '\n'. Lines are read in place, without copies.
 */
static VAParseResult parse_header(VAFrameParser *p, VAFrameError *err)
{
    const char *pos = p->header;
    const char *end = p->header + p->header_len;
    bool have_length = false;
    bool have_offset = false;
    bool have_end = false;
    bool have_credit = false;
    bool first = true;
    size_t length = 0;

    while (pos < end) {
        const char *nl = memchr(pos, '\n', end - pos);
        const char *line_end = nl > pos && nl[-1] == '\r' ? nl - 1 : nl;
        size_t n = line_end - pos;
        const char *colon;
        const char *value;
        size_t vlen;

        if (first) {
            first = false;
            if (!parse_start_line(pos, n, &p->kind)) {
                p->state = VA_PARSER_SYNC;
                return parse_error(p, err, VA_FAULT_MALFORMED, false,
                                   "bad start line");
            }
            pos = nl + 1;
            continue;
        }
        if (!n) {
            break;
        }
        colon = memchr(pos, ':', n);
        if (!colon) {
            p->state = VA_PARSER_SYNC;
            return parse_error(p, err, VA_FAULT_MALFORMED, true,
                               "header line without a colon");
        }
        value = colon + 1;
        while (value < line_end && g_ascii_isspace(*value)) {
            value++;
        }
        vlen = line_end - value;
        while (vlen && g_ascii_isspace(value[vlen - 1])) {
            vlen--;
        }
        if (header_is(pos, colon - pos, "Content-Length")) {
            size_t v;

            if (!parse_length(value, vlen, &v) ||
                (have_length && v != length)) {
                p->state = VA_PARSER_SYNC;
                return parse_error(p, err, VA_FAULT_MALFORMED, true,
                                   "bad Content-Length");
            }
            length = v;
            have_length = true;
        } else if (header_is(pos, colon - pos, TAG_HEADER)) {
            if (!va_tag_valid(value, vlen)) {
                p->tag[0] = '\0';
                p->state = VA_PARSER_SYNC;
                return parse_error(p, err, VA_FAULT_MALFORMED, true,
                                   "bad client tag");
            }
            memcpy(p->tag, value, vlen);
            p->tag[vlen] = '\0';
        } else if (p->kind == VA_FRAME_DATA &&
                   header_is(pos, colon - pos, OFFSET_HEADER)) {
            if (!parse_once(value, vlen, &have_offset, &p->offset)) {
                p->state = VA_PARSER_SYNC;
                return parse_error(p, err, VA_FAULT_MALFORMED, true,
                                   "bad data offset");
            }
        } else if (p->kind == VA_FRAME_DATA &&
                   header_is(pos, colon - pos, END_HEADER)) {
            VAFrameEnd e = value_is(value, vlen, "ok") ? VA_FRAME_END_OK :
                           value_is(value, vlen, "abort") ?
                           VA_FRAME_END_ABORT : VA_FRAME_END_NONE;

            if (e == VA_FRAME_END_NONE || (have_end && e != p->end)) {
                p->state = VA_PARSER_SYNC;
                return parse_error(p, err, VA_FAULT_MALFORMED, true,
                                   "bad data end");
            }
            p->end = e;
            have_end = true;
        } else if (p->kind == VA_FRAME_DATA &&
                   header_is(pos, colon - pos, ENCODING_HEADER)) {
            if (!value_is(value, vlen, "raw")) {
                p->state = VA_PARSER_SYNC;
                return parse_error(p, err, VA_FAULT_MALFORMED, true,
                                   "bad data encoding");
            }
            p->raw = true;
        } else if (p->kind == VA_FRAME_CREDIT &&
                   header_is(pos, colon - pos, CREDIT_HEADER)) {
            bool abort = value_is(value, vlen, "abort");

            if ((have_credit && abort != p->credit_abort) ||
                (!abort && !parse_once(value, vlen, &have_credit,
                                       &p->credit))) {
                p->state = VA_PARSER_SYNC;
                return parse_error(p, err, VA_FAULT_MALFORMED, true,
                                   "bad credit");
            }
            p->credit_abort = abort;
            have_credit = true;
        }
        /* Other headers, Content-Type included, carry nothing we need. */
        pos = nl + 1;
    }
    if (!have_length || !p->tag[0]) {
        p->state = VA_PARSER_SYNC;
        return parse_error(p, err, VA_FAULT_MALFORMED, true,
                           have_length ? "missing client tag" :
                           "missing Content-Length");
    }
    p->body_need = length;
    p->body_len = 0;
    if (p->kind == VA_FRAME_DATA || p->kind == VA_FRAME_CREDIT) {
        return check_data_header(p, err, have_offset, have_credit);
    }
    if (length > p->max_body) {
        p->state = VA_PARSER_DISCARD;
        return parse_error(p, err, VA_FAULT_TOO_LARGE, true,
                           "message too large");
    }
    if (p->kind == VA_FRAME_CALL && length > p->max_call) {
        p->state = VA_PARSER_DISCARD;
        return parse_error(p, err, VA_FAULT_TOO_LARGE, true,
                           "call too large");
    }
    p->state = VA_PARSER_BODY;
    return VA_PARSE_MORE;
}

static bool header_complete(const VAFrameParser *p)
{
    const char *h = p->header;
    size_t n = p->header_len;

    return (n >= 2 && h[n - 1] == '\n' && h[n - 2] == '\n') ||
           (n >= 3 && h[n - 1] == '\n' && h[n - 2] == '\r' &&
            h[n - 3] == '\n');
}

static void emit_frame(VAFrameParser *p, VAFrame *frame, const uint8_t *body,
                       size_t len)
{
    frame->kind = p->kind;
    /* g_strlcpy() goes byte by byte: a fiftieth of a ping. */
    G_STATIC_ASSERT(sizeof(frame->tag) == sizeof(p->tag));
    memcpy(frame->tag, p->tag, sizeof(frame->tag));
    frame->tag[sizeof(frame->tag) - 1] = '\0';
    frame->body = body;
    frame->len = len;
    frame->offset = p->offset;
    frame->end = p->end;
    frame->raw = p->raw;
    frame->credit = p->credit;
    frame->credit_abort = p->credit_abort;
    p->state = VA_PARSER_SYNC;
}

/*
 * The bytes to escape (0xFE and 0xFF) of a word of eight, as the bytes'
 * top bits: with every byte's low bit set, those become 0xFF, and the
 * complement's zero bytes are found by the usual borrow test. A borrow
 * can also mark a byte above a marked one, never below: the lowest mark
 * is exact. @w is in little-endian order, so the lowest is the first.
 */
static inline uint64_t word_specials(uint64_t w)
{
    uint64_t v = ~(w | 0x0101010101010101ULL);

    return (v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL;
}

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t w;

    memcpy(&w, p, 8);
    return GUINT64_FROM_LE(w);
}

/* Where the first byte to escape is among the 8 at @p, or 8. */
static inline size_t first_special(const uint8_t *p)
{
    uint64_t m = word_specials(load_le64(p));

    return m ? (size_t)__builtin_ctzll(m) / 8 : 8;
}

/* Whether the 32 bytes at @p hold none to escape: one branch for four. */
static inline bool block_clean(const uint8_t *p)
{
    return !(word_specials(load_le64(p)) | word_specials(load_le64(p + 8)) |
             word_specials(load_le64(p + 16)) |
             word_specials(load_le64(p + 24)));
}

/*
 * Decode escaped bytes into the body, up to @len or a sentinel: *@used
 * says how far. The sentinel and the escapes are both bytes >= 0xFE,
 * found 32 bytes a step in 64-bit arithmetic like va_data_escape(), and
 * for the same reason. NULL, or why the frame is bad.
 */
static const char *data_decode(VAFrameParser *p, const uint8_t *src,
                               size_t len, size_t *used, int *fault)
{
    uint8_t *body = p->body;
    size_t i = 0;

    *fault = VA_FAULT_MALFORMED;
    while (i < len) {
        uint8_t c;

        if (!p->escape) {
            size_t room = VA_DATA_CHUNK_MAX - p->data_len;
            size_t k;

            while (len - i >= 32 && room >= 32 && block_clean(src + i)) {
                memcpy(body + p->data_len, src + i, 32);
                p->data_len += 32;
                room -= 32;
                i += 32;
            }
            if (len - i >= 8 && room >= 8) {
                k = first_special(src + i);
                memcpy(body + p->data_len, src + i, 8);
                p->data_len += k;
                i += k;
                if (k == 8) {
                    continue;
                }
            }
            if (i == len) {
                break;
            }
        }
        c = src[i];
        if (c == VA_FRAME_SENTINEL) {
            break;
        }
        if (p->escape && c != 0x7E && c != 0x7F) {
            *used = i + 1;
            return "bad data escape";
        }
        if (c == VA_DATA_ESCAPE) {
            p->escape = true;
            i++;
            continue;
        }
        if (p->data_len == VA_DATA_CHUNK_MAX) {
            *fault = VA_FAULT_TOO_LARGE;
            *used = i;
            return "data frame too large";
        }
        body[p->data_len++] = p->escape ? c ^ 0x80 : c;
        p->escape = false;
        i++;
    }
    *used = i;
    return NULL;
}

/*
 * The DATA body's next bytes, up to a sentinel (*@used says how far): a
 * frame, an error, or more to come.
 */
static VAParseResult data_body(VAFrameParser *p, const uint8_t *buf,
                               size_t avail, size_t *used, VAFrame *frame,
                               VAFrameError *err)
{
    const char *bad;
    int fault;

    if (!p->body) {
        p->body = g_malloc(MIN(p->body_need, VA_DATA_CHUNK_MAX));
    }
    bad = data_decode(p, buf, avail, used, &fault);
    p->body_len += *used;
    if (!bad && p->body_len == p->body_need && p->escape) {
        bad = "data ends in an escape";
    }
    if (bad) {
        /* The rest of the body is skipped, up to a sentinel. */
        p->state = p->body_len < p->body_need ? VA_PARSER_DISCARD
                                              : VA_PARSER_SYNC;
        return parse_error(p, err, fault, true, bad);
    }
    if (p->body_len == p->body_need) {
        emit_frame(p, frame, p->body, p->data_len);
        return VA_PARSE_FRAME;
    }
    return VA_PARSE_MORE;
}

VAParseResult va_frame_parser_feed(VAFrameParser *p, const uint8_t *buf,
                                   size_t len, size_t *consumed,
                                   VAFrame *frame, VAFrameError *err)
{
    size_t i = 0;

    while (i < len) {
        switch (p->state) {
        case VA_PARSER_SYNC: {
            const uint8_t *s = memchr(buf + i, VA_FRAME_SENTINEL, len - i);
            size_t skip = s ? (size_t)(s - (buf + i)) : len - i;

            p->garbage += skip;
            i += skip;
            if (s) {
                i++;
                start_header(p);
            }
            break;
        }
        case VA_PARSER_HEADER: {
            /* A line at a time: the header is parsed when a line ends it. */
            const uint8_t *nl = memchr(buf + i, '\n', len - i);
            size_t take = nl ? (size_t)(nl - (buf + i)) + 1 : len - i;
            const uint8_t *ff = memchr(buf + i, VA_FRAME_SENTINEL, take);

            if (ff) {
                /* A new message began inside this header. */
                i = ff - buf + 1;
                start_header(p);
                *consumed = i;
                return parse_error(p, err, VA_FAULT_MALFORMED, false,
                                   "truncated header");
            }
            i += take;
            if (p->header_len + take > sizeof(p->header) - 1) {
                p->state = VA_PARSER_SYNC;
                *consumed = i;
                return parse_error(p, err, VA_FAULT_MALFORMED, false,
                                   "header too long");
            }
            memcpy(p->header + p->header_len, buf + i - take, take);
            p->header_len += take;
            if (nl && header_complete(p)) {
                VAParseResult r = parse_header(p, err);

                if (r == VA_PARSE_ERROR) {
                    *consumed = i;
                    return r;
                }
                if (p->body_need == 0) {
                    emit_frame(p, frame, (const uint8_t *)"", 0);
                    *consumed = i;
                    return VA_PARSE_FRAME;
                }
            }
            break;
        }
        case VA_PARSER_BODY: {
            size_t want = p->body_need - p->body_len;
            size_t avail = MIN(want, len - i);
            const uint8_t *ff = NULL;

            /* A raw body is trusted by its length: a 0xFF in it is data. */
            if (p->kind == VA_FRAME_DATA && !p->raw) {
                /*
                 * What precedes a sentinel is decoded first, so that an
                 * error in it is reported however the input was split.
                 */
                size_t n;
                VAParseResult r = data_body(p, buf + i, avail, &n, frame,
                                            err);

                i += n;
                if (r != VA_PARSE_MORE) {
                    *consumed = i;
                    return r;
                }
                if (n == avail) {
                    break;
                }
                ff = buf + i;
            } else if (!p->raw) {
                ff = memchr(buf + i, VA_FRAME_SENTINEL, avail);
            }
            if (ff) {
                /* The body was cut short and a new message began. */
                i = ff - buf + 1;
                parse_error(p, err, VA_FAULT_MALFORMED, true,
                            "truncated body");
                start_header(p);
                *consumed = i;
                return VA_PARSE_ERROR;
            }
            if (p->body_len == 0 && avail == want) {
                /* The whole body is in this chunk: no copy. */
                i += avail;
                emit_frame(p, frame, buf + i - avail, avail);
                *consumed = i;
                return VA_PARSE_FRAME;
            }
            if (!p->body) {
                p->body = g_malloc(p->body_need);
            }
            memcpy(p->body + p->body_len, buf + i, avail);
            p->body_len += avail;
            i += avail;
            if (p->body_len == p->body_need) {
                emit_frame(p, frame, p->body, p->body_len);
                *consumed = i;
                return VA_PARSE_FRAME;
            }
            break;
        }
        case VA_PARSER_DISCARD: {
            size_t want = p->body_need - p->body_len;
            size_t avail = MIN(want, len - i);
            const uint8_t *ff = memchr(buf + i, VA_FRAME_SENTINEL, avail);

            if (ff) {
                i = ff - buf + 1;
                start_header(p);
                break;
            }
            p->body_len += avail;
            i += avail;
            if (p->body_len == p->body_need) {
                p->state = VA_PARSER_SYNC;
            }
            break;
        }
        }
    }
    *consumed = i;
    return VA_PARSE_MORE;
}

static void append(GByteArray *out, const char *s, size_t len)
{
    g_byte_array_append(out, (const guint8 *)s, len);
}

#define APPEND_LITERAL(out, s) append(out, s, sizeof(s) - 1)

static char *put(char *p, const char *s, size_t len)
{
    memcpy(p, s, len);
    return p + len;
}

/*
 * Built piece by piece: snprintf was a tenth of a ping's own cost. Into
 * room made once: an append per piece was a twentieth.
 */
void va_frame_encode_header(GByteArray *out, VAFrameKind kind,
                            const char *tag, size_t len)
{
    static const char call[] = "\xff" CALL_START_LINE "\r\n";
    static const char reply[] = "\xff" REPLY_START_LINE "\r\n";
    static const char type[] = "Content-Type: text/xml\r\nContent-Length: ";
    static const char tag_hdr[] = "\r\n" TAG_HEADER ": ";
    const char *line = kind == VA_FRAME_CALL ? call : reply;
    size_t line_len = kind == VA_FRAME_CALL ? sizeof(call) - 1
                                            : sizeof(reply) - 1;
    size_t tag_len = strlen(tag);
    size_t at = out->len;
    char digits[24];
    size_t n = sizeof(digits);
    size_t v = len;
    char *p;

    do {
        digits[--n] = '0' + v % 10;
        v /= 10;
    } while (v);
    g_byte_array_set_size(out, at + line_len + sizeof(type) - 1 +
                          sizeof(digits) - n + sizeof(tag_hdr) - 1 +
                          tag_len + 4);
    p = (char *)out->data + at;
    p = put(p, line, line_len);
    p = put(p, type, sizeof(type) - 1);
    p = put(p, digits + n, sizeof(digits) - n);
    p = put(p, tag_hdr, sizeof(tag_hdr) - 1);
    p = put(p, tag, tag_len);
    put(p, "\r\n\r\n", 4);
}

void va_frame_encode(GByteArray *out, VAFrameKind kind, const char *tag,
                     const void *body, size_t len)
{
    va_frame_encode_header(out, kind, tag, len);
    g_byte_array_append(out, body, len);
}

/*
 * 32 bytes a step in plain 64-bit arithmetic, and a byte to escape found
 * in its word by its position: a guest under TCG runs this as host code,
 * where glibc's SSE memchr is a helper call per vector op, and where
 * every guest branch ends a translated block.
 */
size_t va_data_escape_upto(uint8_t *dst, size_t room, const uint8_t *src,
                           size_t *len)
{
    uint8_t *out = dst;
    uint8_t *end = dst + room;
    size_t n = *len;
    size_t i = 0;

    while (i < n) {
        uint8_t c;

        while (n - i >= 32 && end - out >= 32 && block_clean(src + i)) {
            memcpy(out, src + i, 32);
            out += 32;
            i += 32;
        }
        if (n - i >= 8 && end - out >= 9) {
            size_t k = first_special(src + i);

            /* The word goes out whole; what follows a special is redone. */
            memcpy(out, src + i, 8);
            out += k;
            i += k;
            if (k < 8) {
                *out++ = VA_DATA_ESCAPE;
                *out++ = src[i++] ^ 0x80;
            }
            continue;
        }
        if (i == n) {
            break;
        }
        /* The tail, or the room's last bytes. */
        c = src[i];
        if (c < VA_DATA_ESCAPE && out < end) {
            *out++ = c;
        } else if (c >= VA_DATA_ESCAPE && end - out >= 2) {
            *out++ = VA_DATA_ESCAPE;
            *out++ = c ^ 0x80;
        } else {
            break;
        }
        i++;
    }
    *len = i;
    return out - dst;
}

size_t va_data_escape(uint8_t *dst, const uint8_t *src, size_t len)
{
    return va_data_escape_upto(dst, 2 * len, src, &len);
}

static void append_u64(GByteArray *out, uint64_t v)
{
    char digits[24];
    size_t n = sizeof(digits);

    do {
        digits[--n] = '0' + v % 10;
        v /= 10;
    } while (v);
    append(out, digits + n, sizeof(digits) - n);
}

void va_frame_encode_data_header(GByteArray *out, const char *tag,
                                 uint64_t offset, VAFrameEnd end, bool raw,
                                 size_t wire_len)
{
    APPEND_LITERAL(out, "\xff" DATA_START_LINE "\r\nContent-Length: ");
    append_u64(out, wire_len);
    APPEND_LITERAL(out, "\r\n" TAG_HEADER ": ");
    append(out, tag, strlen(tag));
    APPEND_LITERAL(out, "\r\n" OFFSET_HEADER ": ");
    append_u64(out, offset);
    if (raw) {
        APPEND_LITERAL(out, "\r\n" ENCODING_HEADER ": raw");
    }
    if (end == VA_FRAME_END_OK) {
        APPEND_LITERAL(out, "\r\n" END_HEADER ": ok");
    } else if (end == VA_FRAME_END_ABORT) {
        APPEND_LITERAL(out, "\r\n" END_HEADER ": abort");
    }
    APPEND_LITERAL(out, "\r\n\r\n");
}

void va_frame_encode_data(GByteArray *out, const char *tag, uint64_t offset,
                          VAFrameEnd end, const void *buf, size_t len)
{
    g_autofree uint8_t *wire = g_malloc(2 * len + 1);
    size_t n = va_data_escape(wire, buf, len);

    va_frame_encode_data_header(out, tag, offset, end, false, n);
    g_byte_array_append(out, wire, n);
}

void va_frame_encode_credit(GByteArray *out, const char *tag,
                            uint64_t credit, bool abort)
{
    APPEND_LITERAL(out, "\xff" CREDIT_START_LINE "\r\nContent-Length: 0"
                   "\r\n" TAG_HEADER ": ");
    append(out, tag, strlen(tag));
    APPEND_LITERAL(out, "\r\n" CREDIT_HEADER ": ");
    if (abort) {
        APPEND_LITERAL(out, "abort");
    } else {
        append_u64(out, credit);
    }
    APPEND_LITERAL(out, "\r\n\r\n");
}
