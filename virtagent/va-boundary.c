/*
 * virtagent - the strict boundary in front of xmlrpc-c
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One pass over the bytes, each looked at once (the text of a number
 * twice), and a stack of VA_XML_DEPTH_MAX frames: no allocation, linear
 * time. Whatever it lets through is a document in which Expat and
 * xmlrpc-c see exactly what this scanner saw.
 *
 * va_boundary_decode() builds, in the same pass, the values xmlrpc-c's
 * parser would build from that document, with xmlrpc-c's own
 * constructors: as each element closes, its value goes to the element
 * around it. That spares Expat (and the srand() xmlrpc-c runs for every
 * document) the whole parse, most of a call's instructions in the guest.
 * tests/fuzz/fuzz-boundary.c checks that both give equal values.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <xmlrpc-c/util.h>

#include "va-boundary.h"
#include "va-errors.h"
#include "va-limits.h"

/* The elements of XML-RPC; value types last, from E_STRUCT on. */
typedef enum Elem {
    E_DOC,              /* the document itself, below the root */
    E_METHOD_CALL, E_METHOD_NAME, E_METHOD_RESPONSE, E_PARAMS, E_PARAM,
    E_FAULT, E_VALUE, E_MEMBER, E_NAME, E_DATA,
    E_STRUCT, E_ARRAY, E_I4, E_INT, E_I8, E_BOOLEAN, E_DOUBLE, E_DATETIME,
    E_BASE64, E_STRING, E_NIL,
} Elem;

typedef enum Content {
    C_ELEMENTS,         /* child elements, whitespace between them */
    C_VALUE,            /* text (a string), or one value type element */
    C_TEXT,             /* text, references included */
    C_RAW,              /* ASCII without references, checked at its end */
    C_EMPTY,            /* whitespace only */
} Content;

#define ELEM(id, str, content) [id] = { str, sizeof(str) - 1, content }
static const struct {
    const char *name;
    size_t len;
    Content content;
} elems[] = {
    ELEM(E_DOC, "", C_ELEMENTS),
    ELEM(E_METHOD_CALL, "methodCall", C_ELEMENTS),
    ELEM(E_METHOD_NAME, "methodName", C_RAW),
    ELEM(E_METHOD_RESPONSE, "methodResponse", C_ELEMENTS),
    ELEM(E_PARAMS, "params", C_ELEMENTS),
    ELEM(E_PARAM, "param", C_ELEMENTS),
    ELEM(E_FAULT, "fault", C_ELEMENTS),
    ELEM(E_VALUE, "value", C_VALUE),
    ELEM(E_MEMBER, "member", C_ELEMENTS),
    ELEM(E_NAME, "name", C_TEXT),
    ELEM(E_DATA, "data", C_ELEMENTS),
    ELEM(E_STRUCT, "struct", C_ELEMENTS),
    ELEM(E_ARRAY, "array", C_ELEMENTS),
    ELEM(E_I4, "i4", C_RAW),
    ELEM(E_INT, "int", C_RAW),
    ELEM(E_I8, "i8", C_RAW),
    ELEM(E_BOOLEAN, "boolean", C_RAW),
    ELEM(E_DOUBLE, "double", C_RAW),
    ELEM(E_DATETIME, "dateTime.iso8601", C_RAW),
    ELEM(E_BASE64, "base64", C_RAW),
    ELEM(E_STRING, "string", C_TEXT),
    ELEM(E_NIL, "nil", C_EMPTY),
};

typedef struct Frame {
    size_t content;     /* offset just past the start tag */
    uint32_t children;
    uint8_t elem;
    bool text;          /* non-whitespace text seen (in <value>) */
    /* When decoding: the value built so far, and a <member>'s name. */
    xmlrpc_value *v;
    char *name;
    size_t name_len;
} Frame;

typedef struct Scan {
    const unsigned char *buf;
    size_t len;
    size_t pos;
    VADocKind kind;
    unsigned depth;     /* open elements; stack[0] is the document */
    size_t elements;
    size_t datetimes;
    GError **errp;
    VADecoded *out;     /* NULL: check only */
    xmlrpc_env env;     /* the value constructors' */
    Frame stack[VA_XML_DEPTH_MAX + 1];
} Scan;

static bool G_GNUC_PRINTF(3, 4) fail(Scan *s, size_t at, const char *fmt,
                                     ...)
{
    g_autofree char *what = NULL;
    va_list ap;

    if (!s->errp) {
        return false;
    }
    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(s->errp, VA_FAULT, VA_FAULT_UNSAFE_XML, "%s at byte %zu",
                what, at);
    return false;
}

/*
 * Up to 24 bytes of @p for a message, quoted; anything but printable
 * ASCII shown as '?', so that the fault string stays valid UTF-8.
 */
