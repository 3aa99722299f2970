/*
 * qemu-va - data: files through the channel's data frames
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * va.getfile_data and va.putfile_data move a file's bytes in DATA frames
 * beside their call (docs/protocol.md §1.1), not as base64 inside XML.
 * getfile_data reads the file in preads of up to a frame straight into
 * its download stream as far as the host's credit allows, and answers
 * once the last byte is queued. putfile_data writes what the host
 * uploads into va.putfile's temporary file beside the target, granting
 * credit as it writes, and after the End frame syncs it and renames it
 * into place in a thread of its own. Both run in the channel's thread.
 *
 * A failure is answered at once, a fault with the errno's name; the
 * answer ends the stream. An upload aborted, reset or failed leaves no
 * temporary file. Answers are given from an idle callback, never from
 * inside the stream's own callbacks.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "va-errors.h"
#include "va-stream.h"
#include "qemu-va/methods/va-methods.h"

typedef struct VAData {
    VAGuestRpc *rpc;
    VAChannel *ch;
    VAServerJob *job;       /* NULL once answered */
    VAStream *stream;       /* NULL once ended */
    char *path;
    GChecksum *sum;         /* of the bytes moved; NULL: not asked */
    uint64_t done;          /* bytes sent or written */
    bool answering;         /* va_data_answer_cb() is running */

    /* va.getfile_data */
    int fd;
    int64_t offset;
    int64_t length;         /* -1: to the end of the file */
    int64_t file_size;
    bool regular;
    bool eof;
    bool raw;               /* read straight into the stream's frames */
    uint8_t *buf;           /* else read here, then escaped */

    /* va.putfile_data */
    VAPut *put;
    int64_t size;           /* the total announced, or -1 */
    GThread *commit;

    /* The answer, given by va_data_answer_cb(). */
    GSource *answer_src;
    GString *answer;
    int fault_code;
    char *fault;
} VAData;

struct VADataTable {
    GList *live;            /* VAData, until answered and ended */
};

static VAData *va_data_new(VAGuestRpc *rpc, VAChannel *ch, VAServerJob *job,
                           const char *path, bool sha256)
{
    VAData *d = g_new0(VAData, 1);

    d->rpc = rpc;
    d->ch = ch;
    d->job = job;
    d->path = g_strdup(path);
    /* GLib's SHA-256 costs 50 instructions a byte, 40 times the rest. */
    d->sum = sha256 ? g_checksum_new(G_CHECKSUM_SHA256) : NULL;
    d->fd = -1;
    d->size = -1;
    rpc->data->live = g_list_prepend(rpc->data->live, d);
    return d;
}

static void va_data_free(VAData *d)
{
    d->rpc->data->live = g_list_remove(d->rpc->data->live, d);
    if (d->answer_src) {
        g_source_destroy(d->answer_src);
        g_source_unref(d->answer_src);
    }
    if (d->fd >= 0) {
        close(d->fd);
    }
    if (d->put) {
        /* Not committed: the temporary file goes. */
        va_put_forget(d->rpc, d->put);
        va_put_unref(d->put);
    }
    if (d->sum) {
        g_checksum_free(d->sum);
    }
    g_free(d->buf);
    g_free(d->path);
    g_free(d->fault);
    if (d->answer) {
        g_string_free(d->answer, true);
    }
    g_free(d);
}

/* Freed once answered, its stream over and its commit back. */
static void va_data_maybe_free(VAData *d)
{
    if (!d->job && !d->stream && !d->commit && !d->answering) {
        va_data_free(d);
    }
}

static gboolean va_data_answer_cb(gpointer opaque)
{
    VAData *d = opaque;
    VAServerJob *job = d->job;

    g_clear_pointer(&d->answer_src, g_source_unref);
    if (d->commit) {
        g_thread_join(d->commit);
        d->commit = NULL;
    }
    if (d->fault) {
        va_server_job_set_fault(job, d->fault_code, d->fault);
    } else {
        va_server_job_set_response(job, d->answer->str, d->answer->len);
    }
    /* Answering ends the stream: its end callback runs in there. */
    d->job = NULL;
    d->answering = true;
    va_channel_job_executed(d->ch, job);
    d->answering = false;
    va_data_maybe_free(d);
    return G_SOURCE_REMOVE;
}

/* Answers with d->answer or d->fault from the main loop, once. */
static void va_data_answer(VAData *d)
{
    if (!d->job || d->answer_src) {
        return;
    }
    d->answer_src = g_idle_source_new();
    g_source_set_callback(d->answer_src, va_data_answer_cb, d, NULL);
    g_source_attach(d->answer_src, NULL);
}

