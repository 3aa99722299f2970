/*
 * virtagent - a channel: framing, codec and job manager on one stream
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stddef.h>
#include <string.h>

#include "va-channel.h"
#include "va-codec.h"
#include "va-frame.h"
#include "va-manager.h"
#include "va-stream-int.h"
#include "va-writer.h"

/* Where va_server_job_method() stops looking for a method name. */
#define METHOD_NAME_MAX VA_XML_NAME_MAX

typedef struct VAOutMark {
    uint64_t end;           /* stream offset just past the frame */
    uintptr_t token;
} VAOutMark;

typedef struct VAAfterAnswers {
    uint64_t served;        /* calls_served that means "all written" */
    VAWrittenFunc *fn;
    void *opaque;
} VAAfterAnswers;

typedef struct VACallCtx {
    VAChannel *ch;
    VACallDone *done;
    VACallDoneXml *done_xml;
    void *opaque;
} VACallCtx;

struct VAChannel {
    VAChannelConfig cfg;
    VAChannelOps ops;
    void *opaque;
    VAManager *mgr;
    VAFrameParser parser;
    xmlrpc_registry *registry;
    GHashTable *methods;    /* name -> xmlrpc_method_info3, see add_method */
    VAWriter writer;
    VAStreams streams;
    /* Where each frame in the writer ends, oldest first: a ring. */
    VAOutMark *marks;
    size_t marks_head;      /* the oldest */
    size_t marks_len;
    size_t marks_cap;       /* 0 or a power of two */
    VARateLimit peer_rate;
    VARateLimit peer_bytes;
    char *peer_session;
    GSList *after_answers;  /* VAAfterAnswers */
    bool pumping;
    bool pump_again;
    uint64_t rejected;
    uint64_t peer_rejected;
    uint64_t bad_frames;
    uint64_t refused_documents;
    uint64_t resets;
};

void va_channel_config_init(VAChannelConfig *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->window = VA_DEFAULT_WINDOW;
    cfg->max_executing = VA_DEFAULT_MAX_EXECUTING;
    cfg->max_queued_calls = VA_DEFAULT_MAX_QUEUED_CALLS;
    cfg->max_server_jobs = VA_DEFAULT_MAX_SERVER_JOBS;
    cfg->max_body = VA_DEFAULT_MAX_BODY;
    cfg->default_timeout_ms = VA_DEFAULT_TIMEOUT_MS;
    cfg->reply_burst = VA_DEFAULT_REPLY_BURST;
}

static void preinvoke(xmlrpc_env *env, const char *method,
                      xmlrpc_value *params, void *opaque)
{
    VAChannel *ch = opaque;

    if (!va_method_policy_allows(ch->cfg.policy, method)) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_DISABLED,
                                       "method disabled: %s", method);
    }
}

static void free_method(gpointer p)
{
    struct xmlrpc_method_info3 *m = p;

    g_free((char *)m->methodName);
    g_free(m);
}

/*
 * The methods added by va_channel_add_method(), for va_codec: the one
 * found for the job's quick name when the parsed name is the same.
 */
static const struct xmlrpc_method_info3 *find_method(xmlrpc_env *env,
                                                     const char *method,
                                                     xmlrpc_value *params,
                                                     void *opaque)
{
    VAServerJob *job = opaque;
    VAChannel *ch = job->owner;
    const struct xmlrpc_method_info3 *m = job->method_entry;

    if (!m || strcmp(m->methodName, method)) {
        m = g_hash_table_lookup(ch->methods, method);
    }
    if (m) {
        preinvoke(env, method, params, ch);
    }
    return m;
}

static size_t peer_call_limit(const VAChannelConfig *cfg)
{
    return cfg->max_peer_call ? cfg->max_peer_call : cfg->max_body;
}

