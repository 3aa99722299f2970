/*
 * virtagent - XML-RPC values to and from QObjects
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The mapping is documented in qapi/virtagent.json. Answers come from an
 * untrusted guest: every type is checked and nesting is bounded, although
 * the core already refused documents nested deeper than VA_XML_DEPTH_MAX.
 */
#include "qemu/osdep.h"
#include <math.h>
#include "qapi/error.h"
#include "qobject/qbool.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnull.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "qemu/base64.h"
#include "hw/virtagent/virtagent.h"
#include "va-limits.h"

/*
 * Report @env's fault once, then clear it: callers up the recursion see
 * only the NULL return.
 */
static void va_env_fail(xmlrpc_env *env, Error **errp)
{
    error_setg(errp, "XML-RPC: %s", env->fault_string);
    xmlrpc_env_clean(env);
    xmlrpc_env_init(env);
}

/* {"<key>": <value>}, the form of the types JSON lacks */
static QObject *va_tagged(const char *key, QObject *value)
{
    QDict *d = qdict_new();

    qdict_put_obj(d, key, value);
    return QOBJECT(d);
}

static QObject *va_to_qobject(xmlrpc_env *env, xmlrpc_value *v,
                              unsigned depth, Error **errp);

static QObject *va_array_to_qobject(xmlrpc_env *env, xmlrpc_value *v,
                                    unsigned depth, Error **errp)
{
    g_autoptr(QList) list = qlist_new();
    int n = xmlrpc_array_size(env, v);
    int i;

    for (i = 0; i < n && !env->fault_occurred; i++) {
        xmlrpc_value *item;
        QObject *obj;

        xmlrpc_array_read_item(env, v, i, &item);
        if (env->fault_occurred) {
            break;
        }
        obj = va_to_qobject(env, item, depth + 1, errp);
        xmlrpc_DECREF(item);
        if (!obj) {
            return NULL;
        }
        qlist_append_obj(list, obj);
    }
    if (env->fault_occurred) {
        va_env_fail(env, errp);
        return NULL;
    }
    return QOBJECT(g_steal_pointer(&list));
}

static QObject *va_struct_to_qobject(xmlrpc_env *env, xmlrpc_value *v,
                                     unsigned depth, Error **errp)
{
    g_autoptr(QDict) dict = qdict_new();
    int n = xmlrpc_struct_size(env, v);
    int i;

    for (i = 0; i < n && !env->fault_occurred; i++) {
        xmlrpc_value *key, *item;
        const char *name;
        QObject *obj;

        xmlrpc_struct_read_member(env, v, i, &key, &item);
        if (env->fault_occurred) {
            break;
        }
        xmlrpc_read_string(env, key, &name);
        if (env->fault_occurred) {
            xmlrpc_DECREF(key);
            xmlrpc_DECREF(item);
            break;
        }
        obj = va_to_qobject(env, item, depth + 1, errp);
        if (obj) {
            qdict_put_obj(dict, name, obj);
        }
        free((void *)name);
        xmlrpc_DECREF(key);
        xmlrpc_DECREF(item);
        if (!obj) {
            return NULL;
        }
    }
    if (env->fault_occurred) {
        va_env_fail(env, errp);
        return NULL;
    }
    return QOBJECT(g_steal_pointer(&dict));
}

