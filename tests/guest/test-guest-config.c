/*
 * qemu-va - tests of option and configuration file parsing, pid file lock
 *
 * Copyright (c) 2026 The virtagent authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "qemu-va/guest-config.h"
#include "qemu-va/pidfile.h"

static char *tmpdir;

/* Loads a configuration from a NULL-terminated argument list. */
static bool load(VAConfig *cfg, GError **errp, ...)
{
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    g_autofree char **argv = NULL;
    const char *arg;
    int argc;
    va_list ap;

    g_ptr_array_add(args, (char *)"qemu-va");
    va_start(ap, errp);
    while ((arg = va_arg(ap, const char *))) {
        g_ptr_array_add(args, (char *)arg);
    }
    va_end(ap);
    argc = args->len;
    g_ptr_array_add(args, NULL);
    argv = (char **)g_ptr_array_free(g_steal_pointer(&args), false);
    return va_config_load(cfg, &argc, &argv, errp);
}

static char *write_conf(const char *name, const char *text)
{
    char *path = g_build_filename(tmpdir, name, NULL);

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    return path;
}

static void test_defaults(void)
{
    g_autofree char *empty = write_conf("empty.conf", "");
    VAConfig cfg;
    GError *err = NULL;

    /* Not the machine's own /etc/qemu/qemu-va.conf. */
    g_setenv("QEMU_VA_CONF", empty, true);
    g_assert_true(load(&cfg, &err, NULL));
    g_assert_no_error(err);
    g_assert_cmpint(cfg.method, ==, VA_TRANSPORT_VIRTIO_SERIAL);
    g_assert_cmpstr(cfg.path, ==, QEMU_VA_VIRTIO_PATH);
    g_assert_cmpstr(cfg.pidfile, ==, "/run/qemu-va.pid");
    g_assert_cmpstr(cfg.socket, ==, "/run/qemu-va.sock");
    g_assert_null(cfg.logfile);
    g_assert_null(cfg.allow_rpcs);
    g_assert_false(cfg.daemonize);
    g_assert_cmpstr(cfg.shutdown_cmd[VA_SHUTDOWN_POWERDOWN], ==,
                    "poweroff");
    g_assert_null(cfg.fsfreeze_hook);
    g_assert_cmpuint(cfg.fsfreeze_timeout_s, ==, QEMU_VA_FSFREEZE_TIMEOUT_S);
    va_config_clear(&cfg);

    g_assert_true(load(&cfg, &err, "-F", "/etc/qemu/fsfreeze-hook",
                       "--fsfreeze-timeout", "0", NULL));
    g_assert_cmpstr(cfg.fsfreeze_hook, ==, "/etc/qemu/fsfreeze-hook");
    g_assert_cmpuint(cfg.fsfreeze_timeout_s, ==, 0);
    va_config_clear(&cfg);

    g_assert_true(load(&cfg, &err, "-m", "isa-serial", "-t", "/var/lib/x",
                       "-d", "-v", "-b", "va.shutdown,va.getfile", NULL));
    g_assert_cmpint(cfg.method, ==, VA_TRANSPORT_ISA_SERIAL);
    g_assert_cmpstr(cfg.path, ==, "/dev/ttyS1");
    g_assert_cmpstr(cfg.pidfile, ==, "/var/lib/x/qemu-va.pid");
    g_assert_cmpstr(cfg.socket, ==, "/var/lib/x/qemu-va.sock");
    g_assert_true(cfg.daemonize);
    g_assert_true(cfg.verbose);
    g_assert_cmpstr(cfg.block_rpcs, ==, "va.shutdown,va.getfile");
    va_config_clear(&cfg);
    g_unsetenv("QEMU_VA_CONF");
}

