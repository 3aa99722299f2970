/*
 * virtagent - tests of the writer
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE     /* memmem */
#include <string.h>

#include "va-writer.h"

/* Drain @w in writes of at most @chunk bytes; all that was written. */
static GByteArray *drain(VAWriter *w, size_t chunk)
{
    GByteArray *all = g_byte_array_new();
    const uint8_t *buf;
    size_t len;

    while ((buf = va_writer_peek(w, &len)) && len) {
        len = MIN(len, chunk);
        g_byte_array_append(all, buf, len);
        va_writer_consumed(w, len);
    }
    g_assert_cmpuint(w->pending, ==, 0);
    return all;
}

/* What va_frame_encode() makes of the same frames. */
static GByteArray *expected(GBytes **bodies, int n)
{
    GByteArray *all = g_byte_array_new();

    for (int i = 0; i < n; i++) {
        gsize len;
        const void *data = g_bytes_get_data(bodies[i], &len);
        g_autofree char *tag = g_strdup_printf("t.%d", i);

        va_frame_encode(all, i % 2 ? VA_FRAME_REPLY : VA_FRAME_CALL, tag,
                        data, len);
    }
    return all;
}

static GBytes *body_of(size_t len, char fill)
{
    return g_bytes_new_take(g_strnfill(len, fill), len);
}

/* Small and large frames mixed, drained in any chunk size: same bytes. */
static void test_stream(void)
{
    static const size_t sizes[] = { 10, 200000, 5, 16 * 1024, 70000, 0 };
    static const size_t chunks[] = { 1, 7, 4096, 1 << 20 };
    GBytes *bodies[G_N_ELEMENTS(sizes)];

    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        bodies[i] = body_of(sizes[i], 'a' + i);
    }
    for (size_t c = 0; c < G_N_ELEMENTS(chunks); c++) {
        g_autoptr(GByteArray) want = expected(bodies, G_N_ELEMENTS(sizes));
        g_autoptr(GByteArray) got = NULL;
        VAWriter w;
        uint64_t end = 0;

        va_writer_init(&w);
        for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
            g_autofree char *tag = g_strdup_printf("t.%zu", i);

            end = va_writer_frame(&w, i % 2 ? VA_FRAME_REPLY : VA_FRAME_CALL,
                                  tag, bodies[i]);
        }
        g_assert_cmpuint(end, ==, want->len);
        g_assert_cmpuint(w.pending, ==, want->len);
        got = drain(&w, chunks[c]);
        g_assert_cmpmem(got->data, got->len, want->data, want->len);
        g_assert_cmpuint(w.written, ==, want->len);
        va_writer_destroy(&w);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        g_bytes_unref(bodies[i]);
    }
}

/* Small frames share one write; a large body is written from itself. */
static void test_segments(void)
{
    g_autoptr(GBytes) small = body_of(100, 's');
    g_autoptr(GBytes) large = body_of(100000, '#');
    VAWriter w;
    const uint8_t *buf;
    size_t len;

    va_writer_init(&w);
    va_writer_frame(&w, VA_FRAME_CALL, "a.1", small);
    va_writer_frame(&w, VA_FRAME_CALL, "a.2", small);
    va_writer_frame(&w, VA_FRAME_REPLY, "b.1", large);
    va_writer_frame(&w, VA_FRAME_CALL, "a.3", small);

    /* Both small frames and the large one's header, in one run. */
    buf = va_writer_peek(&w, &len);
    g_assert_nonnull(memmem(buf, len, "a.2", 3));
    g_assert_nonnull(memmem(buf, len, "b.1", 3));
    g_assert_null(memchr(buf, '#', len));
    va_writer_consumed(&w, len);

    /* The large body: its own bytes, not a copy. */
    buf = va_writer_peek(&w, &len);
    g_assert_true(buf == g_bytes_get_data(large, NULL));
    g_assert_cmpuint(len, ==, 100000);
    va_writer_consumed(&w, 99999);
    buf = va_writer_peek(&w, &len);
    g_assert_cmpuint(len, ==, 1);
    va_writer_consumed(&w, 1);

    buf = va_writer_peek(&w, &len);
    g_assert_nonnull(memmem(buf, len, "a.3", 3));
    va_writer_consumed(&w, len);
    va_writer_peek(&w, &len);
    g_assert_cmpuint(len, ==, 0);
    va_writer_destroy(&w);
}

/* Clearing drops what is unwritten; the stream offset goes on. */
static void test_clear(void)
{
    g_autoptr(GBytes) large = body_of(50000, 'x');
    VAWriter w;
    size_t len;
    uint64_t end;

    va_writer_init(&w);
    va_writer_frame(&w, VA_FRAME_CALL, "a.1", large);
    va_writer_peek(&w, &len);
    va_writer_consumed(&w, 10);
    va_writer_clear(&w);
    g_assert_cmpuint(w.pending, ==, 0);
    va_writer_peek(&w, &len);
    g_assert_cmpuint(len, ==, 0);
    end = va_writer_frame(&w, VA_FRAME_CALL, "a.2", large);
    g_assert_cmpuint(end, ==, 10 + w.pending);
    va_writer_destroy(&w);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/writer/stream", test_stream);
    g_test_add_func("/writer/segments", test_segments);
    g_test_add_func("/writer/clear", test_clear);
    return g_test_run();
}
