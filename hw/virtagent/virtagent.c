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
 * Migration is blocked while the chardev exists: calls in flight and the
 * agent's session live only in this process, and a virtserialport's
 * buffered bytes would arrive mid-frame on the destination.
 */
#include "qemu/osdep.h"
#include "chardev/char.h"
#include "migration/blocker.h"
#include "qapi/error.h"
#include "qapi/qapi-events-virtagent.h"
#include "qapi/qapi-types-char.h"
#include "qemu/coroutine.h"
#include "qemu/main-loop.h"
#include "qemu/option.h"
#include "qemu/queue.h"
#include "qemu/timer.h"
#include "qobject/qjson.h"
#include "qobject/qobject.h"
#include "system/runstate.h"
#include "hw/virtagent/virtagent.h"
#include "trace.h"
#include "va-channel.h"

#define TYPE_CHARDEV_VIRTAGENT "chardev-virtagent"
OBJECT_DECLARE_SIMPLE_TYPE(VirtagentChardev, CHARDEV_VIRTAGENT)

/* Bounds of the chardev options. */
#define VA_TIMEOUT_MAX_S 3600
#define VA_WINDOW_MAX 64
#define VA_MAX_MESSAGE_MIN 4096

/* What the guest may call here; system.multicall would evade the limits. */
#define VA_HOST_METHODS "va.hello,va.ping,va.capabilities,va.notify"
/* Guest calls per second, and the burst (the core answers "rate limited"). */
#define VA_GUEST_CALL_RATE 50
#define VA_GUEST_CALL_BURST 100
/* VA_GUEST_NOTIFY events per second, and the burst. */
#define VA_NOTIFY_RATE 1
#define VA_NOTIFY_BURST 10
/* Bounds of what a guest's hello and notify may carry. */
#define VA_NAME_MAX 64
#define VA_HELLO_METHODS_MAX 256
#define VA_NOTIFY_DATA_MAX 4096

#define VA_HOST_VERSION "qemu " QEMU_VERSION

struct VirtagentChardev {
    Chardev parent;
    VAChannel *ch;
    VAMethodPolicy *policy;
    /* Runs completions, flushes output, re-arms the timer. */
    QEMUBH *bh;
    QEMUTimer *timer;
    Error *migration_blocker;
    /* VirtagentCall whose completion waits for the bottom half. */
    GQueue completed;
    /* The guest side of the port is open. */
    bool fe_open;
    /* Guards against the frontend asking for more output while we write. */
    bool flushing;
    /* The agent said hello in this session; what it said. */
    bool connected;
    char *agent_version;
    char *agent_session;
    GStrv agent_methods;
    VARateLimit notify_rate;
    uint64_t notify_dropped;
    bool listed;
    QTAILQ_ENTRY(VirtagentChardev) next;
};

typedef struct VirtagentCall {
    VACallId id;
    VirtagentDone *done;
    void *opaque;
    xmlrpc_value *result;
    Error *err;
} VirtagentCall;

static QTAILQ_HEAD(, VirtagentChardev) virtagents =
    QTAILQ_HEAD_INITIALIZER(virtagents);
static Notifier virtagent_shutdown_notifier;

static const char *va_label(VirtagentChardev *va)
{
    return CHARDEV(va)->label;
}

const char *virtagent_id(VirtagentChardev *va)
{
    return va_label(va);
}

static int64_t va_now_ms(void *opaque)
{
    return qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
}

/* Called from inside the channel: only schedule. */
static void va_wakeup(void *opaque)
{
    VirtagentChardev *va = opaque;

    qemu_bh_schedule(va->bh);
}

static void va_flush(VirtagentChardev *va)
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

static void va_run_completed(VirtagentChardev *va)
{
    VirtagentCall *c;

    while ((c = g_queue_pop_head(&va->completed))) {
        trace_virtagent_call_done(va_label(va), c->id,
                                  c->err ? error_get_pretty(c->err) : "ok");
        c->done(c->result, c->err, c->opaque);
        if (c->result) {
            xmlrpc_DECREF(c->result);
        }
        g_free(c);
    }
}

