#!/usr/bin/env python3
# virtagent - our agent beside Debian's qemu-ga and a raw port, in one VM
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: bench-vm.py [--qemu BINARY] [--initrd IMAGE] [--smp N]
#                    [--calls N] [--rounds N] [--split-calls N]
#                    [--files MIB] [--file-rounds N]
#
# Boots the benchmark image (bench/qga-image.sh: the test guest plus
# Debian 12's qemu-ga with its own libraries) with three virtserialports
# on one virtio-serial device:
#
#   org.qemu.virtagent      our chardev, qemu-va in the guest
#   org.qemu.guest_agent.0  a socket chardev, Debian's qemu-ga in the guest
#   org.qemu.raw            a socket chardev, "cat" echoing in the guest
#
# and times, in interleaved rounds of --calls each, one call at a time:
#
#   raw echo    64 bytes through the port and back: the port's floor
#   QMP floor   QMP query-status: what any QMP command costs
#   va-ping     QMP va-ping, our agent's round trip as a QMP client sees it
#   guest-ping  qemu-ga's guest-ping on its socket, as libvirt sends it
#
# printing for each the median and 90th percentile wall time, and the CPU
# time per call of QEMU's main thread, of its vCPU threads (the guest:
# kernel, agent and all), of the monitors' I/O thread (it reads and
# writes QMP's sockets) and of the rest (the thread pool, RCU), and how
# many times per call the main thread went to sleep (its voluntary
# context switches: each is a wake-up to pay).
# Thread times come from /proc/PID/task/*/schedstat (nanoseconds; stat's
# clock ticks if absent); QEMU runs with -name ...,debug-threads=on so
# that the threads have names.
#
# Then the guest's own split of each call (its tick accounting) beside
# the host's vCPU time and preemptions, and each agent's vCPU time per
# call with the guest's other two processes stopped (the echo's cat is
# woken by every port's interrupts: see alone()).
#
# Then calls per second with 1, 4 and 16 in flight: the raw echo, QMP
# query-status pipelined on one connection (QMP's own rate), async
# va-ping (VA_CALL_DONE events; the chardev's window is 8, further calls
# wait in the host's queue), sync va-ping from as many QMP connections
# (QMP's dispatcher runs one command at a time, so this shows that
# limit), and guest-ping pipelined on qemu-ga's socket (qemu-ga runs
# one command at a time).  The last line compares with the targets of
# docs/benchmarks.md.  Figures are printed, never asserted.
#
# --files MIB (or --getfile MIB) then moves a random file of MIB MiB
# every way, in both directions, --file-rounds times (median printed),
# each checked by sha256: guest to host, cat into the raw port, QMP
# va-getfile into a descriptor passed with getfd, va-getfile 1 MiB per
# call in base64 and qemu-ga's guest-file-read 4 MiB per call; host to
# guest, the raw port read by head -c, va-putfile from a passed
# descriptor and guest-file-write 4 MiB per call.  Beside each, the CPU
# seconds of QEMU's threads and the agent calls it took (one: the data
# path; one per MiB: XML-RPC chunks).  During the transfers through a
# descriptor (asynchronous when QEMU takes "async" with "fdname", which
# leaves QMP free), a second QMP connection and the HMP monitor each
# va-ping every 50 ms; their times beside the idle ones.  The last line
# compares with issue 11's targets.
#
# -accel kvm is used when /dev/kvm is usable, TCG otherwise.

import argparse
import base64
import hashlib
import json
import os
import select
import socket
import statistics
import sys
import threading
import time

SRCDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRCDIR, "scripts", "vm"))
from vm import QMP, VM, DEFAULT_QEMU  # noqa: E402

MIB = 1 << 20
T = 300
WINDOW = 8
ECHO = b"x" * 63 + b"\n"
PING = b'{"execute":"guest-ping"}\n'
INFLIGHT = (1, 4, 16)
QGA_PORT = "org.qemu.guest_agent.0"


def guest(vm, cmd):
    status, out = vm.console.run(cmd, T)
    if status:
        raise RuntimeError("guest: %r exited %d: %s" % (cmd, status, out))
    return out


CPU_KEYS = ("main", "vcpu", "mon", "other")
# Beside the CPU times: how often the main thread went to sleep.
STAT_KEYS = CPU_KEYS + ("main_sleeps",)


def thread_cpu(pid):
    """CPU seconds of QEMU's threads: the main thread, the vCPUs, the
    monitors' I/O thread (QMP's sockets), and the rest (the thread pool,
    RCU)."""
    cpu = dict.fromkeys(STAT_KEYS, 0.0)
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                cpu["main_sleeps"] = int(line.split()[1])
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base + "comm") as f:
                name = f.read().strip()
            try:
                with open(base + "schedstat") as f:
                    t = int(f.read().split()[0]) / 1e9
            except FileNotFoundError:
                with open(base + "stat") as f:
                    st = f.read()
                fields = st[st.rindex(")") + 2:].split()
                t = (int(fields[11]) + int(fields[12])) / tick
        except (FileNotFoundError, ProcessLookupError):
            continue  # a pool thread that just ended
        if tid == str(pid):
            cpu["main"] += t
        elif name.startswith("CPU ") and "/" in name:
            cpu["vcpu"] += t
        elif name == "IO mon_iothread":
            cpu["mon"] += t
        else:
            cpu["other"] += t
    return cpu