static const char *shown(char out[32], const unsigned char *p, size_t n)
{
    size_t i;

    out[0] = '"';
    for (i = 0; i < n && i < 24; i++) {
        out[i + 1] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
    }
    memcpy(out + i + 1, n > 24 ? "...\"" : "\"", n > 24 ? 5 : 2);
    return out;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A table: the tags' names are most of the bytes a call's scan looks at. */
static const bool name_chars[256] = {
    ['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true,
    ['.'] = true, ['_'] = true, [':'] = true, ['-'] = true,
};

static inline bool is_name_char(unsigned char c)
{
    return name_chars[c];
}

static bool is_xml_char(uint32_t c)
{
    return c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xd7ff) ||
           (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

/*
 * Expat guesses the encoding from the first bytes and honours a byte
 * order mark: anything but plain UTF-8 is refused here by name (the scan
 * would refuse it anyway, for a NUL or an invalid byte).
 */
static bool encoding_ok(Scan *s)
{
    const char *p = (const char *)s->buf;
    size_t n = s->len;

    if (n >= 4 && (!memcmp(p, "\0\0\xfe\xff", 4) ||
                   !memcmp(p, "\xff\xfe\0\0", 4))) {
        return fail(s, 0, "UTF-32 byte order mark: only UTF-8 is accepted");
    }
    if (n >= 2 && (!memcmp(p, "\xfe\xff", 2) || !memcmp(p, "\xff\xfe", 2))) {
        return fail(s, 0, "UTF-16 byte order mark: only UTF-8 is accepted");
    }
    if (n >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) {
        return fail(s, 0, "byte order mark: UTF-8 without one only");
    }
    if (n >= 4 && (!memcmp(p, "\0\0\0<", 4) || !memcmp(p, "<\0\0\0", 4))) {
        return fail(s, 0, "UTF-32 document: only UTF-8 is accepted");
    }
    if (n >= 2 && (!memcmp(p, "\0<", 2) || !memcmp(p, "<\0", 2))) {
        return fail(s, 0, "UTF-16 document: only UTF-8 is accepted");
    }
    return true;
}

/* Skip whitespace; true if there was some. */
static bool skip_space(Scan *s)
{
    size_t start = s->pos;

    while (s->pos < s->len && is_space(s->buf[s->pos])) {
        s->pos++;
    }
    return s->pos != start;
}

static bool literal(Scan *s, const char *lit)
{
    size_t n = strlen(lit);

    if (s->len - s->pos < n || memcmp(s->buf + s->pos, lit, n)) {
        return false;
    }
    s->pos += n;
    return true;
}

/* name Eq ('"' value '"' | "'" value "'"), the value an EncName's chars. */
static bool decl_attr(Scan *s, const char *name, const unsigned char **v,
                      size_t *n)
{
    unsigned char quote;

    if (!literal(s, name)) {
        return fail(s, s->pos, "malformed XML declaration, \"%s\" expected",
                    name);
    }
    skip_space(s);
    if (!literal(s, "=")) {
        return fail(s, s->pos, "malformed XML declaration, '=' expected");
    }
    skip_space(s);
    if (s->pos == s->len ||
        (s->buf[s->pos] != '"' && s->buf[s->pos] != '\'')) {
        return fail(s, s->pos, "malformed XML declaration, quote expected");
    }
    quote = s->buf[s->pos++];
    *v = s->buf + s->pos;
    while (s->pos < s->len && s->pos - (*v - s->buf) < 32 &&
           (g_ascii_isalnum(s->buf[s->pos]) || s->buf[s->pos] == '.' ||
            s->buf[s->pos] == '_' || s->buf[s->pos] == '-')) {
        s->pos++;
    }
    *n = s->buf + s->pos - *v;
    if (s->pos == s->len || s->buf[s->pos] != quote) {
        return fail(s, s->pos, "malformed XML declaration, bad %s value",
                    name);
    }
    s->pos++;
    return true;
}

/*
 * An XML declaration, if the document starts with one: version 1.0, and
 * UTF-8 if it names an encoding. "<?" otherwise is refused later as a
 * processing instruction.
 */
static bool declaration(Scan *s)
{
    const unsigned char *v;
    size_t n;
    char buf[32];
    bool space;

    if (s->len < 6 || memcmp(s->buf, "<?xml", 5) || !is_space(s->buf[5])) {
        return true;
    }
    s->pos = 5;
    skip_space(s);
    if (!decl_attr(s, "version", &v, &n)) {
        return false;
    }
    if (n != 3 || memcmp(v, "1.0", 3)) {
        return fail(s, v - s->buf, "XML version %s refused: 1.0 only",
                    shown(buf, v, n));
    }
    space = skip_space(s);
    if (space && s->pos < s->len && s->buf[s->pos] == 'e') {
        if (!decl_attr(s, "encoding", &v, &n)) {
            return false;
        }
        if (n != 5 || g_ascii_strncasecmp((const char *)v, "UTF-8", 5)) {
            return fail(s, v - s->buf, "encoding %s refused: UTF-8 only",
                        shown(buf, v, n));
        }
        space = skip_space(s);
    }
    if (space && s->pos < s->len && s->buf[s->pos] == 's') {
        if (!decl_attr(s, "standalone", &v, &n)) {
            return false;
        }
        if ((n != 3 || memcmp(v, "yes", 3)) && (n != 2 || memcmp(v, "no", 2))) {
            return fail(s, v - s->buf, "standalone %s: yes or no expected",
                        shown(buf, v, n));
        }
        skip_space(s);
    }
    if (!literal(s, "?>")) {
        return fail(s, s->pos, "malformed XML declaration");
    }
    return true;
}

/*
 * The UTF-8 character at s->pos, which must be an XML Char: its length,
 * or 0 once refused (overlong forms, surrogates and code points past
 * U+10FFFF are not UTF-8). xmlrpc-c refuses strings beyond the BMP: so
 * does the boundary, with a clearer message.
 */
static size_t utf8_char(Scan *s)
{
    const unsigned char *p = s->buf + s->pos;
    size_t n;
    uint32_t c;

    if (p[0] < 0x80) {
        if (p[0] == 0) {
            fail(s, s->pos, "NUL byte");
            return 0;
        }
        if (p[0] < 0x20 && !is_space(p[0])) {
            fail(s, s->pos, "control character 0x%02x", p[0]);
            return 0;
        }
        return 1;
    }
    if (p[0] == 0xc0 || p[0] == 0xc1) {
        fail(s, s->pos, "overlong UTF-8 sequence");
        return 0;
    }
    if (p[0] < 0xc2 || p[0] > 0xf4) {
        fail(s, s->pos, "invalid UTF-8 byte 0x%02x", p[0]);
        return 0;
    }
    n = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
    if (s->len - s->pos < n) {
        fail(s, s->pos, "truncated UTF-8 sequence");
        return 0;
    }
    c = p[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            fail(s, s->pos, "invalid UTF-8 sequence");
            return 0;
        }
        c = c << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000)) {
        fail(s, s->pos, "overlong UTF-8 sequence");
        return 0;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
        fail(s, s->pos, "UTF-16 surrogate U+%04X in UTF-8", c);
        return 0;
    }
    if (c > 0x10ffff) {
        fail(s, s->pos, "code point beyond U+10FFFF");
        return 0;
    }
    if (c > 0xffff) {
        fail(s, s->pos, "U+%04X: xmlrpc-c takes no character beyond the "
             "Basic Multilingual Plane", c);
        return 0;
    }
    if (!is_xml_char(c)) {
        fail(s, s->pos, "U+%04X is not an XML character", c);
        return 0;
    }
    return n;
}

/*
 * At '&': one of the five predefined entities, or a character reference
 * (at most 7 decimal or 6 hex digits) to an XML Char in the BMP. Nothing
 * else: no DTD can declare an entity here.
 */
static bool reference(Scan *s)
{
    static const char *const predefined[] = {
        "lt;", "gt;", "amp;", "quot;", "apos;",
    };
    const unsigned char *p = s->buf + s->pos + 1;
    size_t left = s->len - s->pos - 1;

    if (left && p[0] == '#') {
        bool hex = left > 1 && p[1] == 'x';
        size_t max = hex ? 6 : 7;
        size_t i = hex ? 2 : 1;
        size_t digits = 0;
        uint32_t c = 0;

        for (; i < left && digits <= max; i++, digits++) {
            int d = hex ? g_ascii_xdigit_value(p[i])
                        : g_ascii_digit_value(p[i]);

            if (d < 0) {
                break;
            }
            c = c * (hex ? 16 : 10) + d;
        }
        if (!digits || digits > max || i == left || p[i] != ';') {
            return fail(s, s->pos, "malformed character reference");
        }
        if (!is_xml_char(c)) {
            return fail(s, s->pos, "character reference to U+%04X, not an "
                        "XML character", c);
        }
        if (c > 0xffff) {
            return fail(s, s->pos, "character reference to U+%04X: xmlrpc-c "
                        "takes no character beyond the Basic Multilingual "
                        "Plane", c);
        }
        s->pos += i + 2;
        return true;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(predefined); i++) {
        size_t n = strlen(predefined[i]);

        if (left >= n && !memcmp(p, predefined[i], n)) {
            s->pos += n + 1;
            return true;
        }
    }
    return fail(s, s->pos, "entity reference refused (only &lt; &gt; &amp; "
                "&quot; &apos; and character references)");
}

/* Character data up to the next '<', inside the element on top. */
static bool text(Scan *s)
{
    Frame *f = &s->stack[s->depth];
    Content content = elems[f->elem].content;
    unsigned brackets = 0;

    if (content == C_RAW) {
        const unsigned char *p = s->buf + s->pos;
        const unsigned char *lt = memchr(p, '<', s->len - s->pos);
        size_t end = lt ? (size_t)(lt - s->buf) : s->len;
        const unsigned char *amp = memchr(p, '&', end - s->pos);

        if (amp) {
            return fail(s, amp - s->buf, "reference in <%s>",
                        elems[f->elem].name);
        }
        s->pos = end;       /* checked whole by close_element() */
        return true;
    }
    while (s->pos < s->len && s->buf[s->pos] != '<') {
        unsigned char c = s->buf[s->pos];
        size_t n;

        if (is_space(c)) {
            s->pos++;
            brackets = 0;
            continue;
        }
        if (content == C_ELEMENTS || content == C_EMPTY) {
            if (!s->depth) {
                return fail(s, s->pos, "text outside the root element");
            }
            return fail(s, s->pos, "text in <%s>", elems[f->elem].name);
        }
        if (content == C_VALUE) {
            if (f->children) {
                return fail(s, s->pos, "text beside an element in <value>");
            }
            f->text = true;
        }
        if (c == '&') {
            if (!reference(s)) {
                return false;
            }
            brackets = 0;
            continue;
        }
        if (c == '>' && brackets >= 2) {
            return fail(s, s->pos, "\"]]>\" in text");
        }
        brackets = c == ']' ? brackets + 1 : 0;
        n = c >= 0x20 && c < 0x80 ? 1 : utf8_char(s);
        if (!n) {
            return false;
        }
        s->pos += n;
    }
    return true;
}

/* [+-]?digits, at most @max_digits: the magnitude and the sign. */
static bool decimal(const unsigned char *p, size_t n, size_t max_digits,
                    uint64_t *mag, bool *neg)
{
    size_t i = 0;

    *neg = false;
    if (n && (p[0] == '-' || p[0] == '+')) {
        *neg = p[0] == '-';
        i = 1;
    }
    if (i == n || n - i > max_digits) {
        return false;
    }
    for (*mag = 0; i < n; i++) {
        if (!g_ascii_isdigit(p[i])) {
            return false;
        }
        *mag = *mag * 10 + (p[i] - '0');
    }
    return true;
}

static bool int32_ok(const unsigned char *p, size_t n)
{
    uint64_t mag;
    bool neg;

    return decimal(p, n, 10, &mag, &neg) &&
           mag <= (neg ? (uint64_t)INT32_MAX + 1 : INT32_MAX);
}

static bool int64_ok(const unsigned char *p, size_t n)
{
    uint64_t mag;
    bool neg;

    return decimal(p, n, 19, &mag, &neg) &&
           mag <= (neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX);
}

/*
 * [+-]?digits[.digits][(e|E)[+-]?digits], finite. xmlrpc-c reads a plain
 * decimal digit by digit and anything else with strtod(), which also
 * takes "nan", "inf", hex and leading space: only the first form gets
 * there, and with an exponent (Python writes one) at most 64 characters,
 * checked with strtod() here.
 */
static bool double_ok(const unsigned char *p, size_t n)
{
    size_t i = 0;
    size_t first;
    size_t int_end;

    if (n && (p[0] == '-' || p[0] == '+')) {
        i = 1;
    }
    first = i;
    while (i < n && g_ascii_isdigit(p[i])) {
        i++;
    }
    int_end = i;
    if (int_end == first) {
        return false;
    }
    if (i < n && p[i] == '.') {
        size_t frac = ++i;

        while (i < n && g_ascii_isdigit(p[i])) {
            i++;
        }
        if (i == frac) {
            return false;
        }
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        char buf[65];
        size_t exp;
        double v;

        if (++i < n && (p[i] == '-' || p[i] == '+')) {
            i++;
        }
        exp = i;
        while (i < n && g_ascii_isdigit(p[i])) {
            i++;
        }
        if (i == exp || i != n || n >= sizeof(buf)) {
            return false;
        }
        memcpy(buf, p, n);
        buf[n] = '\0';
        errno = 0;
        v = g_ascii_strtod(buf, NULL);
        return !errno && isfinite(v);
    }
    if (i != n) {
        return false;
    }
    /* A plain decimal is finite while its integer part is <= DBL_MAX. */
    while (first < int_end - 1 && p[first] == '0') {
        first++;
    }
    if (int_end - first != DBL_MAX_10_EXP + 1) {
        return int_end - first < DBL_MAX_10_EXP + 1;
    } else {
        char max[DBL_MAX_10_EXP + 8];

        snprintf(max, sizeof(max), "%.0f", DBL_MAX);
        return memcmp(p + first, max, DBL_MAX_10_EXP + 1) <= 0;
    }
}

static unsigned two_digits(const unsigned char *p)
{
    return (p[0] - '0') * 10 + (p[1] - '0');
}

/* YYYYMMDDTHH:MM:SS[.ffffff], as xmlrpc-c writes it, fields in range. */
static bool datetime_ok(const unsigned char *p, size_t n)
{
    static const char form[] = "ddddddddTdd:dd:dd";
    unsigned month, day;

    if (n < 17 || n == 18 || n > 24 || (n > 17 && p[17] != '.')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        bool digit = i < 17 ? form[i] == 'd' : i > 17;

        if (digit ? !g_ascii_isdigit(p[i]) : i < 17 && p[i] != form[i]) {
            return false;
        }
    }
    month = two_digits(p + 4);
    day = two_digits(p + 6);
    return month >= 1 && month <= 12 && day >= 1 && day <= 31 &&
           two_digits(p + 9) <= 23 && two_digits(p + 12) <= 59 &&
           two_digits(p + 15) <= 59;
}

/*
 * The base64 alphabet and whitespace; whole groups of four, the last
 * ending in at most two '=' (xmlrpc-c faults on the rest).
 */
static bool base64_ok(const unsigned char *p, size_t n)
{
    size_t chars = 0;
    size_t pad = 0;

    for (size_t i = 0; i < n; i++) {
        if (is_space(p[i])) {
            continue;
        }
        if (p[i] == '=') {
            pad++;
        } else if (pad || !(g_ascii_isalnum(p[i]) || p[i] == '+' ||
                            p[i] == '/')) {
            return false;
        }
        chars++;
    }
    return chars % 4 == 0 && pad <= 2;
}

/* The characters the XML-RPC specification allows in a method name. */
static bool method_name_ok(const unsigned char *p, size_t n)
{
    if (!n || n > VA_XML_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!g_ascii_isalnum(p[i]) && p[i] != '_' && p[i] != '.' &&
            p[i] != ':' && p[i] != '/') {
            return false;
        }
    }
    return true;
}

