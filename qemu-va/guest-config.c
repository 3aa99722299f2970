/*
 * qemu-va - options and configuration file
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "guest-config.h"

#define GROUP "general"

const char *const va_transport_names[VA_TRANSPORT__MAX] = {
    [VA_TRANSPORT_VIRTIO_SERIAL] = "virtio-serial",
    [VA_TRANSPORT_ISA_SERIAL] = "isa-serial",
    [VA_TRANSPORT_UNIX_LISTEN] = "unix-listen",
    [VA_TRANSPORT_UNIX_CONNECT] = "unix-connect",
};

static const char *const default_shutdown_cmd[VA_SHUTDOWN__MAX] = {
    [VA_SHUTDOWN_HALT] = "halt",
    [VA_SHUTDOWN_POWERDOWN] = "poweroff",
    [VA_SHUTDOWN_REBOOT] = "reboot",
};

/* Values given on the command line; NULL or FALSE when absent. */
typedef struct VAOptions {
    char *config;
    char *method;
    char *path;
    char *pidfile;
    char *logfile;
    char *statedir;
    char *allow_rpcs;
    char *block_rpcs;
    char *socket;
    char *socket_group;
    char *shutdown_cmd[VA_SHUTDOWN__MAX];
    char *fsfreeze_hook;
    char *fsfreeze_timeout;
    gboolean daemonize;
    gboolean verbose;
    gboolean dump_conf;
    gboolean version;
} VAOptions;

/* The keys of [general]: each names a long option and a VAOptions field. */
typedef struct VAKey {
    const char *name;
    bool boolean;
    size_t offset;
} VAKey;

#define STR_KEY(n, field) { n, false, offsetof(VAOptions, field) }
#define BOOL_KEY(n, field) { n, true, offsetof(VAOptions, field) }

static const VAKey keys[] = {
    STR_KEY("method", method),
    STR_KEY("path", path),
    BOOL_KEY("daemonize", daemonize),
    STR_KEY("pidfile", pidfile),
    STR_KEY("logfile", logfile),
    BOOL_KEY("verbose", verbose),
    STR_KEY("statedir", statedir),
    STR_KEY("allow-rpcs", allow_rpcs),
    STR_KEY("block-rpcs", block_rpcs),
    STR_KEY("socket", socket),
    STR_KEY("socket-group", socket_group),
    STR_KEY("halt-command", shutdown_cmd[VA_SHUTDOWN_HALT]),
    STR_KEY("powerdown-command", shutdown_cmd[VA_SHUTDOWN_POWERDOWN]),
    STR_KEY("reboot-command", shutdown_cmd[VA_SHUTDOWN_REBOOT]),
    STR_KEY("fsfreeze-hook", fsfreeze_hook),
    STR_KEY("fsfreeze-timeout", fsfreeze_timeout),
};

static void va_options_clear(VAOptions *o)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(keys); i++) {
        if (!keys[i].boolean) {
            g_free(*(char **)((char *)o + keys[i].offset));
        }
    }
    g_free(o->config);
}

/* Lists in a file may also be separated by ';', GKeyFile's own way. */
static char *va_normalize_list(char *list)
{
    g_strdelimit(list, ";", ',');
    return list;
}

