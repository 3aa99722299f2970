/*
 * virtagent - tests of data streams between two channels in memory
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The host calls; the guest runs t.put (an upload) and t.get (a
 * download) through an executor that attaches streams, and holds t.hold
 * unanswered. Receivers consume at a pace the test sets, so the credit
 * window is what bounds what they hold. The host takes raw DATA bodies,
 * the guest does not: with l.raw, both send raw.
 */
#include <string.h>

#include "va-errors.h"
#include "va-frame.h"
#include "va-stream.h"
#include "va-test-util.h"

#define BIG (8 * 1024 * 1024)

typedef struct Link Link;

/* A receiver's bookkeeping, either side. */
typedef struct Recv {
    VAStream *s;
    uint64_t got;
    uint64_t unconsumed;
    uint64_t max_unconsumed;
    size_t window;          /* what it grants: at most this unconsumed */
    bool hold;              /* consume nothing, check nothing */
} Recv;

typedef struct GuestJob {
    Link *l;
    VAServerJob *job;
    bool upload;
    bool answered;
    size_t total;
    size_t sent;
    Recv rx;
    int ends;
    VAStreamEnd how;
} GuestJob;

typedef struct HostXfer {
    Link *l;
    VACallId id;
    bool upload;
    size_t total;
    size_t sent;
    Recv rx;
    int ends;
    VAStreamEnd how;
    bool ended_before_done;
    size_t cancel_after;    /* download: cancel from the data callback */
    VATestResult r;
} HostXfer;

struct Link {
    VAChannel *host;
    VAChannel *guest;
    int64_t now;
    size_t chunk;           /* bytes per move; 0: a whole segment */
    unsigned data_segments; /* whole segments, each one DATA frame */
    size_t consume_step;    /* per receiver per round; 0: at once */
    uint8_t *pattern;
    size_t get_size;        /* what t.get sends */
    size_t put_fail_after;  /* t.put gives up after this many bytes */
    bool raw;               /* senders send raw DATA bodies */
    size_t window;          /* the host's downloads grant this; 0: default */
    GPtrArray *guest_jobs;
    GPtrArray *held;        /* t.hold jobs */
    GPtrArray *xfers;
};

static int64_t link_now(void *opaque)
{
    return ((Link *)opaque)->now;
}

static void link_wakeup(void *opaque)
{
}

static void guest_answer(GuestJob *g, bool ok)
{
    g_autofree char *xml = NULL;

    if (g->answered) {
        return;
    }
    g->answered = true;
    if (ok) {
        xml = g_strdup_printf("<?xml version=\"1.0\"?><methodResponse>"
                              "<params><param><value><i4>%zu</i4></value>"
                              "</param></params></methodResponse>",
                              g->upload ? (size_t)g->rx.got : g->sent);
        va_server_job_set_response(g->job, xml, strlen(xml));
    } else {
        va_server_job_set_fault(g->job, VA_FAULT_FAILED, "aborted");
    }
    va_channel_job_executed(g->l->guest, g->job);
}

/*
 * A raw sender fills the stream's buffers in place every other time,
 * 5000 bytes at most, so that chunks are committed to in pieces.
 */
static void guest_feed(GuestJob *g)
{
    unsigned turn = 0;
    size_t room;

    while (g->sent < g->total && (room = va_stream_room(g->rx.s))) {
        size_t n = MIN(room, g->total - g->sent);
        uint8_t *buf;

        if (g->l->raw && turn++ % 2) {
            buf = va_stream_send_buffer(g->rx.s, &room);
            g_assert_nonnull(buf);
            g_assert_cmpuint(room, <=, va_stream_room(g->rx.s));
            n = MIN(MIN(n, room), 5000);
            memcpy(buf, g->l->pattern + g->sent, n);
            va_stream_send_commit(g->rx.s, n);
        } else {
            g_assert_true(va_stream_send(g->rx.s, g->l->pattern + g->sent,
                                         n));
        }
        g->sent += n;
    }
    if (g->sent == g->total) {
        if (g->l->raw) {
            /* A buffer nothing is committed to sends nothing. */
            va_stream_send_buffer(g->rx.s, &room);
        }
        /* The answer ends the download, after the data. */
        guest_answer(g, true);
    }
}