class Line:
    """A line-oriented client on a unix socket (qemu-ga, the echo)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""

    def line(self, timeout=T):
        while b"\n" not in self.buf:
            if not select.select([self.sock], [], [], timeout)[0]:
                raise TimeoutError("no answer on the socket")
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("socket closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def close(self):
        self.sock.close()


# One call of each kind, synchronous; each returns nothing, raises on
# a wrong answer.

def call_raw(vm, echo, qga):
    echo.sock.sendall(ECHO)
    if echo.line() != ECHO[:-1]:
        raise RuntimeError("raw echo: wrong bytes back")


def call_qmp(vm, echo, qga):
    vm.qmp.execute("query-status", None, T)


def call_va(vm, echo, qga):
    vm.qmp.execute("va-ping", None, T)


def call_qga(vm, echo, qga):
    qga.sock.sendall(PING)
    r = json.loads(qga.line())
    if r != {"return": {}}:
        raise RuntimeError("guest-ping: %r" % r)


KINDS = (("raw", "raw echo, 64 bytes", call_raw),
         ("qmp", "QMP query-status (floor)", call_qmp),
         ("va", "QMP va-ping", call_va),
         ("qga", "qemu-ga guest-ping", call_qga))


class EchoGate:
    """The raw echo's cat runs only while the raw echo is measured.  All
    the ports' queues share one interrupt vector, and the guest's driver
    wakes a port's sleepers on every interrupt while that port's last
    written buffer is unreclaimed: cat, blocked in read() after its echo,
    would be woken by every interrupt of the agents' ports and each call
    would pay two address-space switches to it and back (TCG flushes its
    TLB and jump cache on each).  A stopped task is not woken.  The
    agents, waiting in poll(), reclaim their buffers and do not disturb
    each other; neither would cat on a machine without the benchmark."""

    def __init__(self, vm, pid):
        self.vm, self.pid, self.running = vm, pid, True

    def kind(self, kind):
        want = kind == "raw"
        if want != self.running:
            guest(self.vm, "kill -%s %d" % ("CONT" if want else "STOP",
                                            self.pid))
            self.running = want


def latency(vm, echo, qga, calls, rounds, gate):
    """Interleaved rounds; per kind the wall times and CPU seconds."""
    walls = {k: [] for k, _, _ in KINDS}
    cpu = {k: dict.fromkeys(STAT_KEYS, 0.0) for k, _, _ in KINDS}
    for _ in range(rounds):
        for kind, _, fn in KINDS:
            gate.kind(kind)
            for _ in range(calls // 10):
                fn(vm, echo, qga)           # warm up
            before = thread_cpu(vm.proc.pid)
            for _ in range(calls):
                t = time.perf_counter()
                fn(vm, echo, qga)
                walls[kind].append(time.perf_counter() - t)
            after = thread_cpu(vm.proc.pid)
            for k in cpu[kind]:
                cpu[kind][k] += after[k] - before[k]
    n = calls * rounds
    for kind in cpu:
        for k in cpu[kind]:
            cpu[kind][k] /= n
    return walls, cpu


# The guest's own view of a call's vCPU time: its tick-based accounting
# (USER_HZ), so many calls at once.  Per kind, the agent's (or the
# echo's cat's) user and system time from /proc/PID/stat, and all CPUs'
# user, system, irq+softirq and idle time from /proc/stat; beside them
# the host's vCPU thread time for the same calls, and how often the host
# preempted a vCPU thread per call: the guest's clock runs on while its
# vCPU waits for a host CPU, and its ticks charge that wait to whatever
# the guest was running, so on a busy host the agent's system time there
# includes the host's scheduling, which the host's CPU time does not.
SPLIT_KEYS = ("agent_user", "agent_sys", "user", "sys", "irq", "idle",
              "host_vcpu", "preempted")


def guest_ticks(vm, pid):
    out = guest(vm, "head -n 1 /proc/stat; cat /proc/%d/stat" % pid)
    cpu_line, pid_line = out.strip().split("\n")[-2:]
    c = [int(x) for x in cpu_line.split()[1:]]
    p = pid_line[pid_line.rindex(")") + 2:].split()
    return {"agent_user": int(p[11]), "agent_sys": int(p[12]),
            "user": c[0] + c[1], "sys": c[2], "idle": c[3] + c[4],
            "irq": c[5] + c[6]}


def vcpu_preempted(pid):
    """Involuntary context switches of QEMU's vCPU threads."""
    n = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base + "comm") as f:
                if not f.read().startswith("CPU "):
                    continue
            with open(base + "status") as f:
                for line in f:
                    if line.startswith("nonvoluntary_ctxt_switches:"):
                        n += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return n