/* Reads [general] of @path into @o; values already set are kept. */
static bool va_read_config_file(VAOptions *o, const char *path,
                                GError **errp)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_auto(GStrv) groups = NULL;
    g_auto(GStrv) names = NULL;
    size_t i, k;

    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, errp)) {
        g_prefix_error(errp, "%s: ", path);
        return false;
    }
    groups = g_key_file_get_groups(kf, NULL);
    for (i = 0; groups[i]; i++) {
        if (strcmp(groups[i], GROUP) != 0) {
            g_set_error(errp, G_KEY_FILE_ERROR,
                        G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
                        "%s: unknown group [%s]", path, groups[i]);
            return false;
        }
    }
    names = g_key_file_get_keys(kf, GROUP, NULL, NULL);
    for (i = 0; names && names[i]; i++) {
        GError *err = NULL;
        void *field;

        for (k = 0; k < G_N_ELEMENTS(keys); k++) {
            if (strcmp(names[i], keys[k].name) == 0) {
                break;
            }
        }
        if (k == G_N_ELEMENTS(keys)) {
            /* A misspelt block-rpcs must not silently allow everything. */
            g_set_error(errp, G_KEY_FILE_ERROR,
                        G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                        "%s: unknown key '%s' in [%s]", path, names[i],
                        GROUP);
            return false;
        }
        field = (char *)o + keys[k].offset;
        if (keys[k].boolean) {
            gboolean b = g_key_file_get_boolean(kf, GROUP, names[i], &err);

            if (!err && !*(gboolean *)field) {
                *(gboolean *)field = b;
            }
        } else {
            char *s = g_key_file_get_string(kf, GROUP, names[i], &err);

            if (*(char **)field) {
                g_free(s);
            } else {
                *(char **)field = s;
            }
        }
        if (err) {
            g_propagate_prefixed_error(errp, err, "%s: ", path);
            return false;
        }
    }
    return true;
}

static bool va_config_finish(VAConfig *cfg, VAOptions *o, GError **errp)
{
    int i;

    for (i = 0; i < VA_TRANSPORT__MAX; i++) {
        if (!o->method || strcmp(o->method, va_transport_names[i]) == 0) {
            break;
        }
    }
    if (i == VA_TRANSPORT__MAX) {
        g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "unknown method '%s' (virtio-serial, isa-serial, "
                    "unix-listen or unix-connect)", o->method);
        return false;
    }
    cfg->method = i;
    cfg->path = g_steal_pointer(&o->path);
    if (!cfg->path && cfg->method == VA_TRANSPORT_VIRTIO_SERIAL) {
        cfg->path = g_strdup(QEMU_VA_VIRTIO_PATH);
    } else if (!cfg->path && cfg->method == VA_TRANSPORT_ISA_SERIAL) {
        cfg->path = g_strdup(QEMU_VA_ISA_PATH);
    } else if (!cfg->path || !cfg->path[0]) {
        g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "method %s needs a socket path (-p)",
                    va_transport_names[cfg->method]);
        return false;
    }
    cfg->daemonize = o->daemonize;
    cfg->verbose = o->verbose;
    cfg->dump_conf = o->dump_conf;
    cfg->version = o->version;
    cfg->statedir = o->statedir ? g_steal_pointer(&o->statedir) :
                    g_strdup(QEMU_VA_DEFAULT_STATEDIR);
    cfg->pidfile = o->pidfile ? g_steal_pointer(&o->pidfile) :
                   g_build_filename(cfg->statedir, "qemu-va.pid", NULL);
    cfg->socket = o->socket ? g_steal_pointer(&o->socket) :
                  g_build_filename(cfg->statedir, "qemu-va.sock", NULL);
    cfg->logfile = g_steal_pointer(&o->logfile);
    cfg->socket_group = g_steal_pointer(&o->socket_group);
    cfg->allow_rpcs = o->allow_rpcs ?
                      va_normalize_list(g_steal_pointer(&o->allow_rpcs)) :
                      NULL;
    cfg->block_rpcs = o->block_rpcs ?
                      va_normalize_list(g_steal_pointer(&o->block_rpcs)) :
                      NULL;
    cfg->fsfreeze_hook = o->fsfreeze_hook && o->fsfreeze_hook[0] ?
                         g_steal_pointer(&o->fsfreeze_hook) : NULL;
    cfg->fsfreeze_timeout_s = QEMU_VA_FSFREEZE_TIMEOUT_S;
    if (o->fsfreeze_timeout) {
        guint64 t;

        if (!g_ascii_string_to_unsigned(o->fsfreeze_timeout, 10, 0,
                                        G_MAXUINT / 1000, &t, errp)) {
            g_prefix_error(errp, "fsfreeze-timeout: ");
            return false;
        }
        cfg->fsfreeze_timeout_s = t;
    }
    for (i = 0; i < VA_SHUTDOWN__MAX; i++) {
        g_auto(GStrv) argv = NULL;

        cfg->shutdown_cmd[i] = o->shutdown_cmd[i] ?
                               g_steal_pointer(&o->shutdown_cmd[i]) :
                               g_strdup(default_shutdown_cmd[i]);
        /* Reject a command that cannot run now, not at shutdown time. */
        if (!g_shell_parse_argv(cfg->shutdown_cmd[i], NULL, &argv, errp)) {
            g_prefix_error(errp, "%s-command: ", va_shutdown_mode_names[i]);
            return false;
        }
    }
    return true;
}