static void recv_data(Link *l, Recv *rx, const uint8_t *buf, size_t len)
{
    if (!rx->hold) {
        g_assert_cmpmem(buf, len, l->pattern + rx->got, len);
    }
    rx->got += len;
    rx->unconsumed += len;
    rx->max_unconsumed = MAX(rx->max_unconsumed, rx->unconsumed);
    g_assert_cmpuint(rx->unconsumed, <=, rx->window);
    if (!l->consume_step && !rx->hold) {
        va_stream_consumed(rx->s, len);
        rx->unconsumed = 0;
    }
}

static void guest_data(VAStream *s, const uint8_t *buf, size_t len,
                       void *opaque)
{
    GuestJob *g = opaque;

    recv_data(g->l, &g->rx, buf, len);
    if (g->l->put_fail_after && g->rx.got >= g->l->put_fail_after) {
        /* A write error: stop the upload, from inside the callback. */
        va_stream_abort(s);
        guest_answer(g, false);
    }
}

static void guest_writable(VAStream *s, void *opaque)
{
    guest_feed(opaque);
}

static void guest_end(VAStream *s, VAStreamEnd how, void *opaque)
{
    GuestJob *g = opaque;

    g->ends++;
    g->how = how;
    g->rx.s = NULL;
    guest_answer(g, how == VA_STREAM_END_OK);
}

static const VAStreamOps guest_ops = {
    .data = guest_data,
    .writable = guest_writable,
    .end = guest_end,
};

static void guest_execute(VAChannel *ch, VAServerJob *job, void *opaque)
{
    Link *l = opaque;
    const char *m = va_server_job_method(job);
    GuestJob *g;

    if (!strcmp(m, "t.hold")) {
        g_ptr_array_add(l->held, job);
        return;
    }
    if (strcmp(m, "t.put") && strcmp(m, "t.get")) {
        va_server_job_execute(job);
        va_channel_job_executed(ch, job);
        return;
    }
    g = g_new0(GuestJob, 1);
    g->l = l;
    g->job = job;
    g->upload = !strcmp(m, "t.put");
    g->total = g->upload ? 0 : l->get_size;
    g_ptr_array_add(l->guest_jobs, g);
    g->rx.window = VA_STREAM_WINDOW;
    g->rx.s = va_server_job_stream(job, g->upload ? VA_STREAM_UPLOAD
                                                  : VA_STREAM_DOWNLOAD,
                                   &guest_ops, g);
    g_assert_nonnull(g->rx.s);
    g_assert_null(va_server_job_stream(job, VA_STREAM_UPLOAD, &guest_ops,
                                       g));
    if (!g->upload) {
        if (l->raw) {
            va_stream_send_raw(g->rx.s);
        }
        guest_feed(g);
    }
}

static void link_init(Link *l)
{
    static const VAChannelOps host_ops = {
        .now_ms = link_now,
        .wakeup = link_wakeup,
    };
    static const VAChannelOps guest_chan_ops = {
        .now_ms = link_now,
        .wakeup = link_wakeup,
        .execute = guest_execute,
    };
    VAChannelConfig cfg;
    GRand *r = g_rand_new_with_seed(11);

    memset(l, 0, sizeof(*l));
    l->now = 1000;
    l->pattern = g_malloc(BIG);
    for (size_t i = 0; i < BIG; i += 4) {
        guint32 v = g_rand_int(r);

        memcpy(l->pattern + i, &v, 4);
    }
    /* Runs of the escaped bytes too, one longer than a frame. */
    memset(l->pattern + 1000, 0xFE, 3000);
    memset(l->pattern + 5000, 0xFF, 3000);
    memset(l->pattern + BIG / 2, 0xFF, 3 * VA_DATA_CHUNK_MAX);
    g_rand_free(r);
    l->guest_jobs = g_ptr_array_new_with_free_func(g_free);
    l->held = g_ptr_array_new();
    l->xfers = g_ptr_array_new();
    va_channel_config_init(&cfg);
    cfg.max_executing = 8;      /* held jobs must leave room for pings */
    cfg.accept_raw_data = true;
    l->host = va_channel_new(&cfg, &host_ops, l, NULL);
    cfg.accept_raw_data = false;
    l->guest = va_channel_new(&cfg, &guest_chan_ops, l, NULL);
    va_test_add_method(l->guest, "va.ping", va_test_ping, NULL, "s:");
}