static bool config_valid(const VAChannelConfig *cfg, GError **errp)
{
    if (!cfg->window || !cfg->max_executing || !cfg->max_queued_calls ||
        !cfg->max_server_jobs || !cfg->reply_burst) {
        g_set_error(errp, VA_ERROR, VA_ERROR_INVALID,
                    "window, queue, execution and burst limits must be "
                    "at least 1");
        return false;
    }
    if (cfg->max_body < 256 || cfg->max_body > VA_MAX_BODY_LIMIT) {
        g_set_error(errp, VA_ERROR, VA_ERROR_INVALID,
                    "message size limit must be 256 to %d bytes",
                    VA_MAX_BODY_LIMIT);
        return false;
    }
    if (cfg->max_peer_call > cfg->max_body) {
        g_set_error(errp, VA_ERROR, VA_ERROR_INVALID,
                    "peer call size limit over the message size limit");
        return false;
    }
    /* Else a call of the largest allowed size could never pass. */
    if (cfg->peer_byte_rate > 0 &&
        cfg->peer_byte_burst < peer_call_limit(cfg)) {
        g_set_error(errp, VA_ERROR, VA_ERROR_INVALID,
                    "peer byte burst below the peer call size limit");
        return false;
    }
    return true;
}

VAChannel *va_channel_new(const VAChannelConfig *cfg, const VAChannelOps *ops,
                          void *opaque, GError **errp)
{
    VAManagerLimits lim;
    VAChannel *ch;
    xmlrpc_env env;

    if (!config_valid(cfg, errp)) {
        return NULL;
    }
    va_codec_init();
    ch = g_new0(VAChannel, 1);
    ch->cfg = *cfg;
    ch->ops = *ops;
    ch->opaque = opaque;
    lim = (VAManagerLimits) {
        .window = cfg->window,
        .max_executing = cfg->max_executing,
        .max_queued_calls = cfg->max_queued_calls,
        .max_server_jobs = cfg->max_server_jobs,
        .reply_burst = cfg->reply_burst,
    };
    ch->mgr = va_manager_new(&lim);
    va_frame_parser_init(&ch->parser, cfg->max_body);
    va_frame_parser_limit_calls(&ch->parser, peer_call_limit(cfg));
    va_frame_parser_accept_raw(&ch->parser, cfg->accept_raw_data);
    va_writer_init(&ch->writer);
    va_streams_init(&ch->streams, ch, ch->mgr, &ch->writer);
    va_rate_limit_init(&ch->peer_rate, cfg->peer_call_rate,
                       cfg->peer_call_burst, ops->now_ms(opaque));
    va_rate_limit_init(&ch->peer_bytes, cfg->peer_byte_rate,
                       cfg->peer_byte_burst, ops->now_ms(opaque));

    /* The key is the value's methodName. */
    ch->methods = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                        free_method);
    xmlrpc_env_init(&env);
    ch->registry = xmlrpc_registry_new(&env);
    if (!env.fault_occurred) {
        xmlrpc_registry_set_preinvoke_method(&env, ch->registry, preinvoke,
                                             ch);
    }
    if (env.fault_occurred) {
        g_set_error(errp, VA_ERROR, VA_ERROR_INVALID,
                    "cannot create the method registry: %s",
                    env.fault_string);
        xmlrpc_env_clean(&env);
        va_channel_free(ch);
        return NULL;
    }
    xmlrpc_env_clean(&env);
    return ch;
}

/* Run the after-answers callbacks that are due, or all of them. */
static void run_after_answers(VAChannel *ch, bool all)
{
    VAManagerStats st;
    GSList *due = NULL;
    GSList **link = &ch->after_answers;

    va_manager_get_stats(ch->mgr, &st);
    while (*link) {
        VAAfterAnswers *a = (*link)->data;

        if (all || st.calls_served >= a->served) {
            GSList *l = *link;

            *link = l->next;
            l->next = due;
            due = l;
        } else {
            link = &(*link)->next;
        }
    }
    /* Taken out first: a callback may register another. */
    due = g_slist_reverse(due);
    for (GSList *l = due; l; l = l->next) {
        VAAfterAnswers *a = l->data;

        a->fn(ch, !all, a->opaque);
    }
    g_slist_free_full(due, g_free);
}

