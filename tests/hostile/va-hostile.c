/*
 * va-hostile - a hostile guest: attacks on the host's virtagent chardev
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Usage: va-hostile [-p PORT] ATTACK [SECONDS]
 *        va-hostile list
 *
 * Runs in the test guest in place of qemu-va (the port has one opener)
 * and writes one class of hostile input to the agent port, reading what
 * the host answers meanwhile (except where the attack is not to read).
 * Most attacks end with a clean va.ping, which shows whether the host's
 * side of the stream recovered.  The last line sums up, for
 * tests/hostile/test-hostile.py:
 *
 *   va-hostile: ATTACK: frames F, bytes B, replies R, faults
 *   1001x2 1005x3, host calls C, final pong
 *
 * libc only, linked statically: the test image has no C library.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT "/dev/virtio-ports/org.qemu.virtagent"
#define CALL_LINE "POST /RPC2 HTTP/1.1"
#define REPLY_LINE "HTTP/1.1 200 OK"
#define UTF8_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
/*
 * The host's limits on a message (VA_DEFAULT_MAX_BODY) and on a guest's
 * call (VA_GUEST_CALL_MAX in hw/virtagent/virtagent.c): some attacks fill
 * one or the other.
 */
#define MAX_BODY (2 << 20)
#define GUEST_CALL_MAX (64 << 10)
/* A write that cannot go on this long means the host stopped reading. */
#define WRITE_STALL_S 60
/* How long the final ping waits for its answer. */
#define FINAL_WAIT_S 30
#define MAX_FAULT_KINDS 16

typedef struct Buf {
    char *p;
    size_t len;
    size_t cap;
} Buf;

typedef struct Stats {
    uint64_t frames;
    uint64_t bytes;
    uint64_t replies;
    uint64_t host_calls;
    int fault_code[MAX_FAULT_KINDS];
    uint64_t fault_count[MAX_FAULT_KINDS];
    uint64_t fault_other;
    /*
     * What became of the final ping: "pong", "fault N", "other" (an
     * answer that is neither), "no answer" or "not sent".
     */
    char final[32];
    unsigned final_seq;
    double last_message;
} Stats;

static int port_fd = -1;
static bool write_stalled;
static int write_errno;
static unsigned tag_seq;
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static volatile sig_atomic_t stop_requested;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t answered = PTHREAD_COND_INITIALIZER;
static Stats stats;
static bool reader_running;
static atomic_bool reader_stop;
static pthread_t reader_thread;

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "va-hostile: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_requested) {
        continue;
    }
}

static uint64_t rnd(void)
{
    /* xorshift64: fixed seed, so a failing run can be repeated. */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- growing buffers ---- */

static void buf_add(Buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;

        while (cap < b->len + n) {
            cap *= 2;
        }
        b->p = realloc(b->p, cap);
        if (!b->p) {
            die("out of memory");
        }
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void buf_fill(Buf *b, char c, size_t n)
{
    while (n) {
        char chunk[4096];
        size_t k = n < sizeof(chunk) ? n : sizeof(chunk);

        memset(chunk, c, k);
        buf_add(b, chunk, k);
        n -= k;
    }
}

static void __attribute__((format(printf, 2, 3)))
buf_printf(Buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        die("vsnprintf failed");
    }
    /* Room for the terminating NUL, which is then not counted. */
    buf_fill(b, '\0', n + 1);
    b->len -= n + 1;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, n + 1, fmt, ap);
    va_end(ap);
    b->len += n;
}

