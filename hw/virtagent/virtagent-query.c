/*
 * virtagent - finding and describing the virtagent chardevs
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/virtagent/virtagent-internal.h"

const char *virtagent_id(VirtagentChardev *va)
{
    return va_label(va);
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

static void va_list_calls(VirtagentChardev *va, VaPendingCallList **tail)
{
    int64_t now = va_now_ms(NULL);
    VirtagentCall *c;

    QTAILQ_FOREACH(c, &va->calls, next) {
        VaPendingCall *p = g_new0(VaPendingCall, 1);

        p->id = c->id;
        p->method = g_strdup(c->method);
        p->age_ms = now - c->start_ms;
        QAPI_LIST_APPEND(tail, p);
    }
}

/* @names (NULL-terminated) as a QAPI list in *@list; false if NULL. */
static bool va_str_list(GStrv names, strList **list)
{
    strList **tail = list;

    for (char **n = names; n && *n; n++) {
        QAPI_LIST_APPEND(tail, g_strdup(*n));
    }
    return names;
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
        info->has_methods = va_str_list(va->agent_methods, &info->methods);
        info->has_features = va_str_list(va->agent_features,
                                         &info->features);
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
        info->refused_documents = st.refused_documents;
        va_list_calls(va, &info->calls);
        QAPI_LIST_APPEND(tail, info);
    }
    return head;
}
