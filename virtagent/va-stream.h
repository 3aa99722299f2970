/*
 * virtagent - data streams: raw bytes beside a call, with flow control
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A call may carry one stream of bytes in DATA frames (docs/protocol.md
 * §1.1): with the call, caller to callee (an upload), or with its answer,
 * callee to caller (a download). The receiver grants credit (CREDIT
 * frames, absolute offsets) as the embedder consumes what it was given, so
 * it never holds more than VA_STREAM_WINDOW unconsumed bytes; the sender
 * never sends past the credit. The channel hands DATA to the writer only
 * when no call or answer waits and the writer is below
 * VA_WRITER_LOW_WATER, so other calls keep answering during a transfer.
 *
 * Lifetime: every stream returned below ends exactly once, with its end
 * callback (which may be NULL); the VAStream is freed after it returns
 * and must not be used again. It ends:
 * - OK: (receiver) the sender's End ok with every byte delivered, or, for
 *   a download, its call's answer (caller side); (sender) the End ok frame
 *   queued after va_stream_finish(), or the job's answer (callee side
 *   download, after every byte given to va_stream_send()).
 * - ABORT: the peer's abort, a protocol error on the stream (the peer is
 *   told; a caller-side download also fails its call with
 *   VA_ERROR_PROTOCOL), va_stream_abort() (from inside it), its call ended
 *   first (answer before the upload ended, timeout, cancel, reset), a
 *   callee-side upload answered before the End frame, va_channel_reset()
 *   or va_channel_free().
 * On the caller side, a stream that ends with its call ends just before
 * the call's done callback runs.
 *
 * All stream functions and callbacks run in the channel's thread. The
 * callbacks may call any stream function on any stream (their own
 * included, even va_stream_abort()), va_channel_call*(),
 * va_channel_cancel() and va_channel_job_executed() (a job's answer from
 * its stream's callbacks); they must not call va_channel_input(),
 * va_channel_reset() or va_channel_free().
 */
#ifndef VIRTAGENT_STREAM_H
#define VIRTAGENT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "va-channel.h"
#include "va-limits.h"

typedef struct VAStream VAStream;

typedef enum VAStreamDir {
    VA_STREAM_UPLOAD,       /* caller -> callee, with the call */
    VA_STREAM_DOWNLOAD,     /* callee -> caller, before the answer */
} VAStreamDir;

typedef enum VAStreamEnd {
    VA_STREAM_END_OK,
    VA_STREAM_END_ABORT,
} VAStreamEnd;

typedef struct VAStreamOps {
    /*
     * We receive: the next decoded bytes, in order; @buf is valid during
     * the call only. Say with va_stream_consumed() when they are dealt
     * with (at once or later): only consumed bytes make room for more.
     */
    void (*data)(VAStream *s, const uint8_t *buf, size_t len, void *opaque);
    /* We send: va_stream_room() grew from 0 (credit came, output drained). */
    void (*writable)(VAStream *s, void *opaque);
    /* The stream is over (see above); it is freed when this returns. */
    void (*end)(VAStream *s, VAStreamEnd how, void *opaque);
} VAStreamOps;

/*
 * Caller side: give our pending call @id a stream, right after
 * va_channel_call() (before returning to the main loop, so that no data
 * of a download can come first). An upload may send once the callee
 * has granted its first credit (room is 0 until then; writable tells).
 * NULL if @id is not pending or already has a stream. @ops is copied.
 */
VAStream *va_channel_call_stream(VAChannel *ch, VACallId id, VAStreamDir dir,
                                 const VAStreamOps *ops, void *opaque);

/*
 * Callee side: give a peer's call a stream, in the channel's thread
 * between VAChannelOps.execute and va_channel_job_executed() (the
 * answer, which ends the stream). An upload grants the caller its first
 * credit now. NULL if the job has a stream already, its tag is in use by
 * another stream, or the job is orphaned. @ops is copied.
 */
VAStream *va_server_job_stream(VAServerJob *job, VAStreamDir dir,
                               const VAStreamOps *ops, void *opaque);

/*
 * Sender: bytes va_stream_send() takes now (credit and buffer); 0 after
 * va_stream_finish() or on a receiving stream.
 */
size_t va_stream_room(VAStream *s);

/*
 * Sender: queue @len bytes (copied; escaped unless raw), all or nothing:
 * false, and nothing taken, if @len > va_stream_room(). The writable
 * callback runs when room grows again after a refusal or a send that
 * left none.
 */
bool va_stream_send(VAStream *s, const void *buf, size_t len);

/*
 * Sender: send the bytes given from now on unescaped, in raw DATA frames
 * (docs/protocol.md §1.1), which a receiver takes only if it accepts them
 * (va_channel_accept_raw_data()). Only on the receiver's request: a
 * guest's download for its host.
 */
void va_stream_send_raw(VAStream *s);

/*
 * Sender, raw: fill in place instead of copying. va_stream_send_buffer()
 * gives where the next bytes go and how many fit (*@len, never more than
 * va_stream_room()); NULL if none, or if the stream does not send raw.
 * va_stream_send_commit() then queues the first @len of them (at most
 * what the buffer took; 0 is allowed), as va_stream_send() would, before
 * any other stream function is called.
 */
uint8_t *va_stream_send_buffer(VAStream *s, size_t *len);
void va_stream_send_commit(VAStream *s, size_t len);

/*
 * Sender of an upload: no more data; End ok (Offset = total) follows the
 * queued bytes, and the stream ends OK once it is queued for writing.
 * A callee-side download needs none: its answer ends it.
 */
void va_stream_finish(VAStream *s);

/*
 * Either side: stop now. Queued unsent data is dropped; the peer gets
 * End abort (we send) or CREDIT abort (we receive); the end callback runs
 * with VA_STREAM_END_ABORT before this returns. The call itself goes on:
 * cancel it, or answer it, as well.
 */
void va_stream_abort(VAStream *s);

/*
 * Receiver: @len more bytes of those delivered were dealt with; credit
 * is granted in batches (a quarter of the window) as consumption
 * advances.
 */
void va_stream_consumed(VAStream *s, size_t len);

/*
 * Receiver: grant @window bytes past what was consumed instead of
 * VA_STREAM_WINDOW (the sender's implicit first grant, which is also the
 * least; at most VA_STREAM_WINDOW_MAX), from the next consumption on:
 * not at once, since a caller's CREDIT could overtake its call. More
 * keeps a fast sender from waiting for credit; it also lets that much
 * lie ahead of a call crossing the stream, and the receiver holds up to
 * that much unconsumed.
 */
void va_stream_set_window(VAStream *s, size_t window);

/* Decoded bytes so far: taken by va_stream_send(), or delivered. */
uint64_t va_stream_offset(VAStream *s);

VAChannel *va_stream_channel(VAStream *s);
/* The tag of the call the stream belongs to. */
const char *va_stream_tag(VAStream *s);

#endif