static void test_file(void)
{
    g_autofree char *conf = write_conf("good.conf",
        "# comment\n[general]\nmethod=unix-connect\npath=/tmp/host.sock\n"
        "daemonize=true\nverbose=false\nallow-rpcs=va.ping;va.info\n"
        "socket=\nsocket-group=kvm\nreboot-command=touch /tmp/rebooted\n"
        "pidfile=/tmp/file.pid\n");
    VAConfig cfg;
    GError *err = NULL;

    g_assert_true(load(&cfg, &err, "-c", conf, NULL));
    g_assert_no_error(err);
    g_assert_cmpint(cfg.method, ==, VA_TRANSPORT_UNIX_CONNECT);
    g_assert_cmpstr(cfg.path, ==, "/tmp/host.sock");
    g_assert_true(cfg.daemonize);
    g_assert_false(cfg.verbose);
    g_assert_cmpstr(cfg.allow_rpcs, ==, "va.ping,va.info");
    g_assert_cmpstr(cfg.socket, ==, "");
    g_assert_cmpstr(cfg.socket_group, ==, "kvm");
    g_assert_cmpstr(cfg.shutdown_cmd[VA_SHUTDOWN_REBOOT], ==,
                    "touch /tmp/rebooted");
    g_assert_cmpstr(cfg.shutdown_cmd[VA_SHUTDOWN_HALT], ==, "halt");
    va_config_clear(&cfg);

    /* The command line wins over the file; the file via $QEMU_VA_CONF. */
    g_setenv("QEMU_VA_CONF", conf, true);
    g_assert_true(load(&cfg, &err, "--path", "/tmp/other.sock", "-f", "",
                       "-a", "va.ping", NULL));
    g_assert_no_error(err);
    g_assert_cmpint(cfg.method, ==, VA_TRANSPORT_UNIX_CONNECT);
    g_assert_cmpstr(cfg.path, ==, "/tmp/other.sock");
    g_assert_cmpstr(cfg.pidfile, ==, "");
    g_assert_cmpstr(cfg.allow_rpcs, ==, "va.ping");
    va_config_clear(&cfg);
    g_unsetenv("QEMU_VA_CONF");
}

static void test_dump(void)
{
    g_autofree char *conf = write_conf("dump.conf",
        "[general]\nmethod=unix-listen\npath=/tmp/l.sock\n"
        "block-rpcs=va.shutdown\nhalt-command=touch '/tmp/a b'\n");
    g_autofree char *dumped = NULL, *again = NULL, *conf2 = NULL;
    VAConfig cfg;
    GError *err = NULL;

    g_assert_true(load(&cfg, &err, "-c", conf, "-D", NULL));
    g_assert_true(cfg.dump_conf);
    dumped = va_config_dump(&cfg);
    g_assert_nonnull(strstr(dumped, "[general]\n"));
    g_assert_nonnull(strstr(dumped, "method=unix-listen\n"));
    g_assert_nonnull(strstr(dumped, "block-rpcs=va.shutdown\n"));
    va_config_clear(&cfg);

    /* What is dumped reads back to the same configuration. */
    conf2 = write_conf("dump2.conf", dumped);
    g_assert_true(load(&cfg, &err, "-c", conf2, NULL));
    g_assert_no_error(err);
    again = va_config_dump(&cfg);
    g_assert_cmpstr(again, ==, dumped);
    g_assert_cmpstr(cfg.shutdown_cmd[VA_SHUTDOWN_HALT], ==,
                    "touch '/tmp/a b'");
    va_config_clear(&cfg);
}

/* The shipped example reads back as it says. */
static void test_example(void)
{
    g_autofree char *dir = g_path_get_dirname(__FILE__);
    g_autofree char *example = g_build_filename(dir, "..", "..", "qemu-va",
                                                "qemu-va.conf.example",
                                                NULL);
    VAConfig cfg;
    GError *err = NULL;

    g_assert_true(load(&cfg, &err, "-c", example, NULL));
    g_assert_no_error(err);
    g_assert_cmpint(cfg.method, ==, VA_TRANSPORT_VIRTIO_SERIAL);
    g_assert_cmpstr(cfg.block_rpcs, ==, "va.shutdown,va.getfile");
    g_assert_cmpstr(cfg.socket, ==, "/run/qemu-va.sock");
    g_assert_cmpstr(cfg.shutdown_cmd[VA_SHUTDOWN_REBOOT], ==, "reboot");
    va_config_clear(&cfg);
}

static void expect_error(const char *needle, ...)
{
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    g_autofree char **argv = NULL;
    const char *arg;
    VAConfig cfg;
    GError *err = NULL;
    int argc;
    va_list ap;

    g_ptr_array_add(args, (char *)"qemu-va");
    va_start(ap, needle);
    while ((arg = va_arg(ap, const char *))) {
        g_ptr_array_add(args, (char *)arg);
    }
    va_end(ap);
    argc = args->len;
    g_ptr_array_add(args, NULL);
    argv = (char **)g_ptr_array_free(g_steal_pointer(&args), false);
    g_assert_false(va_config_load(&cfg, &argc, &argv, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, needle)) {
        g_error("'%s' lacks '%s'", err->message, needle);
    }
    g_error_free(err);
}

