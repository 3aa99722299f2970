/*
 * virtagent - named limits and their defaults
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Every bound the core enforces has a name here; docs/protocol.md lists
 * them. The per-channel ones are defaults of VAChannelConfig.
 */
#ifndef VIRTAGENT_LIMITS_H
#define VIRTAGENT_LIMITS_H

/* Framing: the header block, sentinel excluded, CRLFCRLF included. */
#define VA_HEADER_MAX 4096
/* Tag: "<16 hex digits>.<counter>" fits easily; peers' tags are checked. */
#define VA_TAG_MAX_LEN 64
/* Session id: 16 lowercase hex digits. */
#define VA_SESSION_LEN 16

/* Body size: default, and the largest a channel may be configured with. */
#define VA_DEFAULT_MAX_BODY (2 * 1024 * 1024)
#define VA_MAX_BODY_LIMIT (64 * 1024 * 1024)
/*
 * What the boundary (va-boundary.c) lets reach xmlrpc-c, besides the size.
 * xmlrpc-c builds a tree node per element (about 0.4 us each), compares
 * each new struct member with every earlier one (quadratic: 1024 members
 * cost 4-7 ms, 256 under 1 ms), and compiles two regular expressions for
 * each <dateTime.iso8601> (about 24 us). Element nesting, elements per
 * document, members per <struct>, values per <array> or params per call,
 * dates per document, bytes of a <name> or <methodName>.
 */
#define VA_XML_DEPTH_MAX 64
#define VA_XML_ELEMENTS_MAX 16384
#define VA_XML_MEMBERS_MAX 256
#define VA_XML_ITEMS_MAX 4096
#define VA_XML_DATETIMES_MAX 16
#define VA_XML_NAME_MAX 256

/* Our calls sent and unanswered. */
#define VA_DEFAULT_WINDOW 8
/* Peer calls executing concurrently. */
#define VA_DEFAULT_MAX_EXECUTING 4
/* Our calls queued behind the window. */
#define VA_DEFAULT_MAX_QUEUED_CALLS 64
/* Peer calls accepted and not yet answered. */
#define VA_DEFAULT_MAX_SERVER_JOBS 64
/* Call timeout when the caller gives none. */
#define VA_DEFAULT_TIMEOUT_MS 30000
/*
 * Starvation bound: while one of our calls waits for the writer, at most
 * this many replies go out before it (0 would let replies starve calls).
 */
#define VA_DEFAULT_REPLY_BURST 4
/* Output buffered before the writer stops pulling new frames. */
#define VA_WRITER_LOW_WATER (64 * 1024)

/*
 * Data frames: decoded bytes per escaped DATA frame, and on the wire
 * (escaped, or a raw body).
 */
#define VA_DATA_CHUNK_MAX (64 * 1024)
#define VA_DATA_WIRE_MAX (2 * VA_DATA_CHUNK_MAX)
/*
 * Unconsumed bytes a stream's receiver grants at first and at least;
 * credit goes out in steps of a quarter of its window.
 */
#define VA_STREAM_WINDOW (256 * 1024)
/* The most a receiver may grant past what it consumed (its own choice). */
#define VA_STREAM_WINDOW_MAX (16 * 1024 * 1024)
/* Bytes a stream's sender holds before the writer takes them: two frames. */
#define VA_STREAM_SEND_BUF (2 * VA_DATA_WIRE_MAX)

#endif