void va_channel_after_answers(VAChannel *ch, VAWrittenFunc *fn,
                              void *opaque)
{
    VAAfterAnswers *a = g_new(VAAfterAnswers, 1);
    VAManagerStats st;

    va_manager_get_stats(ch->mgr, &st);
    a->served = st.calls_served + st.server_jobs;
    a->fn = fn;
    a->opaque = opaque;
    ch->after_answers = g_slist_append(ch->after_answers, a);
}

static void fail_all_calls(VAChannel *ch, const char *reason)
{
    g_autoptr(GError) err = g_error_new(VA_ERROR, VA_ERROR_DISCONNECTED,
                                        "agent disconnected (%s)", reason);

    va_manager_fail_calls(ch->mgr, err);
}

void va_channel_free(VAChannel *ch)
{
    if (!ch) {
        return;
    }
    /* Nothing goes out any more, whatever the callbacks below ask. */
    ch->pumping = true;
    va_streams_reset(&ch->streams);
    fail_all_calls(ch, "channel closed");
    run_after_answers(ch, true);
    va_streams_destroy(&ch->streams);
    va_manager_free(ch->mgr);
    if (ch->registry) {
        xmlrpc_registry_free(ch->registry);
    }
    g_hash_table_unref(ch->methods);
    va_frame_parser_destroy(&ch->parser);
    va_writer_destroy(&ch->writer);
    g_free(ch->marks);
    g_free(ch->peer_session);
    g_free(ch);
}

xmlrpc_registry *va_channel_registry(VAChannel *ch)
{
    return ch->registry;
}

void va_channel_add_method(VAChannel *ch, xmlrpc_env *env,
                           const struct xmlrpc_method_info3 *info)
{
    struct xmlrpc_method_info3 *m;

    xmlrpc_registry_add_method3(env, ch->registry, info);
    /* The registry refuses a name twice: both keep the first. */
    if (env->fault_occurred) {
        return;
    }
    /* What dispatch runs; the strings are the registry's business. */
    m = g_new0(struct xmlrpc_method_info3, 1);
    m->methodName = g_strdup(info->methodName);
    m->methodFunction = info->methodFunction;
    m->serverInfo = info->serverInfo;
    g_hash_table_insert(ch->methods, (char *)m->methodName, m);
}

void *va_channel_opaque(VAChannel *ch)
{
    return ch->opaque;
}

const char *va_channel_session(VAChannel *ch)
{
    return va_manager_session(ch->mgr);
}

static void wakeup(VAChannel *ch)
{
    if (ch->ops.wakeup) {
        ch->ops.wakeup(ch->opaque);
    }
}

static size_t out_pending(VAChannel *ch)
{
    return ch->writer.pending;
}

/*
 * Back from execution: the request is not needed any more, and a peer
 * that does not read our answers must not pin its calls' bodies.
 */
static void job_executed(VAChannel *ch, VAServerJob *job)
{
    if (job->refused) {
        ch->refused_documents++;
    }
    g_clear_pointer(&job->request, g_free);
    job->request_len = 0;
    if (!job->orphaned) {
        va_streams_job_answered(&ch->streams, job);
    }
    va_manager_job_executed(ch->mgr, job);
}

static void execute_sync(VAChannel *ch, VAServerJob *job)
{
    va_server_job_execute(job);
    job_executed(ch, job);
}

/*
 * A ring, not a GQueue of allocated marks: a link and a mark allocated
 * and freed per frame cost a thirtieth of a ping.
 */
static void mark_push(VAChannel *ch, uint64_t end, uintptr_t token)
{
    if (ch->marks_len == ch->marks_cap) {
        size_t cap = ch->marks_cap ? ch->marks_cap * 2 : 16;
        VAOutMark *m = g_new(VAOutMark, cap);

        for (size_t i = 0; i < ch->marks_len; i++) {
            m[i] = ch->marks[(ch->marks_head + i) & (ch->marks_cap - 1)];
        }
        g_free(ch->marks);
        ch->marks = m;
        ch->marks_head = 0;
        ch->marks_cap = cap;
    }
    ch->marks[(ch->marks_head + ch->marks_len++) & (ch->marks_cap - 1)] =
        (VAOutMark) { .end = end, .token = token };
}

