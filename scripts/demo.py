#!/usr/bin/env python3
# virtagent - "make demo": the system at work in a real VM, step by step
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot the test guest with the virtagent chardev and show it working.

QEMU (build/qemu-system-x86_64, TCG) gets -chardev virtagent on a
virtserialport; the guest's /init starts qemu-va.  Each step prints the
HMP command as a person would type it at "(qemu)" and the monitor's
answer, checks the answer, and moves on.  Exits 1 at the first step
that fails, with the guest's console and QEMU's stderr for the reason.
"""

import argparse
import json
import os
import re
import shlex
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "vm"))
from vm import VM, VMError  # noqa: E402  (the path is set just above)

# va_getdmesg prints up to 64 KiB; a screenful is what a person reads.
DMESG_TAIL_LINES = 8
TIMEOUT = 60


class StepFailed(Exception):
    pass


def say(text=""):
    print(text, flush=True)


def heading(n, text):
    say("\n== %d. %s" % (n, text))


def show(prompt, cmd, out):
    say("%s %s" % (prompt, cmd))
    out = out.rstrip("\n")
    if out:
        say("    " + out.replace("\n", "\n    "))


def expect(cond, what):
    if not cond:
        raise StepFailed(what)


def hmp(vm, cmd, must_match, transform=None):
    """Run an HMP command, print it, check its output against a regex."""
    out = vm.hmp.cmd(cmd, TIMEOUT)
    show("(qemu)", cmd, transform(out) if transform else out)
    expect(not out.startswith("Error:"), "%s failed: %s" % (cmd, out.strip()))
    expect(re.search(must_match, out, re.M),
           "%s: expected %r in its output" % (cmd, must_match))
    return out


def dmesg_tail(out):
    lines = out.rstrip("\n").split("\n")
    tail = lines[-DMESG_TAIL_LINES:]
    return "[... %d earlier lines ...]\n" % (len(lines) - len(tail)) + \
        "\n".join(tail)


def demo(vm):
    t0 = time.monotonic()
    heading(1, "Boot: QEMU with -chardev virtagent,id=va0 on a virtserialport "
            "named org.qemu.virtagent")
    # The command line without the harness's console and monitor sockets.
    cmdline = " ".join(shlex.quote(w) for w in vm.args([], []))
    say("    " + cmdline.replace(" -", " \\\n        -"))
    say("    (and the guest console on stdio, QMP and HMP on sockets)")
    state = vm.wait_ready(TIMEOUT * 2)
    say("guest console: virtagent-guest: ready (%s) after %.1f s"
        % (state, time.monotonic() - t0))
    expect(state == "qemu-va started", "qemu-va did not start in the guest")
    ev = vm.qmp.event("VA_AGENT_CONNECTED", TIMEOUT)
    say("QMP event: %s %s" % (ev["event"], json.dumps(ev["data"])))

    heading(2, "What the guest agent offers")
    hmp(vm, "va_capabilities", r"^methods: .*va\.getfile")

    heading(3, "Is it there?")
    hmp(vm, "va_ping", r"^guest agent answered$")

    heading(4, "About the guest")
    hmp(vm, "va_info", r"^hostname: virtagent-guest$")

    heading(5, "The guest kernel's log (its last lines)")
    hmp(vm, "va_getdmesg", r"Run /init as init process", dmesg_tail)

    heading(6, "A file from inside the guest")
    hmp(vm, "va_getfile /etc/os-release", r'^ID=debian$')

    heading(7, "Run a program in the guest, as qemu-ga's guest-exec does")
    hmp(vm, "va_exec uname -sr", r"^exit status 0")

    heading(8, "The guest calls the host: va-call inside the guest "
            "becomes a QMP event")
    cmd = "va-call va.notify backup-done s:ok"
    status, out = vm.console.run(cmd, TIMEOUT)
    show("guest#", cmd, out)
    expect(status == 0, "va-call exited with %d" % status)
    ev = vm.qmp.event("VA_GUEST_NOTIFY", TIMEOUT)
    say("QMP event: %s %s" % (ev["event"], json.dumps(ev["data"])))
    expect(ev["data"].get("name") == "backup-done" and
           ev["data"].get("data") == "ok", "unexpected event data")
    # The agent's hello and this notification: two guest calls answered.
    out = hmp(vm, "info virtagent", r"guest calls: \d+ answered")
    n = int(re.search(r"guest calls: (\d+) answered", out).group(1))
    expect(n >= 2, "info virtagent counts %d guest calls, expected 2" % n)

    heading(9, "Shut the guest down through the agent")
    hmp(vm, "va_shutdown powerdown", r"^guest agent accepted powerdown$")
    ev = vm.qmp.event("SHUTDOWN", TIMEOUT)
    say("QMP event: %s %s" % (ev["event"], json.dumps(ev["data"])))
    status = vm.wait_exit(TIMEOUT)
    say("QEMU exited with status %d" % status)
    expect(status == 0, "QEMU exit status %d" % status)
    say("\ndemo finished in %.1f s: every step worked"
        % (time.monotonic() - t0))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--qemu", default=os.environ.get("VA_QEMU"),
                   help="QEMU binary (default: build/qemu-system-x86_64)")
    a = p.parse_args()
    kw = {"qemu": a.qemu} if a.qemu else {}
    try:
        with VM(**kw) as vm:
            try:
                demo(vm)
            except (StepFailed, TimeoutError, EOFError, VMError) as e:
                say("\ndemo FAILED: %s" % e)
                say("guest console (last lines):\n" + vm.console.text[-2000:])
                err = vm.stderr()
                if err:
                    say("QEMU stderr:\n" + err)
                return 1
    except VMError as e:
        say("demo FAILED: %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
