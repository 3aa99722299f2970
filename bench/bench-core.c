/*
 * virtagent - benchmark of the core over a socketpair
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Measures, in one run: the serial round trip of a ping (one call in
 * flight), pipelined calls per second (a full window), and the codec's own
 * floor per round (xmlrpc-c encode + dispatch + decode, no channel), so
 * the ratio shows what framing, manager and I/O add.
 *
 * The serial round trip is measured twice: with the peer in a thread of
 * its own (each call then also pays two scheduler wake-ups, a cost of the
 * host kernel, not of virtagent), and with both ends in one GMainContext,
 * which leaves exactly our layers plus the socket syscalls. The summary
 * line reports the latter; the pipelined figure uses the two threads.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "va-codec.h"
#include "va-glib.h"

typedef struct Peer {
    GMainContext *ctx;
    GMainLoop *loop;
    VAGlibChannel *gc;
    int fd;
} Peer;

static xmlrpc_value *ping(xmlrpc_env *env, xmlrpc_value *params,
                          void *server_info, void *call_info)
{
    return xmlrpc_string_new(env, "pong");
}

static void add_ping(VAChannel *ch)
{
    struct xmlrpc_method_info3 info = {
        .methodName = "va.ping",
        .methodFunction = ping,
        .signatureString = "s:",
    };
    xmlrpc_env env;

    xmlrpc_env_init(&env);
    xmlrpc_registry_add_method3(&env, va_channel_registry(ch), &info);
    g_assert(!env.fault_occurred);
    xmlrpc_env_clean(&env);
}

static gpointer peer_thread(gpointer opaque)
{
    Peer *p = opaque;
    VAChannelConfig cfg;

    g_main_context_push_thread_default(p->ctx);
    va_channel_config_init(&cfg);
    p->gc = va_glib_channel_new(p->ctx, &cfg, NULL, NULL, NULL);
    add_ping(va_glib_channel_get(p->gc));
    va_glib_channel_set_fd(p->gc, p->fd, true);
    g_main_loop_run(p->loop);
    va_glib_channel_free(p->gc);
    g_main_context_pop_thread_default(p->ctx);
    return NULL;
}

typedef struct Run {
    VAChannel *ch;
    long issued;
    long done;
    long total;
    long failed;
} Run;

static void issue(Run *r);

static void ping_done(VAChannel *ch, VACallId id, xmlrpc_value *result,
                      const GError *err, void *opaque)
{
    Run *r = opaque;

    r->done++;
    if (err) {
        r->failed++;
    }
    if (r->issued < r->total) {
        issue(r);
    }
}

static void issue(Run *r)
{
    r->issued++;
    if (!va_channel_call(r->ch, "va.ping", NULL, -1, ping_done, r, NULL)) {
        g_error("call refused");
    }
}

/* Run @total pings with @depth in flight; seconds taken. */
static double run(VAChannel *ch, long total, int depth)
{
    Run r = { .ch = ch, .total = total };
    gint64 start = g_get_monotonic_time();

    for (int i = 0; i < depth && r.issued < total; i++) {
        issue(&r);
    }
    while (r.done < total) {
        g_main_context_iteration(NULL, TRUE);
    }
    if (r.failed) {
        g_error("%ld calls failed", r.failed);
    }
    return (g_get_monotonic_time() - start) / 1e6;
}

/* One round of the codec alone, as the two peers do it. */
static double codec_floor(xmlrpc_registry *reg, long rounds)
{
    gint64 start = g_get_monotonic_time();

    for (long i = 0; i < rounds; i++) {
        g_autoptr(GBytes) call = va_codec_encode_call("va.ping", NULL, NULL);
        gsize len;
        const char *xml = g_bytes_get_data(call, &len);
        g_autoptr(GBytes) answer = va_codec_dispatch(reg, xml, len,
                                                     1 << 20, NULL, NULL);
        xmlrpc_value *v;

        xml = g_bytes_get_data(answer, &len);
        v = va_codec_decode_reply(xml, len, 1 << 20, NULL);
        g_assert(v);
        xmlrpc_DECREF(v);
    }
    return (g_get_monotonic_time() - start) / 1e6;
}