/*
 * Character data as Expat hands it on, into @out (at least @n bytes):
 * references resolved, and each CR LF or lone CR made an LF (XML's
 * end-of-line handling; a CR from a reference stays). The text was
 * checked already. Returns the length.
 */
static size_t unescape(const unsigned char *p, size_t n, char *out)
{
    static const struct {
        const char *ref;
        char c;
    } predefined[] = {
        { "lt;", '<' }, { "gt;", '>' }, { "amp;", '&' }, { "quot;", '"' },
        { "apos;", '\'' },
    };
    size_t o = 0;
    size_t i = 0;

    while (i < n) {
        unsigned char c = p[i++];

        if (c == '\r') {
            out[o++] = '\n';
            if (i < n && p[i] == '\n') {
                i++;
            }
        } else if (c != '&') {
            out[o++] = c;
        } else if (p[i] == '#') {
            bool hex = p[i + 1] == 'x';
            gunichar ch = 0;

            for (i += hex ? 2 : 1; p[i] != ';'; i++) {
                ch = ch * (hex ? 16 : 10) +
                     (hex ? g_ascii_xdigit_value(p[i])
                          : g_ascii_digit_value(p[i]));
            }
            i++;
            o += g_unichar_to_utf8(ch, out + o);
        } else {
            for (size_t k = 0; k < G_N_ELEMENTS(predefined); k++) {
                size_t len = strlen(predefined[k].ref);

                if (!memcmp(p + i, predefined[k].ref, len)) {
                    out[o++] = predefined[k].c;
                    i += len;
                    break;
                }
            }
        }
    }
    return o;
}