static QObject *va_to_qobject(xmlrpc_env *env, xmlrpc_value *v,
                              unsigned depth, Error **errp)
{
    QObject *obj = NULL;

    if (depth > VA_XML_DEPTH_MAX) {
        error_setg(errp, "XML-RPC value nested too deeply");
        return NULL;
    }
    switch (xmlrpc_value_type(v)) {
    case XMLRPC_TYPE_INT: {
        int i;

        xmlrpc_read_int(env, v, &i);
        obj = QOBJECT(qnum_from_int(i));
        break;
    }
    case XMLRPC_TYPE_I8: {
        xmlrpc_int64 i;

        xmlrpc_read_i8(env, v, &i);
        obj = QOBJECT(qnum_from_int(i));
        break;
    }
    case XMLRPC_TYPE_BOOL: {
        xmlrpc_bool b;

        xmlrpc_read_bool(env, v, &b);
        obj = QOBJECT(qbool_from_bool(b));
        break;
    }
    case XMLRPC_TYPE_DOUBLE: {
        double d;

        xmlrpc_read_double(env, v, &d);
        if (env->fault_occurred) {
            break;
        }
        /*
         * JSON has no NaN or infinity: one would make the whole QMP
         * stream unparsable. The boundary refuses them already; this
         * holds for every way into QMP.
         */
        if (!isfinite(d)) {
            error_setg(errp, "XML-RPC double is not finite");
            return NULL;
        }
        obj = QOBJECT(qnum_from_double(d));
        break;
    }
    case XMLRPC_TYPE_STRING: {
        const char *s;
        size_t len;

        xmlrpc_read_string_lp(env, v, &len, &s);
        if (env->fault_occurred) {
            break;
        }
        if (memchr(s, 0, len)) {
            error_setg(errp, "XML-RPC string holds a NUL byte");
            free((void *)s);
            return NULL;
        }
        obj = QOBJECT(qstring_from_substr(s, 0, len));
        free((void *)s);
        break;
    }
    case XMLRPC_TYPE_BASE64: {
        const unsigned char *data;
        size_t len;
        gchar *b64;

        xmlrpc_read_base64(env, v, &len, &data);
        if (env->fault_occurred) {
            break;
        }
        b64 = g_base64_encode(data, len);
        free((void *)data);
        obj = va_tagged("base64", QOBJECT(qstring_from_str(b64)));
        g_free(b64);
        break;
    }
    case XMLRPC_TYPE_DATETIME: {
        const char *s;

        xmlrpc_read_datetime_str(env, v, &s);
        if (env->fault_occurred) {
            break;
        }
        obj = va_tagged("datetime", QOBJECT(qstring_from_str(s)));
        free((void *)s);
        break;
    }
    case XMLRPC_TYPE_NIL:
        obj = QOBJECT(qnull());
        break;
    case XMLRPC_TYPE_ARRAY:
        return va_array_to_qobject(env, v, depth, errp);
    case XMLRPC_TYPE_STRUCT:
        return va_struct_to_qobject(env, v, depth, errp);
    default:
        error_setg(errp, "XML-RPC value of unsupported type %d",
                   xmlrpc_value_type(v));
        return NULL;
    }
    if (env->fault_occurred) {
        qobject_unref(obj);
        va_env_fail(env, errp);
        return NULL;
    }
    return obj;
}

QObject *virtagent_to_qobject(xmlrpc_value *v, Error **errp)
{
    xmlrpc_env env;
    QObject *obj;

    xmlrpc_env_init(&env);
    obj = va_to_qobject(&env, v, 0, errp);
    xmlrpc_env_clean(&env);
    return obj;
}

static xmlrpc_value *va_from_qobject(xmlrpc_env *env, QObject *obj,
                                     unsigned depth, Error **errp);

/* The one-member objects that stand for base64, i8 and dateTime. */
static xmlrpc_value *va_from_tagged(xmlrpc_env *env, QDict *d, bool *tagged,
                                    Error **errp)
{
    const QDictEntry *e = qdict_first(d);
    const char *key;
    QObject *val;

    *tagged = false;
    if (qdict_size(d) != 1) {
        return NULL;
    }
    key = qdict_entry_key(e);
    val = qdict_entry_value(e);
    if (!strcmp(key, "base64") && qobject_type(val) == QTYPE_QSTRING) {
        const char *s = qstring_get_str(qobject_to(QString, val));
        g_autofree uint8_t *data = NULL;
        size_t len;

        *tagged = true;
        data = qbase64_decode(s, -1, &len, errp);
        if (!data) {
            return NULL;
        }
        return xmlrpc_base64_new(env, len, data);
    }
    if (!strcmp(key, "i8") && qobject_type(val) == QTYPE_QNUM) {
        int64_t i;

        *tagged = true;
        if (!qnum_get_try_int(qobject_to(QNum, val), &i)) {
            error_setg(errp, "'i8' is not a 64-bit integer");
            return NULL;
        }
        return xmlrpc_i8_new(env, i);
    }
    if (!strcmp(key, "datetime") && qobject_type(val) == QTYPE_QSTRING) {
        *tagged = true;
        return xmlrpc_datetime_new_str(env,
                                       qstring_get_str(qobject_to(QString,
                                                                  val)));
    }
    return NULL;
}

