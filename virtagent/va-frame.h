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
 *
 * Data frames ("DATA VA/1", "CREDIT VA/1", docs/protocol.md §1.1) carry a
 * stream's raw bytes and its flow control. A DATA body is escaped so that
 * 0xFF stays a sentinel: 0xFE and 0xFF go as 0xFE followed by the byte
 * XOR 0x80. The parser decodes it while copying it; frames hold the
 * decoded bytes. A parser told to accept them also takes raw DATA bodies
 * ("X-Virtagent-Encoding: raw"): Content-Length bytes as they are, 0xFF
 * included, which only a peer whose desync cannot hurt may send.
 */
#ifndef VIRTAGENT_FRAME_H
#define VIRTAGENT_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

#include "va-limits.h"

#define VA_FRAME_SENTINEL 0xFF

#define VA_DATA_ESCAPE 0xFE

/*
 * Room for a DATA frame's header without End, whatever its tag and
 * offset: 1 + 11 + 16 + 6 + 2 + 24 + 64 + 2 + 20 + 20 + 4 = 170 bytes,
 * and 27 more for "X-Virtagent-Encoding: raw\r\n".
 */
#define VA_DATA_HEADER_MAX 200

typedef enum VAFrameKind {
    VA_FRAME_CALL,
    VA_FRAME_REPLY,
    VA_FRAME_DATA,
    VA_FRAME_CREDIT,
} VAFrameKind;

/* X-Virtagent-End of a DATA frame. */
typedef enum VAFrameEnd {
    VA_FRAME_END_NONE,
    VA_FRAME_END_OK,
    VA_FRAME_END_ABORT,
} VAFrameEnd;

typedef struct VAFrame {
    VAFrameKind kind;
    char tag[VA_TAG_MAX_LEN + 1];
    const uint8_t *body;    /* valid until the next feed; DATA: decoded */
    size_t len;
    uint64_t offset;        /* DATA: stream offset of body[0] */
    VAFrameEnd end;         /* DATA: End header (then len is 0) */
    bool raw;               /* DATA: the body came unescaped */
    uint64_t credit;        /* CREDIT: offset the sender may send up to */
    bool credit_abort;      /* CREDIT: "abort" instead of an offset */
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
    bool escape;            /* DATA: the last body byte was the escape */
    bool accept_raw;        /* raw DATA bodies are taken, not refused */
    bool raw;               /* DATA: this body is raw */
    size_t max_body;
    size_t max_call;        /* calls may have a lower limit than replies */
    char header[VA_HEADER_MAX];
    size_t header_len;
    VAFrameKind kind;
    char tag[VA_TAG_MAX_LEN + 1];
    uint64_t offset;
    VAFrameEnd end;
    uint64_t credit;
    bool credit_abort;
    uint8_t *body;
    size_t body_len;        /* bytes of the body read (on the wire) */
    size_t body_need;       /* Content-Length */
    size_t data_len;        /* DATA: decoded bytes in body */
    uint64_t garbage;       /* bytes skipped outside messages */
} VAFrameParser;

void va_frame_parser_init(VAFrameParser *p, size_t max_body);
/* Calls over @max_call (at most max_body) are dropped as too large. */
void va_frame_parser_limit_calls(VAFrameParser *p, size_t max_call);
/*
 * Take raw DATA bodies (refused as malformed by default): only from a
 * peer that may send them, i.e. one whose stream we do not guard against
 * a file's content read as frames after a desync.
 */
void va_frame_parser_accept_raw(VAFrameParser *p, bool accept);
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

/*
 * Data frames. The escaped form of @len bytes is at most 2 * @len:
 * va_data_escape() writes it to @dst, which must have that room, and
 * returns its length. va_data_escape_upto() escapes only the first bytes
 * whose escaped form fits in @room, says in *@len how many, and returns
 * the escaped length. va_frame_encode_data() appends a whole DATA frame
 * (an End frame when @end is not NONE; @len must then be 0). A @raw
 * header announces a body of @wire_len bytes sent as they are.
 */
size_t va_data_escape(uint8_t *dst, const uint8_t *src, size_t len);
size_t va_data_escape_upto(uint8_t *dst, size_t room, const uint8_t *src,
                           size_t *len);
void va_frame_encode_data_header(GByteArray *out, const char *tag,
                                 uint64_t offset, VAFrameEnd end, bool raw,
                                 size_t wire_len);
void va_frame_encode_data(GByteArray *out, const char *tag, uint64_t offset,
                          VAFrameEnd end, const void *buf, size_t len);
void va_frame_encode_credit(GByteArray *out, const char *tag,
                            uint64_t credit, bool abort);

/* A tag we accept from the peer: 1..VA_TAG_MAX_LEN of [A-Za-z0-9._:-]. */
bool va_tag_valid(const char *tag, size_t len);

#endif