static void buf_str(Buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_clear(Buf *b)
{
    b->len = 0;
}

static void buf_free(Buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- writing to the port ---- */

/*
 * The port is non-blocking, so that a host that stops reading is noticed
 * (and reported) instead of hanging the test.
 */
static bool write_raw(const void *data, size_t len)
{
    const char *p = data;
    double deadline = now_s() + WRITE_STALL_S;

    if (write_stalled) {
        return false;
    }
    while (len) {
        ssize_t n = write(port_fd, p, len);

        if (n < 0) {
            struct pollfd pfd = { port_fd, POLLOUT, 0 };
            int left = (deadline - now_s()) * 1000;

            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN) {
                write_errno = errno;
                write_stalled = true;
                return false;
            }
            if (left <= 0 || (poll(&pfd, 1, left) == 0 &&
                              now_s() >= deadline)) {
                write_stalled = true;
                return false;
            }
            continue;
        }
        p += n;
        len -= n;
        pthread_mutex_lock(&lock);
        stats.bytes += n;
        pthread_mutex_unlock(&lock);
    }
    return true;
}

static void count_frames(uint64_t n)
{
    pthread_mutex_lock(&lock);
    stats.frames += n;
    pthread_mutex_unlock(&lock);
}

static void next_tag(char *tag, size_t size)
{
    snprintf(tag, size, "hostile.%u", ++tag_seq);
}

/* A well-formed frame of @len body bytes, appended to @out. */
static void frame_into(Buf *out, bool call, const char *tag,
                       const void *body, size_t len)
{
    buf_printf(out, "\xff%s\r\nContent-Type: text/xml\r\n"
               "Content-Length: %zu\r\nX-Virtagent-Client-Tag: %s\r\n\r\n",
               call ? CALL_LINE : REPLY_LINE, len, tag);
    buf_add(out, body, len);
}

static void send_frame(bool call, const char *tag, const void *body,
                       size_t len)
{
    Buf out = { 0 };

    frame_into(&out, call, tag, body, len);
    write_raw(out.p, out.len);
    count_frames(1);
    buf_free(&out);
}

static void send_call(const Buf *doc)
{
    char tag[32];

    next_tag(tag, sizeof(tag));
    send_frame(true, tag, doc->p, doc->len);
}

/* Write @b out once it holds a good chunk, to keep floods fast. */
static void flush_batch(Buf *b, bool force)
{
    if (b->len && (force || b->len >= 64 * 1024)) {
        write_raw(b->p, b->len);
        buf_clear(b);
    }
}

/* ---- XML-RPC documents ---- */

static void doc_open(Buf *b, const char *decl, const char *method)
{
    if (decl) {
        buf_str(b, decl);
    }
    buf_printf(b, "<methodCall><methodName>%s</methodName><params>",
               method);
}

static void doc_close(Buf *b)
{
    buf_str(b, "</params></methodCall>\r\n");
}

static void doc_simple(Buf *b, const char *method)
{
    doc_open(b, UTF8_DECL, method);
    doc_close(b);
}

/* va.notify(name, value): @value is what goes inside <value>. */
static void doc_notify(Buf *b, const char *decl, const char *name,
                       const char *value)
{
    doc_open(b, decl, "va.notify");
    buf_printf(b, "<param><value><string>%s</string></value></param>"
               "<param><value>", name);
    buf_str(b, value);
    buf_str(b, "</value></param>");
    doc_close(b);
}

/*
 * ASCII @s as UTF-16 or UTF-32 (@width 2 or 4), without a byte order mark:
 * every mark contains 0xFF, which would end the frame.
 */
static void widen(Buf *out, const Buf *s, int width, bool big_endian)
{
    for (size_t i = 0; i < s->len; i++) {
        char unit[4] = { 0 };

        unit[big_endian ? width - 1 : 0] = s->p[i];
        buf_add(out, unit, width);
    }
}

/* ---- reading the host's answers ---- */

static void count_fault(int code)
{
    for (int i = 0; i < MAX_FAULT_KINDS; i++) {
        if (stats.fault_count[i] && stats.fault_code[i] == code) {
            stats.fault_count[i]++;
            return;
        }
        if (!stats.fault_count[i]) {
            stats.fault_code[i] = code;
            stats.fault_count[i] = 1;
            return;
        }
    }
    stats.fault_other++;
}

/* The faultCode of a fault response, or 0 if @body is no fault. */
static int fault_code(const char *body, size_t len)
{
    static const char *const types[] = { "<int>", "<i4>" };
    const char *p = memmem(body, len, "faultCode", 9);
    const char *end = body + len;

    if (!p) {
        return 0;
    }
    for (size_t i = 0; i < 2; i++) {
        const char *t = memmem(p, end - p, types[i], strlen(types[i]));

        if (t) {
            return atoi(t + strlen(types[i]));
        }
    }
    return -1;
}

static void got_message(const char *start, size_t start_len,
                        const char *tag, const char *body, size_t len)
{
    pthread_mutex_lock(&lock);
    stats.last_message = now_s();
    if (start_len >= 5 && !memcmp(start, "POST ", 5)) {
        stats.host_calls++;
    } else {
        int code = fault_code(body, len);
        unsigned seq;

        stats.replies++;
        if (code) {
            count_fault(code);
        }
        if (sscanf(tag, "final.%u", &seq) == 1 && seq == stats.final_seq) {
            if (code) {
                snprintf(stats.final, sizeof(stats.final), "fault %d", code);
            } else if (memmem(body, len, "pong", 4)) {
                snprintf(stats.final, sizeof(stats.final), "pong");
            } else {
                snprintf(stats.final, sizeof(stats.final), "other");
            }
            pthread_cond_broadcast(&answered);
        }
    }
    pthread_mutex_unlock(&lock);
}

/* The value of header @name in @hdr (up to @end), copied into @out. */
static bool header_value(const char *hdr, const char *end, const char *name,
                         char *out, size_t size)
{
    size_t n = strlen(name);

    for (const char *line = hdr; line < end;) {
        const char *nl = memchr(line, '\n', end - line);
        const char *eol = nl ? nl : end;

        if ((size_t)(eol - line) > n + 1 && !strncasecmp(line, name, n) &&
            line[n] == ':') {
            const char *v = line + n + 1;
            size_t k;

            while (v < eol && *v == ' ') {
                v++;
            }
            k = eol - v;
            if (k && v[k - 1] == '\r') {
                k--;
            }
            if (k >= size) {
                k = size - 1;
            }
            memcpy(out, v, k);
            out[k] = '\0';
            return true;
        }
        line = eol + 1;
    }
    return false;
}

/* Take every complete message from @in; what is left is kept. */
static void parse_input(Buf *in)
{
    size_t pos = 0;

    for (;;) {
        char *ff = memchr(in->p + pos, 0xff, in->len - pos);
        char *hend;
        char *hdr;
        char *nl;
        char len_s[32];
        char tag[80] = "";
        size_t hlen;
        size_t blen;

        if (!ff) {
            pos = in->len;
            break;
        }
        pos = ff - in->p;
        hdr = ff + 1;
        hend = memmem(hdr, in->p + in->len - hdr, "\r\n\r\n", 4);
        if (!hend) {
            break;
        }
        hlen = hend + 4 - ff;
        if (!header_value(hdr, hend, "Content-Length", len_s,
                          sizeof(len_s))) {
            pos++;
            continue;
        }
        header_value(hdr, hend, "X-Virtagent-Client-Tag", tag, sizeof(tag));
        if (sscanf(len_s, "%zu", &blen) != 1) {
            pos++;
            continue;
        }
        if (in->len - pos < hlen + blen) {
            break;
        }
        nl = memchr(hdr, '\r', hend - hdr + 1);
        got_message(hdr, nl - hdr, tag, ff + hlen, blen);
        pos += hlen + blen;
    }
    memmove(in->p, in->p + pos, in->len - pos);
    in->len -= pos;
}

static void *reader(void *opaque)
{
    Buf in = { 0 };
    char chunk[65536];

    while (!reader_stop) {
        struct pollfd pfd = { port_fd, POLLIN, 0 };
        ssize_t n;

        if (poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        n = read(port_fd, chunk, sizeof(chunk));
        if (n <= 0) {
            /* EAGAIN, or no host side at the moment: try again. */
            sleep_ms(10);
            continue;
        }
        buf_add(&in, chunk, n);
        parse_input(&in);
    }
    buf_free(&in);
    return NULL;
}

static void start_reader(void)
{
    reader_stop = false;
    if (pthread_create(&reader_thread, NULL, reader, NULL)) {
        die("pthread_create failed");
    }
    reader_running = true;
}

static void stop_reader(void)
{
    if (reader_running) {
        reader_stop = true;
        pthread_join(reader_thread, NULL);
        reader_running = false;
    }
}

/*
 * A clean va.ping after the attack: does the host's side of the stream
 * still work?  Busy and rate-limit faults (the floods leave those behind)
 * are retried.
 */
static void final_ping(void)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        Buf doc = { 0 };
        char tag[32];
        struct timespec until;
        bool retry;

        pthread_mutex_lock(&lock);
        stats.final_seq++;
        snprintf(tag, sizeof(tag), "final.%u", stats.final_seq);
        strcpy(stats.final, "no answer");
        pthread_mutex_unlock(&lock);

        doc_simple(&doc, "va.ping");
        send_frame(true, tag, doc.p, doc.len);
        buf_free(&doc);
        if (write_stalled) {
            pthread_mutex_lock(&lock);
            strcpy(stats.final, "not sent");
            pthread_mutex_unlock(&lock);
            return;
        }

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += FINAL_WAIT_S;
        pthread_mutex_lock(&lock);
        while (!strcmp(stats.final, "no answer") &&
               pthread_cond_timedwait(&answered, &lock, &until) == 0) {
            continue;
        }
        retry = !strcmp(stats.final, "fault 1004") ||
                !strcmp(stats.final, "fault 1005");
        pthread_mutex_unlock(&lock);
        if (!retry) {
            return;
        }
        sleep_ms(1200);
    }
}