/*
 * Unescaped text as a string value, or NULL with s->env faulted. The
 * text is NUL-terminated: xmlrpc-c looks at the byte after a CR.
 */
static xmlrpc_value *string_value(Scan *s, const unsigned char *p, size_t n)
{
    char small[256];
    char *buf;
    size_t len;
    xmlrpc_value *v;

    if (!memchr(p, '&', n) && !memchr(p, '\r', n)) {
        return xmlrpc_string_new_lp(&s->env, n, (const char *)p);
    }
    buf = n < sizeof(small) ? small : g_malloc(n + 1);
    len = unescape(p, n, buf);
    buf[len] = '\0';
    v = xmlrpc_string_new_lp(&s->env, len, buf);
    if (buf != small) {
        g_free(buf);
    }
    return v;
}

/*
 * A checked <double>. xmlrpc-c adds up a plain decimal digit by digit
 * (giving other last bits than strtod() may) and hands the rest, here
 * numbers with an exponent, to strtod().
 */
static double double_value(const unsigned char *p, size_t n)
{
    bool neg = p[0] == '-';
    size_t i = p[0] == '-' || p[0] == '+';
    double accum = 0.0;
    double significance = 0.1;
    char buf[65];

    if (memchr(p, 'e', n) || memchr(p, 'E', n)) {
        memcpy(buf, p, n);
        buf[n] = '\0';
        return g_ascii_strtod(buf, NULL);
    }
    for (; i < n && p[i] != '.'; i++) {
        accum *= 10;
        accum += p[i] - '0';
    }
    for (i++; i < n; i++) {
        accum += (p[i] - '0') * significance;
        significance *= 0.1;
    }
    return neg ? -accum : accum;
}

