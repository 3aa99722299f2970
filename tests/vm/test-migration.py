#!/usr/bin/env python3
# virtagent - live migration of the test guest between two QEMUs
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: test-migration.py [--qemu BINARY] [-v]
#
# libvirt refuses a migration to the same host, so this runs the QEMUs
# itself (scripts/vm/vm.py, TCG): the test guest boots in A; it migrates
# live to B (-incoming unix:...) while the host calls the guest (async
# va-call va.getfile, each for its own slice of a known file, so that an
# answer meant for another call shows; and HMP va_ping, which waits) and
# guest programs call the host (va-call va.ping and va.capabilities, and
# va.notify); a migration from B to C is cancelled midway; then B
# migrates to a fresh D, qemu-va stopped across the switch so that host
# calls are surely in flight then and its answers to them reach D. Calls
# in flight across a switch must succeed with the right answer or end
# with "VM migrated" (host) or the guest's own timeout (guest): never
# hang, never a wrong answer; a cancelled migration must change nothing.
# On each destination the agent must be connected again with its session
# unchanged (qemu-va did not restart), and va-ping and a guest
# notification must work.
#
# Prints the time from migration completion to the first answered va-ping
# on the destination (printed, not asserted). Ends with "N passed, N
# failed"; exits non-zero on any failure.

import argparse
import base64
import os
import sys
import threading
import time
import traceback

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRCDIR, "scripts", "vm"))
from vm import (VM, QMPError, DEFAULT_QEMU, TestFailure,  # noqa: E402
                check)

# Generous: a loaded host can slow TCG several times over.
T = 120
MEMORY = 256
MIGRATED = "VM migrated"
# The guest's calls give up after this (a call cut by the switch is lost).
GUEST_TIMEOUT = 10
SEQ_PATH = "/tmp/seq"
SEQ = "".join("%d\n" % i for i in range(20000)).encode()
SLICE = 16


def guest(vm, cmd, timeout=T):
    status, out = vm.console.run(cmd, timeout)
    check(status == 0, "guest: %r exited %d: %s" % (cmd, status, out))
    return out


class Watch:
    """The events of one VM, kept while a test polls them by name."""

    def __init__(self, vm):
        self.vm = vm
        self.seen = []

    def poll(self):
        self.seen += self.vm.qmp.events()

    def take(self, name, match=None):
        """Every event @name seen so far (that @match accepts)."""
        self.poll()
        got = [e for e in self.seen
               if e["event"] == name and (match is None or match(e))]
        self.seen = [e for e in self.seen if e not in got]
        return got

    def wait(self, name, match=None, timeout=T):
        deadline = time.monotonic() + timeout
        while True:
            got = self.take(name, match)
            if got:
                self.seen = got[1:] + self.seen
                return got[0]
            left = deadline - time.monotonic()
            check(left > 0, "no %s event" % name)
            try:
                self.seen.append(self.vm.qmp.event(None, left))
            except TimeoutError:
                pass


class HostCalls:
    """Async va.getfile calls on one VM, each for its own slice of
    SEQ_PATH."""

    def __init__(self, vm, watch):
        self.vm, self.watch = vm, watch
        self.pending = {}
        self.ok = self.migrated = self.n = 0
        self.errors = []

    def issue(self):
        off = (self.n * 7919) % (len(SEQ) - SLICE)
        self.n += 1
        try:
            cid = self.vm.qmp.execute("va-call", {
                "method": "va.getfile", "async": True,
                "params": [SEQ_PATH, {"i8": off}, SLICE]})["id"]
        except QMPError as e:
            # Refused at once on a source that completed.
            self._outcome(None, e.desc)
            return
        self.pending[cid] = off

    def _outcome(self, data, error):
        if error is None:
            self.ok += 1
        elif MIGRATED in error:
            self.migrated += 1
        else:
            self.errors.append(error)

    def collect(self):
        for e in self.watch.take("VA_CALL_DONE",
                                 lambda e: e["data"]["id"] in self.pending):
            d = e["data"]
            off = self.pending.pop(d["id"])
            if "result" in d:
                data = base64.b64decode(d["result"]["data"]["base64"])
                want = SEQ[off:off + SLICE]
                check(data == want, "call %d at %d: %r, want %r (an answer "
                      "meant for another call?)" % (d["id"], off, data, want))
                self._outcome(data, None)
            else:
                self._outcome(None, d["error"])

    def finish(self, timeout=T):
        """Every call must end: none may hang."""
        deadline = time.monotonic() + timeout
        while self.pending:
            check(time.monotonic() < deadline, "%d host calls never ended"
                  % len(self.pending))
            self.collect()
            time.sleep(0.02)

    def summary(self):
        return "%d ok, %d VM migrated, %d other" % (
            self.ok, self.migrated, len(self.errors))


