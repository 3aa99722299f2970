#!/usr/bin/env python3
# virtagent - end-to-end tests against the real guest in a TCG VM
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: test-vm.py [--qemu BINARY] [-k SUBSTRING] [-v]
#
# Boots the test guest (build/guest/, qemu-va started by its /init) in
# build/qemu-system-x86_64 through scripts/vm/vm.py, and drives the real
# chain: QMP/HMP -> virtagent chardev -> virtserialport (or isa-serial)
# -> guest kernel -> qemu-va, and back the other way with va-call run on
# the guest console.  Tests of one transport share one boot and run in
# order; a test that needs a fresh guest reboots it itself, and a VM that
# died is booted again for the next test.  Waits are on QMP events and
# console output with generous timeouts (TCG on a loaded 2-core machine),
# never on sleeps.
#
# Ends with "N passed, N failed"; exits non-zero on any failure.

import base64
import hashlib
import os
import re
import sys
import time

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRCDIR, "scripts", "vm"))
from vm import (VM, QMPError, TestFailure,  # noqa: E402
                check, check_eq, run_tests, test_args)

# Generous: a loaded host can slow TCG several times over.
T = 120
# qemu-va's first methods; it offers more, one table a domain.
GUEST_METHODS = {"va.ping", "va.capabilities", "va.info", "va.shutdown",
                 "va.getfile", "va.getdmesg"}
# What makes transfers through descriptors go in data frames.
DATA_METHODS = {"va.getfile_data", "va.putfile_data"}
HOST_METHODS = {"va.hello", "va.ping", "va.capabilities", "va.notify"}
MIB = 1 << 20
DISCONNECTED = "disconnected during the call"


TESTS = []


def test(group, first=False):
    """Register a test run on the VM of @group ("virtio" or "isa").  The
    @first test of a group checks the boot itself; the others, when they
    get a fresh VM, start once its agent has connected."""
    def reg(fn):
        fn.group = group
        fn.first = first
        TESTS.append(fn)
        return fn
    return reg


def guest(vm, cmd, timeout=T):
    """Run a shell command in the guest; its output, or fail if it fails."""
    status, out = vm.console.run(cmd, timeout)
    check(status == 0, "guest: %r exited %d: %s" % (cmd, status, out))
    return out


def qmp_error(vm, cmd, args=None):
    """The description of the error @cmd must give."""
    try:
        r = vm.qmp.execute(cmd, args, T)
    except QMPError as e:
        return e.desc
    raise TestFailure("%s %r succeeded: %r" % (cmd, args, r))


def info(vm):
    return vm.qmp.execute("query-virtagent")[0]


def call_done(vm, cid):
    """The VA_CALL_DONE event of async call @cid."""
    return vm.qmp.event("VA_CALL_DONE", T,
                        lambda e: e["data"]["id"] == cid)["data"]


def hmp_qmp(vm, line):
    """An HMP command through QMP; its output with the monitor's CRLF line
    ends made LF, as vm.hmp.cmd() gives them."""
    return vm.qmp.execute("human-monitor-command",
                          {"command-line": line}, T).replace("\r\n", "\n")


def getfile(vm, path):
    """A whole guest file through va-getfile, chunk by chunk."""
    data = b""
    while True:
        r = vm.qmp.execute("va-getfile", {"path": path, "offset": len(data),
                                          "length": MIB}, T)
        chunk = base64.b64decode(r["data"])
        data += chunk
        if r["eof"]:
            return data, r["size"]
        check(chunk, "va-getfile: empty chunk before eof at %d" % len(data))


def guest_sha256(vm, path):
    return guest(vm, "sha256sum " + path, T * 2).split()[0]


def wait_until(cond, what, timeout=T):
    """Poll @cond for a state no event announces."""
    deadline = time.monotonic() + timeout
    while not cond():
        check(time.monotonic() < deadline, "timed out waiting for " + what)
        time.sleep(0.05)


def pause_agent(vm):
    """Stop qemu-va (SIGSTOP) so that a call to it stays pending."""
    guest(vm, "kill -STOP $(cat /run/qemu-va.pid)")


# ---- virtio-serial: one boot for these, in this order ----

@test("virtio", first=True)
def boot_agent_connected(ctx):
    vm = ctx.vm
    check_eq(vm.wait_ready(T), "qemu-va started", "guest ready line")
    ev = vm.qmp.event("VA_AGENT_CONNECTED", T)["data"]
    check_eq(ev["chardev"], "va0", "event chardev")
    i = info(vm)
    check(i["open"] and i["connected"], "query-virtagent: %r" % i)
    check_eq(i["session"], ev["session"], "session in query-virtagent")
    check_eq(i["version"], ev["version"], "version in query-virtagent")
    check(GUEST_METHODS <= set(i["methods"]),
          "methods from the hello: %r" % i["methods"])
    check(re.fullmatch(r"[0-9a-f]{16}", ev["session"]), ev["session"])
    ctx.session = ev["session"]


@test("virtio")
def qmp_ping(ctx):
    vm = ctx.vm
    before = info(vm)
    check_eq(vm.qmp.execute("va-ping"), {}, "va-ping")
    check_eq(vm.qmp.execute("va-ping", {"chardev": "va0", "timeout": 30}),
             {}, "va-ping with chardev and timeout")
    after = info(vm)
    check_eq(after["sent"] - before["sent"], 2, "calls counted as sent")
    check_eq(after["replied"] - before["replied"], 2, "replies counted")
    desc = qmp_error(vm, "va-ping", {"chardev": "nosuch"})
    check("nosuch" in desc, "unknown chardev error: %s" % desc)