/*
 * Move frames to the writer while it holds less than the low water mark:
 * credit first (tiny, and it unblocks the peer), then calls and answers,
 * and stream data only when none of those waits, so that an answer waits
 * behind at most the low water mark and one DATA frame.
 */
static void fill_writer(VAChannel *ch)
{
    VAOutFrame f;

    if (out_pending(ch) < VA_WRITER_LOW_WATER) {
        va_streams_control(&ch->streams);
    }
    while (out_pending(ch) < VA_WRITER_LOW_WATER) {
        if (!va_manager_next_frame(ch->mgr, &f)) {
            if (!va_streams_next_data(&ch->streams)) {
                break;
            }
            continue;
        }
        mark_push(ch, va_writer_frame(&ch->writer, f.kind, f.tag, f.body),
                  f.token);
    }
}

void va_channel_stream_kick(VAChannel *ch)
{
    if (!ch->pumping) {
        fill_writer(ch);
    }
    wakeup(ch);
}

VAStreams *va_channel_streams(VAChannel *ch)
{
    return &ch->streams;
}

/*
 * Start what may start and fill the writer. Methods and callbacks run
 * from here may call back into the channel: they only ask for another
 * round.
 */
static void pump(VAChannel *ch)
{
    VAServerJob *job;

    if (ch->pumping) {
        ch->pump_again = true;
        return;
    }
    ch->pumping = true;
    do {
        ch->pump_again = false;
        while ((job = va_manager_next_execution(ch->mgr))) {
            job->owner = ch;
            if (ch->ops.execute) {
                ch->ops.execute(ch, job, ch->opaque);
            } else {
                execute_sync(ch, job);
            }
        }
        fill_writer(ch);
        /* Stream callbacks may queue more: another round if any ran. */
        if (va_streams_run_callbacks(&ch->streams)) {
            ch->pump_again = true;
        }
    } while (ch->pump_again);
    ch->pumping = false;
}

static void answer_fault(VAChannel *ch, const char *tag, int code,
                         const char *msg)
{
    g_autoptr(GBytes) fault = va_codec_encode_fault(code, msg);

    if (va_manager_add_answer(ch->mgr, tag, fault)) {
        return;
    }
    /*
     * The peer has more calls pending than allowed. Tell it so while the
     * writer has room; a peer that does not even read is just dropped.
     */
    if (out_pending(ch) < VA_WRITER_LOW_WATER) {
        va_writer_frame(&ch->writer, VA_FRAME_REPLY, tag, fault);
    }
}

static void handle_call(VAChannel *ch, const VAFrame *frame)
{
    int64_t now = ch->ops.now_ms(ch->opaque);

    /*
     * Both budgets before the document is parsed: what a call costs to
     * parse grows with its size, so counting calls alone would let a
     * peer send many large ones.
     */
    if (!va_rate_limit_take(&ch->peer_rate, now)) {
        ch->peer_rejected++;
        answer_fault(ch, frame->tag, VA_FAULT_RATE_LIMITED,
                     "too many calls: rate limit exceeded");
        return;
    }
    if (!va_rate_limit_take_n(&ch->peer_bytes, now, frame->len)) {
        ch->peer_rejected++;
        answer_fault(ch, frame->tag, VA_FAULT_RATE_LIMITED,
                     "too many bytes of calls: rate limit exceeded");
        return;
    }
    if (!va_manager_add_server_job(ch->mgr, frame->tag, frame->body,
                                   frame->len)) {
        ch->peer_rejected++;
        answer_fault(ch, frame->tag, VA_FAULT_BUSY,
                     "too many calls in progress");
    }
}