static void link_destroy(Link *l)
{
    va_channel_free(l->host);
    for (guint i = 0; i < l->held->len; i++) {
        va_server_job_set_fault(l->held->pdata[i], VA_FAULT_FAILED, "gone");
        va_channel_job_executed(l->guest, l->held->pdata[i]);
    }
    va_channel_free(l->guest);
    g_ptr_array_unref(l->guest_jobs);
    g_ptr_array_unref(l->held);
    g_ptr_array_unref(l->xfers);
    g_free(l->pattern);
}

static size_t move(Link *l, VAChannel *from, VAChannel *to)
{
    size_t len;
    const uint8_t *buf = va_channel_output(from, &len);

    /*
     * A large DATA frame (a sender's chunks are full but for the last)
     * is a segment of its own, header included, and fits two of Linux's
     * 32 KiB virtio console writes (four if raw): no other 0xFF than its
     * first byte when the body is escaped.
     */
    if (!l->chunk && len >= 16 * 1024 && buf[0] == VA_FRAME_SENTINEL &&
        buf[1] == 'D') {
        if (l->raw) {
            g_assert_cmpuint(len, <=, VA_DATA_WIRE_MAX);
        } else {
            g_assert_cmpuint(len, <=, 64 * 1024);
            g_assert_null(memchr(buf + 1, VA_FRAME_SENTINEL, len - 1));
        }
        l->data_segments++;
    }
    return va_test_move(from, to, l->chunk);
}

static bool consume(Link *l, Recv *rx)
{
    size_t n = MIN(rx->unconsumed, l->consume_step);

    if (!rx->s || rx->hold || !n) {
        return false;
    }
    rx->unconsumed -= n;
    va_stream_consumed(rx->s, n);
    return true;
}

/* One round: a move each way, then each receiver consumes a step. */
static bool link_step(Link *l)
{
    bool progress = move(l, l->host, l->guest) + move(l, l->guest, l->host);

    for (guint i = 0; i < l->guest_jobs->len; i++) {
        progress |= consume(l, &((GuestJob *)l->guest_jobs->pdata[i])->rx);
    }
    for (guint i = 0; i < l->xfers->len; i++) {
        progress |= consume(l, &((HostXfer *)l->xfers->pdata[i])->rx);
    }
    return progress;
}

static void link_run(Link *l)
{
    int rounds = 0;

    while (link_step(l)) {
        g_assert_cmpint(++rounds, <, 10000000);
    }
}

static void host_feed(HostXfer *x)
{
    size_t room;

    while (x->sent < x->total && (room = va_stream_room(x->rx.s))) {
        size_t n = MIN(room, x->total - x->sent);

        g_assert_true(va_stream_send(x->rx.s, x->l->pattern + x->sent, n));
        x->sent += n;
    }
    if (x->sent == x->total) {
        va_stream_finish(x->rx.s);
        g_assert_cmpuint(va_stream_room(x->rx.s), ==, 0);
    }
}

static void host_data(VAStream *s, const uint8_t *buf, size_t len,
                      void *opaque)
{
    HostXfer *x = opaque;

    recv_data(x->l, &x->rx, buf, len);
    if (x->cancel_after && x->rx.got >= x->cancel_after) {
        x->cancel_after = 0;
        g_assert_true(va_channel_cancel(x->l->host, x->id));
        g_assert_null(x->rx.s);
    }
}