/*
 * The socket's own cost: the same bytes ping-ponged with write, poll and
 * read, no framing, codec or main loop. What a round trip cannot go below
 * besides the codec.
 */
static double io_floor(long n)
{
    char buf[512] = { 0 };
    int sv[2];
    gint64 start;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
        g_error("socketpair: %s", g_strerror(errno));
    }
    start = g_get_monotonic_time();
    for (long i = 0; i < n; i++) {
        for (int side = 0; side < 2; side++) {
            struct pollfd pfd = { .fd = sv[!side], .events = POLLIN };

            if (write(sv[side], buf, 250) != 250 || poll(&pfd, 1, -1) != 1 ||
                read(sv[!side], buf, sizeof(buf)) != 250) {
                g_error("io floor: %s", g_strerror(errno));
            }
        }
    }
    close(sv[0]);
    close(sv[1]);
    return (g_get_monotonic_time() - start) / (double)n;
}

static int bare_done;

static void bare_ping_done(VAChannel *ch, VACallId id, xmlrpc_value *result,
                           const GError *err, void *opaque)
{
    if (err) {
        g_error("ping failed: %s", err->message);
    }
    bare_done++;
}

static void bare_flush(VAChannel *ch, int fd)
{
    const uint8_t *buf;
    size_t len;

    while ((buf = va_channel_output(ch, &len)) && len) {
        ssize_t n = write(fd, buf, len);

        if (n <= 0) {
            g_error("write: %s", g_strerror(errno));
        }
        va_channel_output_done(ch, n);
    }
}

static int64_t bare_now(void *opaque)
{
    return g_get_monotonic_time() / 1000;
}

/*
 * The sans-I/O channels alone, in a bare poll() loop with no main loop
 * library: what framing, codec, manager and the socket cost without
 * GLib's iteration.
 */
static double serial_bare_loop(long n)
{
    static const VAChannelOps ops = { .now_ms = bare_now };
    VAChannelConfig cfg;
    VAChannel *a, *b;
    uint8_t buf[65536];
    int sv[2];
    gint64 start = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
        g_error("socketpair: %s", g_strerror(errno));
    }
    va_channel_config_init(&cfg);
    a = va_channel_new(&cfg, &ops, NULL, NULL);
    b = va_channel_new(&cfg, &ops, NULL, NULL);
    add_ping(b);
    for (long i = -2000; i < n; i++) {
        int target = bare_done + 1;

        if (i == 0) {
            start = g_get_monotonic_time();     /* after the warm-up */
        }
        va_channel_call(a, "va.ping", NULL, -1, bare_ping_done, NULL, NULL);
        bare_flush(a, sv[0]);
        while (bare_done < target) {
            struct pollfd pfd[2] = {
                { .fd = sv[0], .events = POLLIN },
                { .fd = sv[1], .events = POLLIN },
            };

            if (poll(pfd, 2, -1) < 0) {
                g_error("poll: %s", g_strerror(errno));
            }
            for (int side = 1; side >= 0; side--) {
                VAChannel *ch = side ? b : a;
                ssize_t got;

                if (!pfd[side].revents) {
                    continue;
                }
                got = read(sv[side], buf, sizeof(buf));
                if (got <= 0) {
                    g_error("read: %s", g_strerror(errno));
                }
                va_channel_input(ch, buf, got);
                bare_flush(ch, sv[side]);
            }
        }
    }
    va_channel_free(a);
    va_channel_free(b);
    close(sv[0]);
    close(sv[1]);
    return (g_get_monotonic_time() - start) / (double)n;
}