def guest_split(vm, echo, qga, pids, calls, gate):
    """Per kind, guest seconds per call (USER_HZ taken as 100)."""
    split = {}
    for kind, fn in (("raw", call_raw), ("va", call_va), ("qga", call_qga)):
        gate.kind(kind)
        before = guest_ticks(vm, pids[kind])
        host = thread_cpu(vm.proc.pid)["vcpu"]
        preempted = vcpu_preempted(vm.proc.pid)
        for _ in range(calls):
            fn(vm, echo, qga)
        host = thread_cpu(vm.proc.pid)["vcpu"] - host
        preempted = vcpu_preempted(vm.proc.pid) - preempted
        after = guest_ticks(vm, pids[kind])
        split[kind] = {k: (after[k] - before[k]) / 100 / calls
                       for k in before}
        split[kind]["host_vcpu"] = host / calls
        split[kind]["preempted"] = preempted / calls
    return split


def alone(vm, echo, qga, pids, calls, gate):
    """Host vCPU seconds per va-ping and per guest-ping with the other
    agent stopped too (the echo is, see EchoGate): what one agent costs
    with nothing else in the guest.  Not the figure the targets use."""
    cost = {}
    gate.kind("va")
    for kind, fn in (("va", call_va), ("qga", call_qga)):
        others = " ".join(str(pids[k]) for k in pids
                          if k not in (kind, "raw"))
        guest(vm, "kill -STOP %s" % others)
        try:
            for _ in range(calls // 10):
                fn(vm, echo, qga)           # warm up
            host = thread_cpu(vm.proc.pid)["vcpu"]
            for _ in range(calls):
                fn(vm, echo, qga)
            cost[kind] = (thread_cpu(vm.proc.pid)["vcpu"] - host) / calls
        finally:
            guest(vm, "kill -CONT %s" % others)
    return cost


def rate_raw(vm, echo, qga, depth, n):
    for _ in range(depth):
        echo.sock.sendall(ECHO)
    issued = depth
    for _ in range(n):
        echo.line()
        if issued < n:
            echo.sock.sendall(ECHO)
            issued += 1


def rate_qga(vm, echo, qga, depth, n):
    qga.sock.sendall(PING * depth)
    issued = depth
    for _ in range(n):
        if json.loads(qga.line()) != {"return": {}}:
            raise RuntimeError("guest-ping failed")
        if issued < n:
            qga.sock.sendall(PING)
            issued += 1


def rate_qmp(vm, echo, qga, depth, n):
    """query-status pipelined on one connection."""
    q = vm.qmp
    pending = [q.send("query-status") for _ in range(depth)]
    issued = depth
    while pending:
        r = q.reply(pending.pop(0), T)
        if "error" in r:
            raise RuntimeError("query-status: %s" % r["error"])
        if issued < n:
            pending.append(q.send("query-status"))
            issued += 1


def rate_va_async(vm, echo, qga, depth, n):
    """Async va-ping: a call ends with its VA_CALL_DONE event, which may
    come before the command's own return."""
    q = vm.qmp
    issued = done = 0
    cmd_ids = set()

    def issue():
        cmd_ids.add(q.send("va-ping", {"async": True}))

    for _ in range(depth):
        issue()
        issued += 1
    deadline = time.monotonic() + T
    while done < n or cmd_ids:
        msg = q._read(deadline, "va-ping async")
        if "event" in msg:
            if msg["event"] != "VA_CALL_DONE":
                continue
            if "error" in msg["data"]:
                raise RuntimeError("va-ping: %s" % msg["data"]["error"])
            done += 1
            if issued < n:
                issue()
                issued += 1
        elif msg.get("id") in cmd_ids:
            cmd_ids.discard(msg["id"])
            if "error" in msg:
                raise RuntimeError("va-ping: %s" % msg["error"])


def rate_va_sync(vm, echo, qga, depth, n, paths):
    """Sync va-ping, one in flight on each of depth QMP connections.
    The extra connections exist only meanwhile: QEMU copies every event
    to every QMP client, so idle ones would slow the other figures."""
    conns = [vm.qmp] + [QMP(p, T) for p in paths[:depth - 1]]
    try:
        sync_on(conns, n)
    finally:
        for q in conns[1:]:
            q.close()


def sync_on(conns, n):
    depth = len(conns)
    socks = {}
    for q in conns:
        socks[q.sock] = (q, q.send("va-ping"))
    issued, done = depth, 0
    deadline = time.monotonic() + T
    while done < n:
        ready = [s for s, (q, _) in socks.items() if b"\n" in q._buf]
        if not ready:
            ready = select.select(list(socks), [], [],
                                  deadline - time.monotonic())[0]
            if not ready:
                raise TimeoutError("va-ping over %d connections" % depth)
        for s in ready:
            q, cid = socks[s]
            msg = q._read(deadline, "va-ping")
            if msg.get("id") != cid:
                continue                    # an event
            if "error" in msg:
                raise RuntimeError("va-ping: %s" % msg["error"])
            done += 1
            if issued < n:
                socks[s] = (q, q.send("va-ping"))
                issued += 1
            else:
                socks[s] = (q, None)


def rates(vm, echo, qga, qmp_paths, calls, rounds, gate):
    kinds = (("raw", "raw echo", rate_raw),
             ("qmp", "QMP query-status, pipelined", rate_qmp),
             ("va", "va-ping async (va-call form)", rate_va_async),
             ("vasync", "va-ping sync, N QMP connections",
              lambda *a: rate_va_sync(*a, qmp_paths)),
             ("qga", "qemu-ga guest-ping, pipelined", rate_qga))
    per_s = {(k, d): [] for k, _, _ in kinds for d in INFLIGHT}
    for _ in range(rounds):
        for d in INFLIGHT:
            for kind, _, fn in kinds:
                gate.kind(kind)
                n = max(calls, 25 * d)
                t = time.perf_counter()
                fn(vm, echo, qga, d, n)
                per_s[(kind, d)].append(n / (time.perf_counter() - t))
    return kinds, {k: statistics.median(v) for k, v in per_s.items()}


# -- files (--files MIB) ------------------------------------------------

GUEST_SRC = "/tmp/bench"        # what the gets read
GUEST_DST = "/tmp/bench-in"     # what the puts write
RAW_PORT = "/dev/virtio-ports/org.qemu.raw"
QGA_CHUNK = 4 * MIB
PING_EVERY = 0.05


def big_line(conn, timeout=T):
    """Line.line, for answers of megabytes: the pieces kept in a list,
    each searched once for the newline."""
    parts = [conn.buf]
    while b"\n" not in parts[-1]:
        if not select.select([conn.sock], [], [], timeout)[0]:
            raise TimeoutError("no answer on the socket")
        data = conn.sock.recv(1 << 20)
        if not data:
            raise EOFError("socket closed")
        parts.append(data)
    line, conn.buf = b"".join(parts).split(b"\n", 1)
    return line


class Pinger:
    """va-ping every PING_EVERY seconds on a connection of its own, in a
    thread, until stop(); keeps each ping's wall time."""

    def __init__(self, ping):
        self.ping = ping
        self.times = []
        self.sent = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error = None

    def _run(self):
        try:
            while not self.stopping.is_set():
                self.sent += 1
                t = time.perf_counter()
                self.ping()
                self.times.append(time.perf_counter() - t)
                self.stopping.wait(PING_EVERY)
        except Exception as e:      # re-raised by stop() in the caller
            self.error = e

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(T)
        if self.error and not exc[0]:
            raise RuntimeError("va-ping during the transfer: %s"
                               % self.error)


def hmp_ping(vm):
    out = vm.hmp.cmd("va_ping -t %d" % T, T)
    if "answered" not in out:
        raise RuntimeError("HMP va_ping: %r" % out)


def process_cpu(pid):
    """CPU seconds of the whole process, threads that ended included
    (thread_cpu loses those: the thread pool's come and go)."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def agent_calls(vm):
    return sum(c["sent"] for c in vm.qmp.execute("query-virtagent"))


class Files:
    """One file of --files MiB moved every way, both directions, in the
    same VM; per way the runs' wall times and CPU seconds, and the
    va-ping times beside the transfers through a descriptor."""

    def __init__(self, vm, raw_path, qga, ping_qmp_path, mib):
        self.vm, self.qga, self.size = vm, qga, mib * MIB
        self.raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.raw.connect(raw_path)
        self.ping_qmp = QMP(ping_qmp_path, T)
        self.src = os.path.join(vm.rundir, "put-src")
        self.dst = os.path.join(vm.rundir, "get-dst")
        self.put_data = os.urandom(self.size)
        with open(self.src, "wb") as f:
            f.write(self.put_data)
        self.put_sha = hashlib.sha256(self.put_data).hexdigest()
        guest(vm, "dd if=/dev/urandom of=%s bs=1M count=%d 2>/dev/null"
              % (GUEST_SRC, mib))
        self.get_sha = guest(vm, "sha256sum " + GUEST_SRC).split()[0]
        # Whether QEMU takes "async" with "fdname": then the transfer
        # leaves QMP's dispatcher free for other commands.
        self.fd_async = None
        self.runs = {}          # way -> [(wall s, cpu dict, calls)]
        self.pings = {}         # (monitor, "idle"|way) -> [s]

    def close(self):
        self.raw.close()
        self.ping_qmp.close()
        os.unlink(self.src)
        if os.path.exists(self.dst):
            os.unlink(self.dst)

    def measure(self, way, fn, pinged=False):
        """Run fn (which checks what it moved, or returns a check to run
        once the clocks stop) with the CPU clocks, and with both pingers
        if @pinged."""
        if way == "raw_put":
            self.raw_put_start()
        before = thread_cpu(self.vm.proc.pid)
        before["all"] = process_cpu(self.vm.proc.pid)
        calls = agent_calls(self.vm)
        pingers = ()
        if pinged:
            pingers = (("QMP", Pinger(lambda: self.ping_qmp.execute(
                           "va-ping", {"timeout": T}, T))),
                       ("HMP", Pinger(lambda: hmp_ping(self.vm))))
            for _, p in pingers:
                p.__enter__()
        t = time.perf_counter()
        verify = None
        try:
            verify = fn()
        finally:
            dt = time.perf_counter() - t
            for _, p in pingers:
                p.__exit__(*sys.exc_info())
        after = thread_cpu(self.vm.proc.pid)
        after["all"] = process_cpu(self.vm.proc.pid)
        cpu = {k: after[k] - before[k] for k in CPU_KEYS + ("all",)}
        # In clock ticks: never below zero.
        cpu["other"] = max(0.0, cpu.pop("all") - cpu["main"] - cpu["vcpu"]
                           - cpu["mon"])
        calls = agent_calls(self.vm) - calls - sum(p.sent
                                                   for _, p in pingers)
        for mon, p in pingers:
            self.pings.setdefault((mon, way), []).extend(p.times)
        self.runs.setdefault(way, []).append(
            (dt, cpu, calls))
        if verify:
            verify()

    def idle_pings(self, seconds=1.0):
        for mon, ping in (("QMP", lambda: self.ping_qmp.execute(
                              "va-ping", {"timeout": T}, T)),
                          ("HMP", lambda: hmp_ping(self.vm))):
            with Pinger(ping) as p:
                time.sleep(seconds)
            self.pings.setdefault((mon, "idle"), []).extend(p.times)

    def check(self, what, got, want):
        if got != want:
            raise RuntimeError("%s: sha256 %s, want %s" % (what, got, want))

    def guest_sha(self, path):
        sha = guest(self.vm, "sha256sum %s && rm %s" % (path, path))
        return sha.split()[0]

    # guest -> host

    def raw_get(self):
        h = hashlib.sha256()
        got = 0
        self.vm.console.send("cat %s > %s\n" % (GUEST_SRC, RAW_PORT))
        while got < self.size:
            data = self.raw.recv(1 << 20)
            if not data:
                raise RuntimeError("raw port closed after %d bytes" % got)
            h.update(data)
            got += len(data)
        self.check("raw port, guest to host", h.hexdigest(), self.get_sha)

    def fd_command(self, cmd, args, fd):
        """cmd with the descriptor fd passed as "f": asynchronously if
        QEMU takes that (the answer in VA_CALL_DONE), else synchronously.
        The answer."""
        q = self.vm.qmp
        r = q.reply(q.send("getfd", {"fdname": "f"}, [fd]), T)
        os.close(fd)
        if "error" in r:
            raise RuntimeError("getfd: %s" % r["error"])
        args = dict(args, fdname="f", timeout=T)
        if self.fd_async is not False:
            r = q.reply(q.send(cmd, dict(args, **{"async": True})), T)
            self.fd_async = "error" not in r
            if self.fd_async:
                ev = q.event("VA_CALL_DONE", T, lambda e: e["data"]["id"]
                             == r["return"]["id"])["data"]
                if "error" in ev:
                    raise RuntimeError("%s: %s" % (cmd, ev["error"]))
                return ev["result"]
        return q.execute(cmd, args, T)

    def fd_get(self):
        fd = os.open(self.dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        r = self.fd_command("va-getfile", {"path": GUEST_SRC}, fd)
        if r.get("size") != self.size or r.get("eof") is not True:
            raise RuntimeError("va-getfile: %r" % r)
        if "sha256" in r:
            self.check("va-getfile's answer", r["sha256"], self.get_sha)
        return self.fd_get_verify

    def fd_get_verify(self):
        """After the clock: the other ways hash as the bytes arrive, this
        one would read the whole file again afterwards."""
        with open(self.dst, "rb") as f:
            self.check("va-getfile, host file",
                       hashlib.sha256(f.read()).hexdigest(), self.get_sha)

    def b64_get(self):
        h = hashlib.sha256()
        off = 0
        while off < self.size:
            r = self.vm.qmp.execute("va-getfile", {
                "path": GUEST_SRC, "offset": off, "length": MIB,
                "timeout": T}, T)
            data = base64.b64decode(r["data"])
            h.update(data)
            off += len(data)
        self.check("va-getfile base64", h.hexdigest(), self.get_sha)

    def qga_cmd(self, cmd, args):
        self.qga.sock.sendall(json.dumps({"execute": cmd,
                                          "arguments": args}).encode()
                              + b"\n")
        r = json.loads(big_line(self.qga))
        if "return" not in r:
            raise RuntimeError("%s: %r" % (cmd, r))
        return r["return"]

    def qga_read(self):
        h = hashlib.sha256()
        handle = self.qga_cmd("guest-file-open", {"path": GUEST_SRC,
                                                  "mode": "r"})
        while True:
            r = self.qga_cmd("guest-file-read", {"handle": handle,
                                                 "count": QGA_CHUNK})
            h.update(base64.b64decode(r["buf-b64"]))
            if r["eof"] or not r["count"]:
                break
        self.qga_cmd("guest-file-close", {"handle": handle})
        self.check("guest-file-read", h.hexdigest(), self.get_sha)

    # host -> guest

    def raw_put_start(self):
        """Before the clock starts: head opens the port and waits (what
        comes before that stays in the chardev's socket)."""
        guest(self.vm, "head -c %d %s > %s &" % (self.size, RAW_PORT,
                                                 GUEST_DST))

    def raw_put(self):
        self.raw.sendall(self.put_data)
        guest(self.vm, "wait")

    def fd_put(self):
        r = self.fd_command("va-putfile", {"path": GUEST_DST},
                            os.open(self.src, os.O_RDONLY))
        if r.get("size") != self.size:
            raise RuntimeError("va-putfile: %r" % r)
        if "sha256" in r:
            self.check("va-putfile's answer", r["sha256"], self.put_sha)

    def qga_write(self):
        handle = self.qga_cmd("guest-file-open", {"path": GUEST_DST,
                                                  "mode": "w"})
        view = memoryview(self.put_data)
        for off in range(0, self.size, QGA_CHUNK):
            chunk = base64.b64encode(view[off:off + QGA_CHUNK]).decode()
            r = self.qga_cmd("guest-file-write", {"handle": handle,
                                                  "buf-b64": chunk})
            if r["count"] != min(QGA_CHUNK, self.size - off):
                raise RuntimeError("guest-file-write: %r" % r)
        self.qga_cmd("guest-file-close", {"handle": handle})

    def round(self):
        self.idle_pings()
        # The rates compare ways measured alike, with no pings; the
        # descriptor ways run once more with both pingers, for the
        # pings' latency (and their rate beside it).
        for way, fn, pinged in (("raw_get", self.raw_get, False),
                                ("fd_get", self.fd_get, False),
                                ("fd_get_pinged", self.fd_get, True),
                                ("b64_get", self.b64_get, False),
                                ("qga_read", self.qga_read, False)):
            self.measure(way, fn, pinged)
        for way, fn, pinged in (("raw_put", self.raw_put, False),
                                ("fd_put", self.fd_put, False),
                                ("fd_put_pinged", self.fd_put, True),
                                ("qga_write", self.qga_write, False)):
            self.measure(way, fn, pinged)
            self.check(way, self.guest_sha(GUEST_DST), self.put_sha)


FILE_WAYS = (
    ("guest to host", None, None),
    ("raw_get", "raw port, cat > virtserialport", "raw_get"),
    ("fd_get", "va-getfile, passed fd", "raw_get"),
    ("fd_get_pinged", "  the same, pinged", "raw_get"),
    ("b64_get", "va-getfile, base64 QMP, 1 MiB", "raw_get"),
    ("qga_read", "qemu-ga guest-file-read, 4 MiB", "raw_get"),
    ("host to guest", None, None),
    ("raw_put", "raw port, head -c < virtserialport", "raw_put"),
    ("fd_put", "va-putfile, passed fd", "raw_put"),
    ("fd_put_pinged", "  the same, pinged", "raw_put"),
    ("qga_write", "qemu-ga guest-file-write, 4 MiB", "raw_put"))


def files(vm, raw_path, qga, ping_qmp_path, mib, rounds):
    """Move the file every way, rounds times; return the report's
    lines."""
    # The echo's cat owns the raw port (it is no job of the shell's:
    # busybox's shell, waiting at its prompt, could exit when a job of
    # its own ended).
    guest(vm, "kill $(pidof cat) 2>/dev/null; "
          "while pidof cat >/dev/null; do sleep 0.1; done")
    f = Files(vm, raw_path, qga, ping_qmp_path, mib)
    try:
        for _ in range(rounds):
            f.round()
    finally:
        f.close()
    # Per way the run of median wall time, and its CPU.
    med = {}
    for way, runs in f.runs.items():
        med[way] = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    mbs = {way: f.size / r[0] / 1e6 for way, r in med.items()}
    out = ["", "%d MiB random file, median of %d runs, each checked by "
           "sha256; CPU s of QEMU's threads; the agent calls it took"
           % (mib, rounds),
           "%-36s %7s %6s %6s %6s %6s %6s %6s %5s" % (
               "", "MB/s", "vs raw", "wall s", "main", "vCPU", "mon IO",
               "other", "calls")]
    for way, what, raw in FILE_WAYS:
        if what is None:
            out.append(way)
            continue
        dt, cpu, calls = med[way]
        out.append("  %-34s %7.1f %5.0f%% %6.2f %6.2f %6.2f %6.2f %6.2f "
                   "%5s" % ((what, mbs[way], 100 * mbs[way] / mbs[raw], dt)
                            + tuple(cpu[k] for k in CPU_KEYS)
                            + (calls if way.startswith(("fd", "b64"))
                               else "",)))
    out.append("(passed fd: %s; 1 call = the data path, 1 per MiB = "
               "XML-RPC chunks)" % ("async, VA_CALL_DONE" if f.fd_async
                                    else "synchronous, holds QMP's "
                                    "dispatcher"))
    out.append("%-36s %9s %9s %9s %5s" % ("va-ping, every 50 ms",
                                          "median ms", "p90 ms", "max ms",
                                          "n"))
    ping = {}
    for mon in ("QMP", "HMP"):
        for when, what in (("idle", "idle"),
                           ("fd_get_pinged", "during fd get"),
                           ("fd_put_pinged", "during fd put")):
            v = f.pings.get((mon, when), [])
            if not v:
                continue
            ping[(mon, when)] = statistics.median(v)
            out.append("  %-34s %9.1f %9.1f %9.1f %5d" % (
                "%s, %s" % (mon, what), ping[(mon, when)] * 1e3,
                pct(v, 0.9) * 1e3, max(v) * 1e3, len(v)))

    def x(a, b):
        return a / b if b else float("nan")

    r = {"get_x_raw": x(mbs["fd_get"], mbs["raw_get"]),
         "put_x_raw": x(mbs["fd_put"], mbs["raw_put"]),
         "get_x_qga": x(mbs["fd_get"], mbs["qga_read"]),
         "put_x_qga": x(mbs["fd_put"], mbs["qga_write"])}
    for mon in ("QMP", "HMP"):
        for when in ("get", "put"):
            r["ping_%s_%s_x_idle" % (mon.lower(), when)] = x(
                ping.get((mon, "fd_%s_pinged" % when), 0),
                ping.get((mon, "idle"), 0))
    out.append("targets: passed fd %.2f x raw getting, %.2f x putting "
               "(>= 0.5); %.1f x qemu-ga's read, %.1f x its write "
               "(>= 10); va-ping during get/put %.1f/%.1f x idle over "
               "QMP, %.1f/%.1f over HMP (<= 3)" % (
                   r["get_x_raw"], r["put_x_raw"], r["get_x_qga"],
                   r["put_x_qga"], r["ping_qmp_get_x_idle"],
                   r["ping_qmp_put_x_idle"], r["ping_hmp_get_x_idle"],
                   r["ping_hmp_put_x_idle"]))
    out.append("bench-vm-files: " + " ".join(
        "%s=%.2f" % kv for kv in r.items()))
    return out


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", default=os.environ.get("VA_QEMU", DEFAULT_QEMU))
    ap.add_argument("--initrd", default=os.path.join(
        SRCDIR, "build", "bench", "initrd-qga.img"),
        help="an image with qemu-ga (bench/qga-image.sh)")
    ap.add_argument("--smp", type=int, default=1, help="vCPUs")
    ap.add_argument("--calls", type=int, default=200,
                    help="calls per kind and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--split-calls", type=int, default=2000,
                    help="calls per kind for the guest's own CPU split")
    ap.add_argument("--files", "--getfile", type=int, metavar="MIB",
                    default=0, help="also move a file of MIB MiB every "
                    "way, both directions (0: no)")
    ap.add_argument("--file-rounds", type=int, default=3,
                    help="runs of each file transfer")
    a = ap.parse_args()

    accel = "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "tcg"
    # Room in the guest's RAM for the file and one copy.
    vm = VM(qemu=a.qemu, initrd=a.initrd, accel=accel,
            memory=max(512, 384 + 3 * a.files))
    echo_path = os.path.join(vm.rundir, "raw.sock")
    qga_path = os.path.join(vm.rundir, "qga.sock")
    vm.extra_args += [
        "-name", "bench,debug-threads=on", "-smp", str(a.smp),
        "-chardev", "socket,id=raw,path=%s,server=on,wait=off" % echo_path,
        "-device", "virtserialport,bus=vser0.0,chardev=raw,"
        "name=org.qemu.raw,id=rawport0",
        "-chardev", "socket,id=qga,path=%s,server=on,wait=off" % qga_path,
        "-device", "virtserialport,bus=vser0.0,chardev=qga,"
        "name=%s,id=qgaport0" % QGA_PORT]
    # More QMP monitors, for several sync calls at once.
    qmp_paths = []
    for i in range(1, max(INFLIGHT)):
        path = os.path.join(vm.rundir, "q%d.sock" % i)
        qmp_paths.append(path)
        vm.extra_args += ["-chardev", "socket,id=q%d,path=%s,server=on,"
                          "wait=off" % (i, path),
                          "-mon", "chardev=q%d,mode=control" % i]
    with vm:
        vm.wait_ready(T)
        vm.qmp.event("VA_AGENT_CONNECTED", T)
        # Connected before the guest writes: a socket chardev without a
        # client drops what the port sends.
        echo = Line(echo_path)
        qga = Line(qga_path)
        pids = {"raw": int(guest(
            vm, "(cat 0<>/dev/virtio-ports/org.qemu.raw 1>&0 & echo $!)"
        ).split()[-1])}
        guest(vm, "qemu-ga -d -m virtio-serial -p /dev/virtio-ports/%s"
              % QGA_PORT)
        for kind, name in (("va", "qemu-va"), ("qga", "qemu-ga")):
            pids[kind] = int(guest(vm, "pidof %s" % name).split()[0])
        qga.sock.sendall(b'{"execute":"guest-sync","arguments":{"id":7}}\n')
        if json.loads(qga.line()) != {"return": 7}:
            raise RuntimeError("qemu-ga did not sync")
        kver = guest(vm, "uname -r").strip()

        gate = EchoGate(vm, pids["raw"])
        walls, cpu = latency(vm, echo, qga, a.calls, a.rounds, gate)
        split = guest_split(vm, echo, qga, pids, a.split_calls, gate)
        solo = alone(vm, echo, qga, pids, a.calls * a.rounds, gate)
        kinds, per_s = rates(vm, echo, qga, qmp_paths, a.calls, a.rounds,
                             gate)
        # The raw port's chardev takes one client at a time.  qemu-ga's
        # stays connected: a host hanging up makes it spin on the port.
        # cat runs again to see the hang-up and close the port.
        gate.kind("raw")
        echo.close()
        file_report = []
        if a.files:
            file_report = files(vm, echo_path, qga, qmp_paths[0], a.files,
                                a.file_rounds)
        qga.close()
        vm.qmp.execute("va-shutdown", {"mode": "powerdown"}, T)
        vm.wait_exit(T)

    print("bench-vm: %s, %d vCPU, guest kernel %s; %d interleaved rounds "
          "of %d calls" % (accel.upper(), a.smp, kver, a.rounds, a.calls))
    print("%-28s %9s %9s %9s %9s %9s %9s %7s" % (
        "per call", "median us", "p90 us", "main us", "vCPU us",
        "mon I/O", "other us", "sleeps"))
    med = {}
    for kind, what, _ in KINDS:
        med[kind] = statistics.median(walls[kind]) * 1e6
        c = cpu[kind]
        print("%-28s %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %7.2f" % (
            (what, med[kind], pct(walls[kind], 0.9) * 1e6) +
            tuple(c[k] * 1e6 for k in CPU_KEYS) + (c["main_sleeps"],)))
    print("guest's view, %d calls each, us per call (ticks of 10 ms): "
          "the agent's user and system time, all guest user, system, "
          "irq+softirq and idle, the host's vCPU threads and how often "
          "the host preempted them" % a.split_calls)
    print("%-28s %9s %9s %9s %9s %9s %9s %9s %9s" % (
        "", "agent usr", "agent sys", "all usr", "all sys", "irq",
        "idle", "host vCPU", "preempted"))
    for kind, what in (("raw", "raw echo (cat)"), ("va", "QMP va-ping"),
                       ("qga", "qemu-ga guest-ping")):
        print("%-28s %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.2f" % (
            (what,) + tuple(split[kind][k] * 1e6 for k in SPLIT_KEYS[:-1]) +
            (split[kind]["preempted"],)))
    print("each agent alone, the other agent stopped too (not "
          "the targets' figure): vCPU us per va-ping %.0f, per guest-ping "
          "%.0f, %.2f x" % (solo["va"] * 1e6, solo["qga"] * 1e6,
                            solo["va"] / solo["qga"]))
    print("%-34s %9s %9s %9s" % ("calls/s, N in flight", "N=1", "N=4",
                                 "N=16"))
    for kind, what, _ in kinds:
        print("%-34s %9.0f %9.0f %9.0f" % (
            what, per_s[(kind, 1)], per_s[(kind, 4)], per_s[(kind, 16)]))

    vcpu_x = cpu["va"]["vcpu"] / cpu["qga"]["vcpu"]
    net = med["va"] - med["qmp"]
    net_qga = net / med["qga"]
    net_raw = net / med["raw"]
    fly4 = per_s[("va", 4)] / per_s[("va", 1)]
    fly4_conn = per_s[("vasync", 4)] / per_s[("vasync", 1)]
    print("targets: vCPU per va-ping %.2f x guest-ping's (<= 0.5); "
          "va-ping - QMP floor = %.2f x guest-ping (<= 0.5), %.2f x raw "
          "echo (<= 2); 4 in flight %.2f x 1 async, %.2f x over 4 QMP "
          "connections (>= 3)"
          % (vcpu_x, net_qga, net_raw, fly4, fly4_conn))
    print("bench-vm: vcpu_x_qga=%.2f net_x_qga=%.2f net_x_raw=%.2f "
          "inflight4_x=%.2f inflight4_conn_x=%.2f"
          % (vcpu_x, net_qga, net_raw, fly4, fly4_conn))
    for line in file_report:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