static void va_data_fail(VAData *d, int code, const char *msg)
{
    if (!d->job || d->answer_src) {
        return;
    }
    d->fault_code = code;
    d->fault = g_strdup(msg);
    g_debug("%s: %s", d->path, msg);
    va_data_answer(d);
}

static void va_data_fail_env(VAData *d, const xmlrpc_env *env)
{
    va_data_fail(d, env->fault_code, env->fault_string);
}

static void va_data_fail_errno(VAData *d, int err)
{
    xmlrpc_env env;

    xmlrpc_env_init(&env);
    va_fault_errno(&env, d->path, err);
    va_data_fail_env(d, &env);
    xmlrpc_env_clean(&env);
}

/* The hex digest, or "" when the host did not ask for it. */
static void va_data_member_sha256(GString *out, VAData *d)
{
    va_xml_member(out, "sha256", "string",
                  d->sum ? g_checksum_get_string(d->sum) : "");
}

static void va_data_sum(VAData *d, const uint8_t *buf, size_t len)
{
    if (d->sum) {
        g_checksum_update(d->sum, buf, len);
    }
}

/* Options of the data methods: @known, and sha256 (bool, default true). */
static bool va_data_opts(xmlrpc_env *env, xmlrpc_value *params, unsigned idx,
                         const char *const *known, xmlrpc_value **opts,
                         bool *sha256)
{
    *opts = va_param_struct(env, params, idx, "options");
    return *opts && va_opts_check(env, *opts, known) &&
           va_opt_bool(env, *opts, "sha256", sha256);
}

/* The stream is over, or the peer or the channel ended it. */
static void va_data_end(VAStream *s, VAStreamEnd how, void *opaque)
{
    VAData *d = opaque;

    d->stream = NULL;
    if (how == VA_STREAM_END_ABORT && d->job) {
        va_data_fail(d, VA_FAULT_FAILED, "the transfer was aborted");
    }
    va_data_maybe_free(d);
}

/* -- va.getfile_data ---------------------------------------------------- */

static void va_get_answer(VAData *d)
{
    bool eof = d->eof ||
               (d->regular && d->offset + (int64_t)d->done >= d->file_size);

    close(d->fd);
    d->fd = -1;
    d->answer = g_string_new(NULL);
    va_xml_begin(d->answer);
    va_xml_member_i8(d->answer, "size", d->done);
    va_xml_member(d->answer, "eof", "boolean", eof ? "1" : "0");
    va_data_member_sha256(d->answer, d);
    va_xml_member_i8(d->answer, "file_size", d->file_size);
    va_xml_end(d->answer);
    va_data_answer(d);
}

/*
 * Reads and sends as much as the stream takes now. Raw, the file is read
 * into the frame itself: under TCG, copying the bytes once more cost the
 * guest a third of what reading them does.
 */
static void va_get_pump(VAData *d)
{
    while (d->stream && d->job && !d->answer_src) {
        uint64_t left = d->length >= 0 ? (uint64_t)d->length - d->done
                                       : UINT64_MAX;
        uint8_t *buf = d->buf;
        size_t want;
        ssize_t got;

        if (d->eof || !left) {
            va_get_answer(d);
            return;
        }
        if (d->raw) {
            buf = va_stream_send_buffer(d->stream, &want);
        } else {
            want = MIN(va_stream_room(d->stream), VA_DATA_CHUNK_MAX);
        }
        want = MIN(want, left);
        if (!want) {
            return;     /* the writable callback comes back */
        }
        got = va_read_at(d->fd, buf, want, d->offset + d->done);
        if (got < 0) {
            va_data_fail_errno(d, errno);
            return;
        }
        d->eof = (size_t)got < want;
        va_data_sum(d, buf, got);
        if (d->raw) {
            va_stream_send_commit(d->stream, got);
        } else if (got && !va_stream_send(d->stream, buf, got)) {
            va_data_fail(d, VA_FAULT_FAILED, "the stream refused data");
            return;
        }
        d->done += got;
    }
}

static void va_get_writable(VAStream *s, void *opaque)
{
    va_get_pump(opaque);
}

static const VAStreamOps va_get_ops = {
    .writable = va_get_writable,
    .end = va_data_end,
};