static void host_writable(VAStream *s, void *opaque)
{
    host_feed(opaque);
}

static void host_end(VAStream *s, VAStreamEnd how, void *opaque)
{
    HostXfer *x = opaque;

    x->ends++;
    x->how = how;
    x->rx.s = NULL;
    x->ended_before_done = !x->r.completions;
}

static const VAStreamOps host_ops = {
    .data = host_data,
    .writable = host_writable,
    .end = host_end,
};

static void host_done(VAChannel *ch, VACallId id, xmlrpc_value *result,
                      const GError *err, void *opaque)
{
    HostXfer *x = opaque;

    va_test_result_done(ch, id, result, err, &x->r);
}

static HostXfer *host_start(Link *l, const char *method, size_t total,
                            int64_t timeout_ms)
{
    HostXfer *x = g_new0(HostXfer, 1);
    bool upload = !strcmp(method, "t.put");

    x->l = l;
    x->upload = upload;
    x->total = total;
    x->id = va_channel_call(l->host, method, NULL, timeout_ms, host_done, x,
                            NULL);
    g_assert_cmpuint(x->id, !=, 0);
    x->rx.s = va_channel_call_stream(l->host, x->id,
                                     upload ? VA_STREAM_UPLOAD
                                            : VA_STREAM_DOWNLOAD,
                                     &host_ops, x);
    g_assert_nonnull(x->rx.s);
    x->rx.window = VA_STREAM_WINDOW;
    if (upload && l->raw) {
        va_stream_send_raw(x->rx.s);
    }
    if (!upload && l->window) {
        va_stream_set_window(x->rx.s, l->window);
        x->rx.window = l->window;
    }
    if (upload) {
        /* Nothing may go before the callee's first credit. */
        g_assert_cmpuint(va_stream_room(x->rx.s), ==, 0);
    }
    g_ptr_array_add(l->xfers, x);
    return x;
}

static void host_xfer_free(HostXfer *x)
{
    va_test_result_clear(&x->r);
    g_free(x);
}

/* A ping, and how far a transfer had come when its answer arrived. */
typedef struct Probe {
    VATestResult r;
    const uint64_t *progress;
    uint64_t at_call;
    uint64_t at_answer;
} Probe;

static void probe_done(VAChannel *ch, VACallId id, xmlrpc_value *result,
                       const GError *err, void *opaque)
{
    Probe *p = opaque;

    p->at_answer = *p->progress;
    va_test_result_done(ch, id, result, err, &p->r);
}

static void probe_start(Link *l, Probe *p, const uint64_t *progress)
{
    p->progress = progress;
    p->at_call = *progress;
    g_assert_cmpuint(va_channel_call(l->host, "va.ping", NULL, -1,
                                     probe_done, p, NULL), !=, 0);
}

static void check_probe(Probe *p, uint64_t total)
{
    g_autofree char *s = va_test_result_string(&p->r);

    g_assert_cmpint(p->r.completions, ==, 1);
    g_assert_cmpstr(s, ==, "pong");
    /*
     * Answered during the transfer, behind at most the writer's low
     * water mark and a frame or two of data, whatever the timing.
     */
    g_assert_cmpuint(p->at_answer, <, total);
    g_assert_cmpuint(p->at_answer - p->at_call, <=,
                     VA_WRITER_LOW_WATER + 3 * VA_DATA_CHUNK_MAX);
    va_test_result_clear(&p->r);
}

static void check_quiet(Link *l)
{
    VAChannelStats st;

    va_channel_get_stats(l->host, &st);
    g_assert_cmpuint(st.streams, ==, 0);
    g_assert_cmpuint(st.bad_frames, ==, 0);
    va_channel_get_stats(l->guest, &st);
    g_assert_cmpuint(st.streams, ==, 0);
    g_assert_cmpuint(st.bad_frames, ==, 0);
}

