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
 *
 * Bulk data: a download stream (DATA frames, issue 11) against the
 * XML-RPC base64 path (1 MiB answers, one call at a time), both between
 * two bare channels over a socketpair in one thread.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>

#include "va-codec.h"
#include "va-glib.h"
#include "va-stream.h"

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

/* Bulk data over a socketpair: both channels driven here, nonblocking. */
#define BULK_CHUNK (1024 * 1024)

typedef struct Bulk {
    VAChannel *ch[2];       /* 0 the caller, 1 the callee */
    int fd[2];
    uint8_t *data;          /* BULK_CHUNK random bytes */
    size_t total;
    size_t sent;
    size_t got;
    VAServerJob *job;
    int calls_done;
} Bulk;

static void bulk_flush(VAChannel *ch, int fd)
{
    const uint8_t *buf;
    size_t len;

    while ((buf = va_channel_output(ch, &len)) && len) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EAGAIN) {
            return;
        }
        if (n <= 0) {
            g_error("write: %s", g_strerror(errno));
        }
        va_channel_output_done(ch, n);
    }
}

static void bulk_run(Bulk *b, int calls)
{
    static uint8_t buf[256 * 1024];

    while (b->calls_done < calls) {
        struct pollfd pfd[2];

        for (int i = 0; i < 2; i++) {
            size_t len;

            bulk_flush(b->ch[i], b->fd[i]);
            va_channel_output(b->ch[i], &len);
            pfd[i] = (struct pollfd) {
                .fd = b->fd[i], .events = POLLIN | (len ? POLLOUT : 0),
            };
        }
        if (poll(pfd, 2, -1) < 0) {
            g_error("poll: %s", g_strerror(errno));
        }
        for (int i = 0; i < 2; i++) {
            ssize_t got;

            if (!(pfd[i].revents & POLLIN)) {
                continue;
            }
            got = read(b->fd[i], buf, sizeof(buf));
            if (got <= 0) {
                g_error("read: %s", g_strerror(errno));
            }
            va_channel_input(b->ch[i], buf, got);
        }
    }
}

static void bulk_feed(VAStream *s, void *opaque)
{
    Bulk *b = opaque;
    size_t room;
    static const char answer[] = "<?xml version=\"1.0\"?><methodResponse>"
        "<params><param><value><i4>0</i4></value></param></params>"
        "</methodResponse>";

    while (b->sent < b->total && (room = va_stream_room(s))) {
        size_t off = b->sent % BULK_CHUNK;
        size_t n = MIN(MIN(room, b->total - b->sent), BULK_CHUNK - off);

        va_stream_send(s, b->data + off, n);
        b->sent += n;
    }
    if (b->sent == b->total && b->job) {
        VAServerJob *job = b->job;

        b->job = NULL;
        va_server_job_set_response(job, answer, strlen(answer));
        va_channel_job_executed(b->ch[1], job);
    }
}

static void bulk_data(VAStream *s, const uint8_t *buf, size_t len,
                      void *opaque)
{
    Bulk *b = opaque;

    b->got += len;
    va_stream_consumed(s, len);
}

static const VAStreamOps bulk_send_ops = { .writable = bulk_feed };
static const VAStreamOps bulk_recv_ops = { .data = bulk_data };

static void bulk_execute(VAChannel *ch, VAServerJob *job, void *opaque)
{
    Bulk *b = opaque;

    if (!strcmp(va_server_job_method(job), "b.get")) {
        b->job = job;
        bulk_feed(va_server_job_stream(job, VA_STREAM_DOWNLOAD,
                                       &bulk_send_ops, b), b);
        return;
    }
    va_server_job_execute(job);
    va_channel_job_executed(ch, job);
}

static xmlrpc_value *bulk_chunk(xmlrpc_env *env, xmlrpc_value *params,
                                void *server_info, void *call_info)
{
    Bulk *b = server_info;

    return xmlrpc_base64_new(env, BULK_CHUNK, b->data);
}