class HmpCalls(threading.Thread):
    """HMP va_ping in a loop: a synchronous call across the switch."""

    def __init__(self, vm):
        super().__init__(daemon=True)
        self.vm = vm
        self.stop = threading.Event()
        self.outputs = []
        self.exc = None

    def run(self):
        try:
            while not self.stop.is_set():
                self.outputs.append(self.vm.hmp.cmd("va_ping -t 30", T))
        except Exception as e:
            self.exc = e

    def finish(self):
        self.stop.set()
        self.join(T)
        check(not self.is_alive(), "HMP va_ping never returned")
        check(self.exc is None, "HMP: %r" % self.exc)
        ok = migrated = 0
        for out in self.outputs:
            if out == "guest agent answered\n":
                ok += 1
            else:
                check(out.startswith("Error: ") and MIGRATED in out,
                      "HMP va_ping: %r" % out)
                migrated += 1
        return "%d ok, %d VM migrated" % (ok, migrated)


GUEST_LOOPS = (
    "rm -f /tmp/stop /tmp/gcalls /tmp/gnotes; "
    "(i=0; while [ ! -e /tmp/stop ]; do i=$((i+1)); "
    "if [ $((i%%2)) = 0 ]; then m=va.ping; else m=va.capabilities; fi; "
    "out=$(va-call -t %d $m 2>&1); rc=$?; "
    "echo \"$m $rc $(echo $out | head -c 200)\" >> /tmp/gcalls; "
    "usleep 20000; done) </dev/null >/dev/null 2>&1 & "
    "(i=0; while [ ! -e /tmp/stop ]; do i=$((i+1)); "
    "out=$(va-call -t %d va.notify mig i:$i 2>&1); rc=$?; "
    "echo \"$i $rc $out\" >> /tmp/gnotes; sleep 1; "
    "done) </dev/null >/dev/null 2>&1 &"
    % (GUEST_TIMEOUT, GUEST_TIMEOUT))


def stop_guest_loops(vm, watches, may_fail):
    """Stop the guest's loops; check every answer they got. Returns a
    summary."""
    # The shell's job notices go to this command's output, not the files.
    guest(vm, "touch /tmp/stop; wait", T)
    calls = guest(vm, "cat /tmp/gcalls")
    notes = guest(vm, "cat /tmp/gnotes")
    ok = failed = 0
    why = set()
    for line in calls.splitlines():
        method, rc, text = (line.split(" ", 2) + [""])[:3]
        if rc != "0":
            check(may_fail, "guest %s failed: %s" % (method, text))
            failed += 1
            why.add(text[:60])
        elif method == "va.ping":
            check(text == "pong", "guest va.ping answered %r" % text)
            ok += 1
        else:
            check("va.hello" in text and "pong" not in text,
                  "guest va.capabilities answered %r" % text)
            ok += 1
    check(ok, "no guest call succeeded")
    events = []
    for w in watches:
        events += [e["data"]["data"] for e in w.take(
            "VA_GUEST_NOTIFY", lambda e: e["data"]["name"] == "mig")]
    check(len(events) == len(set(events)), "a notification came twice: %r"
          % sorted(events))
    nok = nfail = 0
    for line in notes.splitlines():
        i, rc, text = (line.split(" ", 2) + [""])[:3]
        if rc == "0":
            check(text == "true", "guest va.notify answered %r" % text)
            check(int(i) in events, "notification %s answered, no event" % i)
            nok += 1
        else:
            check(may_fail, "guest va.notify %s failed: %s" % (i, text))
            nfail += 1
            why.add(text[:60])
    return ("guest calls %d ok, %d failed; notifications %d ok, %d failed%s"
            % (ok, failed, nok, nfail,
               " (%s)" % "; ".join(sorted(why)) if why else ""))


class Ctx:
    def __init__(self, qemu):
        self.qemu = qemu
        self.vms = []
        self.vm = self.watch = None
        self.session = None
        self.notes = []

    def new_vm(self, incoming=False):
        vm = VM(qemu=self.qemu, memory=MEMORY)
        if incoming:
            vm.incoming = os.path.join(vm.rundir, "in.sock")
            vm.extra_args += ["-incoming", "unix:" + vm.incoming]
        self.vms.append(vm)
        return vm.launch()

    def close(self, vm):
        vm.close()
        self.vms.remove(vm)


