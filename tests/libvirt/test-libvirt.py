#!/usr/bin/python3
# virtagent - the test guest under a real libvirtd (make check-libvirt)
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: test-libvirt.py [--keep] [-k SUBSTRING]
#
# Starts a libvirtd and a virtlogd of its own, defines the test guest
# (build/guest/) with build/qemu-system-x86_64 as <emulator> and the
# <qemu:commandline> of docs/usage.md's domain XML, and drives it the way
# a libvirt user would: QMP and HMP passthrough of every virtagent
# command, events through qemu-monitor-event, save/restore, managedsave,
# an external snapshot with memory, and a call in flight across a save.
# Prints the passthrough cost and the time from restore to the agent's
# first answer.  Ends with "N passed, N failed"; exits non-zero on any
# failure.
#
# libvirt 9.0 has no way to move a privileged (root) daemon's directories:
# qemu.conf is read from /etc/libvirt, state goes to /run/libvirt and
# /var/{lib,log,cache}/libvirt, and only the daemon's own sockets
# (libvirtd.conf's unix_sock_dir) and PID files (-p) can be put elsewhere;
# the XDG variables count only in session mode, which root never runs.  So
# the daemons run in a private mount namespace in which those five
# directories are bind mounts of a temporary directory: the host's
# /etc/libvirt is left alone and no system libvirtd is touched.  The
# mount points that do not exist are created and removed afterwards; the
# libvirt-qemu user and group, which libvirtd needs before it reads any
# configuration, are created if missing and kept.
#
# The bindings live in Debian's /usr/bin/python3 (python3-libvirt), hence
# the interpreter above.  Without root, libvirtd, or the bindings, the
# suite prints why it is skipped and "0 passed, 0 failed".

import argparse
import base64
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import xml.etree.ElementTree as ET

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRCDIR, "scripts", "vm"))
from vm import (Console, DEFAULT_QEMU, DEFAULT_KERNEL,  # noqa: E402
                DEFAULT_INITRD, READY_RE, check_inputs, VMError,
                TestFailure, check, check_eq)

# Generous: TCG on a loaded 2-core machine.
T = 120
DOM = "va-libvirt-test"
QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
SYSTEM_PYTHON = "/usr/bin/python3"
# Serializes suites on one host: the mount points one creates and removes
# are mount points in another's namespace.
LOCK = os.path.join("/run/lock" if os.path.isdir("/run/lock")
                    else tempfile.gettempdir(),
                    "virtagent-check-libvirt.lock")
PACKAGES = ("libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients "
            "python3-libvirt")
# The system paths of a privileged libvirtd, and the private directory
# each becomes inside the daemons' mount namespace.
SYSTEM_DIRS = (("/etc/libvirt", "etc"), ("/run/libvirt", "run"),
               ("/var/lib/libvirt", "lib"), ("/var/log/libvirt", "log"),
               ("/var/cache/libvirt", "cache"))
QEMU_CONF = """\
# No systemd, cgroups or security modules on the test machines.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
"""


def skip(why):
    print("check-libvirt: SKIPPED: %s" % why)
    print("0 passed, 0 failed")
    sys.exit(0)


try:
    import libvirt
    import libvirt_qemu
except ImportError:
    # Run as "python3 test-libvirt.py" with another python3 on PATH.
    if (sys.executable != SYSTEM_PYTHON and os.path.exists(SYSTEM_PYTHON)
            and __name__ == "__main__"):
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
    libvirt = None


def run(args, timeout=T, ok=True):
    """Run a command; (status, stdout + stderr).  ok: fail unless it
    succeeds."""
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=timeout)
    if ok and p.returncode != 0:
        raise TestFailure("%s exited %d: %s"
                          % (" ".join(args), p.returncode, p.stdout.strip()))
    return p.returncode, p.stdout


def ensure_qemu_user():
    """libvirtd looks up the libvirt-qemu user and group (its compiled-in
    defaults) before it reads qemu.conf, and exits without them."""
    if subprocess.call(["getent", "group", "libvirt-qemu"],
                       stdout=subprocess.DEVNULL) != 0:
        run(["groupadd", "-r", "libvirt-qemu"])
        print("created group libvirt-qemu")
    if subprocess.call(["getent", "passwd", "libvirt-qemu"],
                       stdout=subprocess.DEVNULL) != 0:
        run(["useradd", "-r", "-g", "libvirt-qemu", "-d", "/var/lib/libvirt",
             "-s", "/usr/sbin/nologin", "libvirt-qemu"])
        print("created user libvirt-qemu")