/* Both ends in the calling thread's default context. */
static double serial_one_thread(long n)
{
    VAChannelConfig cfg;
    VAGlibChannel *a, *b;
    int sv[2];
    double t;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
        g_error("socketpair: %s", g_strerror(errno));
    }
    va_channel_config_init(&cfg);
    a = va_glib_channel_new(NULL, &cfg, NULL, NULL, NULL);
    b = va_glib_channel_new(NULL, &cfg, NULL, NULL, NULL);
    add_ping(va_glib_channel_get(b));
    va_glib_channel_set_fd(a, sv[0], true);
    va_glib_channel_set_fd(b, sv[1], true);
    run(va_glib_channel_get(a), 2000, 1);
    t = run(va_glib_channel_get(a), n, 1);
    va_glib_channel_free(a);
    va_glib_channel_free(b);
    return t * 1e6 / n;
}

#define ROUNDS 7

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/*
 * The answer shapes that cost xmlrpc-c the most per byte, each padded to
 * @max bytes: what QEMU's chardev pays to decode a small answer in its
 * main loop (hw/virtagent/virtagent-call.c, VA_INLINE_DECODE_MAX). The
 * slowest shape's median decode, in us.
 */
#define SMALL_SHAPES 5

static double small_answer_worst(size_t max, const char **worst)
{
    static const struct {
        const char *name, *open, *item, *close;
    } shapes[SMALL_SHAPES] = {
        { "empty values", "<array><data>", "<value/>", "</data></array>" },
        { "ints", "<array><data>", "<value><i4>7</i4></value>",
          "</data></array>" },
        { "character references", "<string>", "&#xFFFD;", "</string>" },
        { "struct members", "<struct>",
          "<member><name>m%d</name><value/></member>", "</struct>" },
        { "nested arrays", "<array><data>", "<value><array><data>",
          "</data></array>" },
    };
    double worst_us = 0;

    for (int s = 0; s < SMALL_SHAPES; s++) {
        GString *doc = g_string_new("<?xml version=\"1.0\"?><methodResponse>"
                                    "<params><param><value>");
        const char *tail = "</value></param></params></methodResponse>";
        GString *close = g_string_new(shapes[s].close);
        double t[ROUNDS];
        int n = 0, depth = 0;

        g_string_append(doc, shapes[s].open);
        for (;;) {
            g_autofree char *item = g_strdup_printf(shapes[s].item, n);
            const char *end = "</data></array></value>";

            if (s == SMALL_SHAPES - 1) {
                /* Nesting stops at the boundary's depth limit. */
                if (depth >= 18 || doc->len + strlen(item) +
                    close->len + strlen(end) + strlen(tail) > max) {
                    break;
                }
                g_string_prepend(close, end);
                depth++;
            } else if (doc->len + strlen(item) + close->len +
                       strlen(tail) > max) {
                break;
            }
            g_string_append(doc, item);
            n++;
        }
        g_string_append(doc, close->str);
        g_string_append(doc, tail);
        for (int r = 0; r < ROUNDS; r++) {
            gint64 start = g_get_monotonic_time();
            GError *err = NULL;

            for (int i = 0; i < 200; i++) {
                xmlrpc_value *v = va_codec_decode_reply(doc->str, doc->len,
                                                        1 << 20, &err);

                if (!v) {
                    g_error("%s: %s", shapes[s].name, err->message);
                }
                xmlrpc_DECREF(v);
            }
            t[r] = (g_get_monotonic_time() - start) / 200.0;
        }
        qsort(t, ROUNDS, sizeof(t[0]), cmp_double);
        if (t[ROUNDS / 2] > worst_us) {
            worst_us = t[ROUNDS / 2];
            *worst = shapes[s].name;
        }
        g_string_free(doc, TRUE);
        g_string_free(close, TRUE);
    }
    return worst_us;
}

