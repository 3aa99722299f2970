#!/usr/bin/env python3
# virtagent - the hostile-guest suite against the real QEMU
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: test-hostile.py [--qemu BINARY] [-k SUBSTRING] [-v]
#
# Boots the test guest (scripts/vm/vm.py, TCG) without its agent
# (va.agent=0) and runs va-hostile (tests/hostile/va-hostile.c) on the
# agent port, one attack class per test, while a second QMP client sends
# query-status in a loop and samples QEMU's RSS.  Every line QEMU writes
# on either QMP connection must be strict JSON (no NaN, no Infinity).
# Then the figure of issue 8: while the guest sits on calls, how long
# does the second client wait, with a synchronous va-ping and with an
# asynchronous va-call?  Last, a real qemu-va must connect and answer.
#
# Per attack one line: the worst query-status latency and the RSS growth
# beside their targets (printed, not asserted: they are timings on a
# shared machine), what query-virtagent counted, the QMP events, what
# the guest got back.  Asserted: QEMU alive, QMP output valid JSON, the
# attack ran; at the end the agent connects and va-ping works.  One boot
# serves every attack; a QEMU that died is booted again for the next.
#
# Ends with "N passed, N failed"; exits non-zero on any failure.

import argparse
import json
import os
import re
import select
import sys
import threading
import time
import traceback

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRCDIR, "scripts", "vm"))
import vm as vmlib  # noqa: E402
from vm import (VM, QMPError, DEFAULT_QEMU, TestFailure,  # noqa: E402
                check)

# Generous: a loaded host can slow TCG several times over.
T = 120
# A QEMU that takes this long to answer query-status counts as hung.
ALIVE_TIMEOUT = 30
LATENCY_TARGET_MS = 10
RSS_TARGET_MB = 16
# The guest side of the port, and where a background va-hostile reports.
PORT = "/dev/virtio-ports/" + vmlib.PORT_NAME
BG_OUT = "/tmp/hostile.out"
BG_PID = "/tmp/hostile.pid"
SUMMARY_RE = re.compile(r"^va-hostile: (?P<name>\S+): (?P<text>.*)$", re.M)

# In the order run: numbers before the floods, whose va.notify calls use
# up the notification budget that numbers needs to be judged value by
# value.
ATTACKS = ["utf16", "utf32", "encodings", "entities", "nesting", "numbers",
           "huge-struct", "huge-array", "content-length", "endless-headers",
           "drip", "unknown-replies", "call-flood", "notify-flood",
           "hello-flood", "never-reads", "garbage", "data-frames"]
# Gauges, not counters: left out of the deltas.
GAUGES = {"in-flight", "queued"}


def _not_json(name):
    raise ValueError("%s is not JSON" % name)


class StrictQMP(vmlib.QMP):
    """A QMP client that holds QEMU to RFC 8259: every line must parse
    with NaN and the infinities refused and in valid UTF-8.  A line that
    does not is kept in bad_json and skipped, so that the suite can
    report it and go on."""

    def __init__(self, *args, **kwargs):
        self.bad_json = []
        super().__init__(*args, **kwargs)

    def _read(self, deadline, what):
        while True:
            while b"\n" not in self._buf:
                r, _, _ = select.select([self.sock], [], [],
                                        vmlib._remaining(deadline, what))
                if not r:
                    raise TimeoutError("timed out waiting for " + what)
                data = self.sock.recv(65536)
                if not data:
                    raise EOFError("QMP connection closed")
                self._buf += data
            line, self._buf = self._buf.split(b"\n", 1)
            try:
                return json.loads(line, parse_constant=_not_json)
            except ValueError as e:
                self.bad_json.append("%s: %r" % (e, line[:160]))


# VM.launch() builds its QMP client from this module attribute.
vmlib.QMP = StrictQMP


