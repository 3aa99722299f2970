#!/usr/bin/env python3
# virtagent - boot the test guest in QEMU and talk to it (library and CLI)
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot build/guest/{vmlinux,initrd.img} in build/qemu-system-x86_64 under TCG.

Library (Python 3 standard library only)::

    from vm import VM
    with VM() as vm:                      # launches QEMU, connects QMP, HMP
        vm.wait_ready()                   # init printed its ready line
        vm.qmp.execute("query-status")    # QMP; events collect in vm.qmp
        print(vm.hmp.cmd("info virtagent"))
        rc, out = vm.console.run("ls /dev/virtio-ports")

The agent chardev is "virtagent" by default; pass agent="null" (or any
other backend with its options, e.g. "socket,path=/tmp/s,server=on,wait=off")
to boot with a QEMU that lacks it.  transport="isa-serial" puts it behind a
second UART (the guest's ttyS1) instead of a virtserialport.

CLI::

    vm.py run    boot and give this terminal the HMP monitor ("make run")
    vm.py boot   boot, check the agent port in the guest (and, with the
                 virtagent chardev and qemu-va in the image, that the agent
                 connects), power off: a smoke test that prints the boot time
"""

import argparse
import array
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.path.join(SRCDIR, "build")
DEFAULT_QEMU = os.path.join(BUILD, "qemu-system-x86_64")
# The uncompressed kernel, booted through PVH: see guest/extract-vmlinux.py.
DEFAULT_KERNEL = os.path.join(BUILD, "guest", "vmlinux")
DEFAULT_INITRD = os.path.join(BUILD, "guest", "initrd.img")
PORT_NAME = "org.qemu.virtagent"
READY_RE = r"virtagent-guest: ready \((?P<state>[^)]*)\)"

# Firmware from Debian 12's seabios and qemu-system-data: our QEMU is built
# with --disable-install-blobs, and -kernel needs linuxboot_dma.bin.
FIRMWARE = (("/usr/share/seabios", "bios-256k.bin", "seabios"),
            ("/usr/share/qemu", "linuxboot_dma.bin", "qemu-system-data"))


class VMError(Exception):
    pass


class QMPError(VMError):
    """A QMP command answered with an error; .cls and .desc hold it."""

    def __init__(self, error):
        self.cls = error.get("class")
        self.desc = error.get("desc")
        super().__init__("%s: %s" % (self.cls, self.desc))


def _deadline(timeout):
    return None if timeout is None else time.monotonic() + timeout


def _remaining(deadline, what):
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out waiting for " + what)
    return left


def _connect_unix(path, timeout, alive=None):
    """Connect to a socket QEMU is about to create; alive() false means
    QEMU has died and the socket will never come."""
    deadline = _deadline(timeout)
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if alive and not alive():
                raise EOFError("QEMU exited")
            _remaining(deadline, path)
            time.sleep(0.05)


class QMP:
    """A minimal QMP client: commands with ids, events kept in arrival order.

    One command may be sent with send() while others are pending; reply()
    picks out the answer by id.  Events read while waiting for a reply are
    queued and returned by event()."""

    def __init__(self, path, timeout=30, alive=None):
        self.sock = _connect_unix(path, timeout, alive)
        self._buf = b""
        self._events = []
        self._replies = {}
        self._next_id = 0
        self.greeting = self._read(_deadline(timeout), "QMP greeting")
        self.execute("qmp_capabilities")

    def close(self):
        self.sock.close()

    def _read(self, deadline, what):
        while b"\n" not in self._buf:
            r, _, _ = select.select([self.sock], [], [],
                                    _remaining(deadline, what))
            if not r:
                raise TimeoutError("timed out waiting for " + what)
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("QMP connection closed")
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def _pump(self, deadline, what):
        msg = self._read(deadline, what)
        if "event" in msg:
            self._events.append(msg)
        elif "id" in msg:
            self._replies[msg["id"]] = msg
        else:
            raise VMError("QMP message without id: %r" % msg)

    def send(self, cmd, args=None, fds=()):
        """Send a command, with @fds (SCM_RIGHTS: getfd, add-fd); return its
        id for reply()."""
        self._next_id += 1
        msg = {"execute": cmd, "id": self._next_id}
        if args:
            msg["arguments"] = args
        data = json.dumps(msg).encode() + b"\n"
        if fds:
            self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                        array.array("i", fds))])
        else:
            self.sock.sendall(data)
        return self._next_id

    def reply(self, cmd_id, timeout=60):
        """The whole reply ({"return": ...} or {"error": ...}) to cmd_id."""
        deadline = _deadline(timeout)
        while cmd_id not in self._replies:
            self._pump(deadline, "QMP reply %d" % cmd_id)
        return self._replies.pop(cmd_id)

    def execute(self, cmd, args=None, timeout=60):
        """Run a command; return its "return" value or raise QMPError."""
        r = self.reply(self.send(cmd, args), timeout)
        if "error" in r:
            raise QMPError(r["error"])
        return r["return"]

    def event(self, name=None, timeout=60, match=None):
        """Take the first queued or arriving event called name (any if None)
        for which match(event) is true (if given)."""
        deadline = _deadline(timeout)
        seen = 0
        while True:
            for i in range(seen, len(self._events)):
                ev = self._events[i]
                if ((name is None or ev["event"] == name) and
                        (match is None or match(ev))):
                    return self._events.pop(i)
            seen = len(self._events)
            self._pump(deadline, "QMP event %s" % (name or "(any)"))

    def events(self):
        """Take every event received so far, without waiting."""
        while select.select([self.sock], [], [], 0)[0] or b"\n" in self._buf:
            self._pump(None, "QMP")
        ev, self._events = self._events, []
        return ev


class HMP:
    """The human monitor on a socket: send a line, read up to the prompt."""

    PROMPT = b"(qemu) "
    # Readline's cursor movement and erase sequences around the echo.
    _ESC = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")

    def __init__(self, path, timeout=30, alive=None):
        self.sock = _connect_unix(path, timeout, alive)
        self._read_prompt(_deadline(timeout))

    def close(self):
        self.sock.close()

    def _read_prompt(self, deadline):
        buf = b""
        while not buf.endswith(self.PROMPT):
            r, _, _ = select.select([self.sock], [], [],
                                    _remaining(deadline, "HMP prompt"))
            if not r:
                raise TimeoutError("timed out waiting for HMP prompt")
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("HMP connection closed")
            buf += data
        return buf[:-len(self.PROMPT)]

    def cmd(self, line, timeout=60):
        """Run one command; return its output without echo and prompt."""
        self.send(line)
        return self.output(timeout)

    def send(self, line):
        """Start a command without waiting for it; output() collects it.
        A va_* command keeps the monitor suspended until its answer, so
        this leaves the test free to act meanwhile."""
        self.sock.sendall(line.encode() + b"\n")

    def output(self, timeout=60):
        """The output of the command send() started, up to the prompt."""
        out = self._ESC.sub(b"", self._read_prompt(_deadline(timeout)))
        out = out.replace(b"\r", b"").decode(errors="replace")
        # The monitor echoes the command line first.
        return out.split("\n", 1)[1] if "\n" in out else ""


class Console:
    """The guest's serial console on QEMU's stdin/stdout.

    Everything the guest prints is kept (and copied to a log file), so that
    a wait started late still sees lines printed earlier: wait_for() searches
    from a position, by default from where the last wait or run ended."""

    def __init__(self, rfile, wfile, log_path):
        self._w = wfile
        self._log = open(log_path, "wb")
        self._text = ""
        self._pos = 0
        self._seq = 0
        self._cond = threading.Condition()
        self._eof = False
        self._thread = threading.Thread(target=self._reader, args=(rfile,),
                                        daemon=True)
        self._thread.start()

    def _reader(self, rfile):
        while True:
            data = os.read(rfile.fileno(), 65536)
            with self._cond:
                if not data:
                    self._eof = True
                    self._cond.notify_all()
                    break
                self._log.write(data)
                self._log.flush()
                self._text += data.decode(errors="replace").replace("\r", "")
                self._cond.notify_all()

    @property
    def text(self):
        """Everything printed on the console so far."""
        with self._cond:
            return self._text

    def mark(self):
        """The current end of the output, for a later wait_for(since=...)."""
        with self._cond:
            return len(self._text)

    def wait_for(self, pattern, timeout=60, since=None):
        """Wait for a regex in the output after since; return the match."""
        rx = re.compile(pattern)
        deadline = _deadline(timeout)
        with self._cond:
            start = self._pos if since is None else since
            while True:
                m = rx.search(self._text, start)
                if m:
                    self._pos = m.end()
                    return m
                if self._eof:
                    raise EOFError("console closed before %r appeared"
                                   % pattern)
                self._cond.wait(_remaining(deadline, repr(pattern)))

    def send(self, text):
        self._w.write(text.encode())
        self._w.flush()

    def run(self, cmd, timeout=60):
        """Run a shell command in the guest; return (status, output).

        Echo and prompt are switched off, and confirmed off, before the
        command is sent, so that the output between the two markers is the
        command's alone.  The markers are quoted so that an echo of the line
        itself never matches."""
        self._seq += 1
        n = self._seq
        since = self.mark()
        self.send("stty -echo; PS1=; echo '@@VA''BEGIN %d'\n" % n)
        self.wait_for(r"@@VABEGIN %d\n" % n, timeout, since)
        begin = self._pos
        self.send("%s\necho \"@@VA\"\"END %d $?\"\n" % (cmd, n))
        m = self.wait_for(r"@@VAEND %d (\d+)\n" % n, timeout)
        return int(m.group(1)), self.text[begin:m.start()]

    def close(self):
        self._thread.join(5)
        self._log.close()


def check_inputs(qemu, kernel, initrd):
    for path, hint in ((qemu, "build QEMU with ./configure && make"),
                       (kernel, "run make guest"), (initrd, "run make guest")):
        if not os.path.isfile(path):
            raise VMError("%s not found: %s" % (path, hint))
    for d, probe, pkg in FIRMWARE:
        if not os.path.isfile(os.path.join(d, probe)):
            raise VMError("%s/%s not found: apt-get install %s"
                          % (d, probe, pkg))


class VM:
    """One QEMU process running the test guest.

    agent:     chardev backend and options for the agent channel (id va0)
    transport: "virtio-serial" (a virtserialport named org.qemu.virtagent)
               or "isa-serial" (the guest's ttyS1)
    append:    extra kernel command line (va.method=, va.agent=0, ...)
    accel:     QEMU's -accel (default tcg; the benchmark takes kvm where
               /dev/kvm is usable)
    rundir:    where sockets and logs go (default: a fresh directory in
               /tmp, removed by close() unless keep=True; socket paths must
               stay short)"""

    def __init__(self, qemu=DEFAULT_QEMU, kernel=DEFAULT_KERNEL,
                 initrd=DEFAULT_INITRD, agent="virtagent",
                 transport="virtio-serial", machine="pc", memory=512,
                 append="", extra_args=(), rundir=None, keep=False,
                 no_reboot=False, accel="tcg"):
        self.qemu, self.kernel, self.initrd = qemu, kernel, initrd
        self.agent, self.transport = agent, transport
        self.machine, self.memory = machine, memory
        self.append, self.extra_args = append, list(extra_args)
        self.no_reboot = no_reboot
        self.accel = accel
        self._own_rundir = rundir is None
        self.keep = keep
        self.rundir = rundir or tempfile.mkdtemp(prefix="va-vm-")
        os.makedirs(self.rundir, exist_ok=True)
        self.qmp_path = os.path.join(self.rundir, "qmp.sock")
        self.hmp_path = os.path.join(self.rundir, "hmp.sock")
        self.console_log = os.path.join(self.rundir, "console.log")
        self.stderr_log = os.path.join(self.rundir, "qemu.stderr")
        self.proc = self.qmp = self.hmp = self.console = None
        self.launched_at = None

    def args(self, console, monitors):
        """QEMU's command line, with the console and monitor options given
        (they differ between the harness and an interactive run)."""
        if self.transport == "virtio-serial":
            agent_dev = ["-device", "virtio-serial,id=vser0",
                         "-device", "virtserialport,bus=vser0.0,chardev=va0,"
                         "name=%s,id=vaport0" % PORT_NAME]
        elif self.transport == "isa-serial":
            agent_dev = ["-device", "isa-serial,chardev=va0,id=vaserial0"]
        else:
            raise VMError("unknown transport %r" % self.transport)
        fw = []
        for d, _, _ in FIRMWARE:
            fw += ["-L", d]
        append = "console=ttyS0 panic=-1 " + self.append
        return ([self.qemu, "-machine", self.machine, "-accel", self.accel,
                 "-m", str(self.memory), "-nodefaults", "-no-user-config",
                 "-display", "none", "-nic", "none"] + fw +
                ["-kernel", self.kernel, "-initrd", self.initrd,
                 "-append", append.strip()] +
                monitors + console +
                ["-chardev", "%s,id=va0" % self.agent] + agent_dev +
                (["-no-reboot"] if self.no_reboot else []) +
                self.extra_args)

    def _socket_mon(self, path, mode, cid):
        return ["-chardev", "socket,id=%s,path=%s,server=on,wait=off"
                % (cid, path), "-mon", "chardev=%s,mode=%s" % (cid, mode)]

    def launch(self, timeout=30):
        check_inputs(self.qemu, self.kernel, self.initrd)
        args = self.args(
            ["-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con"],
            self._socket_mon(self.qmp_path, "control", "qmp") +
            self._socket_mon(self.hmp_path, "readline", "hmp"))
        with open(self.stderr_log, "wb") as err:
            self.launched_at = time.monotonic()
            self.proc = subprocess.Popen(args, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err)
        self.console = Console(self.proc.stdout, self.proc.stdin,
                               self.console_log)
        try:
            alive = lambda: self.proc.poll() is None
            self.qmp = QMP(self.qmp_path, timeout, alive)
            self.hmp = HMP(self.hmp_path, timeout, alive)
        except (OSError, EOFError, TimeoutError) as e:
            err = self.stderr()
            self.close()
            raise VMError("QEMU did not come up (%s): %s" % (e, err)) from e
        return self

    def stderr(self):
        with open(self.stderr_log, errors="replace") as f:
            return f.read().strip()

    def wait_ready(self, timeout=120):
        """Wait for init's ready line; return what it says of qemu-va."""
        return self.console.wait_for(READY_RE, timeout).group("state")

    def wait_exit(self, timeout=60):
        """Wait for QEMU to end by itself (a guest power-off); return its
        exit status."""
        return self.proc.wait(timeout)

    def close(self, timeout=30):
        """Quit QEMU (killing it if it does not go) and clean up."""
        if self.proc and self.proc.poll() is None:
            try:
                self.qmp.execute("quit", timeout=timeout)
            except (AttributeError, OSError, EOFError, VMError,
                    TimeoutError):
                pass  # it may be gone already: the wait below decides
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for c in (self.qmp, self.hmp, self.console):
            if c:
                c.close()
        if self.proc:
            self.proc.stdin.close()
            self.proc.stdout.close()
        if self._own_rundir and not self.keep:
            shutil.rmtree(self.rundir, ignore_errors=True)

    def __enter__(self):
        return self.launch()

    def __exit__(self, *exc):
        self.close()


class TestFailure(Exception):
    """A test's check failed: reported by its message, no traceback."""


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def check_eq(got, want, what):
    check(got == want, "%s: got %r, want %r" % (what, got, want))


def test_args():
    """A VM test suite's options: --qemu, -k (a part of the names to
    run), -v."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", default=os.environ.get("VA_QEMU", DEFAULT_QEMU))
    ap.add_argument("-k", default="", help="run tests whose name has this")
    ap.add_argument("-v", action="store_true",
                    help="print the console of failed tests in full")
    return ap.parse_args()


def run_tests(suite, tests, ctx, use, failure, verbose=False):
    """Run each of @tests, fn(ctx), after use(fn) has readied ctx.vm.

    One "ok"/"not ok" line a test (with ctx.note, if a test set it); on a
    failure, a traceback unless it is a @failure, the tail of the console
    (all of it if @verbose) and QEMU's stderr, and the VM is stopped so
    that the next test boots afresh rather than inherit its state. Ends
    with "N passed, N failed"; returns the exit code.
    """
    passed = failed = 0
    start = time.monotonic()
    try:
        for fn in tests:
            t = time.monotonic()
            try:
                use(fn)
                fn(ctx)
                passed += 1
                print("ok - %s (%.1fs)%s" % (
                    fn.__name__, time.monotonic() - t,
                    ": " + ctx.note if ctx.note else ""))
            except Exception as e:
                failed += 1
                print("not ok - %s: %s: %s" % (fn.__name__,
                                               type(e).__name__, e))
                if not isinstance(e, failure):
                    traceback.print_exc(file=sys.stdout)
                if ctx.vm:
                    con = ctx.vm.console.text
                    print("  console:\n    " +
                          (con if verbose else con[-1500:])
                          .replace("\n", "\n    "))
                    err = ctx.vm.stderr()
                    if err:
                        print("  QEMU stderr: " + err)
                    ctx.stop()
            sys.stdout.flush()
    finally:
        ctx.stop()
    print("%s: %.0f s" % (suite, time.monotonic() - start))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def vm_from_args(a, **kw):
    return VM(qemu=a.qemu, kernel=a.kernel, initrd=a.initrd, agent=a.agent,
              transport=a.transport, machine=a.machine, memory=a.memory,
              append=a.append, **kw)


def cmd_run(a):
    """Give the terminal to QEMU's HMP; QMP and the console on sockets."""
    rundir = os.path.abspath(a.rundir)
    os.makedirs(rundir, exist_ok=True)
    vm = vm_from_args(a, rundir=rundir)
    check_inputs(vm.qemu, vm.kernel, vm.initrd)
    con_sock = os.path.join(rundir, "console.sock")
    args = vm.args(
        ["-chardev", "socket,id=con,path=%s,server=on,wait=off,logfile=%s"
         % (con_sock, vm.console_log), "-serial", "chardev:con"],
        vm._socket_mon(vm.qmp_path, "control", "qmp") +
        vm._socket_mon(vm.hmp_path, "readline", "hmp") +
        ["-monitor", "stdio"])
    print("virtagent VM: %s (%s)\n"
          "  HMP:     this terminal; \"quit\" ends the VM\n"
          "           and a second HMP monitor on %s\n"
          "  QMP:     %s\n"
          "  console: %s  (socat -,raw,echo=0 UNIX-CONNECT:...)\n"
          "           logged to %s\n"
          "  the guest is ready when the log shows \"virtagent-guest: ready\""
          " (about 6 s)"
          % (vm.qemu, vm.transport, vm.hmp_path, vm.qmp_path, con_sock,
             vm.console_log),
          flush=True)
    os.execv(vm.qemu, args)


def cmd_boot(a):
    """Boot, check the agent's channel in the guest, power off."""
    with vm_from_args(a) as vm:
        try:
            state = vm.wait_ready(a.timeout)
            boot_s = time.monotonic() - vm.launched_at
            print("ready after %.1f s: %s" % (boot_s, state))
            if a.transport == "virtio-serial":
                check = "ls -l /dev/virtio-ports/%s" % PORT_NAME
            else:
                check = "grep '^1: uart:[0-9A-Z]' /proc/tty/driver/serial"
            rc, out = vm.console.run(check, a.timeout)
            print(out.strip())
            if rc != 0:
                print("agent channel missing in the guest", file=sys.stderr)
                return 1
            # With both halves present, the channel must carry the
            # daemon's hello to QEMU.
            if (a.agent.split(",")[0] == "virtagent" and
                    state == "qemu-va started"):
                ev = vm.qmp.event("VA_AGENT_CONNECTED", a.timeout)
                print("agent connected: %s" % json.dumps(ev.get("data")))
            vm.console.send("poweroff\n")
            print("powered off, QEMU exit status %d" % vm.wait_exit(a.timeout))
        except (TimeoutError, EOFError):
            print("console:\n" + vm.console.text[-3000:], file=sys.stderr)
            raise
    return 0


def main():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--qemu",
                        default=os.environ.get("VA_QEMU", DEFAULT_QEMU),
                        help="QEMU binary (default: $VA_QEMU or "
                        "build/qemu-system-x86_64)")
    common.add_argument("--kernel", default=DEFAULT_KERNEL)
    common.add_argument("--initrd", default=DEFAULT_INITRD)
    common.add_argument("--agent", default="virtagent", metavar="CHARDEV",
                        help="backend and options of the agent chardev "
                        "(default: virtagent; e.g. null to test a boot)")
    common.add_argument("--transport", default="virtio-serial",
                        choices=("virtio-serial", "isa-serial"))
    common.add_argument("--machine", default="pc")
    common.add_argument("--memory", type=int, default=512)
    common.add_argument("--append", default="",
                        help="extra kernel arguments")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", parents=[common],
                       help="boot; HMP on this terminal")
    r.add_argument("--rundir", default=os.path.join(BUILD, "run"),
                   help="where the sockets go (default: build/run)")
    b = sub.add_parser("boot", parents=[common],
                       help="boot, check the channel, power off")
    b.add_argument("--timeout", type=float, default=120)
    a = p.parse_args()
    try:
        return cmd_run(a) if a.cmd == "run" else cmd_boot(a)
    except VMError as e:
        print("vm.py: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