static void va_kick(void *opaque)
{
    VirtagentChardev *va = opaque;
    int64_t deadline;

    va_run_completed(va);
    va_flush(va);
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
static void va_agent_gone(VirtagentChardev *va, const char *reason)
{
    if (va->connected) {
        qapi_event_send_va_agent_disconnected(va_label(va), reason);
    }
    va->connected = false;
    g_clear_pointer(&va->agent_version, g_free);
    g_clear_pointer(&va->agent_session, g_free);
    g_clear_pointer(&va->agent_methods, g_strfreev);
}

static void va_reset(VirtagentChardev *va, const char *reason)
{
    trace_virtagent_reset(va_label(va), reason);
    va_agent_gone(va, reason);
    va_channel_reset(va->ch, reason);
    qemu_bh_schedule(va->bh);
}

/* -- the guest's calls ---------------------------------------------- */

static VirtagentChardev *va_from_call(void *call_info)
{
    return va_channel_opaque(call_info);
}

static bool va_count_params(xmlrpc_env *env, xmlrpc_value *params,
                            int min, int max)
{
    int n = xmlrpc_array_size(env, params);

    if (!env->fault_occurred && (n < min || n > max)) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "expected %d to %d parameters, got %d",
                                       min, max, n);
    }
    return !env->fault_occurred;
}

/*
 * A bounded string of printable ASCII: names and sessions, and versions,
 * which may also hold spaces.
 */
static char *va_read_name(xmlrpc_env *env, xmlrpc_value *v, const char *what,
                          bool spaces)
{
    const char *s;
    size_t len, i;
    char *ret;

    xmlrpc_read_string_lp(env, v, &len, &s);
    if (env->fault_occurred) {
        return NULL;
    }
    for (i = 0; i < len && (g_ascii_isgraph(s[i]) ||
                            (spaces && s[i] == ' ')); i++) {
        continue;
    }
    if (!len || len > VA_NAME_MAX || i < len) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "%s must be 1 to %d printable "
                                       "characters", what, VA_NAME_MAX);
        free((void *)s);
        return NULL;
    }
    ret = g_strndup(s, len);
    free((void *)s);
    return ret;
}

static char *va_struct_name(xmlrpc_env *env, xmlrpc_value *st,
                            const char *key)
{
    xmlrpc_value *v;
    char *ret;

    xmlrpc_struct_find_value(env, st, key, &v);
    if (env->fault_occurred) {
        return NULL;
    }
    if (!v) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "hello lacks '%s'", key);
        return NULL;
    }
    ret = va_read_name(env, v, key, !strcmp(key, "version"));
    xmlrpc_DECREF(v);
    return ret;
}

/* The optional method list of a hello, NULL-terminated. */
static GStrv va_hello_methods(xmlrpc_env *env, xmlrpc_value *st)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    xmlrpc_value *methods;
    int i, n;

    xmlrpc_struct_find_value(env, st, "methods", &methods);
    if (env->fault_occurred || !methods) {
        return NULL;
    }
    n = xmlrpc_value_type(methods) == XMLRPC_TYPE_ARRAY ?
        xmlrpc_array_size(env, methods) : -1;
    if (n < 0 || n > VA_HELLO_METHODS_MAX) {
        xmlrpc_env_set_fault_formatted(env, VA_FAULT_INVALID_ARGS,
                                       "methods must be an array of at "
                                       "most %d names", VA_HELLO_METHODS_MAX);
    }
    for (i = 0; i < n && !env->fault_occurred; i++) {
        xmlrpc_value *item;
        char *name;

        xmlrpc_array_read_item(env, methods, i, &item);
        if (env->fault_occurred) {
            break;
        }
        name = va_read_name(env, item, "a method name", false);
        xmlrpc_DECREF(item);
        if (name) {
            g_ptr_array_add(names, name);
        }
    }
    xmlrpc_DECREF(methods);
    if (env->fault_occurred) {
        return NULL;
    }
    g_ptr_array_add(names, NULL);
    return (GStrv)g_ptr_array_free(g_steal_pointer(&names), false);
}