static void transfer(bool upload, size_t size, size_t chunk,
                     size_t consume_step, bool raw, size_t window)
{
    Link l;
    HostXfer *x;
    GuestJob *g;
    Recv *rx;
    Probe probe = { 0 };
    VAChannelStats st;

    link_init(&l);
    l.raw = raw;
    l.window = window;
    l.chunk = chunk;
    l.consume_step = consume_step;
    l.get_size = size;
    x = host_start(&l, upload ? "t.put" : "t.get", size, 0);
    while (!l.guest_jobs->len) {
        g_assert_true(link_step(&l));
    }
    g = l.guest_jobs->pdata[0];
    rx = upload ? &g->rx : &x->rx;
    while (rx->got < size / 8) {
        g_assert_true(link_step(&l));
    }
    probe_start(&l, &probe, &rx->got);
    link_run(&l);
    check_probe(&probe, size);

    g_assert_cmpuint(rx->got, ==, size);
    g_assert_cmpint(x->ends, ==, 1);
    g_assert_cmpint(x->how, ==, VA_STREAM_END_OK);
    g_assert_true(x->ended_before_done);
    g_assert_cmpint(g->ends, ==, 1);
    g_assert_cmpint(g->how, ==, VA_STREAM_END_OK);
    g_assert_cmpint(x->r.completions, ==, 1);
    g_assert_no_error(x->r.err);
    g_assert_cmpint(va_test_result_int(&x->r), ==, size);
    /* The receiver held at most the window, and credit did hold it. */
    g_assert_cmpuint(rx->max_unconsumed, <=, rx->window);
    if (consume_step && consume_step < VA_DATA_CHUNK_MAX) {
        g_assert_cmpuint(rx->max_unconsumed, >=,
                         rx->window - rx->window / 4);
    }
    va_channel_get_stats(l.host, &st);
    g_assert_cmpuint(upload ? st.data_sent : st.data_received, ==, size);
    g_assert_cmpuint(st.data_received_raw, ==, raw ? size : 0);
    g_assert_cmpuint(st.stray_data, ==, 0);
    if (!chunk) {
        /* All checked: no frame holds more than the limit. */
        g_assert_cmpuint(l.data_segments, >=,
                         size / (raw ? VA_DATA_WIRE_MAX : VA_DATA_CHUNK_MAX));
    }
    check_quiet(&l);
    host_xfer_free(x);
    link_destroy(&l);
}

static void test_upload(void)
{
    transfer(true, BIG, 0, 16 * 1024, false, 0);
    transfer(true, BIG, 0, 0, false, 0);
    transfer(true, 1024 * 1024, 4093, 0, false, 0);
}

static void test_download(void)
{
    transfer(false, BIG, 0, 16 * 1024, false, 0);
    transfer(false, BIG, 0, 0, false, 0);
    transfer(false, 1024 * 1024, 4093, 0, false, 0);
}

/* The guest's raw frames carry 0xFF unescaped, split as the port likes. */
static void test_download_raw(void)
{
    transfer(false, BIG, 0, 16 * 1024, true, 0);
    transfer(false, BIG, 0, 0, true, 0);
    transfer(false, 1024 * 1024, 4093, 0, true, 0);
    transfer(false, 1024 * 1024, 1, 0, true, 0);
}

/* A receiver that grants more than the first window is sent as much. */
static void test_download_window(void)
{
    transfer(false, BIG, 0, 16 * 1024, true, 1024 * 1024);
    transfer(false, BIG, 0, 16 * 1024, false, 1024 * 1024);
    transfer(false, BIG, 4093, 0, true, 4 * 1024 * 1024);
}

/*
 * One full raw chunk (128 KiB with its header's room): the buffer the
 * guest asks for after it is a new chunk, and goes unsent when nothing
 * is committed to it, not as an empty DATA frame.
 */