bool va_config_load(VAConfig *cfg, int *argc, char ***argv, GError **errp)
{
    VAOptions o = { 0 };
    const GOptionEntry entries[] = {
        { "config", 'c', 0, G_OPTION_ARG_FILENAME, &o.config,
          "configuration file (default " QEMU_VA_DEFAULT_CONFIG
          ", or $QEMU_VA_CONF)", "FILE" },
        { "method", 'm', 0, G_OPTION_ARG_STRING, &o.method,
          "channel to the host: virtio-serial (default), isa-serial, "
          "unix-listen or unix-connect", "METHOD" },
        { "path", 'p', 0, G_OPTION_ARG_FILENAME, &o.path,
          "device or socket of the channel (default "
          QEMU_VA_VIRTIO_PATH ", " QEMU_VA_ISA_PATH " for isa-serial)",
          "PATH" },
        { "daemonize", 'd', 0, G_OPTION_ARG_NONE, &o.daemonize,
          "become a daemon, logging to syslog", NULL },
        { "pidfile", 'f', 0, G_OPTION_ARG_FILENAME, &o.pidfile,
          "pid file, locked while running: a second instance refuses to "
          "start (default STATEDIR/qemu-va.pid; empty: none)", "FILE" },
        { "logfile", 'l', 0, G_OPTION_ARG_FILENAME, &o.logfile,
          "log to FILE instead of stderr or syslog", "FILE" },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &o.verbose,
          "log debug messages too (connections, calls both ways)", NULL },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &o.version,
          "print the version and exit", NULL },
        { "statedir", 't', 0, G_OPTION_ARG_FILENAME, &o.statedir,
          "directory of the default pid file and socket (default "
          QEMU_VA_DEFAULT_STATEDIR ")", "DIR" },
        { "allow-rpcs", 'a', 0, G_OPTION_ARG_STRING, &o.allow_rpcs,
          "methods the host may call, comma-separated; all others are "
          "disabled", "LIST" },
        { "block-rpcs", 'b', 0, G_OPTION_ARG_STRING, &o.block_rpcs,
          "methods the host may not call (applied after --allow-rpcs)",
          "LIST" },
        { "socket", 's', 0, G_OPTION_ARG_FILENAME, &o.socket,
          "local socket for va-call and session agents (default "
          "STATEDIR/qemu-va.sock; empty: none)", "PATH" },
        { "socket-group", 'g', 0, G_OPTION_ARG_STRING, &o.socket_group,
          "group allowed to use the socket (mode 0660)", "GROUP" },
        { "halt-command", 0, 0, G_OPTION_ARG_STRING,
          &o.shutdown_cmd[VA_SHUTDOWN_HALT],
          "command run for va.shutdown halt (default: halt)", "CMD" },
        { "powerdown-command", 0, 0, G_OPTION_ARG_STRING,
          &o.shutdown_cmd[VA_SHUTDOWN_POWERDOWN],
          "command run for va.shutdown powerdown (default: poweroff)",
          "CMD" },
        { "reboot-command", 0, 0, G_OPTION_ARG_STRING,
          &o.shutdown_cmd[VA_SHUTDOWN_REBOOT],
          "command run for va.shutdown reboot (default: reboot)", "CMD" },
        { "fsfreeze-hook", 'F', 0, G_OPTION_ARG_FILENAME,
          &o.fsfreeze_hook, "program run with 'freeze' before "
          "va.fsfreeze_freeze and with 'thaw' after a thaw (default: none)",
          "PATH" },
        { "fsfreeze-timeout", 0, 0, G_OPTION_ARG_STRING,
          &o.fsfreeze_timeout, "thaw the filesystems if the host has not "
          "within SECONDS of a freeze (default 300; 0: never)", "SECONDS" },
        { "dump-conf", 'D', 0, G_OPTION_ARG_NONE, &o.dump_conf,
          "print the effective configuration and exit", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("");
    const char *file;
    bool ok = false;

    memset(cfg, 0, sizeof(*cfg));
    g_option_context_set_summary(ctx, "QEMU virtagent guest daemon: serves "
                                 "the host's RPCs and forwards guest "
                                 "programs' calls to the host.");
    g_option_context_set_description(ctx, "Options may also be set in the "
                                     "configuration file, group [general], "
                                     "keys named as the long options; the "
                                     "command line wins.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, argc, argv, errp)) {
        goto out;
    }
    if (*argc > 1) {
        g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "unexpected argument '%s'", (*argv)[1]);
        goto out;
    }
    file = o.config ? o.config : g_getenv("QEMU_VA_CONF");
    if (!file && g_file_test(QEMU_VA_DEFAULT_CONFIG, G_FILE_TEST_EXISTS)) {
        file = QEMU_VA_DEFAULT_CONFIG;
    }
    if (file && !va_read_config_file(&o, file, errp)) {
        goto out;
    }
    ok = va_config_finish(cfg, &o, errp);
