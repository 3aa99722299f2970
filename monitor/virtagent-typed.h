/*
 * virtagent - the typed commands' checks of a guest's answer
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Defined in virtagent-qmp-cmds.c, where the QMP commands of qemu-ga's
 * kind use them; the HMP commands print what they return, so that both
 * monitors refuse the same answers.
 */
#ifndef MONITOR_VIRTAGENT_TYPED_H
#define MONITOR_VIRTAGENT_TYPED_H

#include "hw/virtagent/virtagent.h"

extern const VirtagentTyped va_typed_exec;
extern const VirtagentTyped va_typed_exec_status;
extern const VirtagentTyped va_typed_fsfreeze_freeze;
extern const VirtagentTyped va_typed_fsfreeze_thaw;
extern const VirtagentTyped va_typed_fsfreeze_status;
extern const VirtagentTyped va_typed_network;
extern const VirtagentTyped va_typed_get_time;
extern const VirtagentTyped va_typed_users;
extern const VirtagentTyped va_typed_fsinfo;

/*
 * The guest's @answer (borrowed) for the method @t describes, checked
 * and converted; NULL with @errp set when it does not fit.
 */
VaExecPid *va_exec_pid_from(const VirtagentTyped *t, QObject *answer,
                            Error **errp);
VaExecStatus *va_exec_status_from(const VirtagentTyped *t, QObject *answer,
                                  Error **errp);
VaCount *va_count_from(const VirtagentTyped *t, QObject *answer,
                       Error **errp);
VaFsfreezeStatus *va_fsfreeze_status_from(const VirtagentTyped *t,
                                          QObject *answer, Error **errp);
VaNetworkInterfaces *va_network_interfaces_from(const VirtagentTyped *t,
                                                QObject *answer,
                                                Error **errp);
VaTime *va_time_from(const VirtagentTyped *t, QObject *answer,
                     Error **errp);
VaUsers *va_users_from(const VirtagentTyped *t, QObject *answer,
                       Error **errp);
VaFilesystems *va_filesystems_from(const VirtagentTyped *t, QObject *answer,
                                   Error **errp);
VaVcpus *va_vcpus_from(const VirtagentTyped *t, QObject *answer,
                       Error **errp);
VaAuthorizedKeys *va_authorized_keys_from(const VirtagentTyped *t,
                                          QObject *answer, Error **errp);

/*
 * A whole file moved between the guest's @path and the host's @fd, in
 * the data frames of one va.getfile_data or va.putfile_data call when
 * the agent has them, else in chunks of va.getfile or va.putfile calls;
 * the fd is read or written in worker threads. @call_ms > 0 bounds the whole transfer, not each call:
 * a guest that trickles its chunks must not hold the QMP dispatcher, nor
 * fill the host's file, for longer than that. @call_ms < 0 (an
 * interactive HMP monitor, or an asynchronous command) bounds each call
 * by the chardev's default. @fdname names the fd in messages. The
 * transfer is a job of its chardev (virtagent_job_start(): listed by
 * query-virtagent, ended by va-cancel) under @job, started here unless
 * the caller did (va_xfer_begin()). True with @size and @sha256 (g_free)
 * set.
 */
typedef struct VaTransfer {
    const char *chardev;
    const char *path;
    const char *fdname;
    int fd;
    bool put;
    int64_t call_ms;
    int64_t deadline_ms;        /* QEMU_CLOCK_REALTIME; 0: none */
    int64_t offset;             /* va.getfile's first */
    bool has_mode;              /* va.putfile's options */
    int64_t mode;
    const char *owner;
    int64_t size;
    char *sha256;
    uint64_t job;
    uint64_t call;              /* the call pending, 0 if none */
    int64_t transfer;           /* va.putfile's, once the guest named it */
    bool data;                  /* through data frames (va.*_data) */
    bool raw;                   /* a get's frames come raw (data-raw) */
    char *cancelled;            /* why the job was cancelled */
} VaTransfer;

bool va_xfer_begin(VaTransfer *x, Error **errp);

bool coroutine_fn virtagent_co_transfer(VaTransfer *x, Error **errp);

#endif