def migration_status(vm, want, calls=None, timeout=T):
    """Poll query-migrate until one of @want, issuing a host call each
    round when @calls is given; any other end fails."""
    deadline = time.monotonic() + timeout
    while True:
        if calls:
            calls.issue()
            calls.collect()
        st = vm.qmp.execute("query-migrate")
        if st.get("status") in want:
            return st
        check(st.get("status") not in ("completed", "failed", "cancelled"),
              "migration %s, expected %s" % (st.get("status"), want))
        check(time.monotonic() < deadline, "migration still %s"
              % st.get("status"))
        time.sleep(0.03)


def first_ping(vm, since):
    """Seconds from @since to the first answered va-ping on @vm."""
    deadline = time.monotonic() + T
    while True:
        try:
            vm.qmp.execute("va-ping", {"timeout": 5}, T)
            return time.monotonic() - since
        except QMPError as e:
            check(time.monotonic() < deadline, "no va-ping answered: %s"
                  % e.desc)
            time.sleep(0.02)


AGENT_PID = "$(cat /run/qemu-va.pid)"


def migrate_live(ctx, dst_vm, pause_agent=False):
    """Migrate ctx.vm to @dst_vm with calls running both ways; check what
    happened to them and that the destination works; @dst_vm becomes
    ctx.vm. With @pause_agent, qemu-va is stopped across the switch, so
    that host calls are surely in flight then, and its answers to them
    reach the destination."""
    src, watch = ctx.vm, ctx.watch
    dst_watch = Watch(dst_vm)
    guest(src, GUEST_LOOPS)
    calls = HostCalls(src, watch)
    hmp = HmpCalls(src)
    hmp.start()
    start = time.monotonic()
    while time.monotonic() - start < 2:
        calls.issue()
        calls.collect()
        time.sleep(0.03)
    if pause_agent:
        calls.finish()
        guest(src, "kill -STOP " + AGENT_PID)
        for _ in range(4):
            calls.issue()
        stuck = set(calls.pending)
    src.qmp.execute("migrate", {"uri": "unix:" + dst_vm.incoming})
    st = migration_status(src, ("completed",),
                          None if pause_agent else calls)
    done_at = time.monotonic()
    hmp_summary = hmp.finish()
    if pause_agent:
        ended = calls.migrated
        calls.finish()
        check(not stuck & set(calls.pending) and
              calls.migrated - ended >= len(stuck),
              "calls in flight at the switch: %s" % calls.summary())
        # The agent's answers to those carry the source's session: the
        # destination must drop them, and answer its own calls rightly.
        dst_calls = HostCalls(dst_vm, dst_watch)
        for _ in range(4):
            dst_calls.issue()
        guest(dst_vm, "kill -CONT " + AGENT_PID)
        dst_calls.finish()
        check(dst_calls.ok == 4, "destination calls: %s %r"
              % (dst_calls.summary(), dst_calls.errors[:3]))
    calls.finish()
    check(not calls.errors, "host calls failed: %r" % calls.errors[:3])
    # The source runs no more: a new call is refused at once.
    try:
        src.qmp.execute("va-ping", {"timeout": 30})
        raise TestFailure("va-ping answered on the source after migrating")
    except QMPError as e:
        check(MIGRATED in e.desc, "va-ping on the source: %s" % e.desc)
    ping_s = first_ping(dst_vm, done_at)
    ev = dst_watch.wait("VA_AGENT_CONNECTED")["data"]
    connected_s = time.monotonic() - done_at
    check(ev["session"] == ctx.session, "agent session %s, was %s"
          % (ev["session"], ctx.session))
    guest_summary = stop_guest_loops(dst_vm, (watch, dst_watch), True)
    t = time.monotonic()
    check(guest(dst_vm, "va-call va.notify arrived s:%d" % os.getpid()) ==
          "true\n", "va.notify on the destination")
    dst_watch.wait("VA_GUEST_NOTIFY",
                   lambda e: e["data"]["name"] == "arrived")
    notify_s = time.monotonic() - t
    ctx.notes.append(
        "%d ms downtime, %.0f MB; completion -> first va-ping answered on "
        "the destination %.2f s (agent connected after %.2f s%s); a guest "
        "notification %.2f s; host async calls %s; HMP %s; %s"
        % (st.get("downtime", 0), st["ram"]["transferred"] / 1e6, ping_s,
           connected_s, ", agent paused across the switch" if pause_agent
           else "", notify_s, calls.summary(), hmp_summary, guest_summary))
    ctx.vm, ctx.watch = dst_vm, dst_watch


