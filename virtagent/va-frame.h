/*
 * virtagent - framing: the 0xFF-delimited HTTP-style message layer
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Each message is 0xFF, a start line ("POST /RPC2 HTTP/1.1" for a call,
 * "HTTP/1.1 200 OK" for a reply), headers (Content-Type, Content-Length,
 * X-Virtagent-Client-Tag), an empty line and the body. 0xFF never occurs
 * in UTF-8, so it cannot appear in a valid header or XML body: the parser
 * treats it as the start of a new message wherever it sees it, and that
 * is how it resynchronises after garbage or a truncated message.
 */
#ifndef VIRTAGENT_FRAME_H
#define VIRTAGENT_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

#include "va-limits.h"

#define VA_FRAME_SENTINEL 0xFF

typedef enum VAFrameKind {
    VA_FRAME_CALL,
    VA_FRAME_REPLY,
} VAFrameKind;

typedef struct VAFrame {
    VAFrameKind kind;
    char tag[VA_TAG_MAX_LEN + 1];
    const uint8_t *body;    /* valid until the next feed */
    size_t len;
} VAFrame;

/* Why a message was dropped; @tag is "" when it could not be read. */
typedef struct VAFrameError {
    int fault;              /* VA_FAULT_MALFORMED or VA_FAULT_TOO_LARGE */
    bool has_kind;
    VAFrameKind kind;
    char tag[VA_TAG_MAX_LEN + 1];
    const char *reason;     /* static text */
} VAFrameError;

typedef enum VAParseResult {
    VA_PARSE_MORE,          /* all input consumed, no message complete */
    VA_PARSE_FRAME,         /* *frame holds a message */
    VA_PARSE_ERROR,         /* *err says what was dropped */
} VAParseResult;

typedef struct VAFrameParser {
    enum {
        VA_PARSER_SYNC,     /* skipping to the next sentinel */
        VA_PARSER_HEADER,
        VA_PARSER_BODY,
        VA_PARSER_DISCARD,  /* skipping an oversized body */
    } state;
    size_t max_body;
    size_t max_call;        /* calls may have a lower limit than replies */
    char header[VA_HEADER_MAX];
    size_t header_len;
    VAFrameKind kind;
    char tag[VA_TAG_MAX_LEN + 1];
    uint8_t *body;
    size_t body_len;
    size_t body_need;
    uint64_t garbage;       /* bytes skipped outside messages */
} VAFrameParser;

void va_frame_parser_init(VAFrameParser *p, size_t max_body);
/* Calls over @max_call (at most max_body) are dropped as too large. */
void va_frame_parser_limit_calls(VAFrameParser *p, size_t max_call);
/* Drop any partial message and wait for the next sentinel. */
void va_frame_parser_reset(VAFrameParser *p);
void va_frame_parser_destroy(VAFrameParser *p);

/*
 * Consume input up to the end of one message or one error; *consumed says
 * how far. Call again with the rest. Bytes before the first sentinel count
 * as garbage, not as an error.
 */
VAParseResult va_frame_parser_feed(VAFrameParser *p, const uint8_t *buf,
                                   size_t len, size_t *consumed,
                                   VAFrame *frame, VAFrameError *err);

/* Append one message, or only its header (the body follows elsewhere). */
void va_frame_encode(GByteArray *out, VAFrameKind kind, const char *tag,
                     const void *body, size_t len);
void va_frame_encode_header(GByteArray *out, VAFrameKind kind,
                            const char *tag, size_t len);

/* A tag we accept from the peer: 1..VA_TAG_MAX_LEN of [A-Za-z0-9._:-]. */
bool va_tag_valid(const char *tag, size_t len);

#endif
