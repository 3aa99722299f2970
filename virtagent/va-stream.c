/*
 * virtagent - data streams
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A sender escapes what it is given straight into chunks of at most
 * VA_DATA_CHUNK_MAX decoded bytes (the one copy on this side), or copies
 * it as it is once told to send raw, behind room for the frame's header;
 * the channel hands whole frames to the writer, which references them as
 * segments of their own. A receiver
 * delivers each DATA frame's decoded body as the parser made it.
 */
#include <string.h>

#include "va-errors.h"
#include "va-stream-int.h"

/*
 * A chunk's whole frame fills at most two of a virtio console's writes:
 * Linux's virtio_console takes at most 32 KiB per write(), each a buffer
 * and a kick of its own, and 64 KiB decoded plus its escapes and header
 * took three, the last one small.
 */
#define VA_DATA_FRAME_TARGET (64 * 1024)
/*
 * A raw frame may be as large on the wire as an escaped one can be: four
 * such writes, half the frames, preads, credits and host wake-ups per
 * byte (a get went from 149 to 198 MB/s under TCG).
 */
#define VA_DATA_RAW_TARGET VA_DATA_WIRE_MAX

/* A chunk's frame on the wire, header room included, and its bytes. */
static size_t chunk_target(bool raw)
{
    return raw ? VA_DATA_RAW_TARGET : VA_DATA_FRAME_TARGET;
}

static size_t chunk_max(bool raw)
{
    return raw ? VA_DATA_RAW_TARGET - VA_DATA_HEADER_MAX : VA_DATA_CHUNK_MAX;
}

typedef enum AbortFrame {
    NO_FRAME,
    END_ABORT,              /* we sent: DATA with End: abort */
    CREDIT_ABORT,           /* we received: CREDIT abort */
} AbortFrame;

typedef struct VAChunk {
    GByteArray *wire;       /* header room, then the body as sent */
    size_t end;             /* bytes used in wire */
    size_t len;             /* decoded */
    bool full;
    bool raw;               /* the body is not escaped */
    uint64_t offset;
} VAChunk;

struct VAStream {
    VAStreams *t;
    unsigned refs;          /* the table's, and callbacks running */
    char tag[VA_TAG_MAX_LEN + 1];
    VAStreamOps ops;
    void *opaque;
    VACallId id;            /* caller side: our call; else 0 */
    VAServerJob *job;       /* callee side */
    bool sender;
    bool ended;
    bool blocked;           /* room ran out: say writable when it grows */
    bool finishing;         /* End ok goes after the queued data */
    bool raw;               /* send unescaped from now on */
    bool end_queued;        /* End ok is in the writer: end OK */
    bool in_ready, in_credit, in_wake;
    GList ready_link, credit_link, wake_link;
    /* Sender. */
    uint64_t offset;        /* bytes taken by va_stream_send() */
    uint64_t credit;        /* the receiver's grant */
    GQueue chunks;          /* VAChunk, not yet in the writer */
    size_t buffered;        /* decoded bytes in chunks */
    /* Receiver. */
    size_t window;          /* what it grants past what was consumed */
    uint64_t received;
    uint64_t consumed;
    uint64_t granted;
};

void va_streams_init(VAStreams *t, VAChannel *ch, VAManager *mgr,
                     VAWriter *writer)
{
    memset(t, 0, sizeof(*t));
    t->ch = ch;
    t->mgr = mgr;
    t->writer = writer;
    t->by_tag = g_hash_table_new(g_str_hash, g_str_equal);
    t->by_call = g_hash_table_new(g_int64_hash, g_int64_equal);
}

void va_streams_destroy(VAStreams *t)
{
    va_streams_reset(t);
    g_hash_table_destroy(t->by_tag);
    g_hash_table_destroy(t->by_call);
}

unsigned va_streams_open(VAStreams *t)
{
    return g_hash_table_size(t->by_tag);
}

static void chunk_free(gpointer p)
{
    VAChunk *c = p;

    g_byte_array_unref(c->wire);
    g_free(c);
}

static void stream_ref(VAStream *s)
{
    s->refs++;
}

static void stream_unref(VAStream *s)
{
    if (--s->refs == 0) {
        g_queue_clear_full(&s->chunks, chunk_free);
        g_free(s);
    }
}

