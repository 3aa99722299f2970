/*
 * qemu-va - options and configuration file
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * As qemu-ga: the configuration file (GKeyFile, group [general], keys
 * named as the long options) is read first, then the command line
 * overrides it.
 */
#ifndef QEMU_VA_GUEST_CONFIG_H
#define QEMU_VA_GUEST_CONFIG_H

#include <stdbool.h>
#include <glib.h>

#include "guest-rpc.h"

#define QEMU_VA_DEFAULT_CONFIG "/etc/qemu/qemu-va.conf"
#define QEMU_VA_DEFAULT_STATEDIR "/run"
#define QEMU_VA_VIRTIO_PATH "/dev/virtio-ports/org.qemu.virtagent"
#define QEMU_VA_ISA_PATH "/dev/ttyS1"
#define QEMU_VA_FSFREEZE_TIMEOUT_S 300

typedef enum VATransport {
    VA_TRANSPORT_VIRTIO_SERIAL,
    VA_TRANSPORT_ISA_SERIAL,
    VA_TRANSPORT_UNIX_LISTEN,
    VA_TRANSPORT_UNIX_CONNECT,
    VA_TRANSPORT__MAX,
} VATransport;

extern const char *const va_transport_names[VA_TRANSPORT__MAX];

typedef struct VAConfig {
    VATransport method;
    char *path;             /* the channel's device or socket */
    bool daemonize;
    char *pidfile;          /* "" means none */
    char *logfile;          /* NULL: stderr, or syslog when daemonized */
    bool verbose;
    char *statedir;
    char *allow_rpcs;       /* comma-separated, NULL if none */
    char *block_rpcs;
    char *socket;           /* local socket for va-call; "" means none */
    char *socket_group;     /* NULL: the daemon's group */
    char *shutdown_cmd[VA_SHUTDOWN__MAX];
    char *fsfreeze_hook;    /* NULL: none */
    unsigned fsfreeze_timeout_s;    /* 0: a freeze lasts until thawed */
    bool dump_conf;         /* print the effective configuration, exit */
    bool version;
} VAConfig;

/*
 * Parses @argv (GOption removes what it knows) and the configuration
 * file, the one given with -c or $QEMU_VA_CONF or, when it exists, the
 * default. Fills in every default. False with @errp set on a bad option,
 * value, key or file.
 */
bool va_config_load(VAConfig *cfg, int *argc, char ***argv, GError **errp);
void va_config_clear(VAConfig *cfg);

/* The effective configuration as a configuration file. */
char *va_config_dump(const VAConfig *cfg);

#endif