@test("virtio")
def qmp_capabilities(ctx):
    r = ctx.vm.qmp.execute("va-capabilities")
    check_eq(set(r["methods"]), set(info(ctx.vm)["methods"]),
             "methods, as in the hello")
    check_eq(r["version"], info(ctx.vm)["version"], "version")


@test("virtio")
def qmp_info(ctx):
    vm = ctx.vm
    r = vm.qmp.execute("va-info")
    check_eq(r["hostname"], guest(vm, "hostname").strip(), "hostname")
    check_eq(r["kernel"], guest(vm, "uname -r").strip(), "kernel")
    check_eq(r["arch"], "x86_64", "arch")
    check_eq(r["session"], info(vm)["session"], "session")
    check_eq(r["os"]["id"], "debian", "os id")
    pretty = guest(vm, ". /etc/os-release; echo \"$PRETTY_NAME\"").strip()
    check_eq(r["os"]["pretty_name"], pretty, "os pretty_name")
    # Whole seconds, read before the guest's own /proc/uptime; either
    # side may have rounded.
    up = float(guest(vm, "cat /proc/uptime").split()[0])
    check(-1 < up - r["uptime"] < T, "uptime %r vs %r" % (r["uptime"], up))


@test("virtio")
def qmp_getfile(ctx):
    vm = ctx.vm
    guest(vm, "printf abcdefghij > /tmp/ten; mkdir -p /tmp/dir")
    r = vm.qmp.execute("va-getfile", {"path": "/etc/hostname"})
    check_eq(base64.b64decode(r["data"]), b"virtagent-guest\n", "hostname")
    check(r["eof"], "eof on a whole file")
    r = vm.qmp.execute("va-getfile", {"path": "/tmp/ten", "offset": 3,
                                      "length": 4})
    check_eq((base64.b64decode(r["data"]), r["eof"], r["size"]),
             (b"defg", False, 10), "middle chunk")
    r = vm.qmp.execute("va-getfile", {"path": "/tmp/ten", "offset": 8,
                                      "length": 100})
    check_eq((base64.b64decode(r["data"]), r["eof"]), (b"ij", True),
             "last chunk")
    for path, err in (("/nonexistent", "No such file or directory"),
                      ("/tmp/dir", "Is a directory")):
        desc = qmp_error(vm, "va-getfile", {"path": path})
        check("guest fault 1008" in desc and err in desc,
              "%s: %s" % (path, desc))


@test("virtio")
def qmp_getdmesg(ctx):
    vm = ctx.vm
    marker = "va-test-marker-%d" % os.getpid()
    guest(vm, "echo %s > /dev/kmsg" % marker)
    text = vm.qmp.execute("va-getdmesg")["text"]
    check(marker in text, "marker not in the kernel log")
    check("Linux version" in text, "the log's start is missing")
    # The tail, starting at a line; the whole log read after it holds it
    # (the kernel may log more in between, so not necessarily at its end).
    tail = vm.qmp.execute("va-getdmesg", {"max-bytes": 300})["text"]
    text = vm.qmp.execute("va-getdmesg")["text"]
    check(0 < len(tail.encode()) <= 300 and tail.startswith("[") and
          tail in text, "max-bytes 300: %r" % tail)


@test("virtio")
def qmp_call(ctx):
    vm = ctx.vm
    check_eq(vm.qmp.execute("va-call", {"method": "va.ping"}),
             {"result": "pong"}, "va.ping")
    # An <i8> offset and a plain int length reach the guest as such.
    r = vm.qmp.execute("va-call", {"method": "va.getfile",
                                   "params": ["/tmp/ten", {"i8": 2}, 3]})
    check_eq(r["result"]["data"], {"base64": base64.b64encode(
        b"cde").decode()}, "va.getfile through va-call")
    check_eq(r["result"]["size"], 10, "size")
    r = vm.qmp.execute("va-call", {"method": "system.listMethods"})
    check(GUEST_METHODS <= set(r["result"]), "listMethods: %r" % r)
    desc = qmp_error(vm, "va-call", {"method": "no.such"})
    check("guest fault -506" in desc, desc)
    desc = qmp_error(vm, "va-call", {"method": "va.getfile",
                                     "params": [42]})
    check("guest fault 1007" in desc, desc)


@test("virtio")
def qmp_call_async(ctx):
    vm = ctx.vm
    a = vm.qmp.execute("va-call", {"method": "va.ping", "async": True})["id"]
    b = vm.qmp.execute("va-call", {"method": "no.such", "async": True})["id"]
    check(a != b, "ids differ")
    check_eq(call_done(vm, a).get("result"), "pong", "async result")
    done = call_done(vm, b)
    check("result" not in done and "guest fault -506" in done["error"],
          "async fault: %r" % done)