static xmlrpc_value *va_dict_from_qobject(xmlrpc_env *env, QDict *d,
                                          unsigned depth, Error **errp)
{
    const QDictEntry *e;
    xmlrpc_value *v;
    bool tagged;

    v = va_from_tagged(env, d, &tagged, errp);
    if (tagged) {
        return v;
    }
    v = xmlrpc_struct_new(env);
    for (e = qdict_first(d); e && !env->fault_occurred;
         e = qdict_next(d, e)) {
        xmlrpc_value *item = va_from_qobject(env, qdict_entry_value(e),
                                             depth + 1, errp);

        if (!item) {
            xmlrpc_DECREF(v);
            return NULL;
        }
        xmlrpc_struct_set_value(env, v, qdict_entry_key(e), item);
        xmlrpc_DECREF(item);
    }
    return v;
}

static xmlrpc_value *va_list_from_qobject(xmlrpc_env *env, QList *l,
                                          unsigned depth, Error **errp)
{
    xmlrpc_value *v = xmlrpc_array_new(env);
    QListEntry *e;

    QLIST_FOREACH_ENTRY(l, e) {
        xmlrpc_value *item = va_from_qobject(env, qlist_entry_obj(e),
                                             depth + 1, errp);

        if (!item) {
            xmlrpc_DECREF(v);
            return NULL;
        }
        xmlrpc_array_append_item(env, v, item);
        xmlrpc_DECREF(item);
        if (env->fault_occurred) {
            break;
        }
    }
    return v;
}

static xmlrpc_value *va_from_qobject(xmlrpc_env *env, QObject *obj,
                                     unsigned depth, Error **errp)
{
    xmlrpc_value *v = NULL;

    if (depth > VA_XML_DEPTH_MAX) {
        error_setg(errp, "value nested too deeply for XML-RPC");
        return NULL;
    }
    switch (qobject_type(obj)) {
    case QTYPE_QNULL:
        v = xmlrpc_nil_new(env);
        break;
    case QTYPE_QBOOL:
        v = xmlrpc_bool_new(env, qbool_get_bool(qobject_to(QBool, obj)));
        break;
    case QTYPE_QNUM: {
        QNum *n = qobject_to(QNum, obj);
        int64_t i;

        if (n->kind == QNUM_DOUBLE) {
            /* QEMU's JSON parser turns 1e999 into infinity. */
            if (!isfinite(qnum_get_double(n))) {
                error_setg(errp, "number is not finite");
                return NULL;
            }
            v = xmlrpc_double_new(env, qnum_get_double(n));
        } else if (!qnum_get_try_int(n, &i)) {
            error_setg(errp, "integer too large for XML-RPC");
            return NULL;
        } else if (i >= INT32_MIN && i <= INT32_MAX) {
            v = xmlrpc_int_new(env, i);
        } else {
            v = xmlrpc_i8_new(env, i);
        }
        break;
    }
    case QTYPE_QSTRING: {
        const char *s = qstring_get_str(qobject_to(QString, obj));

        v = xmlrpc_string_new_lp(env, strlen(s), s);
        break;
    }
    case QTYPE_QDICT:
        v = va_dict_from_qobject(env, qobject_to(QDict, obj), depth, errp);
        if (!v && !env->fault_occurred) {
            return NULL;
        }
        break;
    case QTYPE_QLIST:
        v = va_list_from_qobject(env, qobject_to(QList, obj), depth, errp);
        if (!v && !env->fault_occurred) {
            return NULL;
        }
        break;
    default:
        error_setg(errp, "value of type %s has no XML-RPC form",
                   QType_str(qobject_type(obj)));
        return NULL;
    }
    if (env->fault_occurred) {
        if (v) {
            xmlrpc_DECREF(v);
        }
        va_env_fail(env, errp);
        return NULL;
    }
    return v;
}

xmlrpc_value *virtagent_from_qobject(QObject *obj, Error **errp)
{
    xmlrpc_env env;
    xmlrpc_value *v;

    xmlrpc_env_init(&env);
    v = va_from_qobject(&env, obj, 0, errp);
    xmlrpc_env_clean(&env);
    return v;
}

/*
 * Bounds of the typed commands' answers (qapi/virtagent.json): an answer
 * is at most max-message bytes already, but what passes on to QMP should
 * be of a size a management layer expects.
 */
#define VA_TYPED_LIST_MAX 8192
#define VA_TYPED_STRING_MAX (16 * 1024)
#define VA_TYPED_DATA_MAX (1024 * 1024)
/* Member names: an unknown one is named in the error. */
#define VA_TYPED_KEY_MAX 64