static void test_errors(void)
{
    g_autofree char *typo = write_conf("typo.conf",
                                       "[general]\nblock-rcps=va.shutdown\n");
    g_autofree char *group = write_conf("group.conf", "[other]\nx=1\n");
    g_autofree char *badbool = write_conf("bool.conf",
                                          "[general]\ndaemonize=maybe\n");
    g_autofree char *garbage = write_conf("garbage.conf", "not a keyfile\n");
    g_autofree char *missing = g_build_filename(tmpdir, "missing", NULL);

    expect_error("unknown method 'tcp'", "-m", "tcp", NULL);
    expect_error("needs a socket path", "-m", "unix-listen", NULL);
    expect_error("unexpected argument 'extra'", "-m", "unix-listen", "-p",
                 "/x", "extra", NULL);
    expect_error("Unknown option --nope", "--nope", NULL);
    expect_error("unknown key 'block-rcps'", "-c", typo, NULL);
    expect_error("unknown group [other]", "-c", group, NULL);
    expect_error("bool.conf", "-c", badbool, NULL);
    expect_error("garbage.conf", "-c", garbage, NULL);
    expect_error("missing", "-c", missing, NULL);
    expect_error("reboot-command", "--reboot-command", "echo 'unbalanced",
                 NULL);
    expect_error("fsfreeze-timeout", "--fsfreeze-timeout", "soon", NULL);
    expect_error("fsfreeze-timeout", "--fsfreeze-timeout", "-1", NULL);
}

static void test_pidfile(void)
{
    g_autofree char *path = g_build_filename(tmpdir, "va.pid", NULL);
    g_autofree char *text = NULL, *expect = NULL;
    g_autofree char *holder = NULL;
    GError *err = NULL;
    int fd;

    if (g_test_subprocess()) {
        /* The second instance, in a process of its own. */
        g_assert_cmpint(va_pidfile_acquire(g_getenv("TEST_PIDFILE"), &err),
                        ==, -1);
        printf("%s\n", err->message);
        g_error_free(err);
        return;
    }

    fd = va_pidfile_acquire(path, &err);
    g_assert_no_error(err);
    g_assert_cmpint(fd, >=, 0);
    /*
     * Read through @fd: closing any other descriptor of the file would
     * drop the process's lock (POSIX record locks).
     */
    text = g_malloc0(32);
    g_assert_cmpint(pread(fd, text, 31, 0), >, 0);
    expect = g_strdup_printf("%d\n", (int)getpid());
    g_assert_cmpstr(text, ==, expect);

    /* The lock is per process: another one must be refused. */
    g_setenv("TEST_PIDFILE", path, true);
    g_test_trap_subprocess(NULL, 0,
                           G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed();
    holder = g_strdup_printf("*another qemu-va (pid %d) is running*",
                             (int)getpid());
    g_test_trap_assert_stdout(holder);

    va_pidfile_release(fd, path);
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));

    /* A stale file left by a crash does not stop the next start. */
    g_assert_true(g_file_set_contents(path, "99999\n", -1, NULL));
    fd = va_pidfile_acquire(path, &err);
    g_assert_no_error(err);
    va_pidfile_release(fd, path);

    g_assert_cmpint(va_pidfile_acquire("/nonexistent/dir/x.pid", &err), ==,
                    -1);
    g_assert_nonnull(strstr(err->message, "cannot open pid file"));
    g_error_free(err);
}

int main(int argc, char **argv)
{
    g_autofree char *cmd = NULL;
    int ret;

    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("test-guest-config-XXXXXX", NULL);
    g_test_add_func("/guest-config/defaults", test_defaults);
    g_test_add_func("/guest-config/file", test_file);
    g_test_add_func("/guest-config/dump", test_dump);
    g_test_add_func("/guest-config/example", test_example);
    g_test_add_func("/guest-config/errors", test_errors);
    g_test_add_func("/guest-config/pidfile", test_pidfile);
    ret = g_test_run();
    cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    g_assert_cmpint(system(cmd), ==, 0);
    g_free(tmpdir);
    return ret;
}