def rss_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class Prober(threading.Thread):
    """The second QMP client: query-status in a loop, timed, with QEMU's
    RSS sampled after each answer."""

    def __init__(self, path, pid):
        super().__init__(daemon=True)
        self.qmp = StrictQMP(path, T)
        self.pid = pid
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.error = None
        self.last_start = 0
        self._new_window()

    def _new_window(self):
        self.worst = 0
        self.samples = 0
        self.slow = 0
        self.rss_start = rss_mb(self.pid) or 0
        self.rss_peak = self.rss_start

    def run(self):
        while not self.done.is_set():
            t = time.monotonic()
            with self.lock:
                self.last_start = t
            try:
                self.qmp.execute("query-status", timeout=T)
                # Events reach this client too; they are checked as JSON
                # and dropped.
                self.qmp.events()
            except Exception as e:  # QEMU died or hung: stop measuring
                self.error = e
                break
            dt = time.monotonic() - t
            rss = rss_mb(self.pid)
            with self.lock:
                self.worst = max(self.worst, dt)
                self.samples += 1
                self.slow += dt * 1000 >= LATENCY_TARGET_MS
                if rss is not None:
                    self.rss_peak = max(self.rss_peak, rss)
            self.done.wait(0.01)

    def window(self):
        """End the current window and start the next; return the worst
        latency (ms), the samples, those over the latency target, RSS at
        the start and its peak (MB).
        Waits for a query sent after this call to finish, so that a
        query held up during the window is counted in it."""
        mark = time.monotonic()
        deadline = mark + T
        while self.error is None and time.monotonic() < deadline:
            with self.lock:
                if self.last_start > mark and self.samples:
                    break
            time.sleep(0.005)
        with self.lock:
            r = (self.worst * 1000, self.samples, self.slow, self.rss_start,
                 self.rss_peak)
            self._new_window()
        return r

    def stop(self):
        self.done.set()
        self.join(T)
        self.qmp.close()


class Ctx:
    """The VM and the prober (main() boots them again after QEMU died)."""

    def __init__(self, qemu):
        self.qemu = qemu
        self.vm = None
        self.prober = None

    def start(self):
        vm = VM(qemu=self.qemu, append="va.agent=0")
        qmp2 = os.path.join(vm.rundir, "qmp2.sock")
        vm.extra_args += vm._socket_mon(qmp2, "control", "qmp2")
        self.vm = vm
        vm.launch()
        state = vm.wait_ready(T)
        check("not started" in state, "guest ready line: %s" % state)
        self.prober = Prober(qmp2, vm.proc.pid)
        self.prober.start()
        self.prober.window()

    def collect_bad_json(self):
        """Lines that were not JSON, on either connection, since the last
        call."""
        bad = []
        for q in (self.vm.qmp, self.prober.qmp):
            bad += q.bad_json
            q.bad_json.clear()
        return bad

    def stop(self):
        if self.prober:
            self.prober.stop()
            self.prober = None
        if self.vm:
            self.vm.close()
            self.vm = None


def guest(vm, cmd, timeout=T):
    status, out = vm.console.run(cmd, timeout)
    check(status == 0, "guest: %r exited %d: %s" % (cmd, status, out))
    return out


def counters(vm):
    i = vm.qmp.execute("query-virtagent", timeout=T)[0]
    return {k: v for k, v in i.items()
            if isinstance(v, int) and not isinstance(v, bool)}


def wait_port(vm, is_open):
    deadline = time.monotonic() + T
    while vm.qmp.execute("query-virtagent", timeout=T)[0]["open"] != is_open:
        check(time.monotonic() < deadline,
              "port never became %s" % ("open" if is_open else "closed"))
        time.sleep(0.05)


def start_bg(vm, args):
    """Start va-hostile in the background in the guest, once it holds the
    port."""
    guest(vm, "va-hostile %s > %s 2>&1 & echo $! > %s"
          % (args, BG_OUT, BG_PID))
    wait_port(vm, True)