static void test_raw_unused_buffer(void)
{
    const size_t size = VA_DATA_WIRE_MAX - VA_DATA_HEADER_MAX;
    Link l;
    HostXfer *x;

    link_init(&l);
    l.raw = true;
    l.get_size = size;
    x = host_start(&l, "t.get", size, 0);
    link_run(&l);
    g_assert_cmpuint(x->rx.got, ==, size);
    g_assert_cmpint(x->how, ==, VA_STREAM_END_OK);
    g_assert_no_error(x->r.err);
    check_quiet(&l);
    host_xfer_free(x);
    link_destroy(&l);
}

/*
 * A guest refuses raw data from its host: the upload's first frame is
 * dropped as malformed, which fails the stream; the guest answers a
 * fault and the host's call ends with it, no byte delivered.
 */
static void test_raw_upload_refused(void)
{
    Link l;
    HostXfer *x;
    GuestJob *g;
    VAChannelStats st;

    link_init(&l);
    l.raw = true;
    x = host_start(&l, "t.put", 1024 * 1024, 0);
    link_run(&l);
    g = l.guest_jobs->pdata[0];
    g_assert_cmpuint(g->rx.got, ==, 0);
    g_assert_cmpint(g->ends, ==, 1);
    g_assert_cmpint(g->how, ==, VA_STREAM_END_ABORT);
    g_assert_cmpint(x->ends, ==, 1);
    g_assert_cmpint(x->how, ==, VA_STREAM_END_ABORT);
    g_assert_error(x->r.err, VA_FAULT, VA_FAULT_FAILED);
    va_channel_get_stats(l.guest, &st);
    g_assert_cmpuint(st.bad_frames, >=, 1);
    g_assert_cmpuint(st.streams_failed, ==, 1);
    host_xfer_free(x);
    link_destroy(&l);
}

/* Cancel (or time out) mid-way; the peer hears, late frames are strays. */
static void cancel_midway(bool upload, bool timeout)
{
    Link l;
    HostXfer *x;
    GuestJob *g;
    VAChannelStats st;

    link_init(&l);
    l.get_size = BIG;
    x = host_start(&l, upload ? "t.put" : "t.get", BIG, 60000);
    if (!upload && !timeout) {
        x->cancel_after = 1024 * 1024;
    }
    while (!l.guest_jobs->len) {
        g_assert_true(link_step(&l));
    }
    g = l.guest_jobs->pdata[0];
    while ((upload ? g->rx.got : x->rx.got) < 1024 * 1024 && x->rx.s) {
        g_assert_true(link_step(&l));
    }
    if (timeout) {
        l.now += 60000;
        va_channel_run_timers(l.host);
    } else if (upload) {
        g_assert_true(va_channel_cancel(l.host, x->id));
    }
    g_assert_cmpint(x->ends, ==, 1);
    g_assert_cmpint(x->how, ==, VA_STREAM_END_ABORT);
    g_assert_true(x->ended_before_done);
    g_assert_cmpint(x->r.completions, ==, 1);
    if (timeout) {
        g_assert_error(x->r.err, VA_ERROR, VA_ERROR_TIMEOUT);
    } else {
        g_assert_error(x->r.err, VA_ERROR, VA_ERROR_CANCELLED);
    }
    link_run(&l);
    g_assert_cmpint(g->ends, ==, 1);
    g_assert_cmpint(g->how, ==, VA_STREAM_END_ABORT);
    g_assert_true(g->answered);
    g_assert_cmpuint(upload ? g->rx.got : x->rx.got, <, BIG);
    va_channel_get_stats(l.host, &st);
    g_assert_cmpuint(st.stray_replies, ==, 1);  /* the guest's fault */
    if (!upload) {
        /* DATA the guest had queued before it heard. */
        g_assert_cmpuint(st.stray_data, >=, 1);
    }
    g_assert_cmpint(x->r.completions, ==, 1);
    g_assert_cmpint(x->ends, ==, 1);
    check_quiet(&l);
    host_xfer_free(x);
    link_destroy(&l);
}

static void test_cancel(void)
{
    cancel_midway(true, false);
    cancel_midway(false, false);
    cancel_midway(true, true);
    cancel_midway(false, true);
}

