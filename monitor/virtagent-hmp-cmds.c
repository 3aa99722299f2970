/*
 * virtagent - HMP commands
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The va_* commands are HMP coroutine commands, reached three ways:
 *
 * - From an interactive monitor, handle_hmp_command() runs them in a
 *   coroutine but blocks in AIO_WAIT_WHILE until they return, polling only
 *   qemu_aio_context: waiting for the guest there would stall the main
 *   loop. So they suspend the monitor, start the call and return; the
 *   call's completion prints the answer and resumes the monitor.
 *
 * - From QMP human-monitor-command (virsh qemu-monitor-command --hmp),
 *   the monitor is a temporary one that cannot be suspended. The hook
 *   patch makes that command a coroutine command and runs coroutine HMP
 *   commands directly in the QMP dispatcher's coroutine, so they yield
 *   there until the answer arrives and print it into the command's output.
 *   Like a synchronous va-* command, that holds every QMP client, so the
 *   wait has the same short default timeout.
 *
 * - From gdb's "monitor" command, whose monitor cannot be suspended and
 *   which runs in the AIO_WAIT_WHILE above: the guest's answer would never
 *   be read, and QEMU would hang until the timeout. They fail at once.
 *
 * Their options, -c and -t, may come in any order, before the other
 * arguments: they are parsed here from one "S" argument, as QEMU's
 * parser takes "-cs" options only in the order of args_type (a skipped
 * one even takes the next option's value for its own).
 *
 * Text from the guest is printed with control characters escaped: the
 * guest must not drive the operator's terminal.
 */
#include "qemu/osdep.h"
#include <math.h>
#include "monitor-internal.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "qapi/error.h"
#include "qobject/qbool.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "qemu/base64.h"
#include "qemu/cutils.h"
#include "qemu/coroutine.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "hw/virtagent/virtagent.h"
#include "monitor/virtagent-hmp-cmds.h"
#include "monitor/virtagent-typed.h"

/* va_getfile: what is asked for, and how much binary is hexdumped. */
#define VA_HMP_FILE_MAX (64 * 1024)
#define VA_HMP_HEXDUMP_MAX 4096
#define VA_HMP_DMESG_MAX (64 * 1024)

/* The default wait in the QMP dispatcher, as for synchronous va-* */
#define VA_HMP_QMP_TIMEOUT_MS 5000

/* A va_* command line: its options, and the other words. */
typedef struct VaHmpArgs {
    const char *chardev;
    int64_t timeout_ms;         /* -1: the default */
    char **words;
    GStrv argv;
} VaHmpArgs;

static void va_hmp_args_clear(VaHmpArgs *a)
{
    g_strfreev(a->argv);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VaHmpArgs, va_hmp_args_clear)

typedef void VaHmpPrint(Monitor *mon, xmlrpc_value *result, void *arg);

typedef struct VaHmpCall {
    Monitor *mon;
    VaHmpPrint *print;
    char *arg;
} VaHmpCall;

/*
 * @s (@len bytes) with control characters escaped as \xNN: C0 but for
 * newline and tab, DEL, and C1 (U+0080 to U+009F, UTF-8 C2 80 to C2 9F),
 * which some terminals take as escape sequences.
 */
static void va_hmp_put_text(Monitor *mon, const char *s, size_t len)
{
    g_autoptr(GString) out = g_string_sized_new(len + 1);
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = s[i];

        if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9f) {
            g_string_append_printf(out, "\\xc2\\x%02x",
                                   (unsigned char)s[++i]);
        } else if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f)) {
            g_string_append_c(out, c);
        } else {
            g_string_append_printf(out, "\\x%02x", c);
        }
    }
    monitor_puts(mon, out->str);
}

static void va_hmp_put_line(Monitor *mon, const char *label, const char *s)
{
    monitor_printf(mon, "%s", label);
    va_hmp_put_text(mon, s, strlen(s));
    monitor_printf(mon, "\n");
}

static void va_hmp_error(Monitor *mon, Error *err)
{
    va_hmp_put_line(mon, "Error: ", error_get_pretty(err));
    error_free(err);
}

/*
 * Split the command's "args" as a shell would ('{"a": 1}' stays one
 * word), take -c ID and -t SECONDS in any order up to the first other
 * word (or "--"), and check that @min to @max words remain (@max < 0:
 * any number). False after printing why not.
 */
