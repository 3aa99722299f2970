/*
 * qemu-va - the local socket: guest programs' calls forwarded to the host
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * va-call and session agents connect to a unix socket and speak the
 * virtagent protocol there. Each connection is a channel of its own; the
 * calls it receives are passed to the host channel as they are
 * (va_channel_call_xml) and each answer goes back to its caller.
 */
#ifndef QEMU_VA_FORWARDER_H
#define QEMU_VA_FORWARDER_H

#include "va-glib.h"

/* Connections served at once; more are closed at once. */
#define VA_FWD_MAX_CLIENTS 16
/* Calls of one connection forwarded or waiting (its execution limit). */
#define VA_FWD_PER_CLIENT 4
/*
 * Forwarded calls pending on the host channel, all clients together: well
 * under its queue, so the agent's own calls always find room.
 */
#define VA_FWD_IN_FLIGHT_MAX 8

typedef struct VAForwarder VAForwarder;

/*
 * Listens on @path (replacing a stale socket), mode 0660, group @group
 * (a name or number; NULL keeps ours).
 */
VAForwarder *va_forwarder_new(const char *path, const char *group,
                              VAGlibChannel *host, GError **errp);
/* Closes every connection and removes the socket. */
void va_forwarder_free(VAForwarder *fwd);

#endif