static void test_reset_mid_stream(void)
{
    for (int upload = 0; upload < 2; upload++) {
        Link l;
        HostXfer *x;
        GuestJob *g;
        Probe probe = { 0 };
        uint64_t none = 0;
        g_autofree char *pong = NULL;

        link_init(&l);
        l.get_size = BIG;
        x = host_start(&l, upload ? "t.put" : "t.get", BIG, 0);
        while (!l.guest_jobs->len) {
            g_assert_true(link_step(&l));
        }
        g = l.guest_jobs->pdata[0];
        while ((upload ? g->rx.got : x->rx.got) < 1024 * 1024) {
            g_assert_true(link_step(&l));
        }
        va_channel_reset(l.host, "test");
        va_channel_reset(l.guest, "test");
        g_assert_cmpint(x->ends, ==, 1);
        g_assert_cmpint(x->how, ==, VA_STREAM_END_ABORT);
        g_assert_true(x->ended_before_done);
        g_assert_error(x->r.err, VA_ERROR, VA_ERROR_DISCONNECTED);
        g_assert_cmpint(g->ends, ==, 1);
        g_assert_cmpint(g->how, ==, VA_STREAM_END_ABORT);
        check_quiet(&l);
        /* The channel works on. */
        probe_start(&l, &probe, &none);
        link_run(&l);
        pong = va_test_result_string(&probe.r);
        g_assert_cmpstr(pong, ==, "pong");
        va_test_result_clear(&probe.r);
        host_xfer_free(x);
        link_destroy(&l);
    }
}

static void test_stray_data(void)
{
    Link l;
    g_autoptr(GByteArray) in = g_byte_array_new();
    VAChannelStats st;

    link_init(&l);
    va_frame_encode_data(in, "nobody.1", 0, VA_FRAME_END_NONE, "abc", 3);
    va_frame_encode_credit(in, "nobody.2", 0, true);
    va_frame_encode_data(in, "nobody.3", 0, VA_FRAME_END_ABORT, NULL, 0);
    /* A grant crossing the End in a normal transfer: no count. */
    va_frame_encode_credit(in, "nobody.4", 4096, false);
    va_channel_input(l.host, in->data, in->len);
    va_channel_get_stats(l.host, &st);
    g_assert_cmpuint(st.stray_data, ==, 3);
    g_assert_cmpuint(st.bad_frames, ==, 0);
    g_assert_null(va_channel_call_stream(l.host, 12345, VA_STREAM_UPLOAD,
                                         &host_ops, NULL));
    link_destroy(&l);
}

/*
 * Held calls with download streams get bad data (past the credit, out of
 * order, badly escaped): each fails alone, while an upload, a ping and
 * the channel go on.
 */