def finish_bg(vm, kill=False):
    """Wait for (or end) the background va-hostile; its output."""
    if kill:
        guest(vm, "kill $(cat %s)" % BG_PID)
    return guest(vm, "wait $(cat %s); s=$?; cat %s; [ $s = 0 ]"
                 % (BG_PID, BG_OUT), T * 2)


def summary(out, name):
    m = [m for m in SUMMARY_RE.finditer(out) if m.group("name") == name]
    check(m, "va-hostile %s printed no summary: %s" % (name, out[-500:]))
    return m[-1].group("text")


def alive(vm):
    if vm.proc.poll() is not None:
        return False
    try:
        vm.qmp.execute("query-status", timeout=ALIVE_TIMEOUT)
        return True
    except (OSError, EOFError, TimeoutError, vmlib.VMError):
        return False


def describe_death(vm):
    rc = vm.proc.poll()
    if rc is None:
        return "QEMU unresponsive"
    how = ("killed by signal %d" % -rc) if rc < 0 else "exit status %d" % rc
    return "QEMU DIED (%s)" % how


def target(value, limit):
    return "%s <%g" % ("met" if value < limit else "MISSED", limit)


def event_counts(events):
    n = {}
    for e in events:
        n[e["event"]] = n.get(e["event"], 0) + 1
    return ", ".join("%s %d" % (k, v) for k, v in sorted(n.items())) or "-"


def deltas(before, after):
    d = ["%s +%d" % (k, after[k] - before.get(k, 0))
         for k in sorted(after)
         if k not in GAUGES and after[k] != before.get(k, 0)]
    return " ".join(d) or "nothing"


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = []
        self.missed = []

    def report(self, name, ok, line, detail=None):
        print("%s - %s: %s" % ("ok" if ok else "not ok", name, line))
        if detail:
            print("  " + detail.replace("\n", "\n  "))
        sys.stdout.flush()
        if ok:
            self.passed += 1
        else:
            self.failed.append(name)


def never_reads_host_side(vm):
    """The host calls the guest that does not read: async, so that the
    monitor stays free; every call must still complete exactly once."""
    ids = [vm.qmp.execute("va-call", {"method": "va.ping", "async": True,
                                      "timeout": 5}, T)["id"]
           for _ in range(20)]
    return ids


def run_attack(ctx, name, results, verbose):
    vm, prober = ctx.vm, ctx.prober
    vm.qmp.events()
    ctx.collect_bad_json()
    before = counters(vm)
    prober.window()
    t = time.monotonic()
    problems = []
    guest_text = "?"
    try:
        if name == "never-reads":
            start_bg(vm, name)
            ids = never_reads_host_side(vm)
            out = finish_bg(vm)
            done = {}
            for cid in ids:
                ev = vm.qmp.event("VA_CALL_DONE", T,
                                  lambda e: e["data"]["id"] == cid)
                done[cid] = ev["data"]
                check("result" in ev["data"] or "error" in ev["data"],
                      "VA_CALL_DONE without an outcome: %r" % ev["data"])
            # A second VA_CALL_DONE for one call would be a bug.
            extra = [e for e in vm.qmp.events()
                     if e["event"] == "VA_CALL_DONE" and
                     e["data"]["id"] in done]
            check(not extra, "calls completed twice: %r" % extra)
        else:
            status, out = vm.console.run("va-hostile %s" % name, T * 2)
            check(status == 0, "va-hostile %s exited %d: %s"
                  % (name, status, out[-500:]))
        guest_text = summary(out, name)
    except (TestFailure, TimeoutError, EOFError, QMPError, OSError) as e:
        problems.append("%s: %s" % (type(e).__name__, e))
    dt = time.monotonic() - t
    is_alive = alive(vm)
    worst, samples, slow, rss0, rss_peak = prober.window()
    events = vm.qmp.events() if is_alive else []
    after = counters(vm) if is_alive else before
    bad = ctx.collect_bad_json()
    if not is_alive:
        problems.insert(0, describe_death(vm))
    if bad:
        problems.append("QMP output not JSON (%d lines), first: %s"
                        % (len(bad), bad[0]))
    growth = rss_peak - rss0
    if worst >= LATENCY_TARGET_MS or growth >= RSS_TARGET_MB:
        results.missed.append(name)
    line = ("qmp worst %.1f ms (%s; %d of %d over), rss +%.1f MB (%s), "
            "%.1f s; counted: %s; events: %s; guest: %s; %s"
            % (worst, target(worst, LATENCY_TARGET_MS), slow, samples, growth,
               target(growth, RSS_TARGET_MB), dt, deltas(before, after),
               event_counts(events), guest_text,
               "QEMU alive" if is_alive else problems[0]))
    detail = None
    if problems:
        detail = "\n".join(problems)
        if not is_alive or verbose:
            detail += "\nconsole tail:\n" + vm.console.text[-1500:]
            err = vm.stderr()
            if err:
                detail += "\nQEMU stderr: " + err[-1500:]
    results.report(name, not problems, line, detail)
    if not is_alive or problems:
        # Whatever state it is in, the next attack gets a fresh QEMU.
        ctx.stop()