static void queue_in(GQueue *q, GList *link, bool *in, VAStream *s)
{
    if (!*in) {
        link->data = s;
        g_queue_push_tail_link(q, link);
        *in = true;
    }
}

static void queue_out(GQueue *q, GList *link, bool *in)
{
    if (*in) {
        g_queue_unlink(q, link);
        *in = false;
    }
}

static void kick(VAStreams *t)
{
    va_channel_stream_kick(t->ch);
}

size_t va_stream_room(VAStream *s)
{
    if (!s->sender || s->ended || s->finishing) {
        return 0;
    }
    return MIN(s->credit - s->offset, VA_STREAM_SEND_BUF - s->buffered);
}

/* Room grew: a stream that ran out hears of it from the pump. */
static void check_writable(VAStream *s)
{
    if (s->blocked && va_stream_room(s)) {
        queue_in(&s->t->wake, &s->wake_link, &s->in_wake, s);
    }
}

/*
 * The one way a stream ends: out of every table, the peer told with
 * @frame if it must be, then the end callback, then freed unless a
 * callback up the stack still holds it.
 */
static void stream_end(VAStream *s, VAStreamEnd how, AbortFrame frame)
{
    VAStreams *t = s->t;

    if (s->ended) {
        return;
    }
    s->ended = true;
    queue_out(&t->ready, &s->ready_link, &s->in_ready);
    queue_out(&t->credit, &s->credit_link, &s->in_credit);
    queue_out(&t->wake, &s->wake_link, &s->in_wake);
    g_hash_table_remove(t->by_tag, s->tag);
    if (s->id) {
        g_hash_table_remove(t->by_call, &s->id);
    }
    if (frame != NO_FRAME && !t->quiet) {
        if (frame == END_ABORT) {
            va_writer_data_end(t->writer, s->tag, s->offset - s->buffered,
                               VA_FRAME_END_ABORT);
        } else {
            va_writer_credit(t->writer, s->tag, 0, true);
        }
        kick(t);
    }
    g_queue_clear_full(&s->chunks, chunk_free);
    s->buffered = 0;
    if (s->ops.end) {
        s->ops.end(s, how, s->opaque);
    }
    stream_unref(s);
}

static VAStream *stream_new(VAStreams *t, const char *tag, VAStreamDir dir,
                            bool caller, const VAStreamOps *ops,
                            void *opaque)
{
    VAStream *s;

    if (g_hash_table_contains(t->by_tag, tag)) {
        return NULL;
    }
    s = g_new0(VAStream, 1);
    s->t = t;
    s->refs = 1;
    g_strlcpy(s->tag, tag, sizeof(s->tag));
    s->ops = *ops;
    s->opaque = opaque;
    s->sender = (dir == VA_STREAM_UPLOAD) == caller;
    g_queue_init(&s->chunks);
    if (s->sender) {
        /* An upload waits for the callee's first grant. */
        s->credit = dir == VA_STREAM_DOWNLOAD ? VA_STREAM_WINDOW : 0;
        s->blocked = !s->credit;
    } else {
        s->window = VA_STREAM_WINDOW;
        s->granted = VA_STREAM_WINDOW;
    }
    g_hash_table_insert(t->by_tag, s->tag, s);
    return s;
}

VAStream *va_channel_call_stream(VAChannel *ch, VACallId id, VAStreamDir dir,
                                 const VAStreamOps *ops, void *opaque)
{
    VAStreams *t = va_channel_streams(ch);
    const char *tag = va_manager_call_tag(t->mgr, id);
    VAStream *s;

    if (!tag || g_hash_table_contains(t->by_call, &id)) {
        return NULL;
    }
    s = stream_new(t, tag, dir, true, ops, opaque);
    if (s) {
        s->id = id;
        g_hash_table_insert(t->by_call, &s->id, s);
    }
    return s;
}

VAStream *va_server_job_stream(VAServerJob *job, VAStreamDir dir,
                               const VAStreamOps *ops, void *opaque)
{
    VAStreams *t = va_channel_streams(job->owner);
    VAStream *s;

    if (job->orphaned) {
        return NULL;
    }
    s = stream_new(t, job->tag, dir, false, ops, opaque);
    if (s) {
        s->job = job;
        if (!s->sender) {
            /* The caller sends nothing before this grant. */
            queue_in(&t->credit, &s->credit_link, &s->in_credit, s);
            kick(t);
        }
    }
    return s;
}