class Daemons:
    """libvirtd and virtlogd with everything under a private directory."""

    def __init__(self, keep=False):
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix="va-lv-")
        self.sock = os.path.join(self.dir, "sock", "libvirt-sock")
        self.uri = "qemu:///system?socket=" + self.sock
        self.created = []
        self.proc = self.out = None

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def _write(self, name, text):
        with open(self.path("etc", name), "w") as f:
            f.write(text)

    def start(self):
        for _, sub in SYSTEM_DIRS:
            os.makedirs(self.path(sub))
        os.makedirs(self.path("sock"))
        self._write("libvirtd.conf",
                    'unix_sock_dir = "%s"\n'
                    'auth_unix_ro = "none"\nauth_unix_rw = "none"\n'
                    'log_outputs = "3:file:%s"\n'
                    % (self.path("sock"), self.path("libvirtd.log")))
        self._write("virtlogd.conf", 'log_outputs = "3:file:%s"\n'
                    % self.path("virtlogd.log"))
        self._write("qemu.conf", QEMU_CONF)
        for system, _ in SYSTEM_DIRS:
            if not os.path.isdir(system):
                os.makedirs(system)
                self.created.append(system)
        binds = "".join("mount --bind %s %s\n" % (self.path(sub), system)
                        for system, sub in SYSTEM_DIRS)
        script = (binds +
                  "virtlogd -d -f %s -p %s || exit 1\n"
                  % (self.path("etc", "virtlogd.conf"),
                     self.path("virtlogd.pid")) +
                  "exec libvirtd -f %s -p %s\n"
                  % (self.path("etc", "libvirtd.conf"),
                     self.path("libvirtd.pid")))
        self.out = open(self.path("daemons.out"), "w")
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--",
             "sh", "-ec", script], stdout=self.out, stderr=self.out,
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + T
        while True:
            if self.proc.poll() is not None:
                raise TestFailure("libvirtd exited %d: %s"
                                  % (self.proc.returncode, self.log_tail()))
            if os.path.exists(self.sock):
                try:
                    return libvirt.open(self.uri)
                except libvirt.libvirtError:
                    pass
            check(time.monotonic() < deadline, "libvirtd did not start: "
                  + self.log_tail())
            time.sleep(0.1)

    def log_tail(self, name="daemons.out", n=2000):
        try:
            with open(self.path(name), errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return "(no %s)" % name

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.out:
            self.out.close()
        # virtlogd, and a QEMU a failed test left running, outlive
        # libvirtd; their PID files are in the private directory, and
        # their command lines name it (a PID may have been reused).
        pidfiles = [self.path("virtlogd.pid")]
        qdir = self.path("run", "qemu")
        if os.path.isdir(qdir):
            pidfiles += [os.path.join(qdir, f) for f in os.listdir(qdir)
                         if f.endswith(".pid")]
        for pf in pidfiles:
            try:
                with open(pf) as f:
                    pid = int(f.read().strip())
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if self.dir.encode() in f.read():
                        os.kill(pid, signal.SIGTERM)
            except (OSError, ValueError):
                pass
        for system in reversed(self.created):
            try:
                os.rmdir(system)
            except OSError as e:
                print("left %s: %s" % (system, e))
        if self.keep:
            print("kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def docs_domain_xml():
    """The domain XML of docs/usage.md (its first xml block)."""
    with open(os.path.join(SRCDIR, "docs", "usage.md")) as f:
        m = re.search(r"```xml\n(.*?)```", f.read(), re.S)
    check(m, "docs/usage.md has no xml block")
    return m.group(1)


def test_domain_xml(console_sock):
    """docs/usage.md's domain with the test guest: its <features> and
    <qemu:commandline> as they are, our QEMU as the emulator, the guest's
    kernel and initrd instead of the disk, the serial console on a socket
    and no devices the guest does not need."""
    ET.register_namespace("qemu", QEMU_NS)
    root = ET.fromstring(docs_domain_xml())
    check(root.find("{%s}commandline" % QEMU_NS) is not None,
          "docs/usage.md's domain has no <qemu:commandline>")
    root.set("type", "qemu")
    root.find("name").text = DOM
    mem = root.find("memory")
    mem.set("unit", "MiB")
    mem.text = "256"
    root.find("vcpu").text = "1"
    os_el = root.find("os")
    for tag, text in (("kernel", DEFAULT_KERNEL), ("initrd", DEFAULT_INITRD),
                      ("cmdline", "console=ttyS0 panic=-1")):
        ET.SubElement(os_el, tag).text = text
    devices = root.find("devices")
    devices.find("emulator").text = DEFAULT_QEMU
    for tag in ("disk", "console", "serial"):
        for el in devices.findall(tag):
            devices.remove(el)
    serial = ET.SubElement(devices, "serial", type="unix")
    ET.SubElement(serial, "source", mode="bind", path=console_sock)
    ET.SubElement(serial, "target", port="0")
    ET.SubElement(devices, "controller", type="usb", model="none")
    ET.SubElement(devices, "memballoon", model="none")
    return ET.tostring(root, encoding="unicode")


class Events:
    """The VA_* events of every domain, from libvirt's QEMU monitor event
    API, kept in arrival order."""

    def __init__(self, conn):
        self.list = []
        self.cond = threading.Condition()
        libvirt_qemu.qemuMonitorEventRegister(
            conn, None, "VA_", self._cb, None,
            libvirt_qemu.VIR_CONNECT_DOMAIN_QEMU_MONITOR_EVENT_REGISTER_REGEX)

    def _cb(self, conn, dom, event, seconds, micros, details, opaque):
        with self.cond:
            self.list.append((event, json.loads(details) if details else {}))
            self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.list)

    def wait(self, name, since=0, match=None, timeout=T):
        """The data of the first event @name after index @since for which
        match(data) is true."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for ev, data in self.list[since:]:
                    if ev == name and (match is None or match(data)):
                        return data
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure("no %s event within %d s"
                                      % (name, timeout))
                self.cond.wait(left)


def _event_loop():
    while True:
        libvirt.virEventRunDefaultImpl()


class Ctx:
    """What the tests share: the daemons, a connection, the domain, its
    console and the events."""

    def __init__(self, daemons, conn):
        self.d = daemons
        self.conn = conn
        self.events = Events(conn)
        self.console_sock = daemons.path("con.sock")
        self.console = None
        self.consoles = 0
        self.dom = None
        self.session = None
        self.figures = []

    def virsh(self, *args, ok=True, timeout=T):
        return run(["virsh", "-q", "-c", self.d.uri] + list(args),
                   timeout, ok)[1]

    def qmp(self, cmd, args=None):
        """A QMP command through qemuMonitorCommand; its whole answer."""
        msg = {"execute": cmd}
        if args is not None:
            msg["arguments"] = args
        return json.loads(libvirt_qemu.qemuMonitorCommand(
            self.dom, json.dumps(msg), 0))

    def qmp_ok(self, cmd, args=None):
        r = self.qmp(cmd, args)
        check("return" in r, "%s %r: %r" % (cmd, args, r))
        return r["return"]

    def hmp(self, line):
        return libvirt_qemu.qemuMonitorCommand(
            self.dom, line,
            libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP).replace(
                "\r\n", "\n")

    def connect_console(self):
        """Connect to the guest's serial console (again, after a restore:
        each QEMU has its own socket)."""
        self.close_console()
        deadline = time.monotonic() + T
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.console_sock)
                break
            except OSError:
                s.close()
                check(time.monotonic() < deadline, "no console socket")
                time.sleep(0.05)
        self.consoles += 1
        self.console_socket = s
        self.console = Console(s.makefile("rb", buffering=0),
                               s.makefile("wb", buffering=0),
                               self.d.path("console-%d.log" % self.consoles))

    def close_console(self):
        if self.console:
            try:
                self.console_socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.console.close()
            self.console_socket.close()
            self.console = None

    def guest(self, cmd):
        status, out = self.console.run(cmd, T)
        check(status == 0, "guest: %r exited %d: %s" % (cmd, status, out))
        return out

    def state(self):
        return self.dom.state()[0]

    def running(self):
        try:
            return self.state() == libvirt.VIR_DOMAIN_RUNNING
        except libvirt.libvirtError:
            return False

    def ping_after(self, what):
        """Poll va-ping from now until the agent answers; the time it
        took is printed as a figure when @what names the event."""
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < T:
            r = self.qmp("va-ping", {"timeout": 2})
            if "return" in r:
                if what:
                    self.figures.append(
                        "%s to the first answered va-ping: %.0f ms"
                        % (what, (time.monotonic() - t0) * 1000))
                return
            last = r
            time.sleep(0.02)
        raise TestFailure("va-ping unanswered %d s after %s: %r"
                          % (T, what or "the restore", last))


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def define_and_start(ctx):
    xml = test_domain_xml(ctx.console_sock)
    with open(ctx.d.path("domain.xml"), "w") as f:
        f.write(xml)
    ctx.virsh("define", ctx.d.path("domain.xml"))
    ctx.dom = ctx.conn.lookupByName(DOM)
    since = ctx.events.mark()
    ctx.virsh("start", DOM)
    ctx.connect_console()
    ev = ctx.events.wait("VA_AGENT_CONNECTED", since)
    check_eq(ev["chardev"], "va0", "VA_AGENT_CONNECTED chardev")
    ctx.session = ev["session"]
    ctx.console.wait_for(READY_RE, T)
    # libvirt keeps <qemu:commandline> as given.
    got = ctx.virsh("dumpxml", DOM)
    check("virtagent,id=va0" in got and "virtio-serial0.0" in got,
          "dumpxml lost the qemu:commandline: " + got)


@test
def qmp_virsh(ctx):
    out = ctx.virsh("qemu-monitor-command", DOM, '{"execute":"va-ping"}')
    r = json.loads(out)
    check_eq(r.get("return"), {}, "virsh va-ping")
    out = ctx.virsh("qemu-monitor-command", DOM, "--pretty",
                    '{"execute":"query-virtagent"}')
    q = json.loads(out)["return"][0]
    check(q["connected"] and q["session"] == ctx.session,
          "query-virtagent: %r" % q)


@test
def qmp_python(ctx):
    """Every QMP command through libvirt_qemu.qemuMonitorCommand."""
    check_eq(ctx.qmp_ok("va-ping"), {}, "va-ping")
    caps = ctx.qmp_ok("va-capabilities")
    check("va.getfile" in caps["methods"], "va-capabilities: %r" % caps)
    info = ctx.qmp_ok("va-info")
    check_eq(info["hostname"], "virtagent-guest", "va-info hostname")
    check_eq(info["session"], ctx.session, "va-info session")
    r = ctx.qmp_ok("va-getfile", {"path": "/etc/hostname"})
    check_eq(r["eof"], True, "va-getfile eof")
    check(re.search(r"\[ *\d+\.\d+\] ", ctx.qmp_ok("va-getdmesg")["text"]),
          "va-getdmesg: no kernel log lines")
    check_eq(ctx.qmp_ok("va-call", {"method": "va.ping"}),
             {"result": "pong"}, "va-call va.ping")
    since = ctx.events.mark()
    cid = ctx.qmp_ok("va-call", {"method": "va.ping", "async": True})["id"]
    done = ctx.events.wait("VA_CALL_DONE", since,
                           lambda e: e["id"] == cid)
    check_eq(done.get("result"), "pong", "async va-call result")
    r = ctx.qmp("va-cancel", {"id": 999999})
    check("error" in r, "va-cancel of no call: %r" % r)


@test
def hmp_passthrough(ctx):
    """Every HMP command through virsh qemu-monitor-command --hmp."""
    def hmp(line):
        return ctx.virsh("qemu-monitor-command", DOM, "--hmp", line)
    check_eq(hmp("va_ping").strip(), "guest agent answered", "va_ping")
    check("va.getfile" in hmp("va_capabilities"), "va_capabilities")
    check("hostname: virtagent-guest" in hmp("va_info"), "va_info")
    check_eq(hmp("va_getfile /etc/hostname").strip(), "virtagent-guest",
             "va_getfile")
    check(re.search(r"\[ *\d+\.\d+\] ", hmp("va_getdmesg")), "va_getdmesg")
    check_eq(hmp("va_call va.ping").strip(), '"pong"', "va_call")
    out = hmp("info virtagent")
    check("agent connected" in out and ctx.session in out,
          "info virtagent: " + out)
    # va_cancel needs a call that stays pending: stop the agent.
    ctx.guest("kill -STOP $(cat /run/qemu-va.pid)")
    try:
        since = ctx.events.mark()
        cid = ctx.qmp_ok("va-call", {"method": "va.ping",
                                     "async": True})["id"]
        out = hmp("info virtagent")
        check("pending call %d: va.ping" % cid in out,
              "pending call not listed: " + out)
        hmp("va_cancel %d" % cid)
        done = ctx.events.wait("VA_CALL_DONE", since,
                               lambda e: e["id"] == cid)
        check("cancelled by va-cancel" in done.get("error", ""),
              "va_cancel: %r" % done)
    finally:
        ctx.guest("kill -CONT $(cat /run/qemu-va.pid)")
    check_eq(hmp("va_ping").strip(), "guest agent answered",
             "va_ping after va_cancel")


@test
def events_virsh(ctx):
    """virsh qemu-monitor-event receives VA_CALL_DONE and VA_GUEST_NOTIFY."""
    p = subprocess.Popen(["virsh", "-q", "-c", ctx.d.uri,
                          "qemu-monitor-event", DOM, "--event", "VA_",
                          "--regex", "--loop"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, bufsize=1)
    lines = []
    cond = threading.Condition()

    def reader():
        for line in p.stdout:
            with cond:
                lines.append(line.rstrip("\n"))
                cond.notify_all()
        with cond:
            cond.notify_all()

    def wait_line(pattern, timeout, poke=None):
        deadline = time.monotonic() + timeout
        with cond:
            while True:
                for line in lines:
                    if re.search(pattern, line):
                        return line
                check(p.poll() is None,
                      "virsh qemu-monitor-event exited: %r" % lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure("virsh qemu-monitor-event: no %r in %r"
                                      % (pattern, lines))
                if poke:
                    cond.release()
                    try:
                        poke()
                    finally:
                        cond.acquire()
                cond.wait(min(left, 0.5))

    threading.Thread(target=reader, daemon=True).start()
    try:
        # virsh says nothing when its registration is in place: poke
        # VA_CALL_DONE events until one shows.
        line = wait_line(r"event VA_CALL_DONE .*\"result\":\"pong\"", T,
                         lambda: ctx.qmp_ok("va-call", {"method": "va.ping",
                                                        "async": True}))
        check("for domain '%s'" % DOM in line or DOM in line, line)
        ctx.guest("va-call va.notify libvirt-test s:hello")
        wait_line(r"event VA_GUEST_NOTIFY .*libvirt-test.*hello", T)
    finally:
        p.terminate()
        p.wait(10)
    ctx.figures.append("virsh qemu-monitor-event output: %s"
                       % next(ln for ln in lines if "VA_GUEST_NOTIFY" in ln))


def check_agent_back(ctx, what=None):
    """After a restore: the agent answers (timed from now when @what names
    the restore), with the session it had: the guest's qemu-va never
    restarted."""
    ctx.ping_after(what)
    q = ctx.qmp_ok("query-virtagent")[0]
    check(q["connected"], "agent not connected: %r" % q)
    check_eq(q["session"], ctx.session, "agent session")
    check_eq(ctx.qmp_ok("va-info")["hostname"], "virtagent-guest",
             "va-info")


@test
def save_restore(ctx):
    img = ctx.d.path("dom.save")
    ctx.virsh("save", DOM, img)
    check_eq(ctx.state(), libvirt.VIR_DOMAIN_SHUTOFF, "state after save")
    ctx.close_console()
    since = ctx.events.mark()
    t0 = time.monotonic()
    ctx.virsh("restore", img)
    ctx.figures.append("virsh restore: %.0f ms"
                       % ((time.monotonic() - t0) * 1000))
    ctx.dom = ctx.conn.lookupByName(DOM)
    check_eq(ctx.state(), libvirt.VIR_DOMAIN_RUNNING, "state after restore")
    check_agent_back(ctx, "restore")
    ev = ctx.events.wait("VA_AGENT_CONNECTED", since)
    check_eq(ev["session"], ctx.session, "VA_AGENT_CONNECTED after restore")
    ctx.connect_console()
    check_eq(ctx.guest("cat /etc/hostname").strip(), "virtagent-guest",
             "console after restore")
    os.unlink(img)


@test
def managedsave(ctx):
    ctx.virsh("managedsave", DOM)
    check_eq(ctx.state(), libvirt.VIR_DOMAIN_SHUTOFF, "state after save")
    check(ctx.dom.hasManagedSaveImage(0), "no managed save image")
    ctx.close_console()
    ctx.virsh("start", DOM)
    check(not ctx.dom.hasManagedSaveImage(0), "managed save image kept")
    check_agent_back(ctx, "managedsave start")
    ctx.connect_console()
    check_eq(ctx.guest("cat /etc/hostname").strip(), "virtagent-guest",
             "console after managedsave")


@test
def snapshot_memory(ctx):
    """An external snapshot with memory (the domain has no disks, so
    --memspec alone); libvirt 9.0 cannot revert to an external snapshot,
    but its memory file is a save image, which virsh restore loads."""
    mem = ctx.d.path("snap1.mem")
    ctx.virsh("snapshot-create-as", DOM, "snap1", "--memspec",
              "file=%s,snapshot=external" % mem)
    check_eq(ctx.state(), libvirt.VIR_DOMAIN_RUNNING, "state after snapshot")
    check(ctx.virsh("snapshot-list", DOM, "--name").split() == ["snap1"],
          "snapshot-list")
    check_eq(ctx.qmp_ok("va-ping"), {}, "va-ping after the snapshot")
    # Change the guest, then go back to the snapshot's memory.
    ctx.guest("echo after-snapshot > /tmp/mark")
    ctx.virsh("destroy", DOM)
    ctx.close_console()
    ctx.virsh("restore", mem)
    ctx.dom = ctx.conn.lookupByName(DOM)
    check_agent_back(ctx, "snapshot restore")
    ctx.connect_console()
    check(ctx.console.run("test -e /tmp/mark")[0] != 0,
          "the guest has a file made after the snapshot")
    ctx.virsh("snapshot-delete", DOM, "snap1", "--metadata")


@test
def call_across_save(ctx):
    """A call pending when the domain is saved ends with an error, on the
    saved QEMU or the restored one, and never hangs; the answer the guest
    sends for it after the restore reaches no other call, even one that
    the restored QEMU numbered the same."""
    ctx.guest("kill -STOP $(cat /run/qemu-va.pid)")
    img = ctx.d.path("dom.save")
    try:
        cid = ctx.qmp_ok("va-call", {"method": "va.ping",
                                     "async": True})["id"]
        since = ctx.events.mark()
        ctx.virsh("save", DOM, img)
    except Exception:
        ctx.guest("kill -CONT $(cat /run/qemu-va.pid)")
        raise
    ctx.close_console()
    ctx.virsh("restore", img)
    ctx.dom = ctx.conn.lookupByName(DOM)
    done = ctx.events.wait("VA_CALL_DONE", since, lambda e: e["id"] == cid)
    check("error" in done and "result" not in done,
          "call across save: %r" % done)
    ctx.figures.append("a call across a save ends: %s" % done["error"])
    # While the agent is still stopped, queue calls on the restored QEMU
    # until one has the stale call's id (if its numbering gets there);
    # each asks for a different length of the same file, so each answer
    # shows whose it is.
    since = ctx.events.mark()
    calls = {}
    for length in range(1, 13):
        r = ctx.qmp_ok("va-call", {"method": "va.getfile", "async": True,
                                   "params": ["/etc/hostname", {"i8": 0},
                                              length]})
        calls[r["id"]] = length
        if r["id"] >= cid:
            break
    ctx.connect_console()
    ctx.guest("kill -CONT $(cat /run/qemu-va.pid)")
    want = "virtagent-guest\n"
    for i, length in calls.items():
        # The saved QEMU's error for the stale call may arrive late.
        done = ctx.events.wait(
            "VA_CALL_DONE", since,
            lambda e: e["id"] == i and "VM migrated" not in e.get("error", ""))
        res = done.get("result")
        got = (base64.b64decode(res["data"]["base64"]).decode()
               if isinstance(res, dict) else None)
        check_eq(got, want[:length], "call %d (length %d) after the "
                 "restore: %r" % (i, length, done))
    if cid in calls:
        ctx.figures.append("call %d, numbered by the restored QEMU as the "
                           "stale call was, got its own answer" % cid)
    check_agent_back(ctx)
    q = ctx.qmp_ok("query-virtagent")[0]
    check_eq((q["in-flight"], q["calls"]), (0, []), "calls left in flight")
    os.unlink(img)


def percentile(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p / 100))]


@test
def passthrough_cost(ctx):
    """Printed, not asserted: QMP va-ping through qemuMonitorCommand beside
    query-status, and HMP va_ping, 100 calls each."""
    def timed(fn):
        out = []
        for _ in range(100):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1000)
        return out
    rows = (("QMP va-ping", lambda: ctx.qmp_ok("va-ping")),
            ("QMP query-status", lambda: ctx.qmp_ok("query-status")),
            ("HMP va_ping", lambda: ctx.hmp("va_ping")))
    for name, fn in rows:
        ms = timed(fn)
        ctx.figures.append("qemuMonitorCommand %-16s median %.2f ms, "
                           "p90 %.2f ms (100 calls)"
                           % (name, statistics.median(ms),
                              percentile(ms, 90)))


@test
def shutdown_poweroff(ctx):
    out = ctx.virsh("qemu-monitor-command", DOM, "--hmp",
                    "va_shutdown powerdown")
    check("accepted powerdown" in out, "va_shutdown: " + out)
    deadline = time.monotonic() + T
    while ctx.state() != libvirt.VIR_DOMAIN_SHUTOFF:
        check(time.monotonic() < deadline, "the domain did not power off")
        time.sleep(0.1)


def setup_failed(why):
    print("FAIL setup: %s" % why)
    print("0 passed, 1 failed")
    return 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", help="run only tests whose name contains this "
                    "(define_and_start always runs)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the private directory (logs, XML)")
    a = ap.parse_args()

    if os.geteuid() != 0:
        skip("libvirtd must run as root (the CI job does)")
    if libvirt is None:
        skip("no python3-libvirt for %s: apt-get install %s"
             % (sys.executable, PACKAGES))
    for tool in ("libvirtd", "virtlogd", "virsh", "unshare"):
        if not shutil.which(tool):
            skip("%s not found: apt-get install %s" % (tool, PACKAGES))
    if subprocess.call(["unshare", "--mount", "true"]) != 0:
        skip("cannot make a mount namespace for a private libvirtd")
    try:
        check_inputs(DEFAULT_QEMU, DEFAULT_KERNEL, DEFAULT_INITRD)
    except VMError as e:
        return setup_failed(e)

    lock = open(LOCK, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("check-libvirt: waiting for another check-libvirt to end")
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        ensure_qemu_user()
    except TestFailure as e:
        return setup_failed(e)
    libvirt.virEventRegisterDefaultImpl()
    threading.Thread(target=_event_loop, daemon=True).start()
    # libvirt prints its errors itself as well as raising them.
    libvirt.registerErrorHandler(lambda ctx, err: None, None)

    daemons = Daemons(a.keep)
    passed = failed = 0
    try:
        try:
            conn = daemons.start()
        except TestFailure as e:
            return setup_failed("start libvirtd: %s" % e)
        print("check-libvirt: libvirtd %s, private directory %s"
              % (run(["libvirtd", "--version"])[1].split()[-1], daemons.dir))
        ctx = Ctx(daemons, conn)
        tests = [fn for fn in TESTS if not a.k or a.k in fn.__name__ or
                 fn is define_and_start]
        for i, fn in enumerate(tests):
            t0 = time.monotonic()
            try:
                fn(ctx)
                passed += 1
                print("PASS %s (%.1f s)" % (fn.__name__,
                                            time.monotonic() - t0))
            except Exception as e:
                failed += 1
                print("FAIL %s: %s" % (fn.__name__, e))
                if not isinstance(e, TestFailure):
                    traceback.print_exc()
                if ctx.console:
                    print("  console tail: %r" % ctx.console.text[-300:])
                if fn is define_and_start:
                    print(daemons.log_tail("libvirtd.log"))
                    print(daemons.log_tail(os.path.join("log", "qemu",
                                                        DOM + ".log")))
                # A test that left the domain off leaves the next ones
                # nothing to test.
                if fn is define_and_start or not ctx.running():
                    print("not run: %s" % " ".join(
                        t.__name__ for t in tests[i + 1:]))
                    break
        for line in ctx.figures:
            print("  " + line)
        ctx.close_console()
        try:
            dom = conn.lookupByName(DOM)
            if dom.isActive():
                dom.destroy()
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                              libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
        except libvirt.libvirtError:
            pass
        conn.close()
    finally:
        daemons.stop()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