static int64_t int_value(const unsigned char *p, size_t n)
{
    uint64_t mag;
    bool neg;

    decimal(p, n, 19, &mag, &neg);
    return neg ? (int64_t)-mag : (int64_t)mag;
}

/* A checked <base64>'s bytes, as xmlrpc-c decodes them. */
static xmlrpc_value *base64_value(Scan *s, const unsigned char *p, size_t n)
{
    xmlrpc_mem_block *mb;
    xmlrpc_value *v = NULL;
    char *buf = NULL;

    if (memchr(p, '\r', n)) {
        buf = g_malloc(n);
        n = unescape(p, n, buf);
        p = (const unsigned char *)buf;
    }
    mb = xmlrpc_base64_decode(&s->env, (const char *)p, n);
    if (!s->env.fault_occurred) {
        v = xmlrpc_base64_new(&s->env, XMLRPC_MEMBLOCK_SIZE(char, mb),
                              XMLRPC_MEMBLOCK_CONTENTS(unsigned char, mb));
        XMLRPC_MEMBLOCK_FREE(char, mb);
    }
    g_free(buf);
    return v;
}

/* A checked <dateTime.iso8601>. */
static xmlrpc_value *datetime_value(Scan *s, const unsigned char *p, size_t n)
{
    char buf[32];

    memcpy(buf, p, n);
    buf[n] = '\0';
    return xmlrpc_datetime_new_str(&s->env, buf);
}