static bool va_typed_bounded(QObject *obj, const char *method, Error **errp)
{
    const QDictEntry *e;
    QListEntry *le;
    size_t n = 0;

    switch (qobject_type(obj)) {
    case QTYPE_QSTRING:
        if (strlen(qstring_get_str(qobject_to(QString, obj))) >
            VA_TYPED_STRING_MAX) {
            error_setg(errp, "%s: the guest agent's answer holds a string "
                       "over %d bytes", method, VA_TYPED_STRING_MAX);
            return false;
        }
        return true;
    case QTYPE_QLIST:
        QLIST_FOREACH_ENTRY(qobject_to(QList, obj), le) {
            if (++n > VA_TYPED_LIST_MAX) {
                error_setg(errp, "%s: the guest agent's answer holds a "
                           "list of more than %d entries", method,
                           VA_TYPED_LIST_MAX);
                return false;
            }
            if (!va_typed_bounded(qlist_entry_obj(le), method, errp)) {
                return false;
            }
        }
        return true;
    case QTYPE_QDICT:
        for (e = qdict_first(qobject_to(QDict, obj)); e;
             e = qdict_next(qobject_to(QDict, obj), e)) {
            if (strlen(qdict_entry_key(e)) > VA_TYPED_KEY_MAX) {
                error_setg(errp, "%s: the guest agent's answer has a member "
                           "name over %d bytes", method, VA_TYPED_KEY_MAX);
                return false;
            }
            if (!va_typed_bounded(qdict_entry_value(e), method, errp)) {
                return false;
            }
        }
        return true;
    default:
        return true;
    }
}

static bool va_strv_has(const char *const *strv, const char *s)
{
    for (; strv && *strv; strv++) {
        if (!strcmp(*strv, s)) {
            return true;
        }
    }
    return false;
}

QDict *virtagent_typed_answer(QObject *answer, const VirtagentTyped *t,
                              Error **errp)
{
    g_autoptr(QDict) d = NULL;
    const char *const *k;
    const QDictEntry *e;

    if (t->wrap) {
        d = qdict_new();
        qdict_put_obj(d, t->wrap, qobject_ref(answer));
    } else if (qobject_type(answer) == QTYPE_QDICT) {
        d = qdict_clone_shallow(qobject_to(QDict, answer));
        /* The asynchronous form's id is ours, never the guest's. */
        if (qdict_haskey(d, "id")) {
            error_setg(errp, "%s: the guest agent's answer has a member "
                       "'id'", t->method);
            return NULL;
        }
    } else {
        error_setg(errp, "%s: the guest agent's answer is not a struct",
                   t->method);
        return NULL;
    }
    for (k = t->base64; k && *k; k++) {
        QDict *tagged = qdict_get_qdict(d, *k);
        const char *b64 = tagged && qdict_size(tagged) == 1 ?
                          qdict_get_try_str(tagged, "base64") : NULL;

        if (!qdict_haskey(d, *k)) {
            continue;
        }
        if (!b64) {
            error_setg(errp, "%s: member '%s' of the guest agent's answer "
                       "is not base64", t->method, *k);
            return NULL;
        }
        if (strlen(b64) > VA_TYPED_DATA_MAX) {
            error_setg(errp, "%s: member '%s' of the guest agent's answer "
                       "is over %d bytes", t->method, *k, VA_TYPED_DATA_MAX);
            return NULL;
        }
        /* The new string is made before the old value is dropped. */
        qdict_put_str(d, *k, b64);
    }
    /* The top level as any struct, but the output's length. */
    for (e = qdict_first(d); e; e = qdict_next(d, e)) {
        if (strlen(qdict_entry_key(e)) > VA_TYPED_KEY_MAX) {
            error_setg(errp, "%s: the guest agent's answer has a member "
                       "name over %d bytes", t->method, VA_TYPED_KEY_MAX);
            return NULL;
        }
        if (!va_strv_has(t->base64, qdict_entry_key(e)) &&
            !va_typed_bounded(qdict_entry_value(e), t->method, errp)) {
            return NULL;
        }
    }
    for (k = t->required; k && *k; k++) {
        if (!qdict_haskey(d, *k)) {
            error_setg(errp, "%s: the guest agent's answer lacks '%s'",
                       t->method, *k);
            return NULL;
        }
    }
    return g_steal_pointer(&d);
}