static bool va_hmp_parse(Monitor *mon, const QDict *qdict, int min,
                         int max, VaHmpArgs *a)
{
    const char *line = qdict_get_try_str(qdict, "args");
    g_autoptr(GError) gerr = NULL;
    const char *timeout = NULL;
    char **w;
    int n;

    a->timeout_ms = -1;
    if (line && !g_shell_parse_argv(line, NULL, &a->argv, &gerr) &&
        !g_error_matches(gerr, G_SHELL_ERROR, G_SHELL_ERROR_EMPTY_STRING)) {
        monitor_printf(mon, "Error: %s\n", gerr->message);
        return false;
    }
    if (!a->argv) {
        a->argv = g_new0(char *, 1);
    }
    for (w = a->argv; *w && (*w)[0] == '-'; w += 2) {
        const char **opt;

        if (!strcmp(*w, "--")) {
            w++;
            break;
        }
        if (!strcmp(*w, "-c")) {
            opt = &a->chardev;
        } else if (!strcmp(*w, "-t")) {
            opt = &timeout;
        } else {
            monitor_printf(mon, "Error: unknown option '");
            va_hmp_put_text(mon, *w, strlen(*w));
            monitor_printf(mon, "' (options: -c chardev, -t seconds)\n");
            return false;
        }
        if (!w[1]) {
            monitor_printf(mon, "Error: %s needs a value\n", *w);
            return false;
        }
        if (*opt) {
            monitor_printf(mon, "Error: %s given twice\n", *w);
            return false;
        }
        *opt = w[1];
    }
    a->words = w;
    n = g_strv_length(w);
    if (n < min) {
        monitor_printf(mon, "Error: missing argument\n");
        return false;
    }
    if (max >= 0 && n > max) {
        monitor_printf(mon, "Error: extraneous argument '");
        va_hmp_put_text(mon, w[max], strlen(w[max]));
        monitor_printf(mon, "'\n");
        return false;
    }
    if (timeout) {
        Error *err = NULL;
        double t;

        if (qemu_strtod_finite(timeout, NULL, &t) < 0) {
            monitor_printf(mon, "Error: bad timeout '");
            va_hmp_put_text(mon, timeout, strlen(timeout));
            monitor_printf(mon, "'\n");
            return false;
        }
        a->timeout_ms = virtagent_timeout_ms(true, t, &err);
        if (err) {
            va_hmp_error(mon, err);
            return false;
        }
    }
    return true;
}

/*
 * Whether this coroutine may wait for the guest: only the QMP
 * dispatcher's (human-monitor-command) lets the main loop run meanwhile.
 */
static bool va_hmp_in_qmp_dispatcher(void)
{
    return qemu_in_coroutine() &&
           qemu_coroutine_self() == qatomic_read(&qmp_dispatcher_co);
}

static void va_hmp_finish(Monitor *mon, VaHmpPrint *print, void *arg,
                          xmlrpc_value *result, Error *err)
{
    if (err) {
        va_hmp_error(mon, err);
    } else {
        print(mon, result, arg);
    }
}

static void va_hmp_done(xmlrpc_value *result, Error *err, void *opaque)
{
    VaHmpCall *c = opaque;

    va_hmp_finish(c->mon, c->print, c->arg, result, err);
    monitor_resume(c->mon);
    g_free(c->arg);
    g_free(c);
}

/*
 * Call @method with @params (borrowed) on the chardev @a names, and hand
 * the answer to @print, which gets @arg too.
 */
static void coroutine_fn va_hmp_run(Monitor *mon, const VaHmpArgs *a,
                                    const char *method, xmlrpc_value *params,
                                    VaHmpPrint *print, const char *arg)
{
    VirtagentChardev *va;
    xmlrpc_value *result;
    Error *err = NULL;
    int64_t ms = a->timeout_ms;

    va = virtagent_find(a->chardev, &err);
    if (!va) {
        va_hmp_error(mon, err);
        return;
    }

    if (monitor_suspend(mon) == 0) {
        VaHmpCall *c = g_new0(VaHmpCall, 1);

        c->mon = mon;
        c->print = print;
        c->arg = g_strdup(arg);
        if (!virtagent_call(va, method, params, ms, va_hmp_done, c, &err)) {
            monitor_resume(mon);
            g_free(c->arg);
            g_free(c);
            va_hmp_error(mon, err);
        }
        return;
    }

    if (!va_hmp_in_qmp_dispatcher()) {
        monitor_printf(mon, "Error: this monitor cannot wait for the guest "
                       "agent (gdb's, say): use an interactive monitor or "
                       "QMP\n");
        return;
    }
    /* human-monitor-command: nothing to suspend, so wait right here. */
    if (ms < 0) {
        ms = VA_HMP_QMP_TIMEOUT_MS;
    }
    result = virtagent_co_call(va, method, params, ms, &err);
    va_hmp_finish(mon, print, (void *)arg, result, err);
    if (result) {
        xmlrpc_DECREF(result);
    }
}

/* The answer as a QDict, or NULL after printing why not. */
static QDict *va_hmp_dict(Monitor *mon, xmlrpc_value *result,
                          const char *method)
{
    Error *err = NULL;
    QObject *obj = virtagent_to_qobject(result, &err);
    QDict *d;

    if (!obj) {
        va_hmp_error(mon, err);
        return NULL;
    }
    d = qobject_to(QDict, obj);
    if (!d) {
        monitor_printf(mon, "Error: %s: the answer is not a struct\n",
                       method);
        qobject_unref(obj);
    }
    return d;
}

static void va_hmp_print_json(Monitor *mon, xmlrpc_value *result, void *arg)
{
    Error *err = NULL;
    QObject *obj = virtagent_to_qobject(result, &err);
    g_autoptr(GString) json = NULL;

    if (!obj) {
        va_hmp_error(mon, err);
        return;
    }
    /* JSON escapes control characters itself. */
    json = qobject_to_json_pretty(obj, true);
    monitor_printf(mon, "%s\n", json->str);
    qobject_unref(obj);
}

static void va_hmp_print_ping(Monitor *mon, xmlrpc_value *result, void *arg)
{
    monitor_printf(mon, "guest agent answered\n");
}

void coroutine_fn hmp_va_ping(Monitor *mon, const QDict *qdict)
{
    g_auto(VaHmpArgs) a = {};

    if (va_hmp_parse(mon, qdict, 0, 0, &a)) {
        va_hmp_run(mon, &a, "va.ping", NULL, va_hmp_print_ping, NULL);
    }
}