/*
 * Read on until the host has been quiet for half a second (at most 10 s),
 * so that the replies counted are all there will be.
 */
static void drain(void)
{
    double end = now_s() + 10;

    while (now_s() < end) {
        bool quiet;

        pthread_mutex_lock(&lock);
        quiet = now_s() - stats.last_message > 0.5;
        pthread_mutex_unlock(&lock);
        if (quiet) {
            break;
        }
        sleep_ms(100);
    }
}

/* ---- the attacks ---- */

static const char i8_overflow[] = "<i8>99999999999999999999999</i8>";

/*
 * UTF-16 or UTF-32 bodies, both byte orders, with and without a
 * declaration naming the encoding: the overflowing <i8> of issue 8.
 */
static void attack_wide(int width)
{
    char decl[64];

    snprintf(decl, sizeof(decl),
             "<?xml version=\"1.0\" encoding=\"UTF-%d\"?>\r\n", width * 8);
    for (int be = 1; be >= 0; be--) {
        for (int with_decl = 0; with_decl <= 1; with_decl++) {
            Buf doc = { 0 };
            Buf wide = { 0 };

            doc_notify(&doc, with_decl ? decl : NULL, "wide", i8_overflow);
            widen(&wide, &doc, width, be);
            send_call(&wide);
            buf_free(&doc);
            buf_free(&wide);
        }
    }
    /* A harmless call in the same encoding. */
    {
        Buf doc = { 0 };
        Buf wide = { 0 };

        doc_open(&doc, NULL, "va.ping");
        doc_close(&doc);
        widen(&wide, &doc, width, true);
        send_call(&wide);
        buf_free(&doc);
        buf_free(&wide);
    }
}

static void attack_utf16(unsigned secs)
{
    attack_wide(2);
}

static void attack_utf32(unsigned secs)
{
    attack_wide(4);
}

/*
 * Encoding tricks in 8-bit bodies: a byte order mark, declarations of
 * other encodings and versions, and byte sequences that are not UTF-8
 * (overlong, surrogate, NUL) inside a string.
 */
static const char nul_string[] = "<string>nul \0 here</string>";

static void attack_encodings(unsigned secs)
{
    static const struct {
        const char *decl;
        const char *value;
        size_t value_len;
    } tricks[] = {
        { "\xef\xbb\xbf" UTF8_DECL, "<string>bom</string>", 0 },
        { "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\r\n",
          "<string>caf\xe9</string>", 0 },
        { "<?xml version=\"1.1\"?>\r\n", "<string>v1.1</string>", 0 },
        { "<?xml version=\"1.0\" encoding=\"UTF-7\"?>\r\n",
          "<string>+ADw-i8+AD4-1+ADw-/i8+AD4-</string>", 0 },
        { "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n",
          "<string>not utf-16</string>", 0 },
        { UTF8_DECL, "<string>overlong \xc0\xbc</string>", 0 },
        { UTF8_DECL, "<string>surrogate \xed\xa0\x80</string>", 0 },
        { UTF8_DECL, nul_string, sizeof(nul_string) - 1 },
    };

    for (size_t i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
        Buf doc = { 0 };
        size_t n = tricks[i].value_len ? tricks[i].value_len :
                   strlen(tricks[i].value);

        buf_str(&doc, tricks[i].decl);
        doc_open(&doc, NULL, "va.notify");
        buf_str(&doc, "<param><value><string>enc</string></value></param>"
                "<param><value>");
        buf_add(&doc, tricks[i].value, n);
        buf_str(&doc, "</value></param>");
        doc_close(&doc);
        send_call(&doc);
        buf_free(&doc);
    }
}