@test("virtio")
def hmp_commands(ctx):
    vm = ctx.vm
    guest(vm, "echo hmp-marker > /dev/kmsg")
    check_eq(vm.hmp.cmd("va_ping"), "guest agent answered\n", "va_ping")
    check_eq(vm.hmp.cmd("va_ping -c va0 -t 30"), "guest agent answered\n",
             "va_ping -c -t")
    out = vm.hmp.cmd("va_capabilities")
    check(re.search(r"^guest agent version: \S+\nmethods: (.*)\n$", out)
          and set(out.split("methods: ")[1].split()) ==
          set(info(vm)["methods"]), out)
    out = vm.hmp.cmd("va_info")
    check(re.search(r"^hostname: virtagent-guest$", out, re.M) and
          re.search(r"^os: Debian GNU/Linux 12", out, re.M) and
          re.search(r"^uptime: \d+ s$", out, re.M), out)
    check_eq(vm.hmp.cmd("va_getfile /tmp/ten"), "abcdefghij\n",
             "va_getfile text")
    out = vm.hmp.cmd("va_getfile /bin/busybox")
    check(out.startswith("binary file, hexdump") and
          "00000000: 7f 45 4c 46" in out, out[:200])
    check(re.search(r"^\(first 65536 of \d+ bytes\)$", out, re.M), out[-200:])
    check("hmp-marker" in vm.hmp.cmd("va_getdmesg"), "va_getdmesg")
    check_eq(vm.hmp.cmd("va_call va.ping"), '"pong"\n', "va_call")
    out = vm.hmp.cmd("va_call va.getfile /tmp/ten 0 3")
    check('"base64": "YWJj"' in out and '"size": 10' in out, out)
    out = vm.hmp.cmd("va_call no.such")
    check(out.startswith("Error: ") and "guest fault -506" in out, out)
    out = vm.hmp.cmd("va_getfile /nonexistent")
    check(out.startswith("Error: ") and "ENOENT" in out, out)
    out = vm.hmp.cmd("info virtagent")
    check(re.search(r"^va0: port open, agent connected \(version \S+, "
                    r"session %s\)$" % info(vm)["session"], out, re.M), out)
    check(re.search(r"calls: 0 in flight, 0 queued, \d+ sent", out), out)
    check("va_ping" in vm.hmp.cmd("help va_ping"), "help va_ping")


@test("virtio")
def hmp_through_qmp(ctx):
    """virsh qemu-monitor-command --hmp goes this way: no monitor to
    suspend, the command waits in QMP's coroutine."""
    vm = ctx.vm
    check_eq(hmp_qmp(vm, "va_ping"), "guest agent answered\n", "va_ping")
    check("methods: va.ping" in hmp_qmp(vm, "va_capabilities"),
          "va_capabilities")
    check("hostname: virtagent-guest" in hmp_qmp(vm, "va_info"), "va_info")
    check_eq(hmp_qmp(vm, "va_getfile /tmp/ten"), "abcdefghij\n",
             "va_getfile")
    check("Linux version" in hmp_qmp(vm, "va_getdmesg"), "va_getdmesg")
    check_eq(hmp_qmp(vm, "va_call va.ping"), '"pong"\n', "va_call")
    check("guest fault -506" in hmp_qmp(vm, "va_call no.such"), "fault")
    check("agent connected" in hmp_qmp(vm, "info virtagent"),
          "info virtagent")
    # Another QMP command right after: the coroutine returned for good.
    check_eq(vm.qmp.execute("query-status")["status"], "running", "status")


@test("virtio")
def guest_calls_host(ctx):
    vm = ctx.vm
    before = info(vm)["guest-calls"]
    check_eq(guest(vm, "va-call va.ping"), "pong\n", "va-call va.ping")
    out = guest(vm, "va-call va.capabilities")
    check(all('"%s"' % m in out for m in HOST_METHODS), out)
    check_eq(guest(vm, "va-call va.notify backup-done s:ok"), "true\n",
             "va.notify")
    ev = vm.qmp.event("VA_GUEST_NOTIFY", T)["data"]
    check_eq((ev["chardev"], ev["name"], ev["data"]),
             ("va0", "backup-done", "ok"), "event")
    guest(vm, "va-call va.notify structured '{\"k\": [1, true, null]}'")
    ev = vm.qmp.event("VA_GUEST_NOTIFY", T)["data"]
    check_eq(ev["data"], {"k": [1, True, None]}, "structured data")
    # The host serves only its four methods to the untrusted guest.
    status, out = vm.console.run("va-call system.listMethods", T)
    check(status == 1 and "1006" in out, "system.listMethods: %d %s"
          % (status, out))
    check_eq(info(vm)["guest-calls"] - before, 5, "guest calls counted")


@test("virtio")
def getfile_64mib(ctx):
    """A 64 MiB random file read in 1 MiB chunks, checked by checksum."""
    vm = ctx.vm
    guest(vm, "dd if=/dev/urandom of=/tmp/big bs=1M count=64 2>/dev/null",
          T * 2)
    want = guest_sha256(vm, "/tmp/big")
    t = time.monotonic()
    data, size = getfile(vm, "/tmp/big")
    dt = time.monotonic() - t
    guest(vm, "rm /tmp/big")
    check_eq(size, 64 * MIB, "size")
    check_eq(len(data), 64 * MIB, "bytes received")
    check_eq(hashlib.sha256(data).hexdigest(), want, "sha256")
    ctx.note = "%.1f MB/s" % (len(data) / dt / 1e6)


def getfd(vm, name, fd):
    r = vm.qmp.reply(vm.qmp.send("getfd", {"fdname": name}, [fd]), T)
    check("return" in r, "getfd: %r" % r)


