/*
 * virtagent - the host end inside QEMU: what the monitor commands use
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_VIRTAGENT_H
#define HW_VIRTAGENT_H

#include <xmlrpc-c/base.h>
#include "qapi/qapi-types-virtagent.h"

typedef struct VirtagentChardev VirtagentChardev;

/*
 * Completion of virtagent_call(), run once in the main loop (never from
 * inside the chardev's I/O): @result (borrowed) or @err (to free). The
 * answer was decoded in QEMU's thread pool, off the main loop.
 */
typedef void VirtagentDone(xmlrpc_value *result, Error *err, void *opaque);
/* The same with the answer already converted (virtagent_to_qobject). */
typedef void VirtagentDoneQObject(QObject *result, Error *err, void *opaque);

/* The chardev @id, or the only one when @id is NULL. */
VirtagentChardev *virtagent_find(const char *id, Error **errp);
const char *virtagent_id(VirtagentChardev *va);

/*
 * Call @method with @params (an XML-RPC array, borrowed; NULL = none).
 * @timeout_ms < 0 takes the chardev's default. Returns the call's id
 * (unique among every chardev's calls, for virtagent_cancel() and
 * query-virtagent), or 0 with @errp set when the call cannot start (port
 * closed, queue full); @done then never runs.
 */
uint64_t virtagent_call(VirtagentChardev *va, const char *method,
                        xmlrpc_value *params, int64_t timeout_ms,
                        VirtagentDone *done, void *opaque, Error **errp);
uint64_t virtagent_call_qobject(VirtagentChardev *va, const char *method,
                                xmlrpc_value *params, int64_t timeout_ms,
                                VirtagentDoneQObject *done, void *opaque,
                                Error **errp);

/*
 * The same, waiting in the current coroutine while the main loop runs.
 * Returns a new reference, or NULL with @errp set.
 */
xmlrpc_value *coroutine_fn virtagent_co_call(VirtagentChardev *va,
                                             const char *method,
                                             xmlrpc_value *params,
                                             int64_t timeout_ms,
                                             Error **errp);
QObject *coroutine_fn virtagent_co_call_qobject(VirtagentChardev *va,
                                                const char *method,
                                                xmlrpc_value *params,
                                                int64_t timeout_ms,
                                                Error **errp);

/*
 * End pending call @id of chardev @id (any chardev's when NULL): it
 * completes with the error "cancelled by va-cancel". False with @errp set
 * when there is no such call.
 */
bool virtagent_cancel(const char *chardev, uint64_t id, Error **errp);

/*
 * The same, with the call's id in *@id while it is pending (0 before and
 * after), for a job that may cancel it.
 */
xmlrpc_value *coroutine_fn virtagent_co_call_id(VirtagentChardev *va,
                                                const char *method,
                                                xmlrpc_value *params,
                                                int64_t timeout_ms,
                                                uint64_t *id, Error **errp);

/*
 * A job made of several calls (a file transfer), listed by
 * query-virtagent among the chardev's calls as @what, under an id of
 * the same kind as theirs. va-cancel of that id, or the chardev going
 * away, runs @cancel once with the reason (cancelled by va-cancel, or
 * why the chardev went); the owner then stops as soon as it can. It
 * ends the job with virtagent_job_end(), which is harmless when the
 * chardev went away meanwhile.
 */
typedef void VirtagentJobCancel(const char *reason, void *opaque);
uint64_t virtagent_job_start(VirtagentChardev *va, const char *what,
                             VirtagentJobCancel *cancel, void *opaque);
void virtagent_job_end(uint64_t id);

/* The agent listed @method, or @feature, in its hello. */
bool virtagent_has_method(VirtagentChardev *va, const char *method);
bool virtagent_has_feature(VirtagentChardev *va, const char *feature);

/*
 * A call whose bytes travel in data frames beside it (docs/protocol.md
 * §1.1): uploaded after the call (@upload) or downloaded before the
 * answer, with flow control. Made like virtagent_call() (*@id: its id,
 * for virtagent_cancel()); NULL with @errp set when it cannot start.
 * Then, from one coroutine: a download takes what arrived with
 * virtagent_stream_receive() and grants room for more with
 * virtagent_stream_consumed() once it dealt with it; an upload sends
 * with virtagent_stream_send() and ends with virtagent_stream_finish().
 * virtagent_stream_end() waits for the answer and frees the stream.
 */
typedef struct VirtagentStream VirtagentStream;
VirtagentStream *virtagent_stream_call(VirtagentChardev *va,
                                       const char *method,
                                       xmlrpc_value *params,
                                       int64_t timeout_ms, bool upload,
                                       uint64_t *id, Error **errp);
/* What arrived (at most the window), waiting for some; NULL: no more. */
GBytes *coroutine_fn virtagent_stream_receive(VirtagentStream *st);
void virtagent_stream_consumed(VirtagentStream *st, size_t len);
/* Waits for room as needed; less than @len if the stream ended first. */
size_t coroutine_fn virtagent_stream_send(VirtagentStream *st,
                                          const void *buf, size_t len);
void virtagent_stream_finish(VirtagentStream *st);
/*
 * The answer (a new reference), or NULL with @errp set. @abort: the
 * caller gives up (a host file error): the stream is aborted and the
 * call cancelled first.
 */
xmlrpc_value *coroutine_fn virtagent_stream_end(VirtagentStream *st,
                                                bool abort, Error **errp);

/* A timeout in seconds from the monitor, as milliseconds (-1: default). */
int64_t virtagent_timeout_ms(bool has_timeout, double timeout, Error **errp);

VirtagentInfoList *virtagent_query(void);

/*
 * XML-RPC <-> QObject (qapi/virtagent.json describes the mapping).
 * Both return a new reference, or NULL with @errp set.
 */
QObject *virtagent_to_qobject(xmlrpc_value *v, Error **errp);
xmlrpc_value *virtagent_from_qobject(QObject *obj, Error **errp);

/*
 * What a typed command expects of a guest method's answer: @wrap names
 * the member of the command's return type that the answer becomes (a
 * list or a scalar); without it the answer must be a struct, without
 * 'id'. @required lists the struct's members that must be there, and
 * @base64 those that are <base64> (they become their base64 strings).
 * Both NULL-terminated, or NULL.
 */
typedef struct VirtagentTyped {
    const char *method;
    const char *wrap;
    const char *const *required;
    const char *const *base64;
} VirtagentTyped;

/*
 * The guest's @answer (borrowed) shaped for the QAPI input visitor, which
 * then checks the types; NULL with @errp set when it is no struct, lacks
 * a member, or is too large (lists, strings).
 */
QDict *virtagent_typed_answer(QObject *answer, const VirtagentTyped *t,
                              Error **errp);

#endif
