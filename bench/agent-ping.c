/*
 * virtagent - ping a guest agent N times over its unix socket
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Usage: agent-ping va|qga SOCKET N
 *
 * Plays the host for an agent listening on SOCKET: qemu-va (-m
 * unix-listen), answered with our channel (its hello first, then N
 * va.ping calls one at a time), or qemu-ga (-m unix-listen), N
 * guest-ping commands one at a time.  It prints the wall time per call.
 * bench/agent-instr.sh runs the agent under callgrind with two values of
 * N: the difference of the two counts, divided by the difference of N,
 * is what one call costs the agent in instructions, startup excluded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "va-glib.h"

static int connect_to(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || strlen(path) >= sizeof(addr.sun_path)) {
        g_error("%s: cannot make a socket", path);
    }
    strcpy(addr.sun_path, path);
    /* The agent may still be starting (valgrind makes that slow). */
    for (int i = 0; connect(fd, (struct sockaddr *)&addr, sizeof(addr));
         i++) {
        if (i == 600) {
            g_error("%s: %s", path, g_strerror(errno));
        }
        g_usleep(100 * 1000);
    }
    return fd;
}

static bool greeted;

static xmlrpc_value *hello(xmlrpc_env *env, xmlrpc_value *params,
                           void *server_info, void *call_info)
{
    greeted = true;
    return xmlrpc_struct_new(env);
}

static long done;

static void ping_done(VAChannel *ch, VACallId id, xmlrpc_value *result,
                      const GError *err, void *opaque)
{
    if (err) {
        g_error("va.ping: %s", err->message);
    }
    done++;
}

static void ping_va(int fd, long n)
{
    struct xmlrpc_method_info3 info = {
        .methodName = "va.hello",
        .methodFunction = hello,
    };
    VAChannelConfig cfg;
    VAGlibChannel *gc;
    VAChannel *ch;
    xmlrpc_env env;

    va_channel_config_init(&cfg);
    gc = va_glib_channel_new(NULL, &cfg, NULL, NULL, NULL);
    ch = va_glib_channel_get(gc);
    xmlrpc_env_init(&env);
    xmlrpc_registry_add_method3(&env, va_channel_registry(ch), &info);
    g_assert(!env.fault_occurred);
    xmlrpc_env_clean(&env);
    va_glib_channel_set_fd(gc, fd, true);
    while (!greeted) {
        g_main_context_iteration(NULL, TRUE);
    }
    for (long i = 0; i < n; i++) {
        if (!va_channel_call(ch, "va.ping", NULL, -1, ping_done, NULL,
                             NULL)) {
            g_error("call refused");
        }
        while (done <= i) {
            g_main_context_iteration(NULL, TRUE);
        }
    }
    va_glib_channel_free(gc);
}

static void ping_qga(int fd, long n)
{
    static const char cmd[] = "{\"execute\":\"guest-ping\"}\n";
    static const char want[] = "{\"return\": {}}\n";
    char buf[256];

    for (long i = 0; i < n; i++) {
        size_t got = 0;

        if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd)) {
            g_error("write: %s", g_strerror(errno));
        }
        while (!got || buf[got - 1] != '\n') {
            ssize_t r = read(fd, buf + got, sizeof(buf) - got);

            if (r <= 0 || got + r == sizeof(buf)) {
                g_error("qemu-ga: no answer");
            }
            got += r;
        }
        if (got != strlen(want) || memcmp(buf, want, got)) {
            g_error("qemu-ga: unexpected answer %.*s", (int)got, buf);
        }
    }
    close(fd);
}

int main(int argc, char **argv)
{
    long n;
    int64_t start;
    int fd;

    if (argc != 4 || (strcmp(argv[1], "va") && strcmp(argv[1], "qga"))) {
        fprintf(stderr, "usage: %s va|qga SOCKET N\n", argv[0]);
        return 2;
    }
    n = atol(argv[3]);
    fd = connect_to(argv[2]);
    start = g_get_monotonic_time();
    if (!strcmp(argv[1], "va")) {
        ping_va(fd, n);
    } else {
        ping_qga(fd, n);
    }
    printf("agent-ping %s: %ld calls, %.1f us per call\n", argv[1], n,
           n ? (g_get_monotonic_time() - start) / (double)n : 0.0);
    return 0;
}
