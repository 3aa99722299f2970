#!/usr/bin/env python3
# virtagent - our agent beside Debian's qemu-ga and a raw port, in one VM
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: bench-vm.py [--qemu BINARY] [--initrd IMAGE] [--smp N]
#                    [--calls N] [--rounds N] [--getfile MIB]
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
# Then calls per second with 1, 4 and 16 in flight: the raw echo, QMP
# query-status pipelined on one connection (QMP's own rate), async
# va-ping (VA_CALL_DONE events; the chardev's window is 8, further calls
# wait in the host's queue), sync va-ping from as many QMP connections
# (QMP's dispatcher runs one command at a time, so this shows that
# limit), and guest-ping pipelined on qemu-ga's socket (qemu-ga runs
# one command at a time).  The last line compares with the targets of
# docs/benchmarks.md.  Figures are printed, never asserted.
#
# --getfile MIB adds the older throughput comparison: a file of MIB MiB
# through the raw port, by va-getfile and by async va.getfile.
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


def latency(vm, echo, qga, calls, rounds):
    """Interleaved rounds; per kind the wall times and CPU seconds."""
    walls = {k: [] for k, _, _ in KINDS}
    cpu = {k: dict.fromkeys(STAT_KEYS, 0.0) for k, _, _ in KINDS}
    for _ in range(rounds):
        for kind, _, fn in KINDS:
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
# the host's vCPU thread time for the same calls.
SPLIT_KEYS = ("agent_user", "agent_sys", "user", "sys", "irq", "idle",
              "host_vcpu")


def guest_ticks(vm, pid):
    out = guest(vm, "head -n 1 /proc/stat; cat /proc/%d/stat" % pid)
    cpu_line, pid_line = out.strip().split("\n")[-2:]
    c = [int(x) for x in cpu_line.split()[1:]]
    p = pid_line[pid_line.rindex(")") + 2:].split()
    return {"agent_user": int(p[11]), "agent_sys": int(p[12]),
            "user": c[0] + c[1], "sys": c[2], "idle": c[3] + c[4],
            "irq": c[5] + c[6]}


def guest_split(vm, echo, qga, pids, calls):
    """Per kind, guest seconds per call (USER_HZ taken as 100)."""
    split = {}
    for kind, fn in (("raw", call_raw), ("va", call_va), ("qga", call_qga)):
        before = guest_ticks(vm, pids[kind])
        host = thread_cpu(vm.proc.pid)["vcpu"]
        for _ in range(calls):
            fn(vm, echo, qga)
        host = thread_cpu(vm.proc.pid)["vcpu"] - host
        after = guest_ticks(vm, pids[kind])
        split[kind] = {k: (after[k] - before[k]) / 100 / calls
                       for k in before}
        split[kind]["host_vcpu"] = host / calls
    return split


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


def rates(vm, echo, qga, qmp_paths, calls, rounds):
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
                n = max(calls, 25 * d)
                t = time.perf_counter()
                fn(vm, echo, qga, d, n)
                per_s[(kind, d)].append(n / (time.perf_counter() - t))
    return kinds, {k: statistics.median(v) for k, v in per_s.items()}


# -- the older throughput comparison (--getfile) ------------------------

def getfile_measure(vm, fn):
    before, me = thread_cpu(vm.proc.pid), time.process_time()
    dt, digest = fn()
    after, me = thread_cpu(vm.proc.pid), time.process_time() - me
    return dt, digest, (after["vcpu"] - before["vcpu"],
                        after["main"] - before["main"], me)


def getfile_raw(vm, raw_sock, size):
    h = hashlib.sha256()
    got = 0
    t = time.monotonic()
    vm.console.send("cat /tmp/bench > /dev/virtio-ports/org.qemu.raw\n")
    while got < size:
        data = raw_sock.recv(1 << 20)
        if not data:
            raise RuntimeError("raw port closed after %d bytes" % got)
        h.update(data)
        got += len(data)
    return time.monotonic() - t, h.hexdigest()


def getfile_sequential(vm, size):
    h = hashlib.sha256()
    off = 0
    t = time.monotonic()
    while off < size:
        r = vm.qmp.execute("va-getfile", {"path": "/tmp/bench",
                                          "offset": off, "length": MIB}, T)
        data = base64.b64decode(r["data"])
        h.update(data)
        off += len(data)
    return time.monotonic() - t, h.hexdigest()


def getfile_pipelined(vm, size):
    chunks = {}
    pending = {}
    nchunks = (size + MIB - 1) // MIB
    h = hashlib.sha256()
    nxt = done = 0
    t = time.monotonic()

    def issue(i):
        cid = vm.qmp.execute("va-call", {
            "method": "va.getfile", "async": True,
            "params": ["/tmp/bench", {"i8": i * MIB}, MIB]}, T)["id"]
        pending[cid] = i

    while nxt < min(WINDOW, nchunks):
        issue(nxt)
        nxt += 1
    while done < nchunks:
        ev = vm.qmp.event("VA_CALL_DONE", T,
                          lambda e: e["data"]["id"] in pending)["data"]
        if "error" in ev:
            raise RuntimeError("va.getfile: %s" % ev["error"])
        chunks[pending.pop(ev["id"])] = base64.b64decode(
            ev["result"]["data"]["base64"])
        if nxt < nchunks:
            issue(nxt)
            nxt += 1
        while done in chunks:
            h.update(chunks.pop(done))
            done += 1
    return time.monotonic() - t, h.hexdigest()