/* The chunk the next bytes go into: the last, or a new one. */
static VAChunk *tail_chunk(VAStream *s)
{
    VAChunk *c = g_queue_peek_tail(&s->chunks);

    if (!c || c->full || c->raw != s->raw) {
        c = g_new(VAChunk, 1);
        c->wire = g_byte_array_sized_new(chunk_target(s->raw));
        g_byte_array_set_size(c->wire, chunk_target(s->raw));
        /* The header goes in front once the body's length is known. */
        c->end = VA_DATA_HEADER_MAX;
        c->len = 0;
        c->full = false;
        c->raw = s->raw;
        c->offset = s->offset;
        g_queue_push_tail(&s->chunks, c);
    }
    return c;
}

/* @n bytes (@wire on the wire) went into @c; @want was its room. */
static void chunk_took(VAStream *s, VAChunk *c, size_t n, size_t wire,
                       size_t want)
{
    c->end += wire;
    c->full = n < want || c->len + n == chunk_max(c->raw);
    c->len += n;
    s->offset += n;
    s->buffered += n;
    s->t->sent += n;
}

/* After bytes were queued: out of room, and ready for the writer. */
static void sent(VAStream *s)
{
    if (!va_stream_room(s)) {
        s->blocked = true;
    }
    if (s->buffered) {
        queue_in(&s->t->ready, &s->ready_link, &s->in_ready, s);
        kick(s->t);
    }
}

bool va_stream_send(VAStream *s, const void *buf, size_t len)
{
    const uint8_t *src = buf;

    if (len > va_stream_room(s)) {
        s->blocked = true;
        return false;
    }
    while (len) {
        VAChunk *c = tail_chunk(s);
        size_t want = MIN(len, chunk_max(c->raw) - c->len);
        size_t n = want;
        size_t wire;

        if (c->raw) {
            memcpy(c->wire->data + c->end, src, n);
            wire = n;
        } else {
            wire = va_data_escape_upto(c->wire->data + c->end,
                                       VA_DATA_FRAME_TARGET - c->end, src,
                                       &n);
        }
        chunk_took(s, c, n, wire, want);
        src += n;
        len -= n;
    }
    sent(s);
    return true;
}

uint8_t *va_stream_send_buffer(VAStream *s, size_t *len)
{
    size_t room = va_stream_room(s);
    VAChunk *c;

    *len = 0;
    if (!s->raw) {
        return NULL;
    }
    if (!room) {
        s->blocked = true;
        return NULL;
    }
    c = tail_chunk(s);
    *len = MIN(room, chunk_max(true) - c->len);
    return c->wire->data + c->end;
}

void va_stream_send_commit(VAStream *s, size_t len)
{
    VAChunk *c = g_queue_peek_tail(&s->chunks);

    g_assert(s->raw && c && c->raw && len <= chunk_max(true) - c->len &&
             len <= va_stream_room(s));
    chunk_took(s, c, len, len, len);
    sent(s);
}

void va_stream_send_raw(VAStream *s)
{
    s->raw = true;
}

void va_stream_finish(VAStream *s)
{
    if (!s->sender || s->ended || s->finishing) {
        return;
    }
    s->finishing = true;
    queue_in(&s->t->ready, &s->ready_link, &s->in_ready, s);
    kick(s->t);
}

void va_stream_abort(VAStream *s)
{
    if (s->ended) {
        return;
    }
    if (s->end_queued) {
        /* Every byte and the End went out already: nothing to stop. */
        stream_end(s, VA_STREAM_END_ABORT, NO_FRAME);
        return;
    }
    stream_end(s, VA_STREAM_END_ABORT, s->sender ? END_ABORT : CREDIT_ABORT);
}

void va_stream_consumed(VAStream *s, size_t len)
{
    if (s->sender || s->ended) {
        return;
    }
    s->consumed = MIN(s->consumed + len, s->received);
    /* Absolute offsets, in steps: a CREDIT per quarter window. */
    if (s->consumed + s->window - s->granted >= s->window / 4) {
        s->granted = s->consumed + s->window;
        queue_in(&s->t->credit, &s->credit_link, &s->in_credit, s);
        kick(s->t);
    }
}