static void handle_frame_error(VAChannel *ch, const VAFrameError *ferr)
{
    ch->bad_frames++;
    if (!ferr->has_kind || !ferr->tag[0]) {
        return;
    }
    if (ferr->kind == VA_FRAME_DATA || ferr->kind == VA_FRAME_CREDIT) {
        va_streams_frame_error(&ch->streams, ferr);
    } else if (ferr->kind == VA_FRAME_CALL) {
        answer_fault(ch, ferr->tag, ferr->fault, ferr->reason);
    } else {
        uint64_t id = va_manager_call_by_tag(ch->mgr, ferr->tag);
        g_autoptr(GError) err = g_error_new(VA_ERROR, VA_ERROR_PROTOCOL,
                                            "bad answer: %s",
                                            ferr->reason);

        if (id) {
            va_manager_fail_call(ch->mgr, id, err);
        }
    }
}

void va_channel_input(VAChannel *ch, const uint8_t *buf, size_t len)
{
    while (len) {
        VAFrame frame;
        VAFrameError ferr;
        size_t used = 0;

        switch (va_frame_parser_feed(&ch->parser, buf, len, &used, &frame,
                                     &ferr)) {
        case VA_PARSE_FRAME:
            if (frame.kind == VA_FRAME_CALL) {
                handle_call(ch, &frame);
            } else if (frame.kind == VA_FRAME_REPLY) {
                va_manager_reply(ch->mgr, frame.tag, frame.body, frame.len);
            } else {
                va_streams_input(&ch->streams, &frame);
            }
            break;
        case VA_PARSE_ERROR:
            handle_frame_error(ch, &ferr);
            break;
        case VA_PARSE_MORE:
            break;
        }
        buf += used;
        len -= used;
    }
    pump(ch);
    wakeup(ch);
}

const uint8_t *va_channel_output(VAChannel *ch, size_t *len)
{
    return va_writer_peek(&ch->writer, len);
}

void va_channel_output_done(VAChannel *ch, size_t len)
{
    va_writer_consumed(&ch->writer, len);
    while (ch->marks_len && ch->marks[ch->marks_head].end <=
                            ch->writer.written) {
        uintptr_t token = ch->marks[ch->marks_head].token;

        ch->marks_head = (ch->marks_head + 1) & (ch->marks_cap - 1);
        ch->marks_len--;
        va_manager_frame_sent(ch->mgr, token);
    }
    if (ch->after_answers) {
        run_after_answers(ch, false);
    }
    pump(ch);
    wakeup(ch);
}

int64_t va_channel_deadline(VAChannel *ch)
{
    return va_manager_deadline(ch->mgr);
}

void va_channel_run_timers(VAChannel *ch)
{
    va_manager_expire(ch->mgr, ch->ops.now_ms(ch->opaque));
    pump(ch);
    wakeup(ch);
}

static void call_finish(uint64_t id, const uint8_t *body, size_t len,
                        const GError *err, void *opaque)
{
    VACallCtx *ctx = opaque;
    VAChannel *ch = ctx->ch;
    g_autoptr(GError) local_err = NULL;
    xmlrpc_value *result = NULL;

    /* The call's stream ends first: the done callback sees it over. */
    va_streams_call_ended(&ch->streams, id, !err);
    if (ctx->done_xml) {
        ctx->done_xml(ch, id, (const char *)body, len, err, ctx->opaque);
    } else {
        if (!err) {
            result = va_codec_decode_reply((const char *)body, len,
                                           ch->cfg.max_body, &local_err);
            err = local_err;
            if (g_error_matches(err, VA_ERROR, VA_ERROR_PROTOCOL)) {
                ch->refused_documents++;
            }
        }
        ctx->done(ch, id, result, err, ctx->opaque);
        if (result) {
            xmlrpc_DECREF(result);
        }
    }
    g_free(ctx);
}