static void bulk_done(VAChannel *ch, VACallId id, xmlrpc_value *result,
                      const GError *err, void *opaque)
{
    Bulk *b = opaque;

    if (err) {
        g_error("bulk call failed: %s", err->message);
    }
    if (xmlrpc_value_type(result) == XMLRPC_TYPE_BASE64) {
        xmlrpc_env env;
        const unsigned char *bytes;
        size_t len;

        xmlrpc_env_init(&env);
        xmlrpc_read_base64(&env, result, &len, &bytes);
        g_assert(!env.fault_occurred && len == BULK_CHUNK);
        free((void *)bytes);
        xmlrpc_env_clean(&env);
        b->got += len;
    }
    b->calls_done++;
}

/* MB/s of @total bytes by a download stream (@stream) or base64 calls. */
static double bulk_rate(bool stream, size_t total)
{
    static const VAChannelOps caller_ops = { .now_ms = bare_now };
    VAChannelOps callee_ops = {
        .now_ms = bare_now, .execute = bulk_execute,
    };
    struct xmlrpc_method_info3 info = {
        .methodName = "b.chunk", .methodFunction = bulk_chunk,
    };
    VAChannelConfig cfg;
    Bulk b = { .total = total };
    GRand *r = g_rand_new_with_seed(10);
    xmlrpc_env env;
    gint64 start;
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
        g_error("socketpair: %s", g_strerror(errno));
    }
    b.data = g_malloc(BULK_CHUNK);
    for (size_t i = 0; i < BULK_CHUNK; i++) {
        b.data[i] = g_rand_int(r);
    }
    g_rand_free(r);
    va_channel_config_init(&cfg);
    for (int i = 0; i < 2; i++) {
        b.fd[i] = sv[i];
        fcntl(sv[i], F_SETFL, fcntl(sv[i], F_GETFL) | O_NONBLOCK);
    }
    b.ch[0] = va_channel_new(&cfg, &caller_ops, &b, NULL);
    b.ch[1] = va_channel_new(&cfg, &callee_ops, &b, NULL);
    info.serverInfo = &b;
    xmlrpc_env_init(&env);
    xmlrpc_registry_add_method3(&env, va_channel_registry(b.ch[1]), &info);
    xmlrpc_env_clean(&env);
    start = g_get_monotonic_time();
    if (stream) {
        VACallId id = va_channel_call(b.ch[0], "b.get", NULL, 0, bulk_done,
                                      &b, NULL);

        va_channel_call_stream(b.ch[0], id, VA_STREAM_DOWNLOAD,
                               &bulk_recv_ops, &b);
        bulk_run(&b, 1);
    } else {
        for (int i = 0; (size_t)i < total / BULK_CHUNK; i++) {
            va_channel_call(b.ch[0], "b.chunk", NULL, 0, bulk_done, &b,
                            NULL);
            bulk_run(&b, i + 1);
        }
    }
    g_assert(b.got == total);
    start = g_get_monotonic_time() - start;
    va_channel_free(b.ch[0]);
    va_channel_free(b.ch[1]);
    close(sv[0]);
    close(sv[1]);
    g_free(b.data);
    return total / (double)start;     /* bytes per us = MB/s */
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
    double worst_us, stream_mbs, base64_mbs;
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
    stream_mbs = bulk_rate(true, 256 * BULK_CHUNK);
    base64_mbs = bulk_rate(false, 64 * BULK_CHUNK);
    printf("bulk data over a socketpair, one thread: download stream "
           "%.0f MB/s (256 MiB), XML-RPC base64 1 MiB calls %.0f MB/s "
           "(64 MiB): %.1f x\n", stream_mbs, base64_mbs,
           stream_mbs / base64_mbs);
    printf("bench-core: serial_rtt_us=%.1f pipelined_calls_per_s=%.0f "
           "codec_floor_us=%.1f stream_mb_s=%.0f base64_mb_s=%.0f\n",
           rtt_us, per_s, floor_us, stream_mbs, base64_mbs);
    return 0;
}