@test("virtio")
def files_64mib_through_fds(ctx):
    """64 MiB into the guest (va-putfile) and back (va-getfile), through
    descriptors passed with getfd, checked by sha256 at each end."""
    vm = ctx.vm
    src = os.path.join(vm.rundir, "put-src")
    dst = os.path.join(vm.rundir, "get-dst")
    with open(src, "wb") as f:
        f.write(os.urandom(64 * MIB))
    with open(src, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    fd = os.open(src, os.O_RDONLY)
    getfd(vm, "src", fd)
    os.close(fd)
    t = time.monotonic()
    r = vm.qmp.execute("va-putfile", {"path": "/tmp/put", "fdname": "src",
                                      "mode": 0o640, "timeout": T}, T * 4)
    put_s = time.monotonic() - t
    check_eq(r, {"size": 64 * MIB, "sha256": want}, "va-putfile")
    check_eq(guest_sha256(vm, "/tmp/put"), want, "the guest's sha256")
    check_eq(guest(vm, "stat -c %a /tmp/put").strip(), "640", "mode")
    check(".put.va-" not in guest(vm, "ls -a /tmp"), "a temporary is left")
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    getfd(vm, "dst", fd)
    os.close(fd)
    t = time.monotonic()
    r = vm.qmp.execute("va-getfile", {"path": "/tmp/put", "fdname": "dst",
                                      "timeout": T}, T * 4)
    get_s = time.monotonic() - t
    guest(vm, "rm /tmp/put")
    check_eq(r, {"eof": True, "size": 64 * MIB, "sha256": want},
             "va-getfile")
    with open(dst, "rb") as f:
        check_eq(hashlib.sha256(f.read()).hexdigest(), want, "host file")
    os.unlink(src)
    os.unlink(dst)
    ctx.note = "put %.1f MB/s, get %.1f MB/s" % (64 * MIB / put_s / 1e6,
                                                 64 * MIB / get_s / 1e6)


@test("virtio")
def putfile_full_filesystem(ctx):
    """A file larger than the guest filesystem's room: ENOSPC, the old
    file intact, no temporary left."""
    vm = ctx.vm
    guest(vm, "mkdir -p /tmp/full && mount -t tmpfs -o size=256k tmpfs "
          "/tmp/full && echo old > /tmp/full/f")
    try:
        data = base64.b64encode(os.urandom(MIB)).decode()
        desc = qmp_error(vm, "va-putfile", {"path": "/tmp/full/f",
                                            "data": data})
        check("guest fault 1008" in desc and "ENOSPC" in desc, desc)
        check_eq(guest(vm, "cat /tmp/full/f"), "old\n", "the old file")
        check_eq(guest(vm, "ls -a /tmp/full").split(), [".", "..", "f"],
                 "what the directory holds")
    finally:
        guest(vm, "umount /tmp/full")


def sparse_file(path, size):
    """A @size file of zeros (a hole) but for 1 MiB of random bytes at
    each end; its sha256."""
    head, tail = os.urandom(MIB), os.urandom(MIB)
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size - MIB)
        f.seek(size - MIB)
        f.write(tail)
    h = hashlib.sha256(head)
    zeros = bytes(MIB)
    for _ in range(size // MIB - 2):
        h.update(zeros)
    h.update(tail)
    return h.hexdigest()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(4 * MIB), b""):
            h.update(block)
    return h.hexdigest()


def pass_fd(vm, name, path, flags):
    fd = os.open(path, flags, 0o600)
    getfd(vm, name, fd)
    os.close(fd)