/*
 * Billion laughs: each level ten of the one below, "lol" at the bottom;
 * seven levels expand to 30 MB from under a kilobyte.
 */
static void laughs(Buf *b, int levels, bool external)
{
    buf_str(b, "<?xml version=\"1.0\"?>\n<!DOCTYPE methodCall [\n"
            "<!ENTITY l0 \"lol\">\n");
    for (int i = 1; i <= levels; i++) {
        buf_printf(b, "<!ENTITY l%d \"", i);
        for (int j = 0; j < 10; j++) {
            buf_printf(b, "&l%d;", i - 1);
        }
        buf_str(b, "\">\n");
    }
    if (external) {
        buf_str(b, "<!ENTITY ext SYSTEM \"file:///etc/passwd\">\n");
    }
    buf_printf(b, "]>\n<methodCall><methodName>va.notify</methodName>"
               "<params><param><value><string>laughs</string></value>"
               "</param><param><value><string>&%s;</string></value>"
               "</param></params></methodCall>\n",
               external ? "ext" : "l7");
}

static void attack_entities(unsigned secs)
{
    Buf doc = { 0 };
    Buf wide = { 0 };

    laughs(&doc, 7, false);
    send_call(&doc);
    widen(&wide, &doc, 2, true);
    send_call(&wide);
    buf_clear(&wide);
    widen(&wide, &doc, 2, false);
    send_call(&wide);
    buf_clear(&wide);
    buf_clear(&doc);
    laughs(&doc, 0, true);
    widen(&wide, &doc, 2, true);
    send_call(&wide);
    buf_free(&doc);
    buf_free(&wide);
}

/* Arrays in arrays, @levels deep. */
static void nested(Buf *b, int levels)
{
    doc_open(b, UTF8_DECL, "va.notify");
    buf_str(b, "<param><value><string>deep</string></value></param><param>");
    for (int i = 0; i < levels; i++) {
        buf_str(b, "<value><array><data>");
    }
    for (int i = 0; i < levels; i++) {
        buf_str(b, "</data></array></value>");
    }
    buf_str(b, "</param>");
    doc_close(b);
}

static void attack_nesting(unsigned secs)
{
    Buf doc = { 0 };
    Buf wide = { 0 };

    nested(&doc, 1000);
    send_call(&doc);
    buf_clear(&doc);
    /* As deep as the body limit allows. */
    nested(&doc, 40000);
    send_call(&doc);
    buf_clear(&doc);
    nested(&doc, 20000);
    widen(&wide, &doc, 2, true);
    send_call(&wide);
    buf_free(&doc);
    buf_free(&wide);
}

/* A call frame whose header block holds @headers as given. */
static void send_with_headers(const char *headers, const Buf *body)
{
    Buf out = { 0 };

    buf_printf(&out, "\xff" CALL_LINE "\r\nContent-Type: text/xml\r\n"
               "%s\r\n", headers);
    buf_add(&out, body->p, body->len);
    write_raw(out.p, out.len);
    count_frames(1);
    buf_free(&out);
}

static void attack_content_length(unsigned secs)
{
    static const char *const bad[] = {
        "99999999999999999999999", "18446744073709551616",
        "18446744073709551615", "-1", "-4294967296", "+12", "0x10", "1e3",
        "", "12 12", "12abc",
    };
    Buf ping = { 0 };
    Buf pad = { 0 };
    char h[256];
    char tag[32];

    doc_simple(&ping, "va.ping");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        next_tag(tag, sizeof(tag));
        snprintf(h, sizeof(h), "Content-Length: %s\r\n"
                 "X-Virtagent-Client-Tag: %s\r\n", bad[i], tag);
        send_with_headers(h, &ping);
    }
    /* Duplicates: differing (refused), then equal (a valid call). */
    next_tag(tag, sizeof(tag));
    snprintf(h, sizeof(h), "Content-Length: 5\r\nContent-Length: %zu\r\n"
             "X-Virtagent-Client-Tag: %s\r\n", ping.len, tag);
    send_with_headers(h, &ping);
    next_tag(tag, sizeof(tag));
    snprintf(h, sizeof(h), "Content-Length: %zu\r\nContent-Length: %zu\r\n"
             "X-Virtagent-Client-Tag: %s\r\n", ping.len, ping.len, tag);
    send_with_headers(h, &ping);
    /* Missing. */
    next_tag(tag, sizeof(tag));
    snprintf(h, sizeof(h), "X-Virtagent-Client-Tag: %s\r\n", tag);
    send_with_headers(h, &ping);
    /* Shorter than the body: the rest is garbage before the next frame. */
    next_tag(tag, sizeof(tag));
    snprintf(h, sizeof(h), "Content-Length: %zu\r\n"
             "X-Virtagent-Client-Tag: %s\r\n", ping.len / 2, tag);
    send_with_headers(h, &ping);
    /* Longer than the body: cut short by the next frame. */
    next_tag(tag, sizeof(tag));
    snprintf(h, sizeof(h), "Content-Length: %zu\r\n"
             "X-Virtagent-Client-Tag: %s\r\n", ping.len + 100, tag);
    send_with_headers(h, &ping);
    /* 4 GiB announced, a ping's worth sent. */
    next_tag(tag, sizeof(tag));
    snprintf(h, sizeof(h), "Content-Length: 4294967296\r\n"
             "X-Virtagent-Client-Tag: %s\r\n", tag);
    send_with_headers(h, &ping);
    /* 3 MiB announced and sent: over the limit, to be skipped unread. */
    buf_fill(&pad, 'a', 3 << 20);
    next_tag(tag, sizeof(tag));
    snprintf(h, sizeof(h), "Content-Length: %zu\r\n"
             "X-Virtagent-Client-Tag: %s\r\n", pad.len, tag);
    send_with_headers(h, &pad);
    buf_free(&pad);
    buf_free(&ping);
}

