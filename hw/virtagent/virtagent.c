/*
 * virtagent - the chardev backend: host end of the guest agent channel
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * -chardev virtagent,id=ID[,timeout=S][,window=N][,max-message=BYTES]
 *
 * The backend embeds the core's sans-I/O channel (hw/virtagent/core,
 * built from the project's virtagent/ directory): bytes the guest writes
 * go into va_channel_input(), the channel's output goes to the frontend
 * as fast as it accepts it, and its timers run on a QEMU_CLOCK_REALTIME
 * timer in the main AioContext. Everything runs under the BQL.
 *
 * Completions of our calls never run inside the chardev's I/O callbacks
 * (chr_write holds chr_write_lock and may run in a vCPU thread): they are
 * queued and run from a bottom half, which also flushes output and
 * re-arms the timer.
 *
 * The guest's calls are parsed, run and answered in QEMU's thread pool,
 * not under the BQL: what a guest document costs to parse is the guest's
 * choice within the limits, and no part of it may hold up the main loop.
 * The methods take the BQL for their short critical sections; each job
 * holds a reference to the chardev until it is back.
 *
 * Nothing of the chardev migrates: when a migration completes, the calls
 * in flight end with "VM migrated", and the destination learns the agent
 * again by calling it (virtagent-migration.c).
 *
 * The guest's calls are served in virtagent-host-methods.c, ours made in
 * virtagent-call.c, the chardevs listed in virtagent-query.c.
 */
#include "qemu/osdep.h"
#include "chardev/char.h"
#include "qapi/error.h"
#include "qapi/qapi-events-virtagent.h"
#include "qapi/qapi-types-char.h"
#include "block/thread-pool.h"
#include "qemu/main-loop.h"
#include "qemu/option.h"
#include "system/runstate.h"
#include "hw/virtagent/virtagent-internal.h"
#include "trace.h"

/* Bounds of the chardev options. */
#define VA_WINDOW_MAX 64
#define VA_MAX_MESSAGE_MIN 4096

/* Guest calls per second, and the burst (the core answers "rate limited"). */
#define VA_GUEST_CALL_RATE 50
#define VA_GUEST_CALL_BURST 100
/*
 * A guest call's body: a hello naming 256 methods fits with room to
 * spare. Answers to our calls keep max-message (getfile's chunks).
 */
#define VA_GUEST_CALL_MAX (64 * 1024)
/* Bytes of guest calls per second, and the burst: four of the largest. */
#define VA_GUEST_BYTE_RATE (64 * 1024)
#define VA_GUEST_BYTE_BURST (4 * VA_GUEST_CALL_MAX)
/* VA_GUEST_NOTIFY events per second, and the burst. */
#define VA_NOTIFY_RATE 1
#define VA_NOTIFY_BURST 10

VirtagentList virtagents = QTAILQ_HEAD_INITIALIZER(virtagents);
static Notifier virtagent_shutdown_notifier;

/* Called from inside the channel: only schedule. */
static void va_wakeup(void *opaque)
{
    VirtagentChardev *va = opaque;

    qemu_bh_schedule(va->bh);
}

void virtagent_flush(VirtagentChardev *va)
{
    Chardev *chr = CHARDEV(va);

    if (va->flushing) {
        return;
    }
    va->flushing = true;
    for (;;) {
        int room = qemu_chr_be_can_write(chr);
        const uint8_t *buf;
        size_t len;

        if (room <= 0) {
            break;
        }
        buf = va_channel_output(va->ch, &len);
        if (!len) {
            break;
        }
        /* Only what fits: virtio-serial drops the rest silently. */
        len = MIN(len, (size_t)room);
        trace_virtagent_output(va_label(va), len);
        qemu_chr_be_write(chr, buf, len);
        va_channel_output_done(va->ch, len);
    }
    va->flushing = false;
}

typedef struct VirtagentJob {
    VirtagentChardev *va;
    VAServerJob *job;
    uint64_t resets;        /* va->resets when it was submitted */
} VirtagentJob;

/* The guest call this worker thread runs. */
static __thread VirtagentJob *va_current_job;

bool virtagent_job_stale(VirtagentChardev *va)
{
    return va_current_job && va_current_job->resets != va->resets;
}

/* In a worker thread, without the BQL. */
static int va_job_run(void *opaque)
{
    VirtagentJob *j = opaque;

    va_current_job = j;
    va_server_job_execute(j->job);
    va_current_job = NULL;
    return 0;
}

static void va_job_done(void *opaque, int ret)
{
    VirtagentJob *j = opaque;

    va_channel_job_executed(j->va->ch, j->job);
    qemu_bh_schedule(j->va->bh);
    object_unref(OBJECT(j->va));
    g_free(j);
}

/* Called inside va_channel_input(): only queue, the bottom half submits. */
static void va_execute(VAChannel *ch, VAServerJob *job, void *opaque)
{
    VirtagentChardev *va = opaque;

    g_queue_push_tail(&va->to_execute, job);
    qemu_bh_schedule(va->bh);
}