def monitor_hold(ctx, results, verbose):
    """Issue 8's figure: a guest reads the host's calls and never answers;
    one client calls, the other measures query-status."""
    vm, prober = ctx.vm, ctx.prober
    name = "monitor-hold"
    problems = []
    figures = []
    try:
        vm.qmp.events()
        start_bg(vm, "sit")
        # Synchronous: the command waits out its timeout in QMP's
        # dispatcher.
        prober.window()
        t = time.monotonic()
        try:
            vm.qmp.execute("va-ping", {"timeout": 3}, T)
            problems.append("va-ping answered by a guest that never answers")
        except QMPError as e:
            check("timed out" in e.desc, "va-ping: %s" % e.desc)
        sync_s = time.monotonic() - t
        worst, samples = prober.window()[:2]
        figures.append("sync va-ping (timeout 3 s, returned after %.1f s): "
                       "query-status worst %.0f ms" % (sync_s, worst))
        # Asynchronous: the command returns an id at once.
        for cmd, args in (("va-call", {"method": "va.ping"}),
                          ("va-ping", {})):
            args = dict(args, timeout=3)
            args["async"] = True
            t = time.monotonic()
            try:
                cid = vm.qmp.execute(cmd, args, T)["id"]
            except QMPError as e:
                if cmd != "va-call" and "async" in e.desc:
                    figures.append("async %s: not available (%s)"
                                   % (cmd, e.desc))
                    continue
                raise
            ret_ms = (time.monotonic() - t) * 1000
            ev = vm.qmp.event("VA_CALL_DONE", T,
                              lambda e: e["data"]["id"] == cid)["data"]
            check("timed out" in ev.get("error", ""),
                  "async %s: %r" % (cmd, ev))
            worst, samples = prober.window()[:2]
            figures.append("async %s (timeout 3 s, returned after %.0f ms, "
                           "VA_CALL_DONE after the timeout): query-status "
                           "worst %.0f ms" % (cmd, ret_ms, worst))
        # HMP suspends its own monitor while its command waits; QMP
        # should not notice.
        prober.window()
        t = time.monotonic()
        vm.hmp.send("va_ping -t 3")
        out = vm.hmp.output(T)
        hmp_s = time.monotonic() - t
        check("timed out" in out, "HMP va_ping: %r" % out)
        worst, samples = prober.window()[:2]
        figures.append("HMP va_ping -t 3 (returned after %.1f s): "
                       "query-status worst %.0f ms" % (hmp_s, worst))
        out = finish_bg(vm, kill=True)
        figures.append("guest: " + summary(out, "sit"))
    except (TestFailure, TimeoutError, EOFError, QMPError, OSError) as e:
        problems.append("%s: %s" % (type(e).__name__, e))
    is_alive = alive(vm)
    if is_alive:
        vm.qmp.events()
    bad = ctx.collect_bad_json()
    if not is_alive:
        problems.insert(0, describe_death(vm))
    if bad:
        problems.append("QMP output not JSON: %s" % bad[0])
    print("figure: a second QMP client's query-status while the guest sits "
          "on calls")
    for f in figures:
        print("  " + f)
    results.report(name, not problems,
                   "QEMU alive" if is_alive else problems[0],
                   "\n".join(problems) if problems else None)
    if problems:
        ctx.stop()