static void va_getfile_data_start(xmlrpc_value *params, VAGuestRpc *rpc,
                                  VAChannel *ch, VAServerJob *job)
{
    static const char *const known[] = { "sha256", "raw", NULL };
    g_autofree char *path = NULL;
    xmlrpc_value *opts = NULL;
    int64_t offset, length;
    bool sha256 = true;
    bool raw = false;
    struct stat st;
    xmlrpc_env env;
    VAData *d;
    int fd = -1;
    int n;

    xmlrpc_env_init(&env);
    n = va_check_args(&env, "va.getfile_data", params, 3, 4);
    if (n < 0 || !(path = va_param_string(&env, params, 0, "path")) ||
        !va_param_int(&env, params, 1, "offset", &offset) ||
        !va_param_int(&env, params, 2, "length", &length) ||
        (n == 4 && (!va_data_opts(&env, params, 3, known, &opts, &sha256) ||
                    !va_opt_bool(&env, opts, "raw", &raw)))) {
        goto fail;
    }
    if (path[0] != '/' || offset < 0 || length < -1 ||
        (length > 0 && offset > G_MAXINT64 - length)) {
        xmlrpc_env_set_fault_formatted(&env, VA_FAULT_INVALID_ARGS,
                                       "path must be absolute, offset not "
                                       "negative, length -1 (to the end) "
                                       "or more");
        goto fail;
    }
    /* O_NONBLOCK: opening a FIFO must not hang the main loop. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) < 0) {
        va_fault_errno(&env, path, errno);
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        va_fault_errno(&env, path, EISDIR);
        goto fail;
    }
    d = va_data_new(rpc, ch, job, path, sha256);
    d->fd = fd;
    d->offset = offset;
    d->length = length;
    d->regular = S_ISREG(st.st_mode);
    d->file_size = st.st_size;
    d->stream = va_server_job_stream(job, VA_STREAM_DOWNLOAD, &va_get_ops,
                                     d);
    if (!d->stream) {
        va_data_fail(d, VA_FAULT_FAILED, "no data stream for this call");
        return;
    }
    if (raw) {
        /* The host asked: it trusts its guest's frames by their length. */
        va_stream_send_raw(d->stream);
        d->raw = true;
    } else {
        d->buf = g_malloc(VA_DATA_CHUNK_MAX);
    }
    va_get_pump(d);
    xmlrpc_env_clean(&env);
    if (opts) {
        xmlrpc_DECREF(opts);
    }
    return;

fail:
    if (fd >= 0) {
        close(fd);
    }
    if (opts) {
        xmlrpc_DECREF(opts);
    }
    va_server_job_set_fault(job, env.fault_code, env.fault_string);
    va_channel_job_executed(ch, job);
    xmlrpc_env_clean(&env);
}

/* -- va.putfile_data ---------------------------------------------------- */

static void va_put_data(VAStream *s, const uint8_t *buf, size_t len,
                        void *opaque)
{
    VAData *d = opaque;
    int fd = va_put_fd(d->put);
    size_t off = 0;

    /* After a failure nothing more is taken: the fault is on its way. */
    if (!d->job || d->answer_src || d->commit) {
        return;
    }
    while (off < len) {
        ssize_t w = pwrite(fd, buf + off, len - off, d->done + off);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            va_data_fail_errno(d, errno);
            return;
        }
        off += w;
    }
    va_data_sum(d, buf, len);
    d->done += len;
    va_stream_consumed(s, len);
}

/* The sync and rename, away from the main loop; answers through it. */
static gpointer va_put_commit_thread(gpointer opaque)
{
    VAData *d = opaque;
    xmlrpc_env env;
    GSource *src;

    xmlrpc_env_init(&env);
    if (va_put_commit(&env, d->put)) {
        d->answer = g_string_new(NULL);
        va_xml_begin(d->answer);
        va_xml_member_i8(d->answer, "size", d->done);
        va_data_member_sha256(d->answer, d);
        va_xml_end(d->answer);
    } else {
        d->fault_code = env.fault_code;
        d->fault = g_strdup(env.fault_string);
    }
    xmlrpc_env_clean(&env);
    src = g_idle_source_new();
    g_source_set_callback(src, va_data_answer_cb, d, NULL);
    d->answer_src = src;
    g_source_attach(src, NULL);
    return NULL;
}

static void va_put_end(VAStream *s, VAStreamEnd how, void *opaque)
{
    VAData *d = opaque;

    if (how == VA_STREAM_END_OK && d->job && !d->answer_src) {
        d->stream = NULL;
        if (d->size >= 0 && (uint64_t)d->size != d->done) {
            g_autofree char *msg =
                g_strdup_printf("%" PRIu64 " bytes came, not the %" PRId64
                                " announced", d->done, d->size);

            va_data_fail(d, VA_FAULT_INVALID_ARGS, msg);
            return;
        }
        d->commit = g_thread_new("va-putfile-data", va_put_commit_thread, d);
        return;
    }
    va_data_end(s, how, opaque);
}