static void attack_endless_headers(unsigned secs)
{
    Buf out = { 0 };
    Buf ping = { 0 };
    char h[4200];
    char tag[32];

    /* 1 MiB of header lines and no empty line. */
    buf_str(&out, "\xff" CALL_LINE "\r\n");
    for (int i = 0; out.len < (1 << 20); i++) {
        buf_printf(&out, "X-Pad-%06d: %s\r\n", i,
                   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    }
    write_raw(out.p, out.len);
    count_frames(1);
    /* One header line of 1 MiB. */
    buf_clear(&out);
    buf_str(&out, "\xff" CALL_LINE "\r\nX-Long: ");
    buf_fill(&out, 'a', 1 << 20);
    write_raw(out.p, out.len);
    count_frames(1);
    /* A start line of 1 MiB. */
    buf_clear(&out);
    buf_str(&out, "\xffPOST /");
    buf_fill(&out, 'a', 1 << 20);
    write_raw(out.p, out.len);
    count_frames(1);
    buf_free(&out);
    /* 200 valid calls, each with a header block near the 4096 limit. */
    doc_simple(&ping, "va.ping");
    for (int i = 0; i < 200; i++) {
        char pad[3900];

        memset(pad, 'p', sizeof(pad) - 1);
        pad[sizeof(pad) - 1] = '\0';
        next_tag(tag, sizeof(tag));
        snprintf(h, sizeof(h), "X-Pad: %s\r\nContent-Length: %zu\r\n"
                 "X-Virtagent-Client-Tag: %s\r\n", pad, ping.len, tag);
        send_with_headers(h, &ping);
    }
    buf_free(&ping);
}

/* One byte per write(2), each its own chunk for the host. */
static void drip(const Buf *b, unsigned pause_ms)
{
    for (size_t i = 0; i < b->len; i++) {
        if (!write_raw(b->p + i, 1)) {
            return;
        }
        if (pause_ms) {
            sleep_ms(pause_ms);
        }
    }
}

static void attack_drip(unsigned secs)
{
    Buf doc = { 0 };
    Buf out = { 0 };
    Buf value = { 0 };
    char tag[32];

    /* A 3 KB notify as fast as the writes go. */
    buf_str(&value, "<string>");
    buf_fill(&value, 'd', 3000);
    buf_str(&value, "</string>");
    buf_add(&value, "", 1);
    doc_notify(&doc, UTF8_DECL, "drip", value.p);
    next_tag(tag, sizeof(tag));
    frame_into(&out, true, tag, doc.p, doc.len);
    drip(&out, 0);
    count_frames(1);
    /* A ping, one byte every 2 ms. */
    buf_clear(&doc);
    buf_clear(&out);
    doc_simple(&doc, "va.ping");
    next_tag(tag, sizeof(tag));
    frame_into(&out, true, tag, doc.p, doc.len);
    drip(&out, 2);
    count_frames(1);
    /* Half a header, then silence for two seconds, then a new frame. */
    out.len = 40;
    drip(&out, 0);
    count_frames(1);
    sleep_ms(2000);
    buf_free(&doc);
    buf_free(&out);
    buf_free(&value);
}

static void attack_unknown_replies(unsigned secs)
{
    static const char response[] =
        UTF8_DECL "<methodResponse><params><param><value><string>pong"
        "</string></value></param></params></methodResponse>\r\n";
    static const char fault[] =
        UTF8_DECL "<methodResponse><fault><value><struct><member><name>"
        "faultCode</name><value><int>1</int></value></member><member>"
        "<name>faultString</name><value><string>x</string></value>"
        "</member></struct></value></fault></methodResponse>\r\n";
    static const char junk[] = "not xml at all";
    Buf batch = { 0 };
    Buf big = { 0 };
    char tag[80];

    for (int i = 0; i < 2000; i++) {
        const char *body = i % 3 == 0 ? response : i % 3 == 1 ? fault : junk;
        size_t len = i % 3 == 0 ? sizeof(response) - 1 :
                     i % 3 == 1 ? sizeof(fault) - 1 : sizeof(junk) - 1;

        switch (i % 4) {
        case 0:
            snprintf(tag, sizeof(tag), "%016" PRIx64 ".%d", rnd(), i);
            break;
        case 1:
            /* An old session's tags look just like this. */
            snprintf(tag, sizeof(tag), "0000000000000000.%d", i + 1);
            break;
        case 2:
            snprintf(tag, sizeof(tag), "%d", i);
            break;
        default:
            memset(tag, 'z', 64);
            tag[64] = '\0';
            break;
        }
        frame_into(&batch, false, tag, body, i % 7 == 0 ? 0 : len);
        flush_batch(&batch, false);
    }
    flush_batch(&batch, true);
    count_frames(2000);
    /* Eight replies near the body limit, to nobody. */
    buf_str(&big, UTF8_DECL "<methodResponse><params><param><value><string>");
    buf_fill(&big, 'r', (3 << 19));
    buf_str(&big, "</string></value></param></params></methodResponse>\r\n");
    for (int i = 0; i < 8; i++) {
        snprintf(tag, sizeof(tag), "%016" PRIx64 ".1", rnd());
        send_frame(false, tag, big.p, big.len);
    }
    buf_free(&big);
    buf_free(&batch);
}

/* @n calls of the document @doc, batched. */
static void flood(const Buf *doc, int n)
{
    Buf batch = { 0 };
    char tag[32];

    for (int i = 0; i < n; i++) {
        next_tag(tag, sizeof(tag));
        frame_into(&batch, true, tag, doc->p, doc->len);
        flush_batch(&batch, false);
    }
    flush_batch(&batch, true);
    count_frames(n);
    buf_free(&batch);
}

static void attack_call_flood(unsigned secs)
{
    Buf doc = { 0 };

    doc_simple(&doc, "va.ping");
    flood(&doc, 5000);
    buf_free(&doc);
}

static void attack_notify_flood(unsigned secs)
{
    Buf doc = { 0 };

    doc_notify(&doc, UTF8_DECL, "flood", "<i4>1</i4>");
    flood(&doc, 3000);
    buf_free(&doc);
}

static void attack_hello_flood(unsigned secs)
{
    Buf batch = { 0 };
    Buf doc = { 0 };
    char tag[32];
    char session[24];

    for (int i = 0; i < 1000; i++) {
        buf_clear(&doc);
        snprintf(session, sizeof(session), "%016" PRIx64, rnd());
        doc_open(&doc, UTF8_DECL, "va.hello");
        buf_printf(&doc, "<param><value><struct>"
                   "<member><name>version</name><value><string>hostile"
                   "</string></value></member>"
                   "<member><name>session</name><value><string>%s"
                   "</string></value></member>"
                   "<member><name>methods</name><value><array><data>"
                   "</data></array></value></member>"
                   "</struct></value></param>", session);
        doc_close(&doc);
        next_tag(tag, sizeof(tag));
        frame_into(&batch, true, tag, doc.p, doc.len);
        flush_batch(&batch, false);
    }
    flush_batch(&batch, true);
    count_frames(1000);
    buf_free(&batch);
    buf_free(&doc);
}

/* A notify whose data is a struct of @members members. */
static void big_struct(Buf *doc, int members)
{
    Buf v = { 0 };

    buf_str(&v, "<struct>");
    for (int i = 0; i < members; i++) {
        buf_printf(&v, "<member><name>%x</name><value>1</value></member>",
                   i);
    }
    buf_str(&v, "</struct>");
    buf_add(&v, "", 1);
    doc_notify(doc, UTF8_DECL, "huge", v.p);
    buf_free(&v);
}

static void attack_huge_struct(unsigned secs)
{
    Buf doc = { 0 };
    double member;

    /*
     * As many members as fit a guest call, then a message (about 41000),
     * then the 50000 of issue 8, which fit neither.
     */
    big_struct(&doc, 1000);
    member = doc.len / 1000.0;
    buf_clear(&doc);
    big_struct(&doc, (GUEST_CALL_MAX - 1024) / member);
    send_call(&doc);
    buf_clear(&doc);
    big_struct(&doc, (MAX_BODY - 1024) / member);
    send_call(&doc);
    buf_clear(&doc);
    big_struct(&doc, 50000);
    send_call(&doc);
    buf_free(&doc);
}

/* As many items as fit a guest call, then a message, then twice that. */
static void attack_huge_array(unsigned secs)
{
    static const char item[] = "<value>1</value>";
    static const size_t sizes[] = {
        GUEST_CALL_MAX - 1024, MAX_BODY - 1024, 2 * MAX_BODY,
    };
    Buf v = { 0 };
    Buf doc = { 0 };

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i] / (sizeof(item) - 1);

        buf_clear(&v);
        buf_clear(&doc);
        buf_str(&v, "<array><data>");
        for (size_t j = 0; j < n; j++) {
            buf_str(&v, item);
        }
        buf_str(&v, "</data></array>");
        buf_add(&v, "", 1);
        doc_notify(&doc, UTF8_DECL, "huge", v.p);
        send_call(&doc);
    }
    buf_free(&v);
    buf_free(&doc);
}