/*
 * Decoding: the element on top, checked, ends with content @p, @n; its
 * value (or name, or method name) goes to the element around it.
 */
static bool build_close(Scan *s, Frame *f, const unsigned char *p, size_t n)
{
    Frame *up = &s->stack[s->depth - 1];
    xmlrpc_env *env = &s->env;
    xmlrpc_value *v = NULL;

    switch (f->elem) {
    case E_METHOD_NAME:
        /* method_name_ok() took at most VA_XML_NAME_MAX bytes. */
        memcpy(s->out->method, p, n);
        s->out->method[n] = '\0';
        return true;
    case E_METHOD_CALL:
        if (!s->out->value) {
            s->out->value = xmlrpc_array_new(env);
        }
        break;
    case E_PARAMS:
        if (s->kind == VA_DOC_CALL) {
            s->out->value = f->v;
            f->v = NULL;
        }
        break;
    case E_PARAM:
        if (s->kind == VA_DOC_CALL) {
            xmlrpc_array_append_item(env, up->v, f->v);
        } else {
            s->out->value = f->v;
            f->v = NULL;
        }
        break;
    case E_FAULT:
        s->out->value = f->v;
        s->out->fault = true;
        f->v = NULL;
        break;
    case E_NAME:
        up->name = g_malloc(n + 1);
        up->name_len = unescape(p, n, up->name);
        up->name[up->name_len] = '\0';
        return true;
    case E_MEMBER:
        xmlrpc_struct_set_value_n(env, up->v, f->name, f->name_len, f->v);
        break;
    case E_VALUE:
        if (!f->children) {
            f->v = string_value(s, p, n);
        }
        if (f->v && up->elem == E_DATA) {
            xmlrpc_array_append_item(env, s->stack[s->depth - 2].v, f->v);
        } else {
            up->v = f->v;
            f->v = NULL;
        }
        break;
    case E_DATA:
        break;
    case E_STRUCT:
    case E_ARRAY:
        v = f->v;
        f->v = NULL;
        break;
    case E_I4:
    case E_INT:
        v = xmlrpc_int_new(env, int_value(p, n));
        break;
    case E_I8:
        v = xmlrpc_i8_new(env, int_value(p, n));
        break;
    case E_BOOLEAN:
        v = xmlrpc_bool_new(env, p[0] == '1');
        break;
    case E_DOUBLE:
        v = xmlrpc_double_new(env, double_value(p, n));
        break;
    case E_DATETIME:
        v = datetime_value(s, p, n);
        break;
    case E_BASE64:
        v = base64_value(s, p, n);
        break;
    case E_STRING:
        v = string_value(s, p, n);
        break;
    case E_NIL:
        v = xmlrpc_nil_new(env);
        break;
    }
    if (f->elem >= E_STRUCT) {
        up->v = v;      /* the <value> around it */
    }
    if (env->fault_occurred) {
        return fail(s, f->content, "<%s> not taken by xmlrpc-c: %s",
                    elems[f->elem].name, env->fault_string);
    }
    return true;
}

/* Decoding: what the frames hold when a document is refused. */
static void build_abandon(Scan *s)
{
    for (unsigned d = 1; d <= s->depth; d++) {
        if (s->stack[d].v) {
            xmlrpc_DECREF(s->stack[d].v);
        }
        g_free(s->stack[d].name);
    }
}

/* The element on top ends; its content ran up to @end. */
static bool close_element(Scan *s, size_t end)
{
    Frame *f = &s->stack[s->depth];
    const char *name = elems[f->elem].name;
    const unsigned char *p = s->buf + f->content;
    size_t n = end - f->content;
    const char *bad = NULL;
    uint32_t need = 0;
    char buf[32];

    switch (f->elem) {
    case E_METHOD_CALL:
    case E_METHOD_RESPONSE:
    case E_PARAM:
    case E_FAULT:
    case E_ARRAY:
        need = 1;
        break;
    case E_PARAMS:
        need = s->kind == VA_DOC_RESPONSE;
        break;
    case E_MEMBER:
        need = 2;
        break;
    case E_NAME:
        if (n > VA_XML_NAME_MAX) {
            return fail(s, f->content, "<name> longer than %d bytes",
                        VA_XML_NAME_MAX);
        }
        break;
    case E_METHOD_NAME:
        if (!method_name_ok(p, n)) {
            bad = "is not 1 to " G_STRINGIFY(VA_XML_NAME_MAX)
                  " of A-Z a-z 0-9 _ . : /";
        }
        break;
    case E_I4:
    case E_INT:
        if (!int32_ok(p, n)) {
            bad = "holds no 32-bit integer";
        }
        break;
    case E_I8:
        if (!int64_ok(p, n)) {
            bad = "holds no 64-bit integer";
        }
        break;
    case E_BOOLEAN:
        if (n != 1 || (p[0] != '0' && p[0] != '1')) {
            bad = "holds neither 0 nor 1";
        }
        break;
    case E_DOUBLE:
        if (!double_ok(p, n)) {
            bad = "holds no finite decimal number";
        }
        break;
    case E_DATETIME:
        if (!datetime_ok(p, n)) {
            bad = "holds no date of the form YYYYMMDDTHH:MM:SS[.ffffff]";
        }
        break;
    case E_BASE64:
        if (!base64_ok(p, n)) {
            bad = "holds other than base64";
        }
        break;
    }
    if (bad) {
        return fail(s, f->content, "<%s> %s: %s", name, bad,
                    shown(buf, p, n));
    }
    if (f->children < need) {
        return fail(s, end, "<%s> has %u child elements, needs %u", name,
                    f->children, need);
    }
    if (s->out && !build_close(s, f, p, n)) {
        return false;
    }
    if (f->v) {
        xmlrpc_DECREF(f->v);
        f->v = NULL;
    }
    g_free(f->name);
    f->name = NULL;
    s->depth--;
    return true;
}

