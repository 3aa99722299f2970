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
 * Completion of virtagent_call(), run once from a bottom half (never from
 * inside the chardev's I/O): @result (borrowed) or @err (to free).
 */
typedef void VirtagentDone(xmlrpc_value *result, Error *err, void *opaque);

/* The chardev @id, or the only one when @id is NULL. */
VirtagentChardev *virtagent_find(const char *id, Error **errp);
const char *virtagent_id(VirtagentChardev *va);

/*
 * Call @method with @params (an XML-RPC array, borrowed; NULL = none).
 * @timeout_ms < 0 takes the chardev's default. False with @errp set when
 * the call cannot start (port closed, queue full); @done then never runs.
 */
bool virtagent_call(VirtagentChardev *va, const char *method,
                    xmlrpc_value *params, int64_t timeout_ms,
                    VirtagentDone *done, void *opaque, Error **errp);

/*
 * The same, waiting in the current coroutine while the main loop runs.
 * Returns a new reference, or NULL with @errp set.
 */
xmlrpc_value *coroutine_fn virtagent_co_call(VirtagentChardev *va,
                                             const char *method,
                                             xmlrpc_value *params,
                                             int64_t timeout_ms,
                                             Error **errp);

/* A timeout in seconds from the monitor, as milliseconds (-1: default). */
int64_t virtagent_timeout_ms(bool has_timeout, double timeout, Error **errp);

VirtagentInfoList *virtagent_query(void);

/*
 * XML-RPC <-> QObject (qapi/virtagent.json describes the mapping).
 * Both return a new reference, or NULL with @errp set.
 */
QObject *virtagent_to_qobject(xmlrpc_value *v, Error **errp);
xmlrpc_value *virtagent_from_qobject(QObject *obj, Error **errp);

#endif