static VACallId start_call(VAChannel *ch, GBytes *body, int64_t timeout_ms,
                           VACallCtx *ctx, GError **errp)
{
    int64_t deadline = -1;
    VACallId id;

    if (g_bytes_get_size(body) > ch->cfg.max_body) {
        g_set_error(errp, VA_ERROR, VA_ERROR_TOO_BIG,
                    "call of %zu bytes over the limit of %zu",
                    g_bytes_get_size(body), ch->cfg.max_body);
        ch->rejected++;
        g_free(ctx);
        return 0;
    }
    if (timeout_ms < 0) {
        timeout_ms = ch->cfg.default_timeout_ms;
    }
    if (timeout_ms > 0) {
        deadline = ch->ops.now_ms(ch->opaque) + timeout_ms;
    }
    ctx->ch = ch;
    id = va_manager_add_call(ch->mgr, body, deadline, call_finish, ctx, errp);
    if (!id) {
        ch->rejected++;
        g_free(ctx);
        return 0;
    }
    /*
     * Only the writer: a new call frees no execution slot, and running no
     * method here keeps any callback from running before we return.
     */
    if (!ch->pumping) {
        fill_writer(ch);
    }
    wakeup(ch);
    return id;
}

VACallId va_channel_call(VAChannel *ch, const char *method,
                         xmlrpc_value *params, int64_t timeout_ms,
                         VACallDone *done, void *opaque, GError **errp)
{
    g_autoptr(GBytes) body = va_codec_encode_call(method, params, errp);
    VACallCtx *ctx;

    if (!body) {
        ch->rejected++;
        return 0;
    }
    ctx = g_new0(VACallCtx, 1);
    ctx->done = done;
    ctx->opaque = opaque;
    return start_call(ch, body, timeout_ms, ctx, errp);
}

VACallId va_channel_call_xml(VAChannel *ch, const char *xml, size_t len,
                             int64_t timeout_ms, VACallDoneXml *done,
                             void *opaque, GError **errp)
{
    g_autoptr(GBytes) body = g_bytes_new(xml, len);
    VACallCtx *ctx = g_new0(VACallCtx, 1);

    ctx->done_xml = done;
    ctx->opaque = opaque;
    return start_call(ch, body, timeout_ms, ctx, errp);
}

bool va_channel_cancel(VAChannel *ch, VACallId id)
{
    g_autoptr(GError) err = g_error_new(VA_ERROR, VA_ERROR_CANCELLED,
                                        "cancelled");
    bool found = va_manager_fail_call(ch->mgr, id, err);

    if (found) {
        pump(ch);
        wakeup(ch);
    }
    return found;
}

void va_channel_reset(VAChannel *ch, const char *reason)
{
    bool pumping = ch->pumping;

    ch->resets++;
    va_frame_parser_reset(&ch->parser);
    va_writer_clear(&ch->writer);
    ch->marks_head = ch->marks_len = 0;
    va_manager_drop_server_jobs(ch->mgr);
    va_manager_new_session(ch->mgr);
    g_clear_pointer(&ch->peer_session, g_free);
    /*
     * Streams end before their calls fail, and send nothing. Their
     * callbacks may hand back the jobs just orphaned: no pumping then,
     * or calls of the old session would go into the cleared writer.
     */
    ch->pumping = true;
    va_streams_reset(&ch->streams);
    ch->pumping = pumping;
    /* Last: the callbacks may already start calls in the new session. */
    run_after_answers(ch, true);
    fail_all_calls(ch, reason);
    pump(ch);
    wakeup(ch);
}

bool va_channel_peer_session(VAChannel *ch, const char *session)
{
    bool restarted = ch->peer_session && strcmp(ch->peer_session, session);

    g_free(ch->peer_session);
    ch->peer_session = g_strdup(session);
    if (restarted) {
        /*
         * Our calls went to the old instance and will never be answered.
         * Its calls to us are answered anyway: the new instance drops
         * those answers as strays.
         */
        fail_all_calls(ch, "agent restarted");
        pump(ch);
        wakeup(ch);
    }
    return restarted;
}