/* May element @e, starting at @at, come next in the element on top? */
static bool child_ok(Scan *s, Elem e, size_t at)
{
    Frame *f = &s->stack[s->depth];
    const char *name = elems[e].name;
    uint32_t max = 1;
    bool ok;

    switch (f->elem) {
    case E_DOC: {
        Elem root = s->kind == VA_DOC_CALL ? E_METHOD_CALL
                                           : E_METHOD_RESPONSE;

        if (f->children) {
            return fail(s, at, "element <%s> after the root element", name);
        }
        if (e != root) {
            return fail(s, at, "root element <%s>, <%s> expected", name,
                        elems[root].name);
        }
        return true;
    }
    case E_METHOD_CALL:
        ok = e == (f->children ? E_PARAMS : E_METHOD_NAME);
        max = 2;
        break;
    case E_METHOD_RESPONSE:
        ok = e == E_PARAMS || e == E_FAULT;
        break;
    case E_PARAMS:
        ok = e == E_PARAM;
        if (s->kind == VA_DOC_CALL) {
            max = VA_XML_ITEMS_MAX;
            if (f->children == max) {
                return fail(s, at, "more than %d params", max);
            }
        }
        break;
    case E_PARAM:
    case E_FAULT:
        ok = e == E_VALUE;
        break;
    case E_VALUE:
        ok = e >= E_STRUCT;
        if (ok && f->text) {
            return fail(s, at, "element <%s> beside text in <value>", name);
        }
        break;
    case E_STRUCT:
        ok = e == E_MEMBER;
        max = VA_XML_MEMBERS_MAX;
        if (ok && f->children == max) {
            return fail(s, at, "more than %d members in a <struct>", max);
        }
        break;
    case E_MEMBER:
        ok = e == (f->children ? E_VALUE : E_NAME);
        max = 2;
        break;
    case E_ARRAY:
        ok = e == E_DATA;
        break;
    case E_DATA:
        ok = e == E_VALUE;
        max = VA_XML_ITEMS_MAX;
        if (ok && f->children == max) {
            return fail(s, at, "more than %d values in an <array>", max);
        }
        break;
    default:
        return fail(s, at, "element <%s> inside <%s>", name,
                    elems[f->elem].name);
    }
    if (!ok || f->children >= max) {
        return fail(s, at, "<%s> out of place in <%s>", name,
                    elems[f->elem].name);
    }
    return true;
}

/* At "<" followed by a name: a start tag or an empty-element tag. */
static bool start_tag(Scan *s)
{
    size_t at = s->pos;
    size_t i = at + 1;
    size_t name_end;
    bool empty = false;
    Frame *f;
    char buf[32];
    int e = -1;

    while (i < s->len && is_name_char(s->buf[i])) {
        i++;
    }
    name_end = i;
    if (name_end == at + 1) {
        return fail(s, at, "malformed tag");
    }
    for (size_t k = E_DOC + 1; k < G_N_ELEMENTS(elems); k++) {
        if (elems[k].len == name_end - at - 1 &&
            !memcmp(elems[k].name, s->buf + at + 1, elems[k].len)) {
            e = k;
            break;
        }
    }
    if (e < 0) {
        return fail(s, at, "element %s is not XML-RPC",
                    shown(buf, s->buf + at + 1, name_end - at - 1));
    }
    while (i < s->len && is_space(s->buf[i])) {
        i++;
    }
    if (i < s->len && s->buf[i] == '/') {
        empty = true;
        i++;
    }
    if (i == s->len) {
        return fail(s, at, "document ends inside a tag");
    }
    if (s->buf[i] != '>') {
        if (!empty && i > name_end && is_name_char(s->buf[i])) {
            return fail(s, i, "attribute in <%s> refused", elems[e].name);
        }
        return fail(s, i, "malformed tag <%s>", elems[e].name);
    }
    if (!child_ok(s, e, at)) {
        return false;
    }
    if (++s->elements > VA_XML_ELEMENTS_MAX) {
        return fail(s, at, "more than %d elements", VA_XML_ELEMENTS_MAX);
    }
    if (e == E_DATETIME && ++s->datetimes > VA_XML_DATETIMES_MAX) {
        return fail(s, at, "more than %d <dateTime.iso8601> values",
                    VA_XML_DATETIMES_MAX);
    }
    if (s->depth == VA_XML_DEPTH_MAX) {
        return fail(s, at, "elements nested deeper than %d",
                    VA_XML_DEPTH_MAX);
    }
    s->stack[s->depth].children++;
    s->pos = i + 1;
    f = &s->stack[++s->depth];
    f->elem = e;
    f->children = 0;
    f->text = false;
    f->content = s->pos;
    f->v = NULL;
    f->name = NULL;
    if (s->out) {
        if (e == E_STRUCT) {
            f->v = xmlrpc_struct_new(&s->env);
        } else if (e == E_ARRAY ||
                   (e == E_PARAMS && s->kind == VA_DOC_CALL)) {
            f->v = xmlrpc_array_new(&s->env);
        }
        if (s->env.fault_occurred) {
            return fail(s, at, "<%s>: %s", elems[e].name,
                        s->env.fault_string);
        }
    }
    return empty ? close_element(s, s->pos) : true;
}