static xmlrpc_value *va_host_methods(xmlrpc_env *env)
{
    g_auto(GStrv) names = g_strsplit(VA_HOST_METHODS, ",", -1);
    xmlrpc_value *list = xmlrpc_array_new(env);
    char **p;

    for (p = names; *p && !env->fault_occurred; p++) {
        xmlrpc_value *s = xmlrpc_string_new(env, *p);

        if (s) {
            xmlrpc_array_append_item(env, list, s);
            xmlrpc_DECREF(s);
        }
    }
    return list;
}

/* {version, methods}: what va.capabilities and va.hello answer */
static xmlrpc_value *va_host_info(xmlrpc_env *env, VirtagentChardev *va,
                                  bool with_session)
{
    xmlrpc_value *methods = va_host_methods(env);
    xmlrpc_value *ret;

    if (env->fault_occurred) {
        return NULL;
    }
    if (with_session) {
        ret = xmlrpc_build_value(env, "{s:s,s:s,s:A}",
                                 "version", VA_HOST_VERSION,
                                 "session", va_channel_session(va->ch),
                                 "methods", methods);
    } else {
        ret = xmlrpc_build_value(env, "{s:s,s:A}",
                                 "version", VA_HOST_VERSION,
                                 "methods", methods);
    }
    xmlrpc_DECREF(methods);
    return ret;
}

/*
 * va.hello({version, session, methods, ...}): the agent (re)connected.
 * Other members (its limits) are accepted and ignored.
 */
static xmlrpc_value *va_rpc_hello(xmlrpc_env *env, xmlrpc_value *params,
                                  void *server_info, void *call_info)
{
    VirtagentChardev *va = va_from_call(call_info);
    g_autofree char *version = NULL;
    g_autofree char *session = NULL;
    g_auto(GStrv) methods = NULL;
    xmlrpc_value *st;
    bool restarted;

    if (!va_count_params(env, params, 1, 1)) {
        return NULL;
    }
    xmlrpc_array_read_item(env, params, 0, &st);
    if (env->fault_occurred) {
        return NULL;
    }
    if (xmlrpc_value_type(st) != XMLRPC_TYPE_STRUCT) {
        xmlrpc_env_set_fault(env, VA_FAULT_INVALID_ARGS,
                             "hello takes a struct");
        xmlrpc_DECREF(st);
        return NULL;
    }
    version = va_struct_name(env, st, "version");
    if (version) {
        session = va_struct_name(env, st, "session");
    }
    if (session) {
        methods = va_hello_methods(env, st);
    }
    xmlrpc_DECREF(st);
    if (env->fault_occurred) {
        return NULL;
    }

    trace_virtagent_hello(va_label(va), version, session);
    /* A new session fails our calls to the old one. */
    restarted = va_channel_peer_session(va->ch, session);
    if (va->connected && !restarted) {
        /* A repeated hello of the same session changes nothing. */
        return va_host_info(env, va, true);
    }
    va_agent_gone(va, "agent restarted");
    va->connected = true;
    va->agent_version = g_steal_pointer(&version);
    va->agent_session = g_steal_pointer(&session);
    va->agent_methods = g_steal_pointer(&methods);
    qapi_event_send_va_agent_connected(va_label(va), va->agent_version,
                                       va->agent_session);
    return va_host_info(env, va, true);
}

static xmlrpc_value *va_rpc_ping(xmlrpc_env *env, xmlrpc_value *params,
                                 void *server_info, void *call_info)
{
    if (!va_count_params(env, params, 0, 0)) {
        return NULL;
    }
    return xmlrpc_string_new(env, "pong");
}

static xmlrpc_value *va_rpc_capabilities(xmlrpc_env *env,
                                         xmlrpc_value *params,
                                         void *server_info, void *call_info)
{
    if (!va_count_params(env, params, 0, 0)) {
        return NULL;
    }
    return va_host_info(env, va_from_call(call_info), false);
}