static void va_submit_jobs(VirtagentChardev *va)
{
    VAServerJob *job;

    while ((job = g_queue_pop_head(&va->to_execute))) {
        VirtagentJob *j;

        if (va_server_job_orphaned(job)) {
            /* The port was reset since it arrived: drop it unrun. */
            va_channel_job_executed(va->ch, job);
            continue;
        }
        j = g_new(VirtagentJob, 1);
        j->va = va;
        j->job = job;
        j->resets = va->resets;
        object_ref(OBJECT(va));
        thread_pool_submit_aio(va_job_run, j, va_job_done, j);
    }
}

static void va_kick(void *opaque)
{
    VirtagentChardev *va = opaque;
    int64_t deadline;

    va_submit_jobs(va);
    virtagent_run_completed(va);
    virtagent_relearn(va);
    virtagent_flush(va);
    deadline = va_channel_deadline(va->ch);
    if (deadline < 0) {
        timer_del(va->timer);
    } else {
        timer_mod(va->timer, deadline);
    }
}

static void va_timer_cb(void *opaque)
{
    VirtagentChardev *va = opaque;

    va_channel_run_timers(va->ch);
    qemu_bh_schedule(va->bh);
}

/* The agent is gone or restarted: tell the management layer. */
void virtagent_agent_gone(VirtagentChardev *va, const char *reason)
{
    if (va->connected) {
        qapi_event_send_va_agent_disconnected(va_label(va), reason);
    }
    va->connected = false;
    g_clear_pointer(&va->agent_version, g_free);
    g_clear_pointer(&va->agent_session, g_free);
    g_clear_pointer(&va->agent_methods, g_strfreev);
    g_clear_pointer(&va->agent_features, g_strfreev);
}

void virtagent_reset(VirtagentChardev *va, const char *reason)
{
    trace_virtagent_reset(va_label(va), reason);
    va->resets++;
    virtagent_agent_gone(va, reason);
    va_channel_reset(va->ch, reason);
    qemu_bh_schedule(va->bh);
}

/* Calls must not outlive the monitors their callbacks print to. */
static void va_shutdown_notify(Notifier *n, void *data)
{
    VirtagentChardev *va;

    QTAILQ_FOREACH(va, &virtagents, next) {
        va->relearn = false;
        virtagent_reset(va, "QEMU is shutting down");
        virtagent_abandon_calls(va, "QEMU is shutting down");
    }
}

/* -- the chardev ------------------------------------------------------ */

static int va_chr_write(Chardev *chr, const uint8_t *buf, int len)
{
    VirtagentChardev *va = CHARDEV_VIRTAGENT(chr);

    trace_virtagent_input(va_label(va), len);
    /* All of it: a short write would stall a virtserialport for good. */
    va_channel_input(va->ch, buf, len);
    return len;
}

static void va_chr_accept_input(Chardev *chr)
{
    virtagent_flush(CHARDEV_VIRTAGENT(chr));
}

/* The VM resumed: its frontend may take output again. */
static void va_chr_update_read_handler(Chardev *chr)
{
    VirtagentChardev *va = CHARDEV_VIRTAGENT(chr);

    qemu_bh_schedule(va->bh);
}

/*
 * The guest opened or closed the port, or the device was reset or
 * unplugged: either way the byte stream starts over.
 */
static void va_chr_set_fe_open(Chardev *chr, int fe_open)
{
    VirtagentChardev *va = CHARDEV_VIRTAGENT(chr);

    trace_virtagent_fe_open(va_label(va), fe_open);
    va->fe_open = fe_open;
    if (!fe_open) {
        /* Whatever opens the port next says hello. */
        va->relearn = false;
    }
    virtagent_reset(va, fe_open ? "port reopened" : "port closed");
}