def getfile(vm, echo_path, mib, runs):
    """The raw port's cat, va-getfile and async va.getfile on one file."""
    size = mib * MIB
    guest(vm, "kill %1; wait")              # the echo owns the raw port
    raw_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw_sock.connect(echo_path)
    guest(vm, "dd if=/dev/urandom of=/tmp/bench bs=1M count=%d "
          "2>/dev/null" % mib)
    want = guest(vm, "sha256sum /tmp/bench").split()[0]
    best = {}
    for _ in range(runs):
        for name, fn in (("raw", lambda: getfile_raw(vm, raw_sock, size)),
                         ("sequential", lambda: getfile_sequential(vm, size)),
                         ("pipelined", lambda: getfile_pipelined(vm, size))):
            dt, got, cpu = getfile_measure(vm, fn)
            if got != want:
                raise RuntimeError("%s: sha256 mismatch" % name)
            if name not in best or dt < best[name][0]:
                best[name] = (dt, cpu)
    raw_sock.close()
    mbs = {k: size / v[0] / 1e6 for k, v in best.items()}
    print("\n%d MiB file, best of %d runs" % (mib, runs))
    print("%-34s %7s %7s %7s %7s %7s %7s" % ("", "MB/s", "vs raw", "wall s",
                                             "vCPU s", "main s", "QMP s"))
    for name, what in (("raw", "raw port (cat > virtserialport)"),
                       ("sequential", "va-getfile, 1 MiB, 1 at a time"),
                       ("pipelined", "va-call va.getfile, %d in flight"
                        % WINDOW)):
        dt, (vcpu, main, me) = best[name]
        print("%-34s %7.1f %6.0f%% %7.2f %7.2f %7.2f %7.2f"
              % (what, mbs[name], 100 * mbs[name] / mbs["raw"], dt, vcpu,
                 main, me))


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
    ap.add_argument("--getfile", type=int, metavar="MIB", default=0,
                    help="also move a file of MIB MiB (0: no)")
    a = ap.parse_args()

    accel = "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "tcg"
    vm = VM(qemu=a.qemu, initrd=a.initrd, accel=accel)
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
            vm, "cat 0<>/dev/virtio-ports/org.qemu.raw 1>&0 & echo $!"
        ).split()[-1])}
        guest(vm, "qemu-ga -d -m virtio-serial -p /dev/virtio-ports/%s"
              % QGA_PORT)
        for kind, name in (("va", "qemu-va"), ("qga", "qemu-ga")):
            pids[kind] = int(guest(vm, "pidof %s" % name).split()[0])
        qga.sock.sendall(b'{"execute":"guest-sync","arguments":{"id":7}}\n')
        if json.loads(qga.line()) != {"return": 7}:
            raise RuntimeError("qemu-ga did not sync")
        kver = guest(vm, "uname -r").strip()

        walls, cpu = latency(vm, echo, qga, a.calls, a.rounds)
        split = guest_split(vm, echo, qga, pids, a.split_calls)
        kinds, per_s = rates(vm, echo, qga, qmp_paths, a.calls, a.rounds)
        # The raw port's chardev takes one client at a time.  qemu-ga's
        # stays connected: a host hanging up makes it spin on the port.
        echo.close()
        if a.getfile:
            getfile(vm, echo_path, a.getfile, a.rounds)
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
          "irq+softirq and idle, the host's vCPU threads" % a.split_calls)
    print("%-28s %9s %9s %9s %9s %9s %9s %9s" % (
        "", "agent usr", "agent sys", "all usr", "all sys", "irq",
        "idle", "host vCPU"))
    for kind, what in (("raw", "raw echo (cat)"), ("va", "QMP va-ping"),
                       ("qga", "qemu-ga guest-ping")):
        print("%-28s %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f" % (
            (what,) + tuple(split[kind][k] * 1e6 for k in SPLIT_KEYS)))
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
    print("targets: vCPU per va-ping %.2f x guest-ping's (<= 0.5); "
          "va-ping - QMP floor = %.2f x guest-ping (<= 0.5), %.2f x raw "
          "echo (<= 2); 4 in flight %.2f x 1 (>= 3)"
          % (vcpu_x, net_qga, net_raw, fly4))
    print("bench-vm: vcpu_x_qga=%.2f net_x_qga=%.2f net_x_raw=%.2f "
          "inflight4_x=%.2f" % (vcpu_x, net_qga, net_raw, fly4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