/* va.notify(name[, data]) -> VA_GUEST_NOTIFY, rate-limited */
static xmlrpc_value *va_rpc_notify(xmlrpc_env *env, xmlrpc_value *params,
                                   void *server_info, void *call_info)
{
    VirtagentChardev *va = va_from_call(call_info);
    g_autofree char *name = NULL;
    g_autoptr(GString) json = NULL;
    QObject *data = NULL;
    xmlrpc_value *v;
    Error *err = NULL;

    if (!va_count_params(env, params, 1, 2)) {
        return NULL;
    }
    xmlrpc_array_read_item(env, params, 0, &v);
    if (env->fault_occurred) {
        return NULL;
    }
    name = va_read_name(env, v, "name", false);
    xmlrpc_DECREF(v);
    if (!name) {
        return NULL;
    }
    if (!va_rate_limit_take(&va->notify_rate, va_now_ms(NULL))) {
        va->notify_dropped++;
        trace_virtagent_notify(va_label(va), name, true);
        xmlrpc_env_set_fault(env, VA_FAULT_RATE_LIMITED,
                             "too many notifications");
        return NULL;
    }
    if (xmlrpc_array_size(env, params) == 2) {
        xmlrpc_array_read_item(env, params, 1, &v);
        if (env->fault_occurred) {
            return NULL;
        }
        data = virtagent_to_qobject(v, &err);
        xmlrpc_DECREF(v);
        if (!data) {
            xmlrpc_env_set_fault(env, VA_FAULT_INVALID_ARGS,
                                 error_get_pretty(err));
            error_free(err);
            return NULL;
        }
        json = qobject_to_json(data);
        if (json->len > VA_NOTIFY_DATA_MAX) {
            qobject_unref(data);
            xmlrpc_env_set_fault_formatted(env, VA_FAULT_TOO_LARGE,
                                           "data over %d bytes as JSON",
                                           VA_NOTIFY_DATA_MAX);
            return NULL;
        }
    }
    trace_virtagent_notify(va_label(va), name, false);
    qapi_event_send_va_guest_notify(va_label(va), name, data);
    qobject_unref(data);
    return xmlrpc_bool_new(env, true);
}

static bool va_register_methods(VirtagentChardev *va, Error **errp)
{
    static const struct xmlrpc_method_info3 methods[] = {
        {
            .methodName = "va.hello",
            .methodFunction = va_rpc_hello,
            .signatureString = "S:S",
            .help = "va.hello({version, session, methods}): the agent "
                    "(re)connected; returns the host's "
                    "{version, session, methods}",
        }, {
            .methodName = "va.ping",
            .methodFunction = va_rpc_ping,
            .signatureString = "s:",
            .help = "va.ping(): returns \"pong\"",
        }, {
            .methodName = "va.capabilities",
            .methodFunction = va_rpc_capabilities,
            .signatureString = "S:",
            .help = "va.capabilities(): returns {version, methods}",
        }, {
            .methodName = "va.notify",
            .methodFunction = va_rpc_notify,
            .help = "va.notify(name[, data]): emits QMP event "
                    "VA_GUEST_NOTIFY; rate-limited",
        },
    };
    xmlrpc_registry *reg = va_channel_registry(va->ch);
    xmlrpc_env env;
    size_t i;
    bool ok;

    xmlrpc_env_init(&env);
    for (i = 0; i < ARRAY_SIZE(methods) && !env.fault_occurred; i++) {
        xmlrpc_registry_add_method3(&env, reg, &methods[i]);
    }
    ok = !env.fault_occurred;
    if (!ok) {
        error_setg(errp, "cannot register virtagent methods: %s",
                   env.fault_string);
    }
    xmlrpc_env_clean(&env);
    return ok;
}

/* -- our calls -------------------------------------------------------- */

static Error *va_call_error(VirtagentChardev *va, const GError *gerr)
{
    Error *err = NULL;

    if (gerr->domain == VA_FAULT) {
        error_setg(&err, "guest fault %d: %s", gerr->code, gerr->message);
    } else if (gerr->domain == VA_ERROR && gerr->code == VA_ERROR_TIMEOUT) {
        error_setg(&err, "virtagent '%s': timed out waiting for the guest "
                   "agent", va_label(va));
    } else if (gerr->domain == VA_ERROR &&
               gerr->code == VA_ERROR_DISCONNECTED) {
        error_setg(&err, "virtagent '%s': guest agent disconnected during "
                   "the call (%s)", va_label(va), gerr->message);
    } else {
        error_setg(&err, "virtagent '%s': %s", va_label(va), gerr->message);
    }
    return err;
}

