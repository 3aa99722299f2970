/*
 * virtagent - the writer: outgoing frames, drained as the I/O side can
 * take bytes
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Small frames are copied into one buffer, so that many of them go out
 * in one write; a large body is referenced, not copied, and goes out as
 * a segment of its own. The writer never blocks: the embedder takes the
 * bytes at the head (va_writer_peek) when it can and says how many it
 * wrote. It holds what the channel gives it; the channel stops giving at
 * VA_WRITER_LOW_WATER pending bytes.
 */
#ifndef VIRTAGENT_WRITER_H
#define VIRTAGENT_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <glib.h>

#include "va-frame.h"

typedef struct VAWriter {
    GQueue sealed;          /* GBytes, in order, before the buffer */
    GByteArray *buffer;     /* small frames and headers */
    size_t head_pos;        /* written bytes of the head segment */
    size_t pending;         /* unwritten bytes in all */
    uint64_t written;       /* stream offset of the first unwritten byte */
} VAWriter;

void va_writer_init(VAWriter *w);
void va_writer_destroy(VAWriter *w);
/* Drop everything unwritten. */
void va_writer_clear(VAWriter *w);

/* Queue a frame; the stream offset just past its last byte. */
uint64_t va_writer_frame(VAWriter *w, VAFrameKind kind, const char *tag,
                         GBytes *body);

/*
 * Queue a whole DATA frame, header and escaped body in one piece (one
 * segment, so one write for the port, not a small one for the header);
 * an End frame; or a CREDIT frame. The offset past it.
 */
uint64_t va_writer_data(VAWriter *w, GBytes *frame);
uint64_t va_writer_data_end(VAWriter *w, const char *tag, uint64_t offset,
                            VAFrameEnd end);
uint64_t va_writer_credit(VAWriter *w, const char *tag, uint64_t credit,
                          bool abort);

/* The next bytes to write (at most one segment), and what was written. */
const uint8_t *va_writer_peek(VAWriter *w, size_t *len);
void va_writer_consumed(VAWriter *w, size_t len);

#endif