static void attack_numbers(unsigned secs)
{
    static const char *const values[] = {
        "<double>nan</double>", "<double>-NaN</double>",
        "<double>inf</double>", "<double>-Infinity</double>",
        "<double>1e999</double>", "<double>-1e999</double>",
        "<double>1e-999</double>", "<double>1.7976931348623157e308</double>",
        "<double>0x1p3</double>", "<double></double>",
        "<i4>99999999999</i4>", "<int>-2147483649</int>",
        "<i8>9223372036854775808</i8>", "<i8>-9223372036854775809</i8>",
        "<struct><member><name>x</name><value><double>nan</double>"
        "</value></member></struct>",
        "<array><data><value><double>inf</double></value></data></array>",
    };
    Buf doc = { 0 };

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        /*
         * Within the notify budget (10 at once, then 1 per second), so
         * that each value is judged by the boundary, not the limit.
         */
        if (i >= 8) {
            sleep_ms(1100);
        }
        buf_clear(&doc);
        doc_notify(&doc, UTF8_DECL, "number", values[i]);
        send_call(&doc);
    }
    buf_free(&doc);
}

/*
 * Calls whose answers are never read for @secs seconds: what the host
 * keeps meanwhile stays pinned.  Then the guest reads again.
 */
static void attack_never_reads(unsigned secs)
{
    Buf doc = { 0 };

    /* Answers and faults to fill the port's buffers in the guest. */
    doc_simple(&doc, "va.ping");
    flood(&doc, 3000);
    /*
     * Then, each time the call budget has refilled (50 calls a second,
     * bursts of 100), large calls that cannot be answered: 16 of 1 MiB
     * (a message's limit), 32 just under a guest call's limit.
     * Whitespace after the root element is legal XML.
     */
    sleep_ms(2500);
    buf_fill(&doc, '\n', (1 << 20) - doc.len);
    flood(&doc, 16);
    sleep_ms(2500);
    doc.len = 0;
    doc_simple(&doc, "va.ping");
    buf_fill(&doc, '\n', GUEST_CALL_MAX - 1024 - doc.len);
    flood(&doc, 32);
    buf_free(&doc);
    for (unsigned i = 0; i < secs * 10 && !stop_requested; i++) {
        sleep_ms(100);
    }
    start_reader();
}

