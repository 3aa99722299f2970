/*
 * virtagent - the writer
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "va-limits.h"
#include "va-writer.h"

/*
 * Bodies from this size on are referenced instead of copied: the copy of
 * a getfile answer cost more than the extra write of its own segment.
 */
#define VA_WRITER_ZERO_COPY_MIN (16 * 1024)

void va_writer_init(VAWriter *w)
{
    g_queue_init(&w->sealed);
    w->buffer = g_byte_array_new();
    w->head_pos = 0;
    w->pending = 0;
    w->written = 0;
}

void va_writer_clear(VAWriter *w)
{
    g_queue_clear_full(&w->sealed, (GDestroyNotify)g_bytes_unref);
    g_byte_array_set_size(w->buffer, 0);
    w->head_pos = 0;
    w->pending = 0;
}

void va_writer_destroy(VAWriter *w)
{
    va_writer_clear(w);
    g_byte_array_unref(w->buffer);
}

/* The buffer becomes a sealed segment; a fresh one takes its place. */
static void seal(VAWriter *w)
{
    if (w->buffer->len) {
        g_queue_push_tail(&w->sealed, g_byte_array_free_to_bytes(w->buffer));
        w->buffer = g_byte_array_new();
    }
}

/* A large body goes out as a segment of its own, referenced. */
static void push_body(VAWriter *w, GBytes *body)
{
    w->pending += g_bytes_get_size(body);
    seal(w);
    g_queue_push_tail(&w->sealed, g_bytes_ref(body));
}

uint64_t va_writer_frame(VAWriter *w, VAFrameKind kind, const char *tag,
                         GBytes *body)
{
    gsize len;
    const void *data = g_bytes_get_data(body, &len);
    size_t before = w->buffer->len;

    if (len < VA_WRITER_ZERO_COPY_MIN) {
        va_frame_encode(w->buffer, kind, tag, data, len);
        w->pending += w->buffer->len - before;
    } else {
        va_frame_encode_header(w->buffer, kind, tag, len);
        w->pending += w->buffer->len - before;
        push_body(w, body);
    }
    return w->written + w->pending;
}

uint64_t va_writer_data(VAWriter *w, GBytes *frame)
{
    gsize len = g_bytes_get_size(frame);

    if (len < VA_WRITER_ZERO_COPY_MIN) {
        g_byte_array_append(w->buffer, g_bytes_get_data(frame, NULL), len);
        w->pending += len;
    } else {
        push_body(w, frame);
    }
    return w->written + w->pending;
}

uint64_t va_writer_data_end(VAWriter *w, const char *tag, uint64_t offset,
                            VAFrameEnd end)
{
    size_t before = w->buffer->len;

    va_frame_encode_data_header(w->buffer, tag, offset, end, false, 0);
    w->pending += w->buffer->len - before;
    return w->written + w->pending;
}

uint64_t va_writer_credit(VAWriter *w, const char *tag, uint64_t credit,
                          bool abort)
{
    size_t before = w->buffer->len;

    va_frame_encode_credit(w->buffer, tag, credit, abort);
    w->pending += w->buffer->len - before;
    return w->written + w->pending;
}

const uint8_t *va_writer_peek(VAWriter *w, size_t *len)
{
    GBytes *head = g_queue_peek_head(&w->sealed);
    gsize size;
    const uint8_t *data;

    if (head) {
        data = g_bytes_get_data(head, &size);
    } else {
        data = w->buffer->data;
        size = w->buffer->len;
    }
    *len = size - w->head_pos;
    return data + w->head_pos;
}

void va_writer_consumed(VAWriter *w, size_t len)
{
    GBytes *head = g_queue_peek_head(&w->sealed);

    g_assert(len <= w->pending);
    w->head_pos += len;
    w->pending -= len;
    w->written += len;
    if (head) {
        g_assert(w->head_pos <= g_bytes_get_size(head));
        if (w->head_pos == g_bytes_get_size(head)) {
            g_bytes_unref(g_queue_pop_head(&w->sealed));
            w->head_pos = 0;
        }
        return;
    }
    if (w->head_pos == w->buffer->len) {
        g_byte_array_set_size(w->buffer, 0);
        w->head_pos = 0;
    } else if (w->head_pos >= VA_WRITER_LOW_WATER &&
               w->head_pos >= w->buffer->len / 2) {
        /*
         * Only once the written part is at least half: a buffer drained
         * in small writes (a virtio port takes a few KiB at a time)
         * would otherwise be moved down again and again.
         */
        g_byte_array_remove_range(w->buffer, 0, w->head_pos);
        w->head_pos = 0;
    }
}