int main(int argc, char **argv)
{
    long serial_n = argc > 1 ? atol(argv[1]) : 20000;
    long pipe_n = argc > 2 ? atol(argv[2]) : 200000;
    Peer peer = { 0 };
    VAChannelConfig cfg;
    VAGlibChannel *gc;
    GThread *thread;
    xmlrpc_registry *reg;
    xmlrpc_env env;
    int sv[2];
    double t, rtt_us, rtt_threads_us, rtt_bare_us, per_s, floor_us, io_us;
    double one[ROUNDS], bare[ROUNDS], floor[ROUNDS], io[ROUNDS];
    double worst_us;
    const char *worst = "";

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
        perror("socketpair");
        return 1;
    }
    peer.ctx = g_main_context_new();
    peer.loop = g_main_loop_new(peer.ctx, FALSE);
    peer.fd = sv[1];
    thread = g_thread_new("peer", peer_thread, &peer);

    va_channel_config_init(&cfg);
    cfg.window = 64;
    cfg.max_queued_calls = 256;
    gc = va_glib_channel_new(NULL, &cfg, NULL, NULL, NULL);
    va_glib_channel_set_fd(gc, sv[0], true);

    run(va_glib_channel_get(gc), 2000, 1);     /* warm up */
    t = run(va_glib_channel_get(gc), serial_n, 1);
    rtt_threads_us = t * 1e6 / serial_n;
    printf("serial, two threads: %ld pings: %.1f us per round trip\n",
           serial_n, rtt_threads_us);
    t = run(va_glib_channel_get(gc), pipe_n, cfg.window);
    per_s = pipe_n / t;
    printf("pipelined, two threads: %ld pings in %.3f s, window %u: "
           "%.0f calls/s\n", pipe_n, t, cfg.window, per_s);
    g_main_loop_quit(peer.loop);
    g_main_context_wakeup(peer.ctx);
    g_thread_join(thread);
    va_glib_channel_free(gc);
    g_main_loop_unref(peer.loop);
    g_main_context_unref(peer.ctx);

    xmlrpc_env_init(&env);
    reg = xmlrpc_registry_new(&env);
    {
        struct xmlrpc_method_info3 info = {
            .methodName = "va.ping", .methodFunction = ping,
        };
        xmlrpc_registry_add_method3(&env, reg, &info);
    }
    codec_floor(reg, 2000);

    /*
     * This machine's speed drifts by tens of percent within seconds, so
     * the serial figures and the floors they are compared with are
     * measured in interleaved rounds, and each reported as its median.
     */
    for (int round = 0; round < ROUNDS; round++) {
        long n = serial_n / ROUNDS;

        one[round] = serial_one_thread(n);
        bare[round] = serial_bare_loop(n);
        floor[round] = codec_floor(reg, n) * 1e6 / n;
        io[round] = io_floor(n);
    }
    rtt_us = median(one, ROUNDS);
    rtt_bare_us = median(bare, ROUNDS);
    floor_us = median(floor, ROUNDS);
    io_us = median(io, ROUNDS);
    printf("medians of %d interleaved rounds of %ld:\n", ROUNDS,
           serial_n / ROUNDS);
    printf("serial, one thread: %.1f us per round trip\n", rtt_us);
    printf("serial, bare poll loop (no GLib): %.1f us per round trip\n",
           rtt_bare_us);
    printf("codec floor: %.1f us per round\n", floor_us);
    printf("socket floor (write/poll/read): %.1f us per round trip\n",
           io_us);
    printf("ratios: serial one thread = %.2f x codec floor (target <= 2), "
           "two threads = %.2f x, bare loop = %.2f x; codec + socket "
           "floors = %.2f x\n", rtt_us / floor_us, rtt_threads_us / floor_us,
           rtt_bare_us / floor_us, (floor_us + io_us) / floor_us);
    printf("target: pipelined >= 40000 calls/s: %s\n",
           per_s >= 40000 ? "met" : "not met");
    for (size_t max = 512; max <= 4096; max *= 8) {
        worst_us = small_answer_worst(max, &worst);
        printf("slowest %zu-byte answer to decode (%s): %.1f us\n", max,
               worst, worst_us);
    }
    xmlrpc_registry_free(reg);
    xmlrpc_env_clean(&env);
    printf("bench-core: serial_rtt_us=%.1f pipelined_calls_per_s=%.0f "
           "codec_floor_us=%.1f\n", rtt_us, per_s, floor_us);
    return 0;
}
