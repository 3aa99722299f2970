/*
 * qemu-va - the RPC methods the guest agent serves to the host
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Plain xmlrpc-c methods: most know nothing of channels, so they can be
 * tested through xmlrpc_registry_process_call2() alone; the daemon's
 * executor runs the few that stream data or write their own answer
 * (va_guest_method_run, va_guest_rpc_execute). What they need
 * from the daemon (the session id, the shutdown action, the policy, a
 * call to the host) comes through VAGuestOps. The methods themselves live
 * in methods/, one file a domain.
 */
#ifndef QEMU_VA_GUEST_RPC_H
#define QEMU_VA_GUEST_RPC_H

#include <stdbool.h>
#include <stdint.h>
#include <xmlrpc-c/base.h>
#include <xmlrpc-c/server.h>
#include <glib.h>

#include "va-channel.h"

#define QEMU_VA_VERSION "2.0.0"

/*
 * va.getfile: largest chunk read per call. Base64 makes it 4/3 larger,
 * which still fits the default 2 MiB body with room to spare.
 */
#define VA_GETFILE_CHUNK_MAX (1024 * 1024)
/* va.file_open: handles open at once, all sessions together. */
#define VA_FILE_HANDLES_MAX 32
/* va.getdmesg: the most it returns (a kernel log buffer is rarely more). */
#define VA_DMESG_MAX (1024 * 1024)

typedef enum VAShutdownMode {
    VA_SHUTDOWN_HALT,
    VA_SHUTDOWN_POWERDOWN,
    VA_SHUTDOWN_REBOOT,
    VA_SHUTDOWN__MAX,
} VAShutdownMode;

extern const char *const va_shutdown_mode_names[VA_SHUTDOWN__MAX];

typedef struct VAGuestOps {
    /* Session id of the channel a call came in on (its callInfo). */
    const char *(*session)(void *call_info, void *opaque);
    /*
     * va.shutdown was accepted: run @mode once the reply is out. False
     * refuses it (a shutdown is already under way).
     */
    bool (*shutdown)(void *call_info, VAShutdownMode mode, void *opaque);
    /* Whether the policy lets the host call @method; NULL: all are. */
    bool (*method_enabled)(const char *method, void *opaque);
    /*
     * Call @method on the host with @params (borrowed), in
     * the main loop, not waiting for the answer; NULL: no host to call.
     */
    void (*call_host)(const char *method, xmlrpc_value *params,
                      void *opaque);
    /*
     * The filesystems were frozen or thawed (from any thread): whatever
     * writes to disk (a log file) must wait. NULL: nothing to do.
     */
    void (*frozen)(bool frozen, void *opaque);
    /*
     * Run @fn(@data, true) in a thread of its own once the reply to this
     * call has been written out (it may not return before the guest
     * resumes); if the channel is reset first, @fn(@data, false) only
     * frees @data. False: @fn is never called.
     */
    bool (*after_reply)(void *call_info, void (*fn)(void *data, bool run),
                        void *data, void *opaque);
} VAGuestOps;

typedef struct VAExecTable VAExecTable;
typedef struct VAFileTable VAFileTable;
typedef struct VAFreezeState VAFreezeState;
typedef struct VADataTable VADataTable;

typedef struct VAGuestRpc {
    VAGuestOps ops;
    void *opaque;
    /* Where the kernel log is read; NULL means /dev/kmsg. */
    const char *kmsg_path;
    /* Where the OS is described; NULL means /etc/os-release. */
    const char *os_release_path;
    /*
     * Prefix of the system files the methods read and write (/etc,
     * /proc, /sys, /dev/rtc, /var/run/utmp); NULL is the real root. The
     * tests point it at a tree of their own.
     */
    const char *sysroot;
    /* Sets the system clock; NULL: clock_settime(CLOCK_REALTIME). */
    int (*set_clock)(int64_t ns);
    /* FIFREEZE, FITHAW, FITRIM; NULL: ioctl(2). */
    int (*fs_ioctl)(int fd, unsigned long request, void *arg);
    /*
     * Where va.putfile's temporaries are recorded while they exist, for
     * va_put_reclaim(); NULL: not recorded.
     */
    const char *statedir;
    /* Run with "freeze" before a freeze, "thaw" after; NULL: none. */
    const char *fsfreeze_hook;
    /* A freeze not thawed within this is thawed; 0: never. */
    unsigned fsfreeze_timeout_s;
    /* Domain state, set up by va_guest_rpc_register(). */
    VAExecTable *exec;
    VAFileTable *files;
    VAFreezeState *freeze;
    VADataTable *data;
    GPtrArray *methods;
} VAGuestRpc;

/* Adds every va.* method to @ch; @rpc must outlive the channel. */
void va_guest_rpc_register(VAGuestRpc *rpc, VAChannel *ch, xmlrpc_env *env);
/* Frees the domains' state (after the registry's last call). */
void va_guest_rpc_cleanup(VAGuestRpc *rpc);
/* The channel was reset: what belongs to the session (handles) goes. */
void va_guest_rpc_session_end(VAGuestRpc *rpc);

/* How the daemon's executor runs a peer call, by its method's name. */
typedef enum VAGuestRun {
    VA_GUEST_RUN_INLINE,    /* va_server_job_execute() in the main loop */
    VA_GUEST_RUN_POOL,      /* it may block: va_guest_rpc_execute() */
    VA_GUEST_RUN_START,     /* it streams: va_guest_rpc_start() */
} VAGuestRun;

VAGuestRun va_guest_method_run(const char *method);
/* The same for @job, by the method its channel found for its name. */
VAGuestRun va_guest_job_run(VAServerJob *job);
/*
 * Answers @job of @ch in any thread: through the method's own XML
 * writer when it has one (@max_body is the channel's), else through the
 * registry. Then the caller runs va_channel_job_executed() in the
 * channel's thread.
 */
void va_guest_rpc_execute(VAGuestRpc *rpc, VAChannel *ch, VAServerJob *job,
                          size_t max_body);
/*
 * In the channel's thread: hands @job to its streaming method, which
 * answers it and calls va_channel_job_executed() when it is done (a
 * refusal at once).
 */
void va_guest_rpc_start(VAGuestRpc *rpc, VAChannel *ch, VAServerJob *job,
                        size_t max_body);

/* The enabled method names as an XML-RPC array (for capabilities, hello). */
xmlrpc_value *va_guest_method_list(VAGuestRpc *rpc, xmlrpc_env *env);
/* The protocol features we speak, for capabilities and the hello. */
xmlrpc_value *va_guest_features(xmlrpc_env *env);
/* {name: signatures} of the enabled methods, in xmlrpc-c's notation. */
xmlrpc_value *va_guest_method_signatures(VAGuestRpc *rpc, xmlrpc_env *env);

/* A string value from system text: invalid UTF-8 and controls replaced. */
xmlrpc_value *va_text_value(xmlrpc_env *env, const char *text, size_t len);

#endif