static void va_hmp_print_caps(Monitor *mon, xmlrpc_value *result, void *arg)
{
    g_autoptr(QDict) d = va_hmp_dict(mon, result, "va.capabilities");
    const char *version;
    QListEntry *e;
    QList *methods;

    if (!d) {
        return;
    }
    version = qdict_get_try_str(d, "version");
    methods = qdict_get_qlist(d, "methods");
    if (!version || !methods) {
        monitor_printf(mon, "Error: va.capabilities: malformed answer\n");
        return;
    }
    va_hmp_put_line(mon, "guest agent version: ", version);
    monitor_printf(mon, "methods:");
    QLIST_FOREACH_ENTRY(methods, e) {
        QString *s = qobject_to(QString, qlist_entry_obj(e));

        monitor_printf(mon, " ");
        if (s) {
            va_hmp_put_text(mon, qstring_get_str(s),
                            strlen(qstring_get_str(s)));
        } else {
            monitor_printf(mon, "?");
        }
    }
    monitor_printf(mon, "\n");
}

void coroutine_fn hmp_va_capabilities(Monitor *mon, const QDict *qdict)
{
    g_auto(VaHmpArgs) a = {};

    if (va_hmp_parse(mon, qdict, 0, 0, &a)) {
        va_hmp_run(mon, &a, "va.capabilities", NULL, va_hmp_print_caps, NULL);
    }
}

static void va_hmp_print_info(Monitor *mon, xmlrpc_value *result, void *arg)
{
    static const char *const keys[] = {
        "version", "session", "hostname", "kernel", "arch",
    };
    g_autoptr(QDict) d = va_hmp_dict(mon, result, "va.info");
    QDict *os;
    QNum *uptime;
    int64_t up;
    size_t i;

    if (!d) {
        return;
    }
    for (i = 0; i < ARRAY_SIZE(keys); i++) {
        const char *s = qdict_get_try_str(d, keys[i]);

        if (s) {
            g_autofree char *label = g_strdup_printf("%s: ", keys[i]);

            va_hmp_put_line(mon, label, s);
        }
    }
    uptime = qobject_to(QNum, qdict_get(d, "uptime_s"));
    if (uptime && qnum_get_try_int(uptime, &up)) {
        monitor_printf(mon, "uptime: %" PRId64 " s\n", up);
    }
    os = qdict_get_qdict(d, "os");
    if (os && qdict_get_try_str(os, "pretty_name")) {
        va_hmp_put_line(mon, "os: ", qdict_get_try_str(os, "pretty_name"));
    }
}

void coroutine_fn hmp_va_info(Monitor *mon, const QDict *qdict)
{
    g_auto(VaHmpArgs) a = {};

    if (va_hmp_parse(mon, qdict, 0, 0, &a)) {
        va_hmp_run(mon, &a, "va.info", NULL, va_hmp_print_info, NULL);
    }
}

static void va_hmp_print_shutdown(Monitor *mon, xmlrpc_value *result,
                                  void *arg)
{
    monitor_printf(mon, "guest agent accepted %s\n", (const char *)arg);
}

void coroutine_fn hmp_va_shutdown(Monitor *mon, const QDict *qdict)
{
    g_auto(VaHmpArgs) a = {};
    xmlrpc_value *params;
    const char *mode;
    xmlrpc_env env;

    if (!va_hmp_parse(mon, qdict, 1, 1, &a)) {
        return;
    }
    mode = a.words[0];
    if (strcmp(mode, "halt") && strcmp(mode, "powerdown") &&
        strcmp(mode, "reboot")) {
        monitor_printf(mon, "Error: mode must be halt, powerdown or "
                       "reboot\n");
        return;
    }
    xmlrpc_env_init(&env);
    params = xmlrpc_build_value(&env, "(s)", mode);
    xmlrpc_env_clean(&env);
    if (!params) {
        monitor_printf(mon, "Error: out of memory\n");
        return;
    }
    va_hmp_run(mon, &a, "va.shutdown", params, va_hmp_print_shutdown, mode);
    xmlrpc_DECREF(params);
}