void va_stream_set_window(VAStream *s, size_t window)
{
    if (!s->sender) {
        s->window = CLAMP(window, VA_STREAM_WINDOW, VA_STREAM_WINDOW_MAX);
    }
}

uint64_t va_stream_offset(VAStream *s)
{
    return s->sender ? s->offset : s->received;
}

VAChannel *va_stream_channel(VAStream *s)
{
    return s->t->ch;
}

const char *va_stream_tag(VAStream *s)
{
    return s->tag;
}

/*
 * The peer broke the stream we receive: tell it, and fail our call if it
 * is ours, since its answer would describe data we did not take.
 */
static void stream_fail(VAStream *s, const char *reason)
{
    VAStreams *t = s->t;
    VACallId id = s->id;

    t->failed++;
    stream_end(s, VA_STREAM_END_ABORT, CREDIT_ABORT);
    if (id) {
        g_autoptr(GError) err = g_error_new(VA_ERROR, VA_ERROR_PROTOCOL,
                                            "bad data stream: %s", reason);

        va_manager_fail_call(t->mgr, id, err);
    }
}

static void data_in(VAStream *s, const VAFrame *f)
{
    VAStreams *t = s->t;

    if (f->offset != s->received) {
        stream_fail(s, "data out of order");
        return;
    }
    if (f->end != VA_FRAME_END_NONE) {
        stream_end(s, f->end == VA_FRAME_END_OK ? VA_STREAM_END_OK
                                                : VA_STREAM_END_ABORT,
                   NO_FRAME);
        return;
    }
    if (f->len > s->granted - s->received) {
        stream_fail(s, "data past the credit");
        return;
    }
    s->received += f->len;
    t->received += f->len;
    if (f->raw) {
        t->received_raw += f->len;
    }
    if (!s->ops.data) {
        va_stream_consumed(s, f->len);
        return;
    }
    stream_ref(s);
    s->ops.data(s, f->body, f->len, s->opaque);
    stream_unref(s);
}

void va_streams_input(VAStreams *t, const VAFrame *f)
{
    VAStream *s = g_hash_table_lookup(t->by_tag, f->tag);

    /*
     * Frames for a stream that ended, or the wrong way: dropped. Grants
     * are not counted: a receiver's CREDIT crosses the End on the wire
     * in a normal transfer.
     */
    if (!s || s->sender != (f->kind == VA_FRAME_CREDIT)) {
        if (f->kind == VA_FRAME_DATA || f->credit_abort) {
            t->stray++;
        }
        return;
    }
    if (f->kind == VA_FRAME_DATA) {
        data_in(s, f);
    } else if (f->credit_abort) {
        stream_end(s, VA_STREAM_END_ABORT, NO_FRAME);
    } else if (f->credit > s->credit) {
        s->credit = f->credit;
        check_writable(s);
    }
}

void va_streams_frame_error(VAStreams *t, const VAFrameError *e)
{
    VAStream *s;

    if (!e->has_kind || !e->tag[0] ||
        (e->kind != VA_FRAME_DATA && e->kind != VA_FRAME_CREDIT)) {
        return;
    }
    s = g_hash_table_lookup(t->by_tag, e->tag);
    if (!s) {
        return;
    }
    if (!s->sender && e->kind == VA_FRAME_DATA) {
        stream_fail(s, e->reason);
    } else if (s->sender && e->kind == VA_FRAME_CREDIT) {
        t->failed++;
        stream_end(s, VA_STREAM_END_ABORT, END_ABORT);
    }
}

void va_streams_call_ended(VAStreams *t, VACallId id, bool answered)
{
    VAStream *s;

    if (!g_hash_table_size(t->by_call) ||
        !(s = g_hash_table_lookup(t->by_call, &id))) {
        return;
    }
    if (s->sender) {
        /* Answered early (the callee gave up): it wants no more data. */
        stream_end(s, s->end_queued ? VA_STREAM_END_OK : VA_STREAM_END_ABORT,
                   s->end_queued || answered ? NO_FRAME : END_ABORT);
    } else {
        stream_end(s, answered ? VA_STREAM_END_OK : VA_STREAM_END_ABORT,
                   answered ? NO_FRAME : CREDIT_ABORT);
    }
}