static void attack_garbage(unsigned secs)
{
    Buf out = { 0 };
    Buf hdr = { 0 };
    char tag[32];

    /* 4 MiB of random bytes, 0xFF among them. */
    for (int i = 0; i < 64; i++) {
        buf_clear(&out);
        for (int j = 0; j < 65536 / 8; j++) {
            uint64_t r = rnd();

            buf_add(&out, &r, 8);
        }
        write_raw(out.p, out.len);
    }
    /* Valid headers, random bodies without 0xFF. */
    for (int i = 0; i < 300; i++) {
        size_t n = 1 + rnd() % 4096;

        buf_clear(&hdr);
        for (size_t j = 0; j < n; j++) {
            char c = rnd() % 255;

            buf_add(&hdr, &c, 1);
        }
        buf_clear(&out);
        next_tag(tag, sizeof(tag));
        frame_into(&out, true, tag, hdr.p, hdr.len);
        write_raw(out.p, out.len);
    }
    /* Random printable header lines. */
    for (int i = 0; i < 300; i++) {
        buf_clear(&out);
        buf_str(&out, "\xff" CALL_LINE "\r\n");
        for (int j = 0; j < 1 + (int)(rnd() % 20); j++) {
            for (int k = 0; k < 1 + (int)(rnd() % 80); k++) {
                char c = 32 + rnd() % 95;

                buf_add(&out, &c, 1);
            }
            buf_str(&out, "\r\n");
        }
        buf_str(&out, "\r\n");
        write_raw(out.p, out.len);
    }
    count_frames(600);
    buf_free(&out);
    buf_free(&hdr);
}

/* A DATA frame's header; raw if @raw, with @extra header lines. */
static void data_header(Buf *out, const char *tag, const char *length,
                        const char *offset, bool raw, const char *extra)
{
    buf_printf(out, "\xff" "DATA VA/1\r\nContent-Length: %s\r\n"
               "X-Virtagent-Client-Tag: %s\r\nX-Virtagent-Offset: %s\r\n"
               "%s%s\r\n", length, tag, offset,
               raw ? "X-Virtagent-Encoding: raw\r\n" : "", extra);
}

/*
 * Data frames for streams QEMU never opened (it opens streams only for
 * its own calls), raw ones included, which QEMU takes by their length:
 * 24 MiB of full raw frames with random bytes, 0xFF and framed calls
 * inside; raw lengths over the limit and absurd, unknown encodings and
 * offsets; 20 000 credits and aborts for tags never used.
 */
static void attack_data_frames(unsigned secs)
{
    static const char *const lengths[] = {
        "131073", "4294967296", "18446744073709551616", "-1", "0x10",
    };
    Buf body = { 0 };
    Buf out = { 0 };
    char tag[32];
    char len[24];
    uint64_t frames = 0;

    for (int i = 0; i < 192; i++) {
        buf_clear(&body);
        for (int j = 0; j < 131072 / 8; j++) {
            uint64_t r = rnd();

            buf_add(&body, &r, 8);
        }
        frame_into(&out, true, "in.body", "<x/>", 4);
        memcpy(body.p + rnd() % (body.len - out.len), out.p, out.len);
        buf_clear(&out);
        next_tag(tag, sizeof(tag));
        snprintf(len, sizeof(len), "%zu", body.len);
        data_header(&out, tag, len, "0", true, "");
        buf_add(&out, body.p, body.len);
        write_raw(out.p, out.len);
        buf_clear(&out);
        frames++;
    }
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        next_tag(tag, sizeof(tag));
        data_header(&out, tag, lengths[i], "0", true, "");
        buf_fill(&out, '\xff', 4096);
        frames++;
    }
    next_tag(tag, sizeof(tag));
    data_header(&out, tag, "3", "0", false, "X-Virtagent-Encoding: zip\r\n");
    buf_str(&out, "abc");
    next_tag(tag, sizeof(tag));
    data_header(&out, tag, "3", "18446744073709551615", true, "");
    buf_str(&out, "abc");
    write_raw(out.p, out.len);
    frames += 2;
    for (int i = 0; i < 20000; i++) {
        buf_clear(&out);
        next_tag(tag, sizeof(tag));
        buf_printf(&out, "\xff" "CREDIT VA/1\r\nContent-Length: 0\r\n"
                   "X-Virtagent-Client-Tag: %s\r\n"
                   "X-Virtagent-Credit: %s\r\n\r\n", tag,
                   i % 2 ? "abort" : "18446744073709551615");
        write_raw(out.p, out.len);
        frames++;
    }
    count_frames(frames);
    buf_free(&body);
    buf_free(&out);
}