static void test_bad_data_fails_one_stream(void)
{
    Link l;
    HostXfer *up;
    HostXfer *bad[3];
    Probe probe = { 0 };
    GuestJob *g;
    g_autofree uint8_t *zeros = g_malloc0(VA_DATA_CHUNK_MAX);
    g_autoptr(GByteArray) in = g_byte_array_new();
    g_autofree char *hdr = NULL;
    VAChannelStats st;

    link_init(&l);
    for (int i = 0; i < 3; i++) {
        bad[i] = host_start(&l, "t.hold", 0, 0);
        bad[i]->rx.hold = true;
    }
    up = host_start(&l, "t.put", 2 * 1024 * 1024, 0);
    while (!l.guest_jobs->len || l.held->len < 3) {
        g_assert_true(link_step(&l));
    }
    g = l.guest_jobs->pdata[0];
    while (g->rx.got < 512 * 1024) {
        g_assert_true(link_step(&l));
    }
    /* The guest sends only small frames: the host's parser is between. */
    for (uint64_t off = 0; off < VA_STREAM_WINDOW; off += VA_DATA_CHUNK_MAX) {
        va_frame_encode_data(in, va_stream_tag(bad[0]->rx.s), off,
                             VA_FRAME_END_NONE, zeros, VA_DATA_CHUNK_MAX);
    }
    va_channel_input(l.host, in->data, in->len);
    g_assert_cmpint(bad[0]->ends, ==, 0);
    g_assert_cmpuint(bad[0]->rx.unconsumed, ==, VA_STREAM_WINDOW);
    g_byte_array_set_size(in, 0);
    va_frame_encode_data(in, va_stream_tag(bad[0]->rx.s), VA_STREAM_WINDOW,
                         VA_FRAME_END_NONE, "x", 1);
    va_frame_encode_data(in, va_stream_tag(bad[1]->rx.s), 5,
                         VA_FRAME_END_NONE, "x", 1);
    hdr = g_strdup_printf("\xff" "DATA VA/1\r\nContent-Length: 2\r\n"
                          "X-Virtagent-Offset: 0\r\n"
                          "X-Virtagent-Client-Tag: %s\r\n\r\n\xfe\x01",
                          va_stream_tag(bad[2]->rx.s));
    g_byte_array_append(in, (const guint8 *)hdr, strlen(hdr));
    va_channel_input(l.host, in->data, in->len);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(bad[i]->ends, ==, 1);
        g_assert_cmpint(bad[i]->how, ==, VA_STREAM_END_ABORT);
        g_assert_true(bad[i]->ended_before_done);
        g_assert_error(bad[i]->r.err, VA_ERROR, VA_ERROR_PROTOCOL);
    }
    probe_start(&l, &probe, &g->rx.got);
    link_run(&l);
    check_probe(&probe, 2 * 1024 * 1024);
    g_assert_cmpuint(g->rx.got, ==, 2 * 1024 * 1024);
    g_assert_cmpint(up->r.completions, ==, 1);
    g_assert_no_error(up->r.err);
    va_channel_get_stats(l.host, &st);
    g_assert_cmpuint(st.streams_failed, ==, 3);
    g_assert_cmpuint(st.bad_frames, ==, 1);     /* the bad escape */
    va_channel_get_stats(l.guest, &st);
    g_assert_cmpuint(st.stray_data, ==, 3);     /* the CREDIT aborts */
    for (int i = 0; i < 3; i++) {
        host_xfer_free(bad[i]);
    }
    host_xfer_free(up);
    link_destroy(&l);
}

/*
 * The callee gives up (a full disk): the caller's stream ends, then the
 * fault arrives.
 */
static void test_callee_aborts_upload(void)
{
    Link l;
    HostXfer *x;
    GuestJob *g;

    link_init(&l);
    l.put_fail_after = 1024 * 1024;
    x = host_start(&l, "t.put", BIG, 0);
    link_run(&l);
    g = l.guest_jobs->pdata[0];
    g_assert_cmpint(g->ends, ==, 1);
    g_assert_cmpint(g->how, ==, VA_STREAM_END_ABORT);
    g_assert_cmpint(x->ends, ==, 1);
    g_assert_cmpint(x->how, ==, VA_STREAM_END_ABORT);
    g_assert_true(x->ended_before_done);
    g_assert_error(x->r.err, VA_FAULT, VA_FAULT_FAILED);
    g_assert_cmpuint(x->sent, <, BIG);
    check_quiet(&l);
    host_xfer_free(x);
    link_destroy(&l);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/stream/upload", test_upload);
    g_test_add_func("/stream/download", test_download);
    g_test_add_func("/stream/download-raw", test_download_raw);
    g_test_add_func("/stream/download-window", test_download_window);
    g_test_add_func("/stream/raw-unused-buffer", test_raw_unused_buffer);
    g_test_add_func("/stream/raw-upload-refused", test_raw_upload_refused);
    g_test_add_func("/stream/cancel", test_cancel);
    g_test_add_func("/stream/reset-mid-stream", test_reset_mid_stream);
    g_test_add_func("/stream/stray-data", test_stray_data);
    g_test_add_func("/stream/bad-data-fails-one-stream",
                    test_bad_data_fails_one_stream);
    g_test_add_func("/stream/callee-aborts-upload",
                    test_callee_aborts_upload);
    return g_test_run();
}