static void va_call_finished(VAChannel *ch, VACallId id,
                             xmlrpc_value *result, const GError *gerr,
                             void *opaque)
{
    VirtagentChardev *va = va_channel_opaque(ch);
    VirtagentCall *c = opaque;

    if (gerr) {
        c->err = va_call_error(va, gerr);
    } else {
        xmlrpc_INCREF(result);
        c->result = result;
    }
    g_queue_push_tail(&va->completed, c);
    qemu_bh_schedule(va->bh);
}

bool virtagent_call(VirtagentChardev *va, const char *method,
                    xmlrpc_value *params, int64_t timeout_ms,
                    VirtagentDone *done, void *opaque, Error **errp)
{
    g_autoptr(GError) gerr = NULL;
    VirtagentCall *c;

    /*
     * After chardev-change a virtserialport that the guest holds open
     * reports no open until the guest reopens it; it takes bytes only
     * while the guest listens, though.
     */
    if (!va->fe_open && qemu_chr_be_can_write(CHARDEV(va)) <= 0) {
        error_setg(errp, "virtagent '%s': guest agent not connected "
                   "(port closed)", va_label(va));
        return false;
    }
    c = g_new0(VirtagentCall, 1);
    c->done = done;
    c->opaque = opaque;
    c->id = va_channel_call(va->ch, method, params, timeout_ms,
                            va_call_finished, c, &gerr);
    if (!c->id) {
        error_setg(errp, "virtagent '%s': %s", va_label(va), gerr->message);
        g_free(c);
        return false;
    }
    trace_virtagent_call(va_label(va), method, c->id);
    return true;
}

typedef struct VirtagentCoWait {
    Coroutine *co;
    bool done;
    xmlrpc_value *result;
    Error *err;
} VirtagentCoWait;

static void va_co_done(xmlrpc_value *result, Error *err, void *opaque)
{
    VirtagentCoWait *w = opaque;

    if (result) {
        xmlrpc_INCREF(result);
    }
    w->result = result;
    w->err = err;
    w->done = true;
    /*
     * Deferred: this may run inside a chardev's finalize or the shutdown
     * notifier, where re-entering the caller's coroutine is unexpected.
     */
    aio_co_schedule(qemu_get_aio_context(), w->co);
}

xmlrpc_value *coroutine_fn virtagent_co_call(VirtagentChardev *va,
                                             const char *method,
                                             xmlrpc_value *params,
                                             int64_t timeout_ms,
                                             Error **errp)
{
    VirtagentCoWait w = { .co = qemu_coroutine_self() };

    if (!virtagent_call(va, method, params, timeout_ms, va_co_done, &w,
                        errp)) {
        return NULL;
    }
    while (!w.done) {
        qemu_coroutine_yield();
    }
    if (w.err) {
        error_propagate(errp, w.err);
        return NULL;
    }
    return w.result;
}

int64_t virtagent_timeout_ms(bool has_timeout, double timeout, Error **errp)
{
    if (!has_timeout) {
        return -1;
    }
    /* Also refuses NaN. A call waiting forever would hold the monitor. */
    if (!(timeout > 0 && timeout <= VA_TIMEOUT_MAX_S)) {
        error_setg(errp, "timeout must be more than 0 and at most %d "
                   "seconds", VA_TIMEOUT_MAX_S);
        return 0;
    }
    return MAX((int64_t)(timeout * 1000), 1);
}

static GString *va_list_ids(void)
{
    GString *s = g_string_new(NULL);
    VirtagentChardev *va;

    QTAILQ_FOREACH(va, &virtagents, next) {
        g_string_append_printf(s, "%s%s", s->len ? ", " : "", va_label(va));
    }
    return s;
}

