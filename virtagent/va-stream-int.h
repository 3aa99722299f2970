/*
 * virtagent - data streams: what the channel uses of them
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Not for embedders (they use va-stream.h): the channel routes DATA and
 * CREDIT frames here, tells when calls and jobs end, and lets streams
 * fill the writer after calls and answers.
 */
#ifndef VIRTAGENT_STREAM_INT_H
#define VIRTAGENT_STREAM_INT_H

#include "va-frame.h"
#include "va-manager.h"
#include "va-stream.h"
#include "va-writer.h"

typedef struct VAStreams {
    VAChannel *ch;
    VAManager *mgr;
    VAWriter *writer;
    GHashTable *by_tag;     /* tag -> VAStream, every open stream */
    GHashTable *by_call;    /* VACallId -> VAStream, our calls' */
    GQueue ready;           /* senders with data or an End to queue */
    GQueue credit;          /* receivers with credit to grant */
    GQueue wake;            /* streams to tell writable or end OK */
    bool quiet;             /* ending streams in a reset: no frames */
    uint64_t stray;
    uint64_t failed;
    uint64_t sent;
    uint64_t received;
    uint64_t received_raw;
} VAStreams;

void va_streams_init(VAStreams *t, VAChannel *ch, VAManager *mgr,
                     VAWriter *writer);
void va_streams_destroy(VAStreams *t);
/* End every stream (abort), sending nothing: the peer is gone. */
void va_streams_reset(VAStreams *t);

/* A DATA or CREDIT frame, or an error in one. */
void va_streams_input(VAStreams *t, const VAFrame *f);
void va_streams_frame_error(VAStreams *t, const VAFrameError *e);
/* Our call @id is over (@answered: its answer came) / @job answered. */
void va_streams_call_ended(VAStreams *t, VACallId id, bool answered);
void va_streams_job_answered(VAStreams *t, VAServerJob *job);

/* Queue the CREDIT frames due. */
void va_streams_control(VAStreams *t);
/* Queue one DATA chunk or End frame, round robin; false if none waits. */
bool va_streams_next_data(VAStreams *t);
/* Run the writable and end-after-finish callbacks due; true if any. */
bool va_streams_run_callbacks(VAStreams *t);
unsigned va_streams_open(VAStreams *t);

/* In va-channel.c: a stream queued output outside the channel's pump. */
void va_channel_stream_kick(VAChannel *ch);
VAStreams *va_channel_streams(VAChannel *ch);

#endif