def test_boot(ctx):
    ctx.vm = ctx.new_vm()
    ctx.watch = Watch(ctx.vm)
    check(ctx.vm.wait_ready(T) == "qemu-va started", "guest not ready")
    ctx.session = ctx.watch.wait("VA_AGENT_CONNECTED")["data"]["session"]
    guest(ctx.vm, "seq 0 19999 > %s" % SEQ_PATH)
    check(guest(ctx.vm, "wc -c < %s" % SEQ_PATH).strip() == str(len(SEQ)),
          "the guest's %s differs from the test's" % SEQ_PATH)


def test_live_migration(ctx):
    src = ctx.vm
    migrate_live(ctx, ctx.new_vm(incoming=True))
    check(src.qmp.execute("query-status")["status"] == "postmigrate",
          "source status")
    ctx.close(src)


def test_cancelled_migration(ctx):
    vm, watch = ctx.vm, ctx.watch
    dst = ctx.new_vm(incoming=True)
    guest(vm, GUEST_LOOPS)
    calls = HostCalls(vm, watch)
    # 1 MiB/s: slow enough to cancel midway.
    vm.qmp.execute("migrate-set-parameters", {"max-bandwidth": 1 << 20})
    vm.qmp.execute("migrate", {"uri": "unix:" + dst.incoming})
    migration_status(vm, ("active",), calls)
    start = time.monotonic()
    while time.monotonic() - start < 3:
        calls.issue()
        calls.collect()
        time.sleep(0.03)
    st = vm.qmp.execute("query-migrate")
    check(st.get("status") == "active", "migration %s before the cancel"
          % st.get("status"))
    vm.qmp.execute("migrate_cancel")
    migration_status(vm, ("cancelled",), calls)
    for _ in range(20):
        calls.issue()
        calls.collect()
        time.sleep(0.03)
    calls.finish()
    check(not calls.migrated and not calls.errors, "host calls failed: %s %r"
          % (calls.summary(), calls.errors[:3]))
    vm.qmp.execute("migrate-set-parameters",
                   {"max-bandwidth": 128 << 20})
    check(vm.qmp.execute("query-status")["status"] == "running", "status")
    info = vm.qmp.execute("query-virtagent")[0]
    check(info["connected"] and info["session"] == ctx.session,
          "query-virtagent: %r" % info)
    check(not watch.take("VA_AGENT_DISCONNECTED"), "agent disconnected")
    check(vm.qmp.execute("va-ping") == {}, "va-ping after the cancel")
    guest_summary = stop_guest_loops(vm, (watch,), False)
    ctx.notes.append("cancelled after %.1f MB; host async calls %s; %s"
                     % (st["ram"]["transferred"] / 1e6, calls.summary(),
                        guest_summary))
    ctx.close(dst)


def test_second_migration(ctx):
    src = ctx.vm
    migrate_live(ctx, ctx.new_vm(incoming=True), pause_agent=True)
    ctx.close(src)
    check(ctx.vm.qmp.execute("va-info")["session"] == ctx.session,
          "va-info session")


TESTS = (test_boot, test_live_migration, test_cancelled_migration,
         test_second_migration)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", default=os.environ.get("VA_QEMU", DEFAULT_QEMU))
    ap.add_argument("-v", action="store_true",
                    help="print the consoles of a failed test in full")
    a = ap.parse_args()
    passed = failed = 0
    ctx = Ctx(a.qemu)
    start = time.monotonic()
    try:
        for fn in TESTS:
            name = fn.__name__[5:]
            if failed:
                # Each step starts from the VM the last one left.
                failed += 1
                print("not ok - %s: skipped after a failure" % name)
                continue
            t = time.monotonic()
            ctx.notes = []
            try:
                fn(ctx)
                passed += 1
                print("ok - %s (%.1fs)" % (name, time.monotonic() - t))
                for n in ctx.notes:
                    print("  " + n)
            except Exception as e:
                failed += 1
                print("not ok - %s: %s: %s" % (name, type(e).__name__, e))
                if not isinstance(e, TestFailure):
                    traceback.print_exc(file=sys.stdout)
                for vm in ctx.vms:
                    con = vm.console.text
                    print("  console of %s:\n    %s" % (
                        vm.rundir, (con if a.v else con[-1500:])
                        .replace("\n", "\n    ")))
                    err = vm.stderr()
                    if err:
                        print("  QEMU stderr: " + err)
            sys.stdout.flush()
    finally:
        for vm in list(ctx.vms):
            ctx.close(vm)
    print("check-migration: %.0f s" % (time.monotonic() - start))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
