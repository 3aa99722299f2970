/*
 * virtagent - fuzz target: the frame parser
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The input is the byte stream a hostile peer writes. It is parsed whole,
 * one byte at a time and in chunks of 7: each frame must keep to the
 * limits and carry a valid tag, every byte must be consumed, and the
 * three parses must see the same frames and errors, since a peer decides
 * how its bytes are split, DATA bodies decoded across the splits. An
 * input whose first byte is odd is parsed as a host parses, raw DATA
 * bodies accepted; else they must be refused. Build with "make fuzz"
 * (clang, libFuzzer).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "va-errors.h"
#include "va-frame.h"

#define MAX_BODY 1024
#define MAX_CALL 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;

    while (n--) {
        h = (h ^ *p++) * 16777619u;
    }
    return h;
}

static size_t max_len(VAFrameKind kind, bool raw)
{
    switch (kind) {
    case VA_FRAME_CALL:
        return MAX_CALL;
    case VA_FRAME_REPLY:
        return MAX_BODY;
    case VA_FRAME_DATA:
        /* decoded, whatever max_body says */
        return raw ? VA_DATA_WIRE_MAX : VA_DATA_CHUNK_MAX;
    case VA_FRAME_CREDIT:
        return 0;
    }
    abort();
}

/* What the parser saw, one line per frame or error. */
static GString *parse(const uint8_t *data, size_t size, size_t chunk)
{
    GString *seen = g_string_new(NULL);
    bool accept_raw = size && (data[0] & 1);
    VAFrameParser p;

    va_frame_parser_init(&p, MAX_BODY);
    va_frame_parser_limit_calls(&p, MAX_CALL);
    va_frame_parser_accept_raw(&p, accept_raw);
    for (size_t off = 0; off < size; off += chunk) {
        const uint8_t *buf = data + off;
        size_t len = MIN(chunk, size - off);

        while (len) {
            VAFrame frame;
            VAFrameError err;
            size_t used = 0;

            switch (va_frame_parser_feed(&p, buf, len, &used, &frame,
                                         &err)) {
            case VA_PARSE_FRAME:
                if (frame.len > max_len(frame.kind, frame.raw) ||
                    !va_tag_valid(frame.tag, strlen(frame.tag)) ||
                    (frame.len && !frame.body) ||
                    (frame.raw && !accept_raw) ||
                    (frame.kind == VA_FRAME_DATA &&
                     (frame.end != VA_FRAME_END_NONE) == (frame.len != 0))) {
                    abort();
                }
                g_string_append_printf(seen, "frame %d %s %zu %08x %"
                                       G_GUINT64_FORMAT " %d %d %"
                                       G_GUINT64_FORMAT " %d\n",
                                       frame.kind, frame.tag, frame.len,
                                       fnv1a(frame.body, frame.len),
                                       frame.offset, frame.end, frame.raw,
                                       frame.credit, frame.credit_abort);
                break;
            case VA_PARSE_ERROR:
                if (err.fault != VA_FAULT_MALFORMED &&
                    err.fault != VA_FAULT_TOO_LARGE) {
                    abort();
                }
                g_string_append_printf(seen, "error %d %d %s %s\n",
                                       err.fault, err.has_kind, err.tag,
                                       err.reason);
                break;
            case VA_PARSE_MORE:
                if (used != len) {
                    abort();
                }
                break;
            }
            if (used > len || (!used && len)) {
                abort();
            }
            buf += used;
            len -= used;
        }
    }
    g_string_append_printf(seen, "garbage %" G_GUINT64_FORMAT "\n",
                           p.garbage);
    va_frame_parser_destroy(&p);
    return seen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GString *whole = parse(data, size, size ? size : 1);
    GString *bytes = parse(data, size, 1);
    GString *sevens = parse(data, size, 7);

    if (!g_string_equal(whole, bytes) || !g_string_equal(whole, sevens)) {
        abort();
    }
    g_string_free(whole, TRUE);
    g_string_free(bytes, TRUE);
    g_string_free(sevens, TRUE);
    return 0;
}
