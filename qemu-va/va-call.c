/*
 * va-call - call a host method through the guest agent
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Connects to qemu-va's local socket, sends one call, prints the answer:
 *   va-call va.notify backup-done s:ok
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "va-glib.h"
#include "guest-rpc.h"
#include "va-call-args.h"

#define VA_CALL_DEFAULT_SOCKET "/run/qemu-va.sock"
#define VA_CALL_DEFAULT_TIMEOUT_S 30

typedef struct VACall {
    GMainLoop *loop;
    bool json;
    int status;
} VACall;

static void call_done(VAChannel *ch, VACallId id, xmlrpc_value *result,
                      const GError *err, void *opaque)
{
    VACall *vc = opaque;
    g_autofree char *text = NULL;
    xmlrpc_env env;

    g_main_loop_quit(vc->loop);
    if (err) {
        if (err->domain == VA_FAULT) {
            fprintf(stderr, "va-call: fault %d: %s\n", err->code,
                    err->message);
        } else {
            fprintf(stderr, "va-call: %s\n", err->message);
        }
        vc->status = EXIT_FAILURE;
        return;
    }
    xmlrpc_env_init(&env);
    text = va_call_format(&env, result, !vc->json);
    if (text) {
        printf("%s\n", text);
        vc->status = EXIT_SUCCESS;
    } else {
        fprintf(stderr, "va-call: cannot print the answer: %s\n",
                env.fault_string);
        vc->status = EXIT_FAILURE;
    }
    xmlrpc_env_clean(&env);
}

static int connect_socket(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(addr.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int err = errno;

        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    g_autofree char *socket_path = NULL;
    int timeout_s = VA_CALL_DEFAULT_TIMEOUT_S;
    gboolean json = FALSE, version = FALSE;
    const GOptionEntry entries[] = {
        { "socket", 's', 0, G_OPTION_ARG_FILENAME, &socket_path,
          "qemu-va's local socket (default " VA_CALL_DEFAULT_SOCKET
          ", or $QEMU_VA_SOCKET)", "PATH" },
        { "timeout", 't', 0, G_OPTION_ARG_INT, &timeout_s,
          "give up after SECONDS (default 30; 0: wait forever)",
          "SECONDS" },
        { "json", 'j', 0, G_OPTION_ARG_NONE, &json,
          "print a string answer as JSON too (quoted)", NULL },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &version,
          "print the version and exit", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("METHOD [ARG...] - call a host method");
    g_autoptr(GError) err = NULL;
    VAChannelConfig cfg;
    VAGlibChannel *gc;
    VACall vc = { .status = EXIT_FAILURE };
    xmlrpc_value *params;
    xmlrpc_env env;
    const char *path;
    int i, fd;

    g_option_context_set_description(ctx,
        "Arguments:\n"
        "  i:42 int, I:42 i8 (64-bit), d:1.5 double, b:true boolean,\n"
        "  s:text string, n: nil, 6:aGk= base64 (given encoded),\n"
        "  j:JSON, or an argument starting with [ or {, is JSON:\n"
        "    '[1, \"a\", {\"k\": true}]' (integers become int, or i8 when\n"
        "    larger; null becomes nil).\n"
        "  Anything else is a string as it is.\n"
        "The answer is printed as JSON; a string answer as it is.\n"
        "Exit status: 0 on success, 1 on a fault or error, 2 on bad usage.\n");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "va-call: %s\n", err->message);
        return 2;
    }
    if (version) {
        printf("va-call %s\n", QEMU_VA_VERSION);
        return EXIT_SUCCESS;
    }
    if (argc < 2 || timeout_s < 0) {
        fprintf(stderr, "va-call: %s\n(see va-call --help)\n",
                argc < 2 ? "no method given" : "bad timeout");
        return 2;
    }

    xmlrpc_env_init(&env);
    params = xmlrpc_array_new(&env);
    for (i = 2; i < argc && !env.fault_occurred; i++) {
        xmlrpc_value *v = va_call_parse_arg(&env, argv[i]);

        if (v) {
            xmlrpc_array_append_item(&env, params, v);
            xmlrpc_DECREF(v);
        }
    }
    if (env.fault_occurred) {
        fprintf(stderr, "va-call: %s\n", env.fault_string);
        xmlrpc_DECREF(params);
        xmlrpc_env_clean(&env);
        return 2;
    }

    path = socket_path ? socket_path : g_getenv("QEMU_VA_SOCKET");
    path = path ? path : VA_CALL_DEFAULT_SOCKET;
    fd = connect_socket(path);
    if (fd < 0) {
        fprintf(stderr, "va-call: cannot connect to %s: %s\n", path,
                g_strerror(errno));
        xmlrpc_DECREF(params);
        xmlrpc_env_clean(&env);
        return EXIT_FAILURE;
    }
    va_channel_config_init(&cfg);
    cfg.window = 1;
    cfg.max_queued_calls = 1;
    /* A closed socket fails the call, and call_done reports that. */
    gc = va_glib_channel_new(NULL, &cfg, NULL, &vc, &err);
    if (!gc) {
        fprintf(stderr, "va-call: %s\n", err->message);
        close(fd);
        xmlrpc_DECREF(params);
        xmlrpc_env_clean(&env);
        return EXIT_FAILURE;
    }
    va_glib_channel_set_fd(gc, fd, true);
    vc.loop = g_main_loop_new(NULL, FALSE);
    vc.json = json;
    if (va_channel_call(va_glib_channel_get(gc), argv[1], params,
                        timeout_s * (int64_t)1000, call_done, &vc, &err)) {
        g_main_loop_run(vc.loop);
    } else {
        fprintf(stderr, "va-call: %s\n", err->message);
    }
    g_main_loop_unref(vc.loop);
    va_glib_channel_free(gc);
    xmlrpc_DECREF(params);
    xmlrpc_env_clean(&env);
    return vc.status;
}