/* Read the host's calls and answer none, until killed or @secs pass. */
static void attack_sit(unsigned secs)
{
    double end = now_s() + secs;

    while (!stop_requested && now_s() < end) {
        sleep_ms(100);
    }
}

typedef struct Attack {
    const char *name;
    void (*fn)(unsigned secs);
    bool reads;         /* read the host's answers while attacking */
    bool final;         /* end with a clean ping */
    unsigned secs;      /* the default of SECONDS */
    const char *what;
} Attack;

static const Attack attacks[] = {
    { "utf16", attack_utf16, true, true, 0,
      "UTF-16 bodies (BE from 00 3C, LE) with an overflowing <i8>" },
    { "utf32", attack_utf32, true, true, 0,
      "UTF-32 bodies, both byte orders, with an overflowing <i8>" },
    { "encodings", attack_encodings, true, true, 0,
      "a UTF-8 BOM, other encodings and versions declared, non-UTF-8" },
    { "entities", attack_entities, true, true, 0,
      "billion laughs in UTF-8 and UTF-16, an external entity" },
    { "nesting", attack_nesting, true, true, 0,
      "arrays nested 1000, 40000 deep, 20000 in UTF-16" },
    { "content-length", attack_content_length, true, true, 0,
      "huge, negative, duplicate, missing, short, long Content-Length" },
    { "endless-headers", attack_endless_headers, true, true, 0,
      "1 MiB header blocks, lines and start lines; long valid headers" },
    { "drip", attack_drip, true, true, 0,
      "frames written one byte at a time; a header left half-sent" },
    { "unknown-replies", attack_unknown_replies, true, true, 0,
      "2000 replies to tags never used, 8 of 1.5 MiB" },
    { "call-flood", attack_call_flood, true, true, 0,
      "5000 va.ping calls at once" },
    { "notify-flood", attack_notify_flood, true, true, 0,
      "3000 va.notify calls at once" },
    { "hello-flood", attack_hello_flood, true, true, 0,
      "1000 va.hello calls, each with a fresh session id" },
    { "huge-struct", attack_huge_struct, true, true, 0,
      "va.notify with structs of ~1300, ~41000 and 50000 members" },
    { "huge-array", attack_huge_array, true, true, 0,
      "va.notify with arrays of ~4000, ~131000 and ~262000 items" },
    { "numbers", attack_numbers, true, true, 0,
      "va.notify with NaN, infinities, out-of-range integers" },
    { "never-reads", attack_never_reads, false, true, 8,
      "pings, then 16 calls of 1 MiB, 32 of 63 KiB, unread for SECONDS" },
    { "garbage", attack_garbage, true, true, 0,
      "4 MiB of random bytes, random bodies and header lines" },
    { "data-frames", attack_data_frames, true, true, 0,
      "24 MiB of raw DATA for no stream, bad lengths, 20000 credits" },
    { "sit", attack_sit, true, false, 600,
      "read the host's calls, answer none, for SECONDS or until killed" },
};

static void on_term(int sig)
{
    stop_requested = 1;
}

static void report(const char *name, bool final)
{
    pthread_mutex_lock(&lock);
    printf("va-hostile: %s: frames %" PRIu64 ", bytes %" PRIu64
           ", replies %" PRIu64 ", faults", name, stats.frames, stats.bytes,
           stats.replies);
    if (!stats.fault_count[0]) {
        printf(" none");
    }
    for (int i = 0; i < MAX_FAULT_KINDS && stats.fault_count[i]; i++) {
        printf(" %dx%" PRIu64, stats.fault_code[i], stats.fault_count[i]);
    }
    if (stats.fault_other) {
        printf(" otherx%" PRIu64, stats.fault_other);
    }
    printf(", host calls %" PRIu64 ", final %s", stats.host_calls,
           final ? stats.final : "skipped");
    if (write_errno) {
        printf(", write failed: %s", strerror(write_errno));
    } else if (write_stalled) {
        printf(", write stalled");
    }
    printf("\n");
    pthread_mutex_unlock(&lock);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: va-hostile [-p PORT] ATTACK [SECONDS]\n"
            "attacks:\n");
    for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
        fprintf(f, "  %-16s %s\n", attacks[i].name, attacks[i].what);
    }
}

int main(int argc, char **argv)
{
    const char *port = DEFAULT_PORT;
    const Attack *a = NULL;
    struct sigaction sa = { .sa_handler = on_term };
    unsigned secs;
    char c;
    int opt;

    while ((opt = getopt(argc, argv, "p:h")) != -1) {
        switch (opt) {
        case 'p':
            port = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc || optind + 2 < argc) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[optind], "list")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
        if (!strcmp(argv[optind], attacks[i].name)) {
            a = &attacks[i];
        }
    }
    if (!a) {
        fprintf(stderr, "va-hostile: unknown attack %s\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    secs = a->secs;
    if (optind + 1 < argc &&
        sscanf(argv[optind + 1], "%u%c", &secs, &c) != 1) {
        fprintf(stderr, "va-hostile: bad SECONDS %s\n", argv[optind + 1]);
        return 2;
    }

    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    port_fd = open(port, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (port_fd < 0) {
        die("%s: %s", port, strerror(errno));
    }
    if (a->reads) {
        start_reader();
    }
    a->fn(secs);
    if (a->final) {
        /*
         * The attack's answers first, then a budget refilled: the ping
         * asks whether the host serves a guest that behaves again.
         */
        drain();
        sleep_ms(1000);
        final_ping();
        drain();
    }
    stop_reader();
    report(a->name, a->final);
    close(port_fd);
    return 0;
}