def recovery(ctx, results, verbose):
    """After everything, the real agent connects and answers."""
    name = "recovery"
    problems = []
    line = ""
    try:
        vm = ctx.vm
        vm.qmp.events()
        guest(vm, "qemu-va-start")
        ev = vm.qmp.event("VA_AGENT_CONNECTED", T)["data"]
        check(vm.qmp.execute("va-ping", None, T) == {}, "va-ping")
        pong = guest(vm, "va-call va.ping").strip()
        check(pong == "pong", "guest va-call va.ping: %r" % pong)
        line = ("qemu-va connected (session %s), va-ping answered, "
                "guest's va.ping answered" % ev["session"])
    except (TestFailure, TimeoutError, EOFError, QMPError, OSError) as e:
        problems.append("%s: %s" % (type(e).__name__, e))
    bad = ctx.collect_bad_json() if ctx.vm else []
    if bad:
        problems.append("QMP output not JSON: %s" % bad[0])
    detail = None
    if problems and ctx.vm:
        detail = "\n".join(problems)
        if verbose:
            detail += "\nconsole tail:\n" + ctx.vm.console.text[-1500:]
    results.report(name, not problems, line or problems[0], detail)


def boot(ctx):
    """Boot, and print what an idle QEMU gives as a baseline."""
    t = time.monotonic()
    ctx.start()
    boot_s = time.monotonic() - t
    time.sleep(2)
    worst, samples, slow, rss0, _ = ctx.prober.window()
    print("boot %.0f s; baseline (no attack, 2 s): qmp worst %.1f ms, %d of "
          "%d queries over %d ms, QEMU RSS %.0f MB"
          % (boot_s, worst, slow, samples, LATENCY_TARGET_MS, rss0))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", default=os.environ.get("VA_QEMU", DEFAULT_QEMU))
    ap.add_argument("-k", default="",
                    help="run the attacks whose name has this (the "
                    "recovery test always runs)")
    ap.add_argument("-v", action="store_true",
                    help="print console and QEMU stderr of every failure")
    a = ap.parse_args()
    results = Results()
    ctx = Ctx(a.qemu)
    start = time.monotonic()
    tests = [(n, run_attack) for n in ATTACKS if a.k in n]
    if a.k in "monitor-hold":
        tests.append(("monitor-hold", monitor_hold))
    tests.append(("recovery", recovery))
    try:
        for name, fn in tests:
            try:
                if not ctx.vm:
                    boot(ctx)
            except Exception as e:
                results.report(name, False, "boot failed: %s: %s"
                               % (type(e).__name__, e))
                traceback.print_exc(file=sys.stdout)
                ctx.stop()
                continue
            if fn is run_attack:
                fn(ctx, name, results, a.v)
            else:
                fn(ctx, results, a.v)
    finally:
        ctx.stop()
    print("check-hostile: %.0f s" % (time.monotonic() - start))
    if results.missed:
        print("targets (qmp < %d ms, rss < %d MB) missed by: %s"
              % (LATENCY_TARGET_MS, RSS_TARGET_MB, " ".join(results.missed)))
    if results.failed:
        print("failed: %s" % " ".join(results.failed))
    print("%d passed, %d failed" % (results.passed, len(results.failed)))
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