static void va_chr_open(Chardev *chr, ChardevBackend *backend,
                        bool *be_opened, Error **errp)
{
    VirtagentChardev *va = CHARDEV_VIRTAGENT(chr);
    ChardevVirtagent *opts = backend->u.virtagent.data;
    static const VAChannelOps ops = {
        .now_ms = va_now_ms,
        .wakeup = va_wakeup,
        .execute = va_execute,
    };
    g_autoptr(GError) gerr = NULL;
    VAChannelConfig cfg;

    QTAILQ_INIT(&va->calls);
    va_channel_config_init(&cfg);
    if (opts->has_timeout) {
        if (!opts->timeout || opts->timeout > VA_TIMEOUT_MAX_S) {
            error_setg(errp, "virtagent: timeout must be 1 to %d seconds",
                       VA_TIMEOUT_MAX_S);
            return;
        }
        cfg.default_timeout_ms = opts->timeout * 1000;
    }
    if (opts->has_window) {
        if (!opts->window || opts->window > VA_WINDOW_MAX) {
            error_setg(errp, "virtagent: window must be 1 to %d",
                       VA_WINDOW_MAX);
            return;
        }
        cfg.window = opts->window;
    }
    if (opts->has_max_message) {
        if (opts->max_message < VA_MAX_MESSAGE_MIN ||
            opts->max_message > VA_MAX_BODY_LIMIT) {
            error_setg(errp, "virtagent: max-message must be %d to %d bytes",
                       VA_MAX_MESSAGE_MIN, VA_MAX_BODY_LIMIT);
            return;
        }
        cfg.max_body = opts->max_message;
    }
    va->max_body = cfg.max_body;
    cfg.peer_call_rate = VA_GUEST_CALL_RATE;
    cfg.peer_call_burst = VA_GUEST_CALL_BURST;
    cfg.max_peer_call = MIN(VA_GUEST_CALL_MAX, cfg.max_body);
    cfg.peer_byte_rate = VA_GUEST_BYTE_RATE;
    cfg.peer_byte_burst = VA_GUEST_BYTE_BURST;
    /* The guest can write us any frame: a raw body costs us no safety. */
    cfg.accept_raw_data = true;
    va->policy = va_method_policy_new(VA_HOST_METHODS, NULL);
    cfg.policy = va->policy;

    va->bh = aio_bh_new(qemu_get_aio_context(), va_kick, va);
    /* In the AioContext, so it fires while monitor_cleanup() polls. */
    va->timer = aio_timer_new(qemu_get_aio_context(), QEMU_CLOCK_REALTIME,
                              SCALE_MS, va_timer_cb, va);
    va->ch = va_channel_new(&cfg, &ops, va, &gerr);
    if (!va->ch) {
        error_setg(errp, "virtagent: %s", gerr->message);
        return;
    }
    if (!virtagent_register_methods(va, errp)) {
        return;
    }
    va_rate_limit_init(&va->notify_rate, VA_NOTIFY_RATE, VA_NOTIFY_BURST,
                       va_now_ms(NULL));

    if (!virtagent_shutdown_notifier.notify) {
        virtagent_shutdown_notifier.notify = va_shutdown_notify;
        qemu_register_shutdown_notifier(&virtagent_shutdown_notifier);
    }
    QTAILQ_INSERT_TAIL(&virtagents, va, next);
    va->listed = true;
    virtagent_migration_init(va);
    trace_virtagent_open(chr->label, cfg.window, cfg.default_timeout_ms,
                         cfg.max_body);
    /* Else virtio-serial discards what the guest writes. */
    *be_opened = true;
}

static void va_chr_finalize(Object *obj)
{
    VirtagentChardev *va = CHARDEV_VIRTAGENT(obj);

    if (va->listed) {
        QTAILQ_REMOVE(&virtagents, va, next);
        virtagent_migration_cleanup(va);
    }
    if (va->ch) {
        virtagent_reset(va, "chardev removed");
        virtagent_abandon_calls(va, "chardev removed");
        /* Never submitted: they hold no reference. */
        while (!g_queue_is_empty(&va->to_execute)) {
            va_channel_job_executed(va->ch,
                                    g_queue_pop_head(&va->to_execute));
        }
        va_channel_free(va->ch);
    }
    g_clear_pointer(&va->timer, timer_free);
    g_clear_pointer(&va->bh, qemu_bh_delete);
    va_method_policy_free(va->policy);
}

static void va_chr_parse(QemuOpts *opts, ChardevBackend *backend,
                         Error **errp)
{
    ChardevVirtagent *va = g_new0(ChardevVirtagent, 1);

    backend->type = CHARDEV_BACKEND_KIND_VIRTAGENT;
    backend->u.virtagent.data = va;
    qemu_chr_parse_common(opts, qapi_ChardevVirtagent_base(va));
    if (qemu_opt_get(opts, "timeout")) {
        va->has_timeout = true;
        va->timeout = MIN(qemu_opt_get_number(opts, "timeout", 0),
                          UINT32_MAX);
    }
    if (qemu_opt_get(opts, "window")) {
        va->has_window = true;
        va->window = MIN(qemu_opt_get_number(opts, "window", 0),
                         UINT32_MAX);
    }
    if (qemu_opt_get(opts, "max-message")) {
        va->has_max_message = true;
        va->max_message = qemu_opt_get_size(opts, "max-message", 0);
    }
}

static void va_chr_class_init(ObjectClass *oc, void *data)
{
    ChardevClass *cc = CHARDEV_CLASS(oc);

    cc->parse = va_chr_parse;
    cc->open = va_chr_open;
    cc->chr_write = va_chr_write;
    cc->chr_accept_input = va_chr_accept_input;
    cc->chr_update_read_handler = va_chr_update_read_handler;
    cc->chr_set_fe_open = va_chr_set_fe_open;
}

static const TypeInfo va_chr_type_info = {
    .name = TYPE_CHARDEV_VIRTAGENT,
    .parent = TYPE_CHARDEV,
    .instance_size = sizeof(VirtagentChardev),
    .instance_finalize = va_chr_finalize,
    .class_init = va_chr_class_init,
};

static void va_register_types(void)
{
    type_register_static(&va_chr_type_info);
}

type_init(va_register_types);