def ping_ms(vm, n):
    """Median round trip of @n synchronous va-pings, in ms."""
    times = []
    for _ in range(n):
        t = time.monotonic()
        vm.qmp.execute("va-ping", None, T)
        times.append((time.monotonic() - t) * 1000)
    return sorted(times)[n // 2]


def async_transfer(vm, cmd, args, during=None):
    """Run @cmd with fdname asynchronously, @during() while it runs (if
    it still does); its VA_CALL_DONE data, seconds taken, @during's
    return."""
    t = time.monotonic()
    cid = vm.qmp.execute(cmd, dict(args, **{"async": True}), T)["id"]
    out = during() if during else None
    done = vm.qmp.event("VA_CALL_DONE", T * 20,
                        lambda e: e["data"]["id"] == cid)["data"]
    return done, time.monotonic() - t, out


# A guest tmpfs big enough for the gibibyte (the virtio VM has 1.5 GiB).
BIG = "/big"


@test("virtio")
def files_1gib_both_ways(ctx):
    """A 1 GiB file (random head and tail around a hole) into the guest
    and back through passed descriptors with async, checked by sha256;
    va-ping timed during each transfer beside idle."""
    vm = ctx.vm
    src = os.path.join(vm.rundir, "big-src")
    dst = os.path.join(vm.rundir, "big-dst")
    want = sparse_file(src, 1024 * MIB)
    guest(vm, "mkdir -p %s && mount -t tmpfs -o size=1100m tmpfs %s"
          % (BIG, BIG))
    try:
        idle = ping_ms(vm, 20)
        busy = lambda: ping_ms(vm, 20)
        # The data path when the agent offers it: one call, and the pings.
        calls = 1 if DATA_METHODS <= set(info(vm)["methods"]) else None
        sent = info(vm)["sent"]
        pass_fd(vm, "src", src, os.O_RDONLY)
        done, put_s, put_ping = async_transfer(
            vm, "va-putfile", {"path": BIG + "/f", "fdname": "src"}, busy)
        check_eq(done.get("result"), {"size": 1024 * MIB, "sha256": want},
                 "va-putfile's VA_CALL_DONE")
        if calls:
            check_eq(info(vm)["sent"] - sent - 20, calls, "va-putfile's "
                     "calls")
        check_eq(guest(vm, "stat -c %s " + BIG + "/f").strip(),
                 str(1024 * MIB), "the guest file's size")
        pass_fd(vm, "dst", dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        done, get_s, get_ping = async_transfer(
            vm, "va-getfile", {"path": BIG + "/f", "fdname": "dst"}, busy)
        check_eq(done.get("result"), {"eof": True, "size": 1024 * MIB,
                                      "sha256": want},
                 "va-getfile's VA_CALL_DONE")
        check_eq(file_sha256(dst), want, "the host file's sha256")
    finally:
        guest(vm, "umount %s" % BIG)
        for p in (src, dst):
            if os.path.exists(p):
                os.unlink(p)
    ctx.note = ("1 GiB put %.1f s (%.1f MB/s), get %.1f s (%.1f MB/s); "
                "va-ping idle %.1f ms, during put %.1f ms, during get "
                "%.1f ms" % (put_s, 1024 * MIB / put_s / 1e6, get_s,
                             1024 * MIB / get_s / 1e6, idle, put_ping,
                             get_ping))


def restart_agent(vm, args=""):
    """qemu-va killed and started again (with @args); the new hello."""
    guest(vm, "kill -KILL $(cat /run/qemu-va.pid); qemu-va-start " + args)
    vm.qmp.event("VA_AGENT_CONNECTED", T)
    wait_until(lambda: info(vm)["connected"], "the new hello")
    return info(vm)


@test("virtio")
def files_without_data_frames(ctx):
    """qemu-va with va.getfile_data and va.putfile_data blocked by its
    policy: they are not in its hello, and transfers through descriptors
    fall back to base64 chunk calls (8 MiB each way, a call per MiB),
    checked by sha256; the agent as it was afterwards."""
    vm = ctx.vm
    src = os.path.join(vm.rundir, "old-src")
    dst = os.path.join(vm.rundir, "old-dst")
    i = restart_agent(vm, "-b " + ",".join(sorted(DATA_METHODS)))
    check(not DATA_METHODS & set(i["methods"]), "methods: %r" % i["methods"])
    try:
        want = sparse_file(src, 8 * MIB)
        pass_fd(vm, "src", src, os.O_RDONLY)
        sent = i["sent"]
        r = vm.qmp.execute("va-putfile", {"path": "/tmp/old",
                                          "fdname": "src", "timeout": T}, T)
        check_eq(r, {"size": 8 * MIB, "sha256": want}, "va-putfile")
        check(info(vm)["sent"] - sent >= 8, "va.putfile calls: %d"
              % (info(vm)["sent"] - sent))
        pass_fd(vm, "dst", dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        sent = info(vm)["sent"]
        done, _, _ = async_transfer(vm, "va-getfile", {"path": "/tmp/old",
                                                       "fdname": "dst"})
        check_eq(done.get("result"), {"eof": True, "size": 8 * MIB,
                                      "sha256": want}, "va-getfile")
        check(info(vm)["sent"] - sent >= 8, "va.getfile calls: %d"
              % (info(vm)["sent"] - sent))
        check_eq(file_sha256(dst), want, "the host file's sha256")
        guest(vm, "rm /tmp/old")
    finally:
        for p in (src, dst):
            if os.path.exists(p):
                os.unlink(p)
        i = restart_agent(vm)
    check(DATA_METHODS <= set(i["methods"]), "methods: %r" % i["methods"])


def guest_temporaries(vm, d, name):
    return [f for f in guest(vm, "ls -a " + d).split()
            if f.startswith("." + name + ".va-")]


@test("virtio")
def transfers_cancelled_midway(ctx):
    """va-cancel of a put once the guest's temporary exists (removed, no
    file at the path) and of a get once bytes reached the host file."""
    vm = ctx.vm
    src = os.path.join(vm.rundir, "cancel-src")
    dst = os.path.join(vm.rundir, "cancel-dst")
    sparse_file(src, 256 * MIB)
    pass_fd(vm, "src", src, os.O_RDONLY)
    cid = vm.qmp.execute("va-putfile", {"path": "/tmp/c", "fdname": "src",
                                        "async": True})["id"]
    wait_until(lambda: guest_temporaries(vm, "/tmp", "c"),
               "the guest's temporary")
    check_eq([(c["id"], c["method"]) for c in info(vm)["calls"]
              if c["method"] == "va-putfile"], [(cid, "va-putfile")],
             "query-virtagent's transfer")
    vm.qmp.execute("va-cancel", {"id": cid})
    done = call_done(vm, cid)
    check(re.fullmatch(r"va-putfile '/tmp/c' after \d+ bytes: cancelled "
                       r"by va-cancel", done.get("error", "")), "%r" % done)
    wait_until(lambda: not guest_temporaries(vm, "/tmp", "c"),
               "the temporary removed")
    check("c" not in guest(vm, "ls /tmp").split(), "a file at the path")
    guest(vm, "dd if=/dev/zero of=/tmp/c bs=1M count=0 seek=256 "
          "2>/dev/null")
    pass_fd(vm, "dst", dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    cid = vm.qmp.execute("va-getfile", {"path": "/tmp/c", "fdname": "dst",
                                        "async": True})["id"]
    wait_until(lambda: os.path.getsize(dst) > 0, "bytes in the host file")
    vm.qmp.execute("va-cancel", {"id": cid})
    done = call_done(vm, cid)
    check(re.fullmatch(r"va-getfile '/tmp/c' after \d+ bytes: cancelled "
                       r"by va-cancel", done.get("error", "")), "%r" % done)
    check(os.path.getsize(dst) < 256 * MIB, "the whole file arrived")
    check_eq(info(vm)["calls"], [], "calls left")
    guest(vm, "rm /tmp/c")
    os.unlink(src)
    os.unlink(dst)
    check_eq(vm.qmp.execute("va-ping"), {}, "va-ping after")


@test("virtio")
def calls_in_flight_both_ways(ctx):
    """Host calls pile up (async va-getfile, 8 in flight, the rest queued)
    while guest programs call the host at the same time."""
    vm = ctx.vm
    n = 32
    guest(vm, "dd if=/dev/urandom of=/tmp/mid bs=1M count=%d 2>/dev/null"
          % n, T * 2)
    want = guest_sha256(vm, "/tmp/mid")
    ids = [vm.qmp.execute("va-call", {
        "method": "va.getfile", "async": True,
        "params": ["/tmp/mid", {"i8": i * MIB}, MIB]})["id"]
        for i in range(n)]
    i = info(vm)
    check(i["in-flight"] >= 2, "in flight: %d" % i["in-flight"])
    # Six clients at once inside the guest, through qemu-va's forwarder.
    out = guest(vm, "for i in 1 2 3 4; do va-call va.ping > /tmp/p$i & done;"
                " for i in 1 2; do va-call va.notify par i:$i & done; wait;"
                " cat /tmp/p1 /tmp/p2 /tmp/p3 /tmp/p4")
    check_eq(out.count("pong"), 4, "guest pings")
    notes = [vm.qmp.event("VA_GUEST_NOTIFY", T,
                          lambda e: e["data"]["name"] == "par")
             for _ in range(2)]
    check_eq(sorted(e["data"]["data"] for e in notes), [1, 2], "notify data")
    chunks = []
    last = 0
    for cid in ids:
        ev = vm.qmp.event("VA_CALL_DONE", T,
                          lambda e: e["data"]["id"] == cid)
        check("result" in ev["data"], "call %d: %r" % (cid, ev["data"]))
        chunks.append(base64.b64decode(ev["data"]["result"]["data"]
                                       ["base64"]))
        ts = ev["timestamp"]
        last = max(last, ts["seconds"] + ts["microseconds"] / 1e6)
    guest(vm, "rm /tmp/mid")
    check_eq(hashlib.sha256(b"".join(chunks)).hexdigest(), want, "sha256")
    # The guest's calls were answered while host calls were still pending.
    first_note = min(e["timestamp"]["seconds"] +
                     e["timestamp"]["microseconds"] / 1e6 for e in notes)
    check(first_note < last, "guest calls ran only after the host's")


@test("virtio")
def agent_killed_mid_call(ctx):
    """qemu-va stopped, then killed and restarted, with calls pending."""
    vm = ctx.vm
    old = info(vm)
    pause_agent(vm)
    desc = qmp_error(vm, "va-ping", {"timeout": 1})
    check("timed out" in desc, desc)
    check_eq(info(vm)["timed-out"] - old["timed-out"], 1, "timed-out count")
    cid = vm.qmp.execute("va-call", {"method": "va.ping", "async": True})["id"]
    vm.hmp.send("va_ping")
    # The HMP monitor runs its command in its own time.
    wait_until(lambda: info(vm)["in-flight"] == 2, "two calls pending")
    guest(vm, "kill -KILL $(cat /run/qemu-va.pid); qemu-va-start")
    done = call_done(vm, cid)
    check(DISCONNECTED in done.get("error", ""), "async call: %r" % done)
    out = vm.hmp.output(T)
    check(out.startswith("Error: ") and DISCONNECTED in out, out)
    check_eq(vm.qmp.event("VA_AGENT_DISCONNECTED", T)["data"]["reason"],
             "port closed", "disconnect reason")
    new = vm.qmp.event("VA_AGENT_CONNECTED", T)["data"]["session"]
    check(new != old["session"], "same session after restart")
    check_eq(vm.qmp.execute("va-ping"), {}, "ping after the new hello")
    check_eq(info(vm)["session"], new, "session")


def kill_agent_during(vm, cid, cmd, path):
    """qemu-va killed and started again during async transfer @cid: it
    fails saying the agent went away; the new agent says hello."""
    guest(vm, "kill -KILL $(cat /run/qemu-va.pid); qemu-va-start")
    done = call_done(vm, cid)
    check(re.fullmatch(r"%s '%s' after \d+ bytes: virtagent 'va0': guest "
                       r"agent disconnected during the call \(.*\)"
                       % (cmd, re.escape(path)), done.get("error", "")),
          "%r" % done)
    vm.qmp.event("VA_AGENT_CONNECTED", T)


@test("virtio")
def agent_killed_mid_transfer(ctx):
    """qemu-va killed during an async va-putfile through a descriptor:
    the transfer fails saying so, QEMU goes on, no file at the path, the
    next qemu-va removes the temporary and takes a transfer."""
    vm = ctx.vm
    src = os.path.join(vm.rundir, "kill-src")
    sparse_file(src, 256 * MIB)
    pass_fd(vm, "src", src, os.O_RDONLY)
    cid = vm.qmp.execute("va-putfile", {"path": "/tmp/k", "fdname": "src",
                                        "async": True})["id"]
    wait_until(lambda: guest_temporaries(vm, "/tmp", "k"),
               "the guest's temporary")
    kill_agent_during(vm, cid, "va-putfile", "/tmp/k")
    check("k" not in guest(vm, "ls /tmp").split(), "a file at the path")
    # The new qemu-va removed what the killed one recorded.
    check_eq(guest_temporaries(vm, "/tmp", "k"), [],
             "temporaries left by the killed agent")
    with open(src, "wb") as f:
        f.write(b"after\n")
    pass_fd(vm, "src", src, os.O_RDONLY)
    done, _, _ = async_transfer(vm, "va-putfile", {"path": "/tmp/k",
                                                   "fdname": "src"})
    check_eq(done.get("result", {}).get("size"), 6, "%r" % done)
    check_eq(guest(vm, "cat /tmp/k"), "after\n", "the new file")
    guest(vm, "rm /tmp/k")
    os.unlink(src)
    check_eq(vm.qmp.execute("query-status")["status"], "running", "status")


@test("virtio")
def agent_killed_mid_get(ctx):
    """qemu-va killed while it sends raw DATA frames, which QEMU takes by
    their length: the get fails saying so, and the port's reset leaves
    QEMU's parser in no body, so the next agent's hello and get go
    through."""
    vm = ctx.vm
    check("data-raw" in info(vm).get("features", []), "%r" % info(vm))
    guest(vm, "truncate -s 4G /tmp/kg")
    pass_fd(vm, "dst", "/dev/null", os.O_WRONLY)
    cid = vm.qmp.execute("va-getfile", {"path": "/tmp/kg", "fdname": "dst",
                                        "async": True})["id"]
    time.sleep(0.5)
    kill_agent_during(vm, cid, "va-getfile", "/tmp/kg")
    guest(vm, "rm /tmp/kg; printf 'after\\377\\n' > /tmp/kg")
    dst = os.path.join(vm.rundir, "kg")
    pass_fd(vm, "dst", dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    done, _, _ = async_transfer(vm, "va-getfile", {"path": "/tmp/kg",
                                                   "fdname": "dst"})
    check_eq(done.get("result", {}).get("size"), 7, "%r" % done)
    with open(dst, "rb") as f:
        check_eq(f.read(), b"after\xff\n", "the host file")
    guest(vm, "rm /tmp/kg")
    check_eq(vm.qmp.execute("query-status")["status"], "running", "status")


@test("virtio")
def second_chardev_hotplugged(ctx):
    """A second virtagent chardev and port added at run time, with a
    second qemu-va on it: each command goes where -c/chardev says."""
    vm = ctx.vm
    vm.qmp.execute("chardev-add", {"id": "va1", "backend": {
        "type": "virtagent", "data": {"timeout": 60}}})
    vm.qmp.execute("device_add", {"driver": "virtserialport",
                                  "bus": "vser0.0", "chardev": "va1",
                                  "name": "org.qemu.va1", "id": "vaport1"})
    desc = qmp_error(vm, "va-ping")
    check("va0" in desc and "va1" in desc, "no chardev given: %s" % desc)
    # No udev in the test guest: make the link it would, once the port
    # has its name, then start an agent of its own on it.
    guest(vm, "for i in $(seq 100); do grep -qx org.qemu.va1 "
          "/sys/class/virtio-ports/*/name && break; sleep 0.1; done; "
          "p=$(grep -lx org.qemu.va1 /sys/class/virtio-ports/*/name); "
          "p=${p%/name}; ln -sf ../${p##*/} /dev/virtio-ports/org.qemu.va1; "
          "qemu-va -d -p /dev/virtio-ports/org.qemu.va1 -f /run/va1.pid "
          "-s /run/va1.sock -b va.getfile")
    ev = vm.qmp.event("VA_AGENT_CONNECTED", T)["data"]
    check_eq(ev["chardev"], "va1", "event chardev")
    va0, va1 = vm.qmp.execute("query-virtagent")
    check_eq((va0["chardev"], va1["chardev"]), ("va0", "va1"), "chardevs")
    check(va0["session"] != va1["session"], "two agents, one session")
    check_eq(vm.qmp.execute("va-info", {"chardev": "va1"})["session"],
             va1["session"], "va-info on va1")
    # The second agent blocks va.getfile; the first does not.
    desc = qmp_error(vm, "va-getfile", {"chardev": "va1",
                                        "path": "/etc/hostname"})
    check("guest fault 1006" in desc, desc)
    vm.qmp.execute("va-getfile", {"chardev": "va0", "path": "/etc/hostname"})
    check_eq(vm.hmp.cmd("va_ping -c va1"), "guest agent answered\n",
             "va_ping -c va1")
    out = vm.hmp.cmd("va_ping")
    check(out.startswith("Error: several virtagent chardevs"), out)
    # Each agent's forwarder reaches its own chardev.
    guest(vm, "va-call -s /run/va1.sock va.notify via-va1")
    check_eq(vm.qmp.event("VA_GUEST_NOTIFY", T)["data"]["chardev"], "va1",
             "notify through the second agent")
    guest(vm, "kill $(cat /run/va1.pid)")
    check_eq(vm.qmp.event("VA_AGENT_DISCONNECTED", T)["data"]["chardev"],
             "va1", "disconnect")
    vm.qmp.execute("device_del", {"id": "vaport1"})
    vm.qmp.event("DEVICE_DELETED", T,
                 lambda e: e["data"].get("device") == "vaport1")
    vm.qmp.execute("chardev-remove", {"id": "va1"})
    check_eq(len(vm.qmp.execute("query-virtagent")), 1, "va1 removed")
    check_eq(vm.qmp.execute("va-ping"), {}, "va-ping with va0 alone")


@test("virtio")
def reboot_mid_call(ctx):
    vm = ctx.vm
    old = info(vm)["session"]
    pause_agent(vm)
    cid = vm.qmp.execute("va-call", {"method": "va.ping", "async": True})["id"]
    vm.console.send("reboot -f\n")
    done = call_done(vm, cid)
    check(DISCONNECTED in done.get("error", ""), "call: %r" % done)
    vm.qmp.event("VA_AGENT_DISCONNECTED", T)
    vm.qmp.event("RESET", T)
    check_eq(vm.wait_ready(T), "qemu-va started", "ready after reboot")
    new = vm.qmp.event("VA_AGENT_CONNECTED", T)["data"]["session"]
    check(new != old, "same session after reboot")
    check_eq(vm.qmp.execute("va-ping"), {}, "ping after reboot")
    check(vm.qmp.execute("va-info")["uptime"] < T, "uptime after reboot")


@test("virtio")
def hmp_shutdown_reboot(ctx):
    vm = ctx.vm
    old = info(vm)["session"]
    check_eq(vm.hmp.cmd("va_shutdown reboot"),
             "guest agent accepted reboot\n", "va_shutdown reboot")
    vm.qmp.event("RESET", T)
    check_eq(vm.wait_ready(T), "qemu-va started", "ready after reboot")
    new = vm.qmp.event("VA_AGENT_CONNECTED", T)["data"]["session"]
    check(new != old, "same session after reboot")


@test("virtio")
def qmp_shutdown_powerdown(ctx):
    vm = ctx.vm
    check_eq(vm.qmp.execute("va-shutdown", {"mode": "powerdown"}), {},
             "va-shutdown")
    check_eq(vm.qmp.event("SHUTDOWN", T)["data"]["reason"],
             "guest-shutdown", "SHUTDOWN reason")
    check_eq(vm.wait_exit(T), 0, "QEMU exit status")


# ---- isa-serial: the same chardev behind the guest's ttyS1 ----

@test("isa", first=True)
def isa_boot_connected(ctx):
    vm = ctx.vm
    check_eq(vm.wait_ready(T), "qemu-va started", "guest ready line")
    ev = vm.qmp.event("VA_AGENT_CONNECTED", T)["data"]
    check_eq(info(vm)["session"], ev["session"], "session")
    check("isa-serial" in guest(vm, "logread | grep 'started on'"),
          "qemu-va is not on isa-serial")


@test("isa")
def isa_ping_info_getfile(ctx):
    vm = ctx.vm
    check_eq(vm.qmp.execute("va-ping"), {}, "va-ping")
    check_eq(vm.qmp.execute("va-info")["hostname"], "virtagent-guest",
             "va-info")
    r = vm.qmp.execute("va-getfile", {"path": "/etc/os-release"})
    check("ID=debian" in base64.b64decode(r["data"]).decode(), "os-release")
    check_eq(vm.hmp.cmd("va_ping"), "guest agent answered\n", "va_ping")
    check(re.search(r"^ID=debian$", vm.hmp.cmd("va_getfile /etc/os-release"),
                    re.M), "va_getfile")


@test("isa")
def isa_guest_notify(ctx):
    vm = ctx.vm
    check_eq(guest(vm, "va-call va.notify isa s:ok"), "true\n", "va-call")
    check_eq(vm.qmp.event("VA_GUEST_NOTIFY", T)["data"]["name"], "isa",
             "event")


@test("isa")
def isa_shutdown_halt(ctx):
    vm = ctx.vm
    since = vm.console.mark()
    check_eq(hmp_qmp(vm, "va_shutdown halt"), "guest agent accepted halt\n",
             "va_shutdown halt")
    vm.console.wait_for(r"reboot: System halted", T, since)
    # Halted, not powered off: QEMU is still there.
    check_eq(vm.qmp.execute("query-status")["status"], "running", "status")


class Ctx:
    """The VM of the current test's group, booted when first needed."""

    def __init__(self, qemu):
        self.qemu = qemu
        self.vm = None
        self.group = None
        self.note = None

    def use(self, fn):
        if self.vm and (self.group != fn.group or
                        self.vm.proc.poll() is not None):
            self.stop()
        if not self.vm:
            transport = ("isa-serial" if fn.group == "isa" else
                         "virtio-serial")
            # 1.5 GiB: files_1gib_both_ways keeps its file in a tmpfs.
            self.vm = VM(qemu=self.qemu, transport=transport,
                         memory=1536 if fn.group == "virtio" else 512
                         ).launch()
            self.group = fn.group
            if not fn.first:
                self.vm.wait_ready(T)
                self.vm.qmp.event("VA_AGENT_CONNECTED", T)
        # Events left over from an earlier test must not satisfy this one.
        if self.vm.proc.poll() is None:
            self.vm.qmp.events()
        self.note = None

    def stop(self):
        if self.vm:
            self.vm.close()
            self.vm = None


def main():
    a = test_args()
    ctx = Ctx(a.qemu)
    return run_tests("check-vm", [fn for fn in TESTS if a.k in fn.__name__],
                     ctx, ctx.use, TestFailure, a.v)


if __name__ == "__main__":
    sys.exit(main())