void va_channel_count_refused(VAChannel *ch)
{
    ch->refused_documents++;
}

void va_channel_get_stats(VAChannel *ch, VAChannelStats *st)
{
    VAManagerStats ms;

    va_manager_get_stats(ch->mgr, &ms);
    *st = (VAChannelStats) {
        .calls_sent = ms.calls_sent,
        .replies = ms.replies,
        .timed_out = ms.timed_out,
        .cancelled = ms.cancelled,
        .disconnected = ms.disconnected,
        .rejected = ch->rejected,
        .stray_replies = ms.stray_replies,
        .calls_served = ms.calls_served,
        .peer_rejected = ch->peer_rejected,
        .bad_frames = ch->bad_frames,
        .refused_documents = ch->refused_documents,
        .garbage_bytes = ch->parser.garbage,
        .resets = ch->resets,
        .stray_data = ch->streams.stray,
        .streams_failed = ch->streams.failed,
        .data_sent = ch->streams.sent,
        .data_received = ch->streams.received,
        .data_received_raw = ch->streams.received_raw,
        .queued = ms.queued,
        .in_flight = ms.in_flight,
        .executing = ms.executing,
        .server_jobs = ms.server_jobs,
        .streams = va_streams_open(&ch->streams),
    };
}

const char *va_server_job_body(VAServerJob *job, size_t *len)
{
    *len = job->request_len;
    return (const char *)job->request;
}

const char *va_server_job_method(VAServerJob *job)
{
    static const char open_tag[] = "<methodName>";
    const size_t tag_len = sizeof(open_tag) - 1;
    size_t len;
    const char *body = va_server_job_body(job, &len);
    const char *start = NULL;
    const char *end;

    if (job->method_known) {
        return job->method;
    }
    job->method_known = true;
    /*
     * From '<' to '<': the tag is the second one, where memmem (or
     * g_strstr_len, byte by byte) cost a thirtieth of a ping. An empty
     * body may be NULL.
     */
    if (len) {
        const char *lim = body + MIN(len, METHOD_NAME_MAX * 2);
        const char *p = body;

        while (lim - p >= (ptrdiff_t)tag_len &&
               (p = memchr(p, '<', lim - p))) {
            if (lim - p >= (ptrdiff_t)tag_len &&
                !memcmp(p, open_tag, tag_len)) {
                start = p;
                break;
            }
            p++;
        }
    }
    if (start) {
        start += tag_len;
        end = memchr(start, '<', MIN((size_t)(body + len - start),
                                     METHOD_NAME_MAX));
        if (end) {
            /* Shorter than METHOD_NAME_MAX, the buffer's size. */
            memcpy(job->method, start, end - start);
            job->method[end - start] = '\0';
        }
    }
    /* Found once here, for the executor and the dispatch alike. */
    if (job->owner) {
        job->method_entry = g_hash_table_lookup(
            ((VAChannel *)job->owner)->methods, job->method);
    }
    return job->method;
}

const struct xmlrpc_method_info3 *va_server_job_method_info(VAServerJob *job)
{
    va_server_job_method(job);
    return job->method_entry;
}

void va_server_job_execute(VAServerJob *job)
{
    VAChannel *ch = job->owner;
    size_t len;
    const char *body = va_server_job_body(job, &len);

    job->response = va_codec_dispatch_find(ch->registry, find_method, job,
                                           body, len, ch->cfg.max_body, ch,
                                           &job->refused);
}

void va_server_job_set_response(VAServerJob *job, const char *xml,
                                size_t len)
{
    job->response = g_bytes_new(xml, len);
}

void va_server_job_set_fault(VAServerJob *job, int code, const char *msg)
{
    job->response = va_codec_encode_fault(code, msg);
}

bool va_server_job_orphaned(const VAServerJob *job)
{
    return job->orphaned;
}

void va_channel_job_executed(VAChannel *ch, VAServerJob *job)
{
    job_executed(ch, job);
    pump(ch);
    wakeup(ch);
}