/* At "</". */
static bool end_tag(Scan *s)
{
    size_t at = s->pos;
    size_t i = at + 2;
    Frame *f = &s->stack[s->depth];
    size_t n = elems[f->elem].len;

    if (!s->depth) {
        return fail(s, at, "end tag outside the root element");
    }
    /* The open element's name, and no longer one. */
    if (s->len - i < n || memcmp(s->buf + i, elems[f->elem].name, n) ||
        (i + n < s->len && is_name_char(s->buf[i + n]))) {
        return fail(s, at, "end tag does not close <%s>",
                    elems[f->elem].name);
    }
    i += n;
    while (i < s->len && is_space(s->buf[i])) {
        i++;
    }
    if (i == s->len || s->buf[i] != '>') {
        return fail(s, i, "malformed end tag </%s>", elems[f->elem].name);
    }
    s->pos = i + 1;
    return close_element(s, at);
}

/* At '<'. */
static bool markup(Scan *s)
{
    const char *p = (const char *)s->buf + s->pos;
    size_t left = s->len - s->pos;

    if (left < 2) {
        return fail(s, s->pos, "document ends inside a tag");
    }
    switch (p[1]) {
    case '/':
        return end_tag(s);
    case '?':
        return fail(s, s->pos, "processing instruction refused");
    case '!':
        if (left >= 4 && !memcmp(p, "<!--", 4)) {
            return fail(s, s->pos, "comment refused");
        }
        if (left >= 9 && !memcmp(p, "<![CDATA[", 9)) {
            return fail(s, s->pos, "CDATA section refused");
        }
        if (left >= 9 && !memcmp(p, "<!DOCTYPE", 9)) {
            return fail(s, s->pos, "DTD (DOCTYPE) refused");
        }
        return fail(s, s->pos, "markup declaration refused");
    }
    return start_tag(s);
}

/* The whole document, with @s set up by the caller. */
static bool scan(Scan *s, size_t max_len)
{
    if (s->len > max_len) {
        g_set_error(s->errp, VA_FAULT, VA_FAULT_TOO_LARGE,
                    "message of %zu bytes over the limit of %zu", s->len,
                    max_len);
        return false;
    }
    if (!s->len) {
        return fail(s, 0, "empty document");
    }
    if (!encoding_ok(s) || !declaration(s)) {
        return false;
    }
    while (s->pos < s->len) {
        if (!(s->buf[s->pos] == '<' ? markup(s) : text(s))) {
            return false;
        }
    }
    if (s->depth) {
        return fail(s, s->len, "document ends inside <%s>",
                    elems[s->stack[s->depth].elem].name);
    }
    if (!s->stack[0].children) {
        return fail(s, s->len, "no root element");
    }
    return true;
}

/*
 * Only the document's frame is cleared: each other one is set as its
 * element opens, and zeroing the whole stack cost a tenth of a call's
 * scan. The value constructors' env is the decoder's to set up.
 */
static void scan_init(Scan *s, const char *xml, size_t len, VADocKind kind,
                      VADecoded *out, GError **errp)
{
    s->buf = (const unsigned char *)xml;
    s->len = len;
    s->pos = 0;
    s->kind = kind;
    s->depth = 0;
    s->elements = 0;
    s->datetimes = 0;
    s->errp = errp;
    s->out = out;
    s->stack[0] = (Frame) { .elem = E_DOC };
}

bool va_boundary_check(const char *xml, size_t len, size_t max_len,
                       VADocKind kind, GError **errp)
{
    Scan s;

    scan_init(&s, xml, len, kind, NULL, errp);
    return scan(&s, max_len);
}

/* Not a compound literal: that would clear the whole name's buffer. */
static void va_decoded_init(VADecoded *d)
{
    d->method[0] = '\0';
    d->value = NULL;
    d->fault = false;
}

bool va_boundary_decode(const char *xml, size_t len, size_t max_len,
                        VADocKind kind, VADecoded *out, GError **errp)
{
    Scan s;
    bool ok;

    scan_init(&s, xml, len, kind, out, errp);
    xmlrpc_env_init(&s.env);
    va_decoded_init(out);
    ok = scan(&s, max_len);
    if (!ok) {
        build_abandon(&s);
        va_decoded_clear(out);
    }
    xmlrpc_env_clean(&s.env);
    return ok;
}

void va_decoded_clear(VADecoded *d)
{
    if (d->value) {
        xmlrpc_DECREF(d->value);
    }
    va_decoded_init(d);
}