out:
    va_options_clear(&o);
    if (!ok) {
        va_config_clear(cfg);
    }
    return ok;
}

void va_config_clear(VAConfig *cfg)
{
    int i;

    g_free(cfg->path);
    g_free(cfg->pidfile);
    g_free(cfg->logfile);
    g_free(cfg->statedir);
    g_free(cfg->allow_rpcs);
    g_free(cfg->block_rpcs);
    g_free(cfg->socket);
    g_free(cfg->socket_group);
    for (i = 0; i < VA_SHUTDOWN__MAX; i++) {
        g_free(cfg->shutdown_cmd[i]);
    }
    g_free(cfg->fsfreeze_hook);
    memset(cfg, 0, sizeof(*cfg));
}

char *va_config_dump(const VAConfig *cfg)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    int i;

    g_key_file_set_string(kf, GROUP, "method",
                          va_transport_names[cfg->method]);
    g_key_file_set_string(kf, GROUP, "path", cfg->path);
    g_key_file_set_boolean(kf, GROUP, "daemonize", cfg->daemonize);
    g_key_file_set_string(kf, GROUP, "pidfile", cfg->pidfile);
    if (cfg->logfile) {
        g_key_file_set_string(kf, GROUP, "logfile", cfg->logfile);
    }
    g_key_file_set_boolean(kf, GROUP, "verbose", cfg->verbose);
    g_key_file_set_string(kf, GROUP, "statedir", cfg->statedir);
    if (cfg->allow_rpcs) {
        g_key_file_set_string(kf, GROUP, "allow-rpcs", cfg->allow_rpcs);
    }
    if (cfg->block_rpcs) {
        g_key_file_set_string(kf, GROUP, "block-rpcs", cfg->block_rpcs);
    }
    g_key_file_set_string(kf, GROUP, "socket", cfg->socket);
    if (cfg->socket_group) {
        g_key_file_set_string(kf, GROUP, "socket-group", cfg->socket_group);
    }
    for (i = 0; i < VA_SHUTDOWN__MAX; i++) {
        g_autofree char *key = g_strdup_printf("%s-command",
                                               va_shutdown_mode_names[i]);

        g_key_file_set_string(kf, GROUP, key, cfg->shutdown_cmd[i]);
    }
    if (cfg->fsfreeze_hook) {
        g_key_file_set_string(kf, GROUP, "fsfreeze-hook", cfg->fsfreeze_hook);
    }
    g_key_file_set_uint64(kf, GROUP, "fsfreeze-timeout",
                          cfg->fsfreeze_timeout_s);
    return g_key_file_to_data(kf, NULL, NULL);
}
