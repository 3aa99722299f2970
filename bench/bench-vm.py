#!/usr/bin/env python3
# virtagent - va-getfile throughput against the raw channel, in a TCG VM
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: bench-vm.py [--qemu BINARY] [--mib N] [--runs N]
#
# Boots the test guest with two virtserialports on one virtio-serial
# device: the virtagent chardev, and a plain socket chardev
# (org.qemu.raw) whose host end this script reads.  The guest fills
# /tmp/bench with N MiB from /dev/urandom, then, in the same boot:
#
#   raw         cat /tmp/bench > /dev/virtio-ports/org.qemu.raw, read on
#               the host: the most the port itself carries
#   sequential  QMP va-getfile, 1 MiB per call, one call at a time
#   pipelined   QMP va-call va.getfile async, 8 calls in flight (the
#               chardev's default window)
#
# Each is checked against the guest's sha256sum, and the best of --runs
# is printed in MB/s (10^6 bytes of file per second) side by side.
# va-getfile carries base64 inside XML-RPC, 4/3 of the file's bytes on the
# wire, and every chunk crosses QMP as JSON: the ratio to raw is the
# price of all that.  To show where that price is paid, the best run's
# CPU seconds are printed beside it: QEMU's vCPU thread (the guest, so
# qemu-va included), QEMU's main thread (the chardev, XML-RPC parsing,
# QMP) and this script (JSON and base64 decoding).  Figures are printed,
# never asserted.

import argparse
import base64
import hashlib
import os
import socket
import sys
import time

SRCDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRCDIR, "scripts", "vm"))
from vm import VM, DEFAULT_QEMU  # noqa: E402

MIB = 1 << 20
T = 300
WINDOW = 8


def guest(vm, cmd):
    status, out = vm.console.run(cmd, T)
    if status:
        raise RuntimeError("guest: %r exited %d: %s" % (cmd, status, out))
    return out


def thread_cpu(pid):
    """CPU seconds of QEMU's threads by name (-name debug-threads=on
    names the vCPU "CPU 0/TCG"; the main thread keeps the process's)."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
            st = f.read()
        name = st[st.index("(") + 1:st.rindex(")")]
        fields = st[st.rindex(")") + 2:].split()
        # utime and stime, fields 14 and 15 of stat(5).
        cpu[name] = cpu.get(name, 0) + (int(fields[11]) +
                                        int(fields[12])) / tick
    return cpu


def measure(vm, fn):
    """Run fn(); its wall time, its hash, and the CPU seconds spent."""
    before, me = thread_cpu(vm.proc.pid), time.process_time()
    dt, digest = fn()
    after, me = thread_cpu(vm.proc.pid), time.process_time() - me
    vcpu = sum(v - before.get(k, 0) for k, v in after.items()
               if "/TCG" in k)
    main = after["qemu-system-x86"] - before["qemu-system-x86"]
    return dt, digest, (vcpu, main, me)


def raw(vm, raw_sock, size):
    """Time the guest's cat into the plain port, up to the last byte."""
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


def sequential(vm, size):
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


def pipelined(vm, size):
    """WINDOW async calls in flight; chunks are hashed in file order."""
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", default=os.environ.get("VA_QEMU", DEFAULT_QEMU))
    ap.add_argument("--mib", type=int, default=64, help="file size (MiB)")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    size = a.mib * MIB

    vm = VM(qemu=a.qemu)
    raw_path = os.path.join(vm.rundir, "raw.sock")
    vm.extra_args += ["-name", "debug-threads=on", "-chardev", "socket,id=raw,path=%s,server=on,wait=off"
                      % raw_path,
                      "-device", "virtserialport,bus=vser0.0,chardev=raw,"
                      "name=org.qemu.raw,id=rawport0"]
    with vm:
        vm.wait_ready(T)
        vm.qmp.event("VA_AGENT_CONNECTED", T)
        # Connected before the guest writes: a socket chardev without a
        # client drops what the port sends.
        raw_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw_sock.connect(raw_path)
        guest(vm, "dd if=/dev/urandom of=/tmp/bench bs=1M count=%d "
              "2>/dev/null" % a.mib)
        want = guest(vm, "sha256sum /tmp/bench").split()[0]
        best = {}
        for run in range(a.runs):
            for name, fn in (("raw", lambda: raw(vm, raw_sock, size)),
                             ("sequential", lambda: sequential(vm, size)),
                             ("pipelined", lambda: pipelined(vm, size))):
                dt, got, cpu = measure(vm, fn)
                if got != want:
                    print("bench-vm: %s: sha256 mismatch" % name)
                    return 1
                if name not in best or dt < best[name][0]:
                    best[name] = (dt, cpu)
        raw_sock.close()
        vm.qmp.execute("va-shutdown", {"mode": "powerdown"}, T)
        vm.wait_exit(T)

    mbs = {k: size / v[0] / 1e6 for k, v in best.items()}
    print("bench-vm: %d MiB file, best of %d runs, TCG" % (a.mib, a.runs))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