static const VAStreamOps va_put_ops = {
    .data = va_put_data,
    .end = va_put_end,
};

static void va_putfile_data_start(xmlrpc_value *params, VAGuestRpc *rpc,
                                  VAChannel *ch, VAServerJob *job)
{
    static const char *const known[] = {
        "mode", "owner", "size", "sha256", NULL
    };
    g_autofree char *path = NULL, *owner = NULL;
    xmlrpc_value *opts = NULL;
    int64_t mode = -1, size = -1;
    bool sha256 = true;
    VAPut *put = NULL;
    xmlrpc_env env;
    VAData *d;
    int n;

    xmlrpc_env_init(&env);
    n = va_check_args(&env, "va.putfile_data", params, 1, 2);
    if (n < 0 || !(path = va_param_string(&env, params, 0, "path"))) {
        goto fail;
    }
    if (n == 2) {
        if (!va_data_opts(&env, params, 1, known, &opts, &sha256) ||
            !va_opt_int(&env, opts, "mode", &mode) ||
            !va_opt_int(&env, opts, "size", &size) ||
            !va_opt_string(&env, opts, "owner", &owner)) {
            goto fail;
        }
    }
    if (path[0] != '/' || mode < -1 || mode > 07777 || size < -1 ||
        (owner && !owner[0])) {
        xmlrpc_env_set_fault_formatted(&env, VA_FAULT_INVALID_ARGS,
                                       "path must be absolute, mode 0 to "
                                       "07777, size not negative");
        goto fail;
    }
    put = va_put_begin(&env, rpc, path, ch);
    if (!put || !va_put_set_attrs(&env, put, mode, owner)) {
        goto fail;
    }
    d = va_data_new(rpc, ch, job, path, sha256);
    d->put = put;
    d->size = size;
    d->stream = va_server_job_stream(job, VA_STREAM_UPLOAD, &va_put_ops, d);
    if (!d->stream) {
        va_data_fail(d, VA_FAULT_FAILED, "no data stream for this call");
    }
    if (opts) {
        xmlrpc_DECREF(opts);
    }
    xmlrpc_env_clean(&env);
    return;

fail:
    if (put) {
        va_put_forget(rpc, put);
        va_put_unref(put);
    }
    if (opts) {
        xmlrpc_DECREF(opts);
    }
    va_server_job_set_fault(job, env.fault_code, env.fault_string);
    va_channel_job_executed(ch, job);
    xmlrpc_env_clean(&env);
}

/* Through the registry (system.multicall): there is no stream there. */
static xmlrpc_value *va_rpc_data_only(xmlrpc_env *env, xmlrpc_value *params,
                                      void *server_info, void *call_info)
{
    xmlrpc_env_set_fault(env, VA_FAULT_FAILED,
                         "this method moves its data in data frames: call "
                         "it on its own");
    return NULL;
}

static void va_data_init(VAGuestRpc *rpc)
{
    rpc->data = g_new0(VADataTable, 1);
}

/*
 * After the channel is freed (its streams ended): what is left waits
 * for a main loop that will not run again.
 */
static void va_data_cleanup(VAGuestRpc *rpc)
{
    if (!rpc->data) {
        return;
    }
    while (rpc->data->live) {
        VAData *d = rpc->data->live->data;

        if (d->commit) {
            g_thread_join(d->commit);
        }
        va_data_free(d);
    }
    g_clear_pointer(&rpc->data, g_free);
}

static const VAMethod methods[] = {
    {
        .info = {
            .methodName = "va.getfile_data",
            .methodFunction = va_rpc_data_only,
            .signatureString = "S:sii,S:sII,S:siiS,S:sIIS",
            .help = "va.getfile_data(path, offset, length, [options "
                    "{sha256}]): send length bytes (-1: to the end) in "
                    "data frames before the answer {size, eof, sha256, "
                    "file_size}; sha256 false: no digest (\"\").",
        },
        .start = va_getfile_data_start,
    }, {
        .info = {
            .methodName = "va.putfile_data",
            .methodFunction = va_rpc_data_only,
            .signatureString = "S:s,S:sS",
            .help = "va.putfile_data(path, [options {mode, owner, size, "
                    "sha256}]): write the data frames that follow the call "
                    "into a temporary file beside path, renamed into place "
                    "after the last; returns {size, sha256}.",
        },
        .start = va_putfile_data_start,
    },
    { .info = { .methodName = NULL } },
};

const VAMethodDomain va_m_data = {
    .name = "data",
    .methods = methods,
    .init = va_data_init,
    .cleanup = va_data_cleanup,
};