VirtagentChardev *virtagent_find(const char *id, Error **errp)
{
    g_autoptr(GString) ids = NULL;
    VirtagentChardev *va;

    if (id) {
        QTAILQ_FOREACH(va, &virtagents, next) {
            if (!strcmp(va_label(va), id)) {
                return va;
            }
        }
    } else {
        va = QTAILQ_FIRST(&virtagents);
        if (va && !QTAILQ_NEXT(va, next)) {
            return va;
        }
    }
    ids = va_list_ids();
    if (!ids->len) {
        error_setg(errp, "no virtagent chardev");
    } else if (id) {
        error_setg(errp, "'%s' is not a virtagent chardev (virtagent "
                   "chardevs: %s)", id, ids->str);
    } else {
        error_setg(errp, "several virtagent chardevs, choose one: %s",
                   ids->str);
    }
    return NULL;
}

VirtagentInfoList *virtagent_query(void)
{
    VirtagentInfoList *head = NULL, **tail = &head;
    VirtagentChardev *va;

    QTAILQ_FOREACH(va, &virtagents, next) {
        VirtagentInfo *info = g_new0(VirtagentInfo, 1);
        VAChannelStats st;

        va_channel_get_stats(va->ch, &st);
        info->chardev = g_strdup(va_label(va));
        info->open = va->fe_open;
        info->connected = va->connected;
        info->version = g_strdup(va->agent_version);
        info->session = g_strdup(va->agent_session);
        if (va->agent_methods) {
            strList **mtail = &info->methods;
            char **m;

            info->has_methods = true;
            for (m = va->agent_methods; *m; m++) {
                QAPI_LIST_APPEND(mtail, g_strdup(*m));
            }
        }
        info->in_flight = st.in_flight;
        info->queued = st.queued;
        info->sent = st.calls_sent;
        info->replied = st.replies;
        info->timed_out = st.timed_out;
        info->dropped = st.disconnected + st.cancelled;
        info->rejected = st.rejected;
        info->guest_calls = st.calls_served;
        info->guest_rejected = st.peer_rejected;
        info->notify_dropped = va->notify_dropped;
        info->bad_frames = st.bad_frames;
        QAPI_LIST_APPEND(tail, info);
    }
    return head;
}

/* Calls must not outlive the monitors their callbacks print to. */
static void va_shutdown_notify(Notifier *n, void *data)
{
    VirtagentChardev *va;

    QTAILQ_FOREACH(va, &virtagents, next) {
        va_reset(va, "QEMU is shutting down");
        va_run_completed(va);
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
    va_flush(CHARDEV_VIRTAGENT(chr));
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
    va_reset(va, fe_open ? "port reopened" : "port closed");
}

static void va_chr_open(Chardev *chr, ChardevBackend *backend,
                        bool *be_opened, Error **errp)
{
    VirtagentChardev *va = CHARDEV_VIRTAGENT(chr);
    ChardevVirtagent *opts = backend->u.virtagent.data;
    static const VAChannelOps ops = {
        .now_ms = va_now_ms,
        .wakeup = va_wakeup,
    };
    g_autoptr(GError) gerr = NULL;
    VAChannelConfig cfg;

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
    cfg.peer_call_rate = VA_GUEST_CALL_RATE;
    cfg.peer_call_burst = VA_GUEST_CALL_BURST;
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
    if (!va_register_methods(va, errp)) {
        return;
    }
    va_rate_limit_init(&va->notify_rate, VA_NOTIFY_RATE, VA_NOTIFY_BURST,
                       va_now_ms(NULL));

    error_setg(&va->migration_blocker, "virtagent chardev '%s' holds guest "
               "agent calls and sessions that cannot migrate", chr->label);
    if (migrate_add_blocker(&va->migration_blocker, errp) < 0) {
        return;
    }
    if (!virtagent_shutdown_notifier.notify) {
        virtagent_shutdown_notifier.notify = va_shutdown_notify;
        qemu_register_shutdown_notifier(&virtagent_shutdown_notifier);
    }
    QTAILQ_INSERT_TAIL(&virtagents, va, next);
    va->listed = true;
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
    }
    if (va->ch) {
        va_reset(va, "chardev removed");
        va_run_completed(va);
        va_channel_free(va->ch);
    }
    migrate_del_blocker(&va->migration_blocker);
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