/*
 * Hand the writer the stream's oldest chunk, its header in front. One
 * that a buffer was given for and nothing committed to goes unsent.
 */
static void queue_chunk(VAStream *s)
{
    VAChunk *c = g_queue_pop_head(&s->chunks);
    g_autoptr(GByteArray) header = NULL;
    g_autoptr(GBytes) wire = NULL;
    g_autoptr(GBytes) frame = NULL;
    size_t start;

    if (!c->len) {
        chunk_free(c);
        return;
    }
    header = g_byte_array_sized_new(VA_DATA_HEADER_MAX);
    va_frame_encode_data_header(header, s->tag, c->offset, VA_FRAME_END_NONE,
                                c->raw, c->end - VA_DATA_HEADER_MAX);
    g_assert(header->len <= VA_DATA_HEADER_MAX);
    start = VA_DATA_HEADER_MAX - header->len;
    memcpy(c->wire->data + start, header->data, header->len);
    g_byte_array_set_size(c->wire, c->end);
    wire = g_byte_array_free_to_bytes(c->wire);
    frame = g_bytes_new_from_bytes(wire, start, c->end - start);
    va_writer_data(s->t->writer, frame);
    s->buffered -= c->len;
    g_free(c);
    check_writable(s);
}

void va_streams_job_answered(VAStreams *t, VAServerJob *job)
{
    VAStream *s;

    if (!g_hash_table_size(t->by_tag) ||
        !(s = g_hash_table_lookup(t->by_tag, job->tag)) || s->job != job) {
        return;
    }
    if (s->sender) {
        /* The answer ends a download: every byte goes out before it. */
        while (s->chunks.length) {
            queue_chunk(s);
        }
        stream_end(s, VA_STREAM_END_OK, NO_FRAME);
    } else {
        stream_end(s, VA_STREAM_END_ABORT, CREDIT_ABORT);
    }
}

void va_streams_control(VAStreams *t)
{
    GList *l;

    while ((l = g_queue_pop_head_link(&t->credit))) {
        VAStream *s = l->data;

        s->in_credit = false;
        va_writer_credit(t->writer, s->tag, s->granted, false);
    }
}

bool va_streams_next_data(VAStreams *t)
{
    GList *l = g_queue_pop_head_link(&t->ready);
    VAStream *s;

    if (!l) {
        return false;
    }
    s = l->data;
    s->in_ready = false;
    if (s->chunks.length) {
        queue_chunk(s);
    } else if (s->finishing && !s->end_queued) {
        va_writer_data_end(t->writer, s->tag, s->offset, VA_FRAME_END_OK);
        s->end_queued = true;
        queue_in(&t->wake, &s->wake_link, &s->in_wake, s);
    }
    /* Round robin: the next stream's chunk goes first. */
    if (s->chunks.length || (s->finishing && !s->end_queued)) {
        queue_in(&t->ready, &s->ready_link, &s->in_ready, s);
    }
    return true;
}

bool va_streams_run_callbacks(VAStreams *t)
{
    GList *l;
    bool ran = false;

    while ((l = g_queue_pop_head_link(&t->wake))) {
        VAStream *s = l->data;

        s->in_wake = false;
        ran = true;
        if (s->end_queued) {
            stream_end(s, VA_STREAM_END_OK, NO_FRAME);
        } else if (va_stream_room(s)) {
            s->blocked = false;
            if (s->ops.writable) {
                stream_ref(s);
                s->ops.writable(s, s->opaque);
                stream_unref(s);
            }
        }
    }
    return ran;
}

void va_streams_reset(VAStreams *t)
{
    GList *all = g_hash_table_get_values(t->by_tag);

    /*
     * All held first: an end callback may abort another stream of the
     * list, which must then stay valid until its turn.
     */
    for (GList *l = all; l; l = l->next) {
        stream_ref(l->data);
    }
    t->quiet = true;
    for (GList *l = all; l; l = l->next) {
        stream_end(l->data, VA_STREAM_END_ABORT, NO_FRAME);
    }
    t->quiet = false;
    for (GList *l = all; l; l = l->next) {
        stream_unref(l->data);
    }
    g_list_free(all);
}