/* Text is valid UTF-8 without control characters other than blanks. */
static bool va_is_text(const uint8_t *buf, size_t len)
{
    size_t i;

    if (!g_utf8_validate((const char *)buf, len, NULL)) {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (buf[i] < 0x20 && buf[i] != '\n' && buf[i] != '\t' &&
            buf[i] != '\r') {
            return false;
        }
        if (buf[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

static void va_hmp_print_file(Monitor *mon, xmlrpc_value *result, void *arg)
{
    g_autoptr(QDict) d = va_hmp_dict(mon, result, "va.getfile");
    g_autofree uint8_t *data = NULL;
    const char *b64;
    QDict *tagged;
    QNum *size;
    int64_t sz;
    size_t len, off;
    bool eof;

    if (!d) {
        return;
    }
    tagged = qdict_get_qdict(d, "data");
    b64 = tagged ? qdict_get_try_str(tagged, "base64") : NULL;
    size = qobject_to(QNum, qdict_get(d, "size"));
    if (!b64 || !size || !qnum_get_try_int(size, &sz) ||
        !qdict_haskey(d, "eof")) {
        monitor_printf(mon, "Error: va.getfile: malformed answer\n");
        return;
    }
    eof = qdict_get_try_bool(d, "eof", false);
    data = qbase64_decode(b64, -1, &len, NULL);
    if (!data) {
        monitor_printf(mon, "Error: va.getfile: bad base64\n");
        return;
    }
    if (va_is_text(data, len)) {
        va_hmp_put_text(mon, (const char *)data, len);
        if (len && data[len - 1] != '\n') {
            monitor_printf(mon, "\n");
        }
    } else {
        monitor_printf(mon, "binary file, hexdump of the first %zu bytes:\n",
                       MIN(len, (size_t)VA_HMP_HEXDUMP_MAX));
        for (off = 0; off < MIN(len, (size_t)VA_HMP_HEXDUMP_MAX);
             off += 16) {
            g_autoptr(GString) line = g_string_new(NULL);

            g_string_printf(line, "%08zx: ", off);
            qemu_hexdump_line(line, data + off, MIN(16, len - off), 1, 4);
            monitor_printf(mon, "%s\n", line->str);
        }
        monitor_printf(mon, "(use QMP va-getfile for the whole file)\n");
    }
    if (!eof) {
        monitor_printf(mon, "(first %zu of %" PRId64 " bytes)\n", len, sz);
    }
}

/*
 * va_getfile PATH HOSTFILE and va_putfile HOSTFILE PATH: a loop of calls
 * (virtagent_co_transfer), run as va_exec's below.
 */
typedef struct VaHmpXfer {
    Monitor *mon;
    VaTransfer x;
    char *chardev;
    char *path;
    char *host;
    bool suspended;
} VaHmpXfer;

static void coroutine_fn va_hmp_xfer_co(void *opaque)
{
    VaHmpXfer *h = opaque;
    Error *err = NULL;

    if (virtagent_co_transfer(&h->x, &err)) {
        monitor_printf(h->mon, "%s %" PRId64 " bytes, sha256 %s\n",
                       h->x.put ? "wrote" : "read", h->x.size, h->x.sha256);
    } else {
        va_hmp_error(h->mon, err);
        /* A host file made for the transfer does not outlive its failure. */
        if (!h->x.put) {
            unlink(h->host);
        }
    }
    close(h->x.fd);
    if (h->suspended) {
        monitor_resume(h->mon);
    }
    g_free(h->x.sha256);
    g_free(h->chardev);
    g_free(h->path);
    g_free(h->host);
    g_free(h);
}

static void coroutine_fn va_hmp_xfer(Monitor *mon, const VaHmpArgs *a,
                                     bool put, const char *path,
                                     const char *host)
{
    Error *err = NULL;
    VaHmpXfer *h;
    bool suspended;
    int fd;

    if (!virtagent_find(a->chardev, &err)) {
        va_hmp_error(mon, err);
        return;
    }
    suspended = monitor_suspend(mon) == 0;
    if (!suspended && !va_hmp_in_qmp_dispatcher()) {
        monitor_printf(mon, "Error: this monitor cannot wait for the guest "
                       "agent (gdb's, say): use an interactive monitor or "
                       "QMP\n");
        return;
    }
    fd = put ? qemu_open(host, O_RDONLY, &err)
             : qemu_create(host, O_WRONLY | O_TRUNC, 0644, &err);
    h = g_new0(VaHmpXfer, 1);
    h->mon = mon;
    h->suspended = suspended;
    if (fd < 0) {
        va_hmp_error(mon, err);
        if (h->suspended) {
            monitor_resume(mon);
        }
        g_free(h);
        return;
    }
    h->chardev = g_strdup(a->chardev);
    h->path = g_strdup(path);
    h->host = g_strdup(host);
    h->x.chardev = h->chardev;
    h->x.path = h->path;
    h->x.fdname = h->host;
    h->x.fd = fd;
    h->x.put = put;
    h->x.call_ms = a->timeout_ms;
    if (h->suspended) {
        /* It runs once this coroutine has returned. */
        aio_co_enter(qemu_get_aio_context(),
                     qemu_coroutine_create(va_hmp_xfer_co, h));
        return;
    }
    if (h->x.call_ms < 0) {
        h->x.call_ms = VA_HMP_QMP_TIMEOUT_MS;
    }
    va_hmp_xfer_co(h);
}

void coroutine_fn hmp_va_putfile(Monitor *mon, const QDict *qdict)
{
    g_auto(VaHmpArgs) a = {};

    if (va_hmp_parse(mon, qdict, 2, 2, &a)) {
        va_hmp_xfer(mon, &a, true, a.words[1], a.words[0]);
    }
}

void coroutine_fn hmp_va_getfile(Monitor *mon, const QDict *qdict)
{
    g_auto(VaHmpArgs) a = {};
    xmlrpc_value *params;
    xmlrpc_env env;

    if (!va_hmp_parse(mon, qdict, 1, 2, &a)) {
        return;
    }
    if (a.words[1]) {
        va_hmp_xfer(mon, &a, false, a.words[0], a.words[1]);
        return;
    }
    xmlrpc_env_init(&env);
    params = xmlrpc_build_value(&env, "(sIi)", a.words[0], (xmlrpc_int64)0,
                                VA_HMP_FILE_MAX);
    if (env.fault_occurred) {
        monitor_printf(mon, "Error: path: %s\n", env.fault_string);
        xmlrpc_env_clean(&env);
        return;
    }
    xmlrpc_env_clean(&env);
    va_hmp_run(mon, &a, "va.getfile", params, va_hmp_print_file, NULL);
    xmlrpc_DECREF(params);
}

static void va_hmp_print_dmesg(Monitor *mon, xmlrpc_value *result,
                               void *arg)
{
    const char *text;
    xmlrpc_env env;
    size_t len;

    xmlrpc_env_init(&env);
    xmlrpc_read_string_lp(&env, result, &len, &text);
    if (env.fault_occurred) {
        monitor_printf(mon, "Error: va.getdmesg: the answer is not a "
                       "string\n");
    } else {
        va_hmp_put_text(mon, text, len);
        if (len && text[len - 1] != '\n') {
            monitor_printf(mon, "\n");
        }
        free((void *)text);
    }
    xmlrpc_env_clean(&env);
}

void coroutine_fn hmp_va_getdmesg(Monitor *mon, const QDict *qdict)
{
    g_auto(VaHmpArgs) a = {};
    xmlrpc_value *params;
    xmlrpc_env env;

    if (!va_hmp_parse(mon, qdict, 0, 0, &a)) {
        return;
    }
    xmlrpc_env_init(&env);
    params = xmlrpc_build_value(&env, "(i)", VA_HMP_DMESG_MAX);
    xmlrpc_env_clean(&env);
    if (!params) {
        monitor_printf(mon, "Error: out of memory\n");
        return;
    }
    va_hmp_run(mon, &a, "va.getdmesg", params, va_hmp_print_dmesg, NULL);
    xmlrpc_DECREF(params);
}

/* -- the commands of qemu-ga's kind ----------------------------------- */

/*
 * The answer checked as the typed QMP command checks it (NULL after
 * printing why not): both monitors refuse the same answers.
 */
#define VA_HMP_TYPED(Type, name, typed, mon, result) ({                    \
    Error *err_ = NULL;                                                    \
    QObject *obj_ = virtagent_to_qobject((result), &err_);                 \
    Type *ret_ = obj_ ? va_##name##_from((typed), obj_, &err_) : NULL;     \
                                                                           \
    qobject_unref(obj_);                                                   \
    if (!ret_) {                                                           \
        va_hmp_error((mon), err_);                                         \
    }                                                                      \
    ret_;                                                                  \
})

static void va_hmp_put_str(Monitor *mon, const char *s)
{
    va_hmp_put_text(mon, s, strlen(s));
}

/* @ns since the epoch as "YYYY-MM-DD HH:MM:SS.fraction UTC" */
static char *va_hmp_utc(int64_t ns, int digits)
{
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(
        ns / 1000000000 - (ns % 1000000000 < 0));
    int64_t frac = ((ns % 1000000000) + 1000000000) % 1000000000;
    g_autofree char *day = dt ? g_date_time_format(dt, "%Y-%m-%d %H:%M:%S")
                              : NULL;
    int i;

    if (!day) {
        return g_strdup_printf("%" PRId64 " ns", ns);
    }
    for (i = digits; i < 9; i++) {
        frac /= 10;
    }
    return digits ? g_strdup_printf("%s.%0*" PRId64 " UTC", day, digits, frac)
                  : g_strdup_printf("%s UTC", day);
}

static void va_hmp_print_fsfreeze(Monitor *mon, xmlrpc_value *result,
                                  void *arg)
{
    const char *what = arg;

    if (!strcmp(what, "status")) {
        g_autoptr(VaFsfreezeStatus) st = VA_HMP_TYPED(
            VaFsfreezeStatus, fsfreeze_status, &va_typed_fsfreeze_status,
            mon, result);

        if (st) {
            monitor_printf(mon, "%s\n", VaFsfreezeState_str(st->status));
        }
    } else {
        g_autoptr(VaCount) n = VA_HMP_TYPED(
            VaCount, count, !strcmp(what, "thaw") ? &va_typed_fsfreeze_thaw
                                                  : &va_typed_fsfreeze_freeze,
            mon, result);

        if (n) {
            monitor_printf(mon, "%s %" PRId64 " filesystem%s\n",
                           !strcmp(what, "thaw") ? "thawed" : "froze",
                           n->count, n->count == 1 ? "" : "s");
        }
    }
}

void coroutine_fn hmp_va_fsfreeze(Monitor *mon, const QDict *qdict)
{
    g_auto(VaHmpArgs) a = {};
    xmlrpc_value *params = NULL;
    const char *what, *method;
    Error *err = NULL;

    if (!va_hmp_parse(mon, qdict, 1, -1, &a)) {
        return;
    }
    what = a.words[0];
    if (!strcmp(what, "freeze")) {
        method = a.words[1] ? "va.fsfreeze_freeze_list"
                            : "va.fsfreeze_freeze";
    } else if (!strcmp(what, "thaw") || !strcmp(what, "status")) {
        method = !strcmp(what, "thaw") ? "va.fsfreeze_thaw"
                                       : "va.fsfreeze_status";
        if (a.words[1]) {
            monitor_printf(mon, "Error: only freeze takes mountpoints\n");
            return;
        }
    } else {
        monitor_printf(mon, "Error: freeze, thaw or status expected\n");
        return;
    }
    if (a.words[1]) {
        g_autoptr(QList) list = qlist_new();
        g_autoptr(QList) wrap = qlist_new();
        char **p;

        for (p = a.words + 1; *p; p++) {
            qlist_append_str(list, *p);
        }
        qlist_append(wrap, qobject_ref(list));
        params = virtagent_from_qobject(QOBJECT(wrap), &err);
        if (!params) {
            va_hmp_error(mon, err);
            return;
        }
    }
    va_hmp_run(mon, &a, method, params, va_hmp_print_fsfreeze, what);
    if (params) {
        xmlrpc_DECREF(params);
    }
}

static void va_hmp_print_netif(Monitor *mon, xmlrpc_value *result,
                               void *arg)
{
    g_autoptr(VaNetworkInterfaces) nifs = VA_HMP_TYPED(
        VaNetworkInterfaces, network_interfaces, &va_typed_network, mon,
        result);
    VaNetworkInterfaceList *l;
    VaIpAddressList *a;

    if (!nifs) {
        return;
    }
    for (l = nifs->interfaces; l; l = l->next) {
        VaNetworkInterface *nif = l->value;
        VaNetworkStats *s = nif->statistics;

        va_hmp_put_str(mon, nif->name);
        if (nif->hardware_address) {
            monitor_printf(mon, ": ");
            va_hmp_put_str(mon, nif->hardware_address);
        }
        monitor_printf(mon, "\n");
        for (a = nif->ip_addresses; a; a = a->next) {
            monitor_printf(mon, "    %s ",
                           a->value->ip_address_type == VA_IP_ADDRESS_TYPE_IPV4
                           ? "inet" : "inet6");
            va_hmp_put_str(mon, a->value->ip_address);
            if (a->value->has_prefix) {
                monitor_printf(mon, "/%" PRId64, a->value->prefix);
            }
            monitor_printf(mon, "\n");
        }
        if (s) {
            monitor_printf(mon, "    rx %" PRId64 " bytes, %" PRId64
                           " packets, %" PRId64 " errors, %" PRId64
                           " dropped\n    tx %" PRId64 " bytes, %" PRId64
                           " packets, %" PRId64 " errors, %" PRId64
                           " dropped\n", s->rx_bytes, s->rx_packets,
                           s->rx_errs, s->rx_dropped, s->tx_bytes,
                           s->tx_packets, s->tx_errs, s->tx_dropped);
        }
    }
}

void coroutine_fn hmp_va_netif(Monitor *mon, const QDict *qdict)
{
    g_auto(VaHmpArgs) a = {};

    if (va_hmp_parse(mon, qdict, 0, 0, &a)) {
        va_hmp_run(mon, &a, "va.network_get_interfaces", NULL,
                   va_hmp_print_netif, NULL);
    }
}

static void va_hmp_print_time(Monitor *mon, xmlrpc_value *result, void *arg)
{
    int64_t host_ns = g_get_real_time() * 1000;
    g_autoptr(VaTime) t = VA_HMP_TYPED(VaTime, time, &va_typed_get_time,
                                       mon, result);
    g_autofree char *guest = NULL;

    if (!t) {
        return;
    }
    guest = va_hmp_utc(t->time, 9);
    /* The answer took its way back: the offset is within that. */
    monitor_printf(mon, "guest time: %s (%" PRId64 " ns)\n"
                   "guest - host: %+.3f s\n", guest, t->time,
                   (double)(t->time - host_ns) / 1e9);
}

void coroutine_fn hmp_va_time(Monitor *mon, const QDict *qdict)
{
    g_auto(VaHmpArgs) a = {};

    if (va_hmp_parse(mon, qdict, 0, 0, &a)) {
        va_hmp_run(mon, &a, "va.get_time", NULL, va_hmp_print_time, NULL);
    }
}

static void va_hmp_print_users(Monitor *mon, xmlrpc_value *result,
                               void *arg)
{
    g_autoptr(VaUsers) users = VA_HMP_TYPED(VaUsers, users, &va_typed_users,
                                            mon, result);
    VaUserList *l;

    if (!users) {
        return;
    }
    if (!users->users) {
        monitor_printf(mon, "no user logged in\n");
    }
    for (l = users->users; l; l = l->next) {
        double t = l->value->login_time;
        /* Within a few centuries, else not converted to ns (overflow). */
        g_autofree char *since = fabs(t) < 1e10 ?
            va_hmp_utc((int64_t)(t * 1e9), 0) :
            g_strdup_printf("%g s", t);

        va_hmp_put_str(mon, l->value->user);
        monitor_printf(mon, " since %s\n", since);
    }
}

void coroutine_fn hmp_va_users(Monitor *mon, const QDict *qdict)
{
    g_auto(VaHmpArgs) a = {};

    if (va_hmp_parse(mon, qdict, 0, 0, &a)) {
        va_hmp_run(mon, &a, "va.get_users", NULL, va_hmp_print_users, NULL);
    }
}

static void va_hmp_print_fsinfo(Monitor *mon, xmlrpc_value *result,
                                void *arg)
{
    g_autoptr(VaFilesystems) fss = VA_HMP_TYPED(
        VaFilesystems, filesystems, &va_typed_fsinfo, mon, result);
    VaFilesystemList *l;
    VaDiskAddressList *d;

    if (!fss) {
        return;
    }
    for (l = fss->filesystems; l; l = l->next) {
        VaFilesystem *fs = l->value;

        va_hmp_put_str(mon, fs->name);
        monitor_printf(mon, " on ");
        va_hmp_put_str(mon, fs->mountpoint);
        monitor_printf(mon, " type ");
        va_hmp_put_str(mon, fs->type);
        if (fs->has_used_bytes && fs->has_total_bytes &&
            fs->used_bytes >= 0 && fs->total_bytes >= 0) {
            g_autofree char *used = size_to_str(fs->used_bytes);
            g_autofree char *total = size_to_str(fs->total_bytes);

            monitor_printf(mon, ", %s used of %s", used, total);
        }
        for (d = fs->disk; d; d = d->next) {
            monitor_printf(mon, ", disk ");
            va_hmp_put_str(mon, d->value->dev);
            monitor_printf(mon, " (");
            va_hmp_put_str(mon, d->value->bus_type);
            if (d->value->serial) {
                monitor_printf(mon, ", serial ");
                va_hmp_put_str(mon, d->value->serial);
            }
            monitor_printf(mon, ")");
        }
        monitor_printf(mon, "\n");
    }
}

void coroutine_fn hmp_va_fsinfo(Monitor *mon, const QDict *qdict)
{
    g_auto(VaHmpArgs) a = {};

    if (va_hmp_parse(mon, qdict, 0, 0, &a)) {
        va_hmp_run(mon, &a, "va.get_fsinfo", NULL, va_hmp_print_fsinfo,
                   NULL);
    }
}

/*
 * va_exec: the process's wait is a loop of calls (va.exec, then
 * va.exec_status until it finished), so it runs in a coroutine of its
 * own: on an interactive monitor, suspended meanwhile, a new one; under
 * human-monitor-command, the QMP dispatcher's.
 */
#define VA_HMP_EXEC_WAIT_MS 30000
#define VA_HMP_EXEC_POLL_MIN_MS 10
#define VA_HMP_EXEC_POLL_MAX_MS 500

typedef struct VaHmpExec {
    Monitor *mon;
    /* Found again for each call: the chardev may go away meanwhile. */
    char *chardev;
    /* How long to wait for the exit; each call's timeout (-1: default). */
    int64_t wait_ms;
    int64_t call_ms;
    xmlrpc_value *params;
    bool suspended;
} VaHmpExec;

/*
 * A call of the loop. It has a timeout of its own: the wait bounds the
 * polling, but a call under way is not cut short, lest a slow answer
 * pass for an agent that does not answer.
 */
static QObject *coroutine_fn va_hmp_exec_call(VaHmpExec *x,
                                              const char *method,
                                              xmlrpc_value *params,
                                              Error **errp)
{
    VirtagentChardev *va = virtagent_find(x->chardev, errp);

    if (!va) {
        return NULL;
    }
    return virtagent_co_call_qobject(va, method, params, x->call_ms, errp);
}

static void va_hmp_print_exec(Monitor *mon, VaExecStatus *st)
{
    if (st->out_data) {
        size_t len;
        g_autofree char *out = (char *)qbase64_decode(st->out_data, -1, &len,
                                                      NULL);
        g_autofree char *valid = out ? g_utf8_make_valid(out, len) : NULL;

        if (valid) {
            va_hmp_put_str(mon, valid);
            if (len && out[len - 1] != '\n') {
                monitor_printf(mon, "\n");
            }
        }
    }
    if (st->has_exitcode) {
        monitor_printf(mon, "exit status %" PRId64, st->exitcode);
    } else if (st->has_signal) {
        monitor_printf(mon, "killed by signal %" PRId64, st->signal);
    } else {
        monitor_printf(mon, "finished");
    }
    monitor_printf(mon, "%s%s\n", st->out_truncated ? ", output truncated" : "",
                   st->timed_out ? ", timed out" : "");
}

static void coroutine_fn va_hmp_exec_co(void *opaque)
{
    VaHmpExec *x = opaque;
    int64_t deadline = qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + x->wait_ms;
    int64_t delay = VA_HMP_EXEC_POLL_MIN_MS;
    g_autoptr(VaExecPid) pid = NULL;
    xmlrpc_value *params = NULL;
    Error *err = NULL;
    QObject *answer;

    answer = va_hmp_exec_call(x, "va.exec", x->params, &err);
    pid = answer ? va_exec_pid_from(&va_typed_exec, answer, &err) : NULL;
    qobject_unref(answer);
    if (pid && (pid->pid <= 0 || pid->pid > G_MAXINT)) {
        error_setg(&err, "va.exec: pid %" PRId64 " out of range", pid->pid);
    } else if (pid) {
        xmlrpc_env env;

        xmlrpc_env_init(&env);
        params = xmlrpc_build_value(&env, "(i)", (int)pid->pid);
        xmlrpc_env_clean(&env);
    }
    while (params) {
        g_autoptr(VaExecStatus) st = NULL;

        answer = va_hmp_exec_call(x, "va.exec_status", params, &err);
        st = answer ? va_exec_status_from(&va_typed_exec_status, answer,
                                          &err) : NULL;
        qobject_unref(answer);
        if (!st) {
            break;
        }
        if (st->exited) {
            va_hmp_print_exec(x->mon, st);
            break;
        }
        if (qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + delay >= deadline) {
            monitor_printf(x->mon, "process %" PRId64 " still running "
                           "after %.1f s: QMP va-exec-status gives its "
                           "status later\n", pid->pid, x->wait_ms / 1000.0);
            break;
        }
        qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, delay * SCALE_MS);
        delay = MIN(delay * 2, VA_HMP_EXEC_POLL_MAX_MS);
    }
    if (err) {
        va_hmp_error(x->mon, err);
    }
    if (params) {
        xmlrpc_DECREF(params);
    }
    if (x->suspended) {
        monitor_resume(x->mon);
    }
    xmlrpc_DECREF(x->params);
    g_free(x->chardev);
    g_free(x);
}

void coroutine_fn hmp_va_exec(Monitor *mon, const QDict *qdict)
{
    g_auto(VaHmpArgs) a = {};
    g_autoptr(QList) argv = qlist_new();
    g_autoptr(QList) params = qlist_new();
    g_autoptr(QDict) opts = qdict_new();
    Error *err = NULL;
    VaHmpExec *x;
    char **p;

    if (!va_hmp_parse(mon, qdict, 1, -1, &a)) {
        return;
    }
    if (!virtagent_find(a.chardev, &err)) {
        va_hmp_error(mon, err);
        return;
    }
    for (p = a.words; *p; p++) {
        qlist_append_str(argv, *p);
    }
    /* As a terminal shows them: both streams, in one. */
    qdict_put_str(opts, "capture-output", "merged");
    qlist_append(params, qobject_ref(argv));
    qlist_append(params, qobject_ref(opts));
    x = g_new0(VaHmpExec, 1);
    x->params = virtagent_from_qobject(QOBJECT(params), &err);
    if (!x->params) {
        g_free(x);
        va_hmp_error(mon, err);
        return;
    }
    x->mon = mon;
    x->chardev = g_strdup(a.chardev);
    x->wait_ms = a.timeout_ms;
    x->call_ms = -1;
    if (monitor_suspend(mon) == 0) {
        x->suspended = true;
        if (x->wait_ms < 0) {
            x->wait_ms = VA_HMP_EXEC_WAIT_MS;
        }
        /* It runs once this coroutine has returned. */
        aio_co_enter(qemu_get_aio_context(),
                     qemu_coroutine_create(va_hmp_exec_co, x));
        return;
    }
    if (!va_hmp_in_qmp_dispatcher()) {
        monitor_printf(mon, "Error: this monitor cannot wait for the guest "
                       "agent (gdb's, say): use an interactive monitor or "
                       "QMP\n");
        xmlrpc_DECREF(x->params);
        g_free(x->chardev);
        g_free(x);
        return;
    }
    if (x->wait_ms < 0) {
        x->wait_ms = VA_HMP_QMP_TIMEOUT_MS;
    }
    x->call_ms = VA_HMP_QMP_TIMEOUT_MS;
    va_hmp_exec_co(x);
}

/* Each of @words is a JSON value, or a string if it is not JSON. */
static xmlrpc_value *va_hmp_params(char **words, Error **errp)
{
    g_autoptr(QList) list = qlist_new();
    char **p;

    for (p = words; *p; p++) {
        QObject *obj = qobject_from_json(*p, NULL);

        qlist_append_obj(list, obj ? obj : QOBJECT(qstring_from_str(*p)));
    }
    return virtagent_from_qobject(QOBJECT(list), errp);
}

void coroutine_fn hmp_va_call(Monitor *mon, const QDict *qdict)
{
    g_auto(VaHmpArgs) a = {};
    xmlrpc_value *params;
    Error *err = NULL;

    if (!va_hmp_parse(mon, qdict, 1, -1, &a)) {
        return;
    }
    params = va_hmp_params(a.words + 1, &err);
    if (!params) {
        va_hmp_error(mon, err);
        return;
    }
    va_hmp_run(mon, &a, a.words[0], params, va_hmp_print_json, NULL);
    xmlrpc_DECREF(params);
}

void hmp_va_cancel(Monitor *mon, const QDict *qdict)
{
    const char *id = qdict_get_str(qdict, "id");
    Error *err = NULL;
    uint64_t n;

    if (qemu_strtou64(id, NULL, 10, &n) < 0 || !n) {
        monitor_printf(mon, "Error: bad call id '");
        va_hmp_put_text(mon, id, strlen(id));
        monitor_printf(mon, "'\n");
        return;
    }
    if (!virtagent_cancel(NULL, n, &err)) {
        va_hmp_error(mon, err);
    }
}

void hmp_info_virtagent(Monitor *mon, const QDict *qdict)
{
    g_autoptr(VirtagentInfoList) list = virtagent_query();
    VirtagentInfoList *l;

    if (!list) {
        monitor_printf(mon, "no virtagent chardev\n");
        return;
    }
    for (l = list; l; l = l->next) {
        VirtagentInfo *i = l->value;
        VaPendingCallList *c;

        monitor_printf(mon, "%s: port %s, agent %s", i->chardev,
                       i->open ? "open" : "closed",
                       i->connected ? "connected" : "not connected");
        if (i->connected) {
            monitor_printf(mon, " (version ");
            va_hmp_put_text(mon, i->version, strlen(i->version));
            monitor_printf(mon, ", session ");
            va_hmp_put_text(mon, i->session, strlen(i->session));
            monitor_printf(mon, ")");
        }
        if (i->has_methods) {
            strList *m;

            monitor_printf(mon, "\n  agent methods:");
            for (m = i->methods; m; m = m->next) {
                monitor_printf(mon, " %s", m->value);
            }
        }
        monitor_printf(mon, "\n  calls: %" PRId64 " in flight, %" PRId64
                       " queued, %" PRId64 " sent, %" PRId64 " replied, %"
                       PRId64 " timed out, %" PRId64 " dropped, %" PRId64
                       " rejected\n", i->in_flight, i->queued, i->sent,
                       i->replied, i->timed_out, i->dropped, i->rejected);
        monitor_printf(mon, "  guest calls: %" PRId64 " answered, %" PRId64
                       " refused; notifications dropped: %" PRId64
                       "; bad frames: %" PRId64 "; refused documents: %"
                       PRId64 "\n", i->guest_calls, i->guest_rejected,
                       i->notify_dropped, i->bad_frames,
                       i->refused_documents);
        for (c = i->calls; c; c = c->next) {
            monitor_printf(mon, "  pending call %" PRId64 ": ",
                           c->value->id);
            va_hmp_put_text(mon, c->value->method,
                            strlen(c->value->method));
            monitor_printf(mon, ", %" PRId64 " ms\n", c->value->age_ms);
        }
    }
}
