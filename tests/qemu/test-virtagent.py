#!/usr/bin/env python3
# virtagent - tests of the virtagent chardev and monitor commands in QEMU
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: test-virtagent.py --qemu BINARY [-k SUBSTRING] [--wrapper CMD]
#                          [-- QEMU_ARGS...]
#
# --wrapper runs QEMU under a command, e.g. "valgrind -q --error-exitcode=99"
# (timing checks may then fail; exit codes are checked).
#
# Runs build/qemu-system-x86_64 under the qtest accelerator with virtagent
# chardevs behind isa-serial ports, and plays the guest agent through the
# UART: qtest "outb" to the transmit register reaches the chardev's
# chr_write, and reading the receive register (after the line status says
# data is ready) pulls the chardev's output. So the real backend, its
# framing and its XML-RPC codec are exercised, with QMP and HMP driving
# the host side. The agent's side of the protocol is written here
# independently (Python's xmlrpc.client), so the two ends check each
# other.
#
# Ends with "N passed, N failed"; exits non-zero on any failure.

import argparse
import array
import base64
import hashlib
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import xmlrpc.client

SENTINEL = b"\xff"
COM1 = 0x3F8
COM2 = 0x2F8
LSR = 5
LSR_DR = 0x01
VA_FAULT_UNSAFE_XML = 1003
VA_FAULT_TOO_LARGE = 1002
VA_FAULT_RATE_LIMITED = 1005
VA_FAULT_DISABLED = 1006


class TestFailure(Exception):
    pass


def _dump_int(self, value, write):
    """Python's marshaller refuses 64-bit integers; XML-RPC has <i8>."""
    if -2**31 <= value < 2**31:
        write("<value><int>%d</int></value>\n" % value)
    elif -2**63 <= value < 2**63:
        write("<value><i8>%d</i8></value>\n" % value)
    else:
        raise OverflowError("int exceeds i8")


xmlrpc.client.Marshaller.dispatch[int] = _dump_int


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def no_json_constant(name):
    """QMP is JSON: NaN and Infinity are not (Python accepts them)."""
    raise TestFailure("QMP sent %s, which is not JSON" % name)


class Qmp:
    """A QMP client that keeps events for the tests to look at."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.events = []
        self.replies = {}
        self.next_id = 1
        greeting = self._read()
        check("QMP" in greeting, "no QMP greeting")
        self.cmd("qmp_capabilities")

    def _read(self, timeout=30):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("QMP: no message within %ss" % timeout)
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise TestFailure("QMP: connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line, parse_constant=no_json_constant)

    def _pump(self, timeout):
        msg = self._read(timeout)
        if "event" in msg:
            self.events.append(msg)
        elif "id" in msg:
            self.replies[msg["id"]] = msg
        return msg

    def send(self, cmd, **args):
        cid = self.next_id
        self.next_id += 1
        msg = {"execute": cmd, "id": cid}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        return cid

    def poll(self, cid):
        """The reply to @cid if it has arrived, without waiting long."""
        try:
            while cid not in self.replies:
                self._pump(0.001)
        except (TestFailure, socket.timeout):
            pass
        return self.replies.pop(cid, None)

    def wait(self, cid, timeout=30):
        deadline = time.monotonic() + timeout
        while cid not in self.replies:
            self._pump(max(deadline - time.monotonic(), 0.001))
        return self.replies.pop(cid)

    def getfd(self, name, fd):
        """Pass @fd as @name (QMP getfd, with SCM_RIGHTS)."""
        cid = self.next_id
        self.next_id += 1
        msg = {"execute": "getfd", "id": cid, "arguments": {"fdname": name}}
        self.sock.sendmsg([json.dumps(msg).encode() + b"\n"],
                          [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                            array.array("i", [fd]))])
        r = self.wait(cid)
        check("return" in r, "getfd: %r" % r)

    def pass_file(self, name, path, flags, mode=0o600):
        """Open @path with @flags and pass it as @name (getfd)."""
        fd = os.open(path, flags, mode)
        try:
            self.getfd(name, fd)
        finally:
            os.close(fd)

    def add_fd(self, fdset, fd):
        """Add @fd to fdset @fdset (QMP add-fd, with SCM_RIGHTS)."""
        cid = self.next_id
        self.next_id += 1
        msg = {"execute": "add-fd", "id": cid,
               "arguments": {"fdset-id": fdset}}
        self.sock.sendmsg([json.dumps(msg).encode() + b"\n"],
                          [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                            array.array("i", [fd]))])
        r = self.wait(cid)
        check("return" in r, "add-fd: %r" % r)

    def cmd_raw(self, cmd, **args):
        return self.wait(self.send(cmd, **args))

    def cmd(self, cmd, **args):
        r = self.cmd_raw(cmd, **args)
        if "error" in r:
            raise TestFailure("%s failed: %s" % (cmd, r["error"]["desc"]))
        return r["return"]

    def event(self, name, timeout=10, pred=lambda e: True):
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e["event"] == name and pred(e):
                    self.events.remove(e)
                    return e
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("no event %s" % name)
            try:
                self._pump(left)
            except TestFailure:
                pass

    def hmp(self, line):
        return self.cmd("human-monitor-command", **{"command-line": line})


class QTest:
    """The qtest protocol: port I/O on behalf of the absent guest."""

    def __init__(self, sock):
        self.sock = sock
        self.f = sock.makefile("rb")

    def _cmds(self, cmds):
        self.sock.sendall("".join(c + "\n" for c in cmds).encode())
        out = []
        for _ in cmds:
            line = self.f.readline().decode().strip()
            while line.startswith("IRQ"):
                line = self.f.readline().decode().strip()
            if not line.startswith("OK"):
                raise TestFailure("qtest: %r" % line)
            out.append(line)
        return out

    def outb_many(self, port, data):
        for i in range(0, len(data), 512):
            self._cmds(["outb 0x%x 0x%x" % (port, b)
                        for b in data[i:i + 512]])

    def inb(self, port):
        return int(self._cmds(["inb 0x%x" % port])[0].split()[1], 16)

    def clock_step(self, ns=1000000000):
        """Advance the virtual clock, which times QMP event throttling."""
        self._cmds(["clock_step %d" % ns])


class Frame:
    def __init__(self, kind, tag, body):
        self.kind, self.tag, self.body = kind, tag, body


class Guest:
    """The guest agent's end of one UART: framing and XML-RPC."""

    def __init__(self, qtest, port):
        self.qt = qtest
        self.port = port
        self.buf = b""
        self.counter = 0
        self.session = "00000000deadbeef"
        # downloads we sent data for: QEMU's grants for them are skipped
        self.downloads = set()

    def write(self, data):
        self.qt.outb_many(self.port, data)

    def frame(self, kind, tag, body):
        start = "POST /RPC2 HTTP/1.1" if kind == "call" else "HTTP/1.1 200 OK"
        head = ("%s\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n"
                "X-Virtagent-Client-Tag: %s\r\n\r\n" % (start, len(body), tag))
        return SENTINEL + head.encode() + body

    def _read_some(self):
        got = False
        while self.qt.inb(self.port + LSR) & LSR_DR:
            self.buf += bytes([self.qt.inb(self.port)])
            got = True
        return got

    def _parse(self):
        start = self.buf.find(SENTINEL)
        if start < 0:
            return None
        end = self.buf.find(b"\r\n\r\n", start)
        if end < 0:
            return None
        head = self.buf[start + 1:end].decode().split("\r\n")
        fields = dict(h.split(": ", 1) for h in head[1:])
        length = int(fields["Content-Length"])
        if len(self.buf) < end + 4 + length:
            return None
        body = self.buf[end + 4:end + 4 + length]
        self.buf = self.buf[end + 4 + length:]
        kind = ("call" if head[0].startswith("POST") else
                "reply" if head[0].startswith("HTTP") else
                head[0].split()[0].lower())
        f = Frame(kind, fields["X-Virtagent-Client-Tag"], body)
        f.fields = fields
        return f

    def _next(self):
        """The next frame, but a grant of credit for a download we sent:
        QEMU grants as it writes what came, which may race the answer."""
        while True:
            f = self._parse()
            if not (f and f.kind == "credit" and f.tag in self.downloads
                    and f.fields["X-Virtagent-Credit"] != "abort"):
                return f

    def read_frame(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            f = self._next()
            if f:
                return f
            if not self._read_some():
                if time.monotonic() > deadline:
                    raise TestFailure("guest: no message from the host")
                time.sleep(0.002)

    def idle(self, wait=0.3):
        """True if the host sends nothing for @wait seconds."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self._read_some() and self._next():
                return False
            time.sleep(0.01)
        return self._next() is None and not self.buf

    def read_call(self, timeout=10):
        f = self.read_frame(timeout)
        check(f.kind == "call", "guest: expected a call")
        params, method = xmlrpc.client.loads(f.body, use_builtin_types=True)
        return f.tag, method, params

    def reply(self, tag, value):
        body = xmlrpc.client.dumps((value,), methodresponse=True,
                                   allow_none=True).encode()
        self.write(self.frame("reply", tag, body))

    def reply_fault(self, tag, code, text):
        body = xmlrpc.client.dumps(xmlrpc.client.Fault(code, text),
                                   methodresponse=True).encode()
        self.write(self.frame("reply", tag, body))

    def answer(self, expect_method, value):
        tag, method, params = self.read_call()
        check(method == expect_method,
              "guest got %s, expected %s" % (method, expect_method))
        self.reply(tag, value)
        return params

    def call(self, method, params, raw_body=None):
        """Call the host; returns the value, or raises xmlrpc Fault."""
        self.counter += 1
        tag = "%s.%d" % (self.session, self.counter)
        body = raw_body if raw_body is not None else xmlrpc.client.dumps(
            params, method, allow_none=True).encode()
        self.write(self.frame("call", tag, body))
        f = self.read_frame()
        check(f.kind == "reply" and f.tag == tag, "guest: bad reply frame")
        return xmlrpc.client.loads(f.body, use_builtin_types=True)[0][0]

    def hello(self, session, version="test-agent 1.0",
              methods=("va.ping",), features=None):
        self.session = session
        st = {"version": version, "session": session,
              "methods": list(methods)}
        if features is not None:
            st["features"] = list(features)
        return self.call("va.hello", (st,))

    def data(self, tag, offset, data=b"", end=None, raw=False):
        """A DATA frame of the stream of call @tag (docs/protocol.md
        1.1), its body escaped, or sent as it is if @raw."""
        self.downloads.add(tag)
        body = data if raw else data.replace(b"\xfe", b"\xfe\x7e").replace(
            b"\xff", b"\xfe\x7f")
        head = ("DATA VA/1\r\nContent-Length: %d\r\n"
                "X-Virtagent-Client-Tag: %s\r\nX-Virtagent-Offset: %d\r\n"
                % (len(body), tag, offset))
        if raw:
            head += "X-Virtagent-Encoding: raw\r\n"
        if end:
            head += "X-Virtagent-End: %s\r\n" % end
        self.write(SENTINEL + (head + "\r\n").encode() + body)

    def credit(self, tag, upto):
        self.write(SENTINEL + ("CREDIT VA/1\r\nContent-Length: 0\r\n"
                               "X-Virtagent-Client-Tag: %s\r\n"
                               "X-Virtagent-Credit: %s\r\n\r\n"
                               % (tag, upto)).encode())

    def read_upload(self, tag, timeout=10):
        """The decoded bytes of upload @tag up to its End frame (or the
        first other frame); and how it ended."""
        got = b""
        while True:
            f = self.read_frame(timeout)
            check(f.kind == "data" and f.tag == tag,
                  "guest: %s frame for %s in an upload" % (f.kind, f.tag))
            check(int(f.fields["X-Virtagent-Offset"]) == len(got),
                  "guest: offset %s at %d" % (f.fields["X-Virtagent-Offset"],
                                               len(got)))
            if "X-Virtagent-End" in f.fields:
                return got, f.fields["X-Virtagent-End"]
            check(b"\xff" not in f.body and
                  "X-Virtagent-Encoding" not in f.fields,
                  "0xFF or a raw body in an upload")
            got += re.sub(b"\xfe(.)", lambda m: bytes([m.group(1)[0] ^ 0x80]),
                          f.body, flags=re.S)


class Vm:
    def __init__(self, binary, extra, args, tmp, wrapper=()):
        self.tmp = tmp
        listeners = {}
        for name in ("qtest", "qmp"):
            path = os.path.join(tmp, name + ".sock")
            s = socket.socket(socket.AF_UNIX)
            s.bind(path)
            s.listen(1)
            listeners[name] = (s, path)
        self.hmp_path = os.path.join(tmp, "hmp.sock")
        cmd = list(wrapper) + [binary, "-M", "pc", "-accel", "qtest",
                               "-nodefaults",
               "-display", "none", "-nic", "none",
               "-qtest", "unix:" + listeners["qtest"][1],
               "-qtest-log", "/dev/null",
               "-qmp", "unix:" + listeners["qmp"][1],
               "-chardev", "socket,id=hmp0,path=%s,server=on,wait=off"
               % self.hmp_path,
               "-mon", "chardev=hmp0,mode=readline"] + extra + args
        self.log_path = os.path.join(tmp, "qemu.log")
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        socks = {}
        for name, (s, path) in listeners.items():
            s.settimeout(30)
            try:
                socks[name] = s.accept()[0]
            except socket.timeout:
                with open(self.log_path) as f:
                    raise TestFailure("QEMU did not start: " + f.read())
            s.close()
            os.unlink(path)
        self.qtest = QTest(socks["qtest"])
        self.qmp = Qmp(socks["qmp"])

    def close(self):
        """Quit; False if QEMU had to be killed or failed."""
        try:
            if self.proc.poll() is None:
                self.qmp.send("quit")
            self.proc.wait(60)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        return self.proc.returncode == 0


class Hmp:
    """The interactive HMP monitor, where va_* suspend the prompt."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.buf = b""
        self.until_prompt(10)

    def until_prompt(self, timeout=10):
        deadline = time.monotonic() + timeout
        while not self.buf.endswith(b"(qemu) "):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("HMP: no prompt; got %r" % self.buf)
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise TestFailure("HMP closed")
            self.buf += data
        out, self.buf = self.buf, b""
        # readline echoes with escape sequences; keep the text
        text = re.sub(rb"\x1b\[[0-9;]*[A-Za-z]", b"", out).decode(
            errors="replace")
        return text.replace("\r", "")

    def send(self, line):
        self.sock.sendall(line.encode() + b"\n")

    def prompt_pending(self, wait=0.3):
        """True if no prompt came back within @wait seconds."""
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
            self.buf += data
        except socket.timeout:
            pass
        return not self.buf.endswith(b"(qemu) ")


# -- the tests ---------------------------------------------------------

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def qmp_error(r):
    check("error" in r, "expected an error, got %r" % r)
    return r["error"]["desc"]


@test
def chardev_help(ctx):
    out = subprocess.run([ctx.binary, "-chardev", "help"],
                         capture_output=True, text=True, timeout=30).stdout
    check(re.search(r"^\s*virtagent$", out, re.M), "not in -chardev help")


@test
def bad_options(ctx):
    for opt, msg in (("window=0", "window must be"),
                     ("timeout=99999", "timeout must be"),
                     ("max-message=10", "max-message must be")):
        p = subprocess.run([ctx.binary, "-M", "none", "-display", "none",
                            "-nodefaults", "-chardev",
                            "virtagent,id=v," + opt] + ctx.extra,
                           capture_output=True, text=True, timeout=30)
        check(p.returncode != 0 and msg in p.stderr,
              "%s: rc %d, %r" % (opt, p.returncode, p.stderr))


@test
def query_and_info_without_agent(ctx):
    vm = ctx.vm()
    info = vm.qmp.cmd("query-virtagent")
    check(len(info) == 2, "two chardevs expected: %r" % info)
    va0 = info[0]
    check(va0["chardev"] == "va0" and va0["open"] and not va0["connected"],
          "va0: %r" % va0)
    out = vm.qmp.hmp("info virtagent")
    check("va0: port open, agent not connected" in out, out)
    check("va1: port open" in out, out)


@test
def chardev_required_with_two(ctx):
    vm = ctx.vm()
    desc = qmp_error(vm.qmp.cmd_raw("va-ping", timeout=0.2))
    check("several virtagent chardevs" in desc and "va0, va1" in desc, desc)
    desc = qmp_error(vm.qmp.cmd_raw("va-ping", chardev="nope",
                                    timeout=0.2))
    check("'nope' is not a virtagent chardev" in desc, desc)
    out = vm.qmp.hmp("va_ping -t 0.2")
    check("Error: several virtagent chardevs" in out, out)


@test
def timeout_without_agent(ctx):
    vm = ctx.vm()
    t = time.monotonic()
    desc = qmp_error(vm.qmp.cmd_raw("va-ping", chardev="va0", timeout=0.5))
    took = time.monotonic() - t
    check("timed out" in desc, desc)
    check(0.4 < took < 5, "took %.2fs" % took)
    t = time.monotonic()
    out = vm.qmp.hmp("va_ping -c va0 -t 0.5")
    took = time.monotonic() - t
    check("Error:" in out and "timed out" in out, out)
    check(0.4 < took < 5, "HMP took %.2fs" % took)
    desc = qmp_error(vm.qmp.cmd_raw("va-ping", chardev="va0", timeout=0))
    check("timeout must be" in desc, desc)
    info = vm.qmp.cmd("query-virtagent")[0]
    # nothing reads the UART, so the calls never left the output buffer
    check(info["timed-out"] == 2 and info["in-flight"] == 0, "%r" % info)


@test
def not_connected(ctx):
    vm = ctx.vm()
    vm.qmp.cmd("chardev-add", id="va9",
               backend={"type": "virtagent",
                        "data": {"timeout": 5, "window": 2}})
    names = [i["chardev"] for i in vm.qmp.cmd("query-virtagent")]
    check(names == ["va0", "va1", "va9"], "%r" % names)
    desc = qmp_error(vm.qmp.cmd_raw("va-ping", chardev="va9"))
    check("not connected" in desc, desc)
    out = vm.qmp.hmp("va_capabilities -c va9")
    check("not connected" in out, out)
    vm.qmp.cmd("chardev-remove", id="va9")
    check(len(vm.qmp.cmd("query-virtagent")) == 2, "va9 not removed")


@test
def hello_and_connected_event(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    r = g.hello("1111222233334444")
    check(r["version"].startswith("qemu ") and len(r["session"]) == 16 and
          "va.notify" in r["methods"], "hello answer %r" % r)
    e = vm.qmp.event("VA_AGENT_CONNECTED")
    check(e["data"] == {"chardev": "va0", "version": "test-agent 1.0",
                        "session": "1111222233334444"}, "%r" % e)
    info = vm.qmp.cmd("query-virtagent")[0]
    check(info["connected"] and info["session"] == "1111222233334444" and
          info["methods"] == ["va.ping"], "%r" % info)
    out = vm.qmp.hmp("info virtagent")
    check("agent connected (version test-agent 1.0, session "
          "1111222233334444)\r\n  agent methods: va.ping" in out, out)
    # the same session again: no new event; a new one: reconnect
    vm.qtest.clock_step()   # past the first event's throttling period
    g.hello("1111222233334444")
    g.hello("5555666677778888")
    e = vm.qmp.event("VA_AGENT_DISCONNECTED")
    check(e["data"]["reason"] == "agent restarted", "%r" % e)
    vm.qtest.clock_step()   # CONNECTED comes a period after
    e = vm.qmp.event("VA_AGENT_CONNECTED")
    check(e["data"]["session"] == "5555666677778888", "%r" % e)
    check(not [x for x in vm.qmp.events
               if x["event"].startswith("VA_AGENT")], "extra events")


@test
def host_methods(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    check(g.call("va.ping", ()) == "pong", "va.ping")
    caps = g.call("va.capabilities", ())
    check(caps["methods"] == ["va.hello", "va.ping", "va.capabilities",
                              "va.notify", "va.exec_done"], "%r" % caps)
    for method, params in (("va.nope", ()), ("system.multicall", ([],)),
                           ("va.ping", (1,))):
        try:
            g.call(method, params)
            raise TestFailure("%s: no fault" % method)
        except xmlrpc.client.Fault as f:
            if method == "system.multicall":
                check(f.faultCode == VA_FAULT_DISABLED, "%r" % f)
    check(g.call("va.notify", ("backup-done", {"ok": True, "n": 3})),
          "notify")
    e = vm.qmp.event("VA_GUEST_NOTIFY")
    check(e["data"] == {"chardev": "va0", "name": "backup-done",
                        "data": {"ok": True, "n": 3}}, "%r" % e)


@test
def notify_rate_limit(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    faults = 0
    t = time.monotonic()
    for i in range(15):
        try:
            # distinct names: QMP throttling coalesces one name's repeats
            g.call("va.notify", ("tick%d" % i, i))
        except xmlrpc.client.Fault as f:
            check(f.faultCode == VA_FAULT_RATE_LIMITED, "%r" % f)
            faults += 1
    took = time.monotonic() - t
    # a burst of 10, then 1 per second
    accepted = 15 - faults
    check(10 <= accepted <= 10 + int(took) + 1,
          "%d accepted in %.1fs" % (accepted, took))
    for i in range(accepted):
        vm.qmp.event("VA_GUEST_NOTIFY")
    info = vm.qmp.cmd("query-virtagent")[0]
    check(info["notify-dropped"] == faults, "%r" % info)
    time.sleep(1.1)
    check(g.call("va.notify", ("tick", 99)), "no token after a second")


@test
def event_throttling(ctx):
    """Guest-triggered events go through QEMU's throttling, per chardev."""
    vm = ctx.vm()
    guests = {"va0": ctx.guest(vm, COM1), "va1": ctx.guest(vm, COM2)}
    hellos, notes = {}, {}

    def drain():
        vm.qmp.cmd("query-status")      # events sent before are read
        got = [e for e in vm.qmp.events if e["event"].startswith("VA_")]
        vm.qmp.events = []
        return got

    def of(events, chardev, prefix):
        return [e for e in events if e["event"].startswith(prefix) and
                e["data"]["chardev"] == chardev]

    for n, (name, g) in enumerate(guests.items()):
        hellos[name], notes[name] = [], []
        for i in range(30):
            session = "%016x" % ((n << 32) + i + 1)
            try:
                g.hello(session)
                hellos[name].append(session)
            except xmlrpc.client.Fault as f:
                check(f.faultCode == VA_FAULT_RATE_LIMITED, "%r" % f)
        for i in range(5):
            try:
                g.call("va.notify", ("progress", i))
                notes[name].append(i)
            except xmlrpc.client.Fault as f:
                check(f.faultCode == VA_FAULT_RATE_LIMITED, "%r" % f)
        check(g.call("va.notify", ("done", n)), "notify done")
        check(len(hellos[name]) >= 2 and len(notes[name]) >= 2,
              "%s: too few accepted: %r %r" % (name, hellos, notes))
    # at once: the first of each kind, per chardev
    first = drain()
    for name in guests:
        agent = of(first, name, "VA_AGENT")
        check([(e["event"], e["data"]["session"]) for e in agent] ==
              [("VA_AGENT_CONNECTED", hellos[name][0])], "%r" % agent)
        got = [(e["data"]["name"], e["data"]["data"])
               for e in of(first, name, "VA_GUEST_NOTIFY")]
        check(sorted(got, key=str) ==
              sorted([("progress", 0), ("done", list(guests).index(name))],
                     key=str), "%s: %r" % (name, got))
    # a period later: the latest of each kind, the agent's current state
    vm.qtest.clock_step()
    second = drain()
    for name in guests:
        agent = of(second, name, "VA_AGENT")
        check([(e["event"], e["data"]["session"]) for e in agent] ==
              [("VA_AGENT_CONNECTED", hellos[name][-1])], "%r" % agent)
        got = [(e["data"]["name"], e["data"]["data"])
               for e in of(second, name, "VA_GUEST_NOTIFY")]
        check(got == [("progress", notes[name][-1])], "%s: %r" % (name, got))
    vm.qtest.clock_step()
    third = drain()
    check(third == [], "events after the burst: %r" % third)
    for info in vm.qmp.cmd("query-virtagent"):
        check(info["session"] == hellos[info["chardev"]][-1], "%r" % info)
    for name in guests:
        print("  %s: %d hellos, %d notifications: %d events" %
              (name, len(hellos[name]), len(notes[name]) + 1,
               len(of(first + second, name, "VA_"))))


@test
def garbage_and_oversize(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    g.write(b"garbage\xff not a header\r\n\r\n")
    check(g.call("va.ping", ()) == "pong", "ping after garbage")
    info = vm.qmp.cmd("query-virtagent")[0]
    check(info["bad-frames"] >= 1, "%r" % info)
    # va1 is configured with max-message=4096
    g1 = ctx.guest(vm, COM2)
    try:
        g1.call("va.notify", ("big", "x" * 5000))
        raise TestFailure("oversized call answered")
    except xmlrpc.client.Fault as f:
        check(f.faultCode == VA_FAULT_TOO_LARGE, "%r" % f)
    check(g1.call("va.ping", ()) == "pong", "ping after oversize")


@test
def hostile_xml(ctx):
    """Documents that crash xmlrpc-c or expand entities never reach it."""
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    bad_i8 = (b'<?xml version="1.0"?><methodResponse><params><param>'
              b'<value><i8>12x</i8></value></param></params>'
              b'</methodResponse>')
    laughs = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaa">'
              b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><methodResponse>'
              b'<params><param><value><string>&b;</string></value>'
              b'</param></params></methodResponse>')
    for body in (bad_i8, laughs):
        cid = vm.qmp.send("va-ping", chardev="va0")
        tag, _, _ = g.read_call()
        g.write(g.frame("reply", tag, body))
        desc = qmp_error(vm.qmp.wait(cid))
        check("bad answer" in desc, desc)
    # The same as calls from the guest: faults, and QEMU still answers.
    call_i8 = (b'<?xml version="1.0"?><methodCall><methodName>va.notify'
               b'</methodName><params><param><value><ex:i8>1.5</ex:i8>'
               b'</value></param></params></methodCall>')
    try:
        g.call("va.notify", (), raw_body=call_i8)
        raise TestFailure("malformed <ex:i8> call answered")
    except xmlrpc.client.Fault as f:
        check(f.faultCode == VA_FAULT_UNSAFE_XML, "%r" % f)
    check(g.call("va.ping", ()) == "pong", "ping after hostile XML")


@test
def qmp_stays_json(ctx):
    """No NaN or infinity from the guest reaches QMP (read strictly)."""
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    for text in (b"nan", b"NaN", b"inf", b"-inf", b"1e999", b"-1e400"):
        body = (b'<?xml version="1.0"?><methodCall><methodName>va.notify'
                b'</methodName><params><param><value><string>n</string>'
                b'</value></param><param><value><double>%s</double>'
                b'</value></param></params></methodCall>' % text)
        try:
            g.call("va.notify", (), raw_body=body)
            raise TestFailure("%r: notification accepted" % text)
        except xmlrpc.client.Fault:
            pass
    nan, inf = float("nan"), float("inf")
    for value in (nan, -inf, [1.5, {"x": inf}]):
        cid = vm.qmp.send("va-call", chardev="va0", method="t")
        tag, _, _ = g.read_call()
        g.reply(tag, value)
        qmp_error(vm.qmp.wait(cid))
        r = vm.qmp.cmd("va-call", chardev="va0", method="t",
                       **{"async": True})
        tag, _, _ = g.read_call()
        g.reply(tag, value)
        e = vm.qmp.event("VA_CALL_DONE")["data"]
        check(e["id"] == r["id"] and "error" in e and "result" not in e,
              "%r" % e)
    cid = vm.qmp.send("va-info", chardev="va0")
    g.answer("va.info", {"version": "1", "session": "s", "uptime_s": 1,
                         "hostname": "h", "kernel": "k", "arch": "a",
                         "os": {"x": nan}})
    qmp_error(vm.qmp.wait(cid))
    cid = vm.qmp.send("human-monitor-command",
                      **{"command-line": "va_call -c va0 t"})
    tag, _, _ = g.read_call()
    g.reply(tag, inf)
    out = vm.qmp.wait(cid)["return"]
    check(out.startswith("Error:"), out)
    # QEMU's JSON parser reads 1e999 as infinity: not sent to the guest
    vm.qmp.sock.sendall(b'{"execute": "va-call", "id": "inf", "arguments":'
                        b' {"chardev": "va0", "method": "t",'
                        b' "params": [1e999]}}\n')
    desc = qmp_error(vm.qmp.wait("inf"))
    check("not finite" in desc, desc)
    check(g.idle(), "a call with infinity reached the guest")
    check(g.call("va.ping", ()) == "pong", "ping after the attempts")
    check(not [e for e in vm.qmp.events if e["event"] == "VA_GUEST_NOTIFY"],
          "a notification got through")


@test
def qmp_commands_with_agent(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    q = vm.qmp

    cid = q.send("va-ping", chardev="va0")
    check(g.answer("va.ping", "pong") == (), "ping params")
    check(q.wait(cid) == {"id": cid, "return": {}}, "va-ping")

    cid = q.send("va-capabilities", chardev="va0")
    g.answer("va.capabilities", {"version": "2.0.0",
                                 "methods": ["va.ping", "va.info"]})
    r = q.wait(cid)["return"]
    check(r == {"version": "2.0.0", "methods": ["va.ping", "va.info"]},
          "%r" % r)

    cid = q.send("va-info", chardev="va0")
    g.answer("va.info", {"version": "2.0.0", "session": "abc",
                         "uptime_s": 12, "hostname": "vm1",
                         "kernel": "6.1.0", "arch": "x86_64",
                         "os": {"PRETTY_NAME": "Debian 12"}})
    r = q.wait(cid)["return"]
    check(r == {"version": "2.0.0", "session": "abc", "uptime": 12,
                "hostname": "vm1", "kernel": "6.1.0", "arch": "x86_64",
                "os": {"PRETTY_NAME": "Debian 12"}}, "%r" % r)

    cid = q.send("va-info", chardev="va0")
    g.answer("va.info", {"version": 7})
    check("lacks string 'version'" in qmp_error(q.wait(cid)),
          "bad va.info answer accepted")

    cid = q.send("va-shutdown", chardev="va0", mode="powerdown")
    check(g.answer("va.shutdown", True) == ("powerdown",), "shutdown")
    check("return" in q.wait(cid), "va-shutdown")

    cid = q.send("va-getfile", chardev="va0", path="/etc/hostname",
                 offset=3, length=10)
    p = g.answer("va.getfile", {"data": b"\x00\x01\xffhi", "eof": False,
                                "size": 1 << 40})
    check(p == ("/etc/hostname", 3, 10), "getfile params %r" % (p,))
    r = q.wait(cid)["return"]
    check(r == {"data": base64.b64encode(b"\x00\x01\xffhi").decode(),
                "eof": False, "size": 1 << 40}, "%r" % r)

    cid = q.send("va-getdmesg", chardev="va0", **{"max-bytes": 100})
    check(g.answer("va.getdmesg", "[0.0] boot\n") == (100,), "dmesg args")
    check(q.wait(cid)["return"] == {"text": "[0.0] boot\n"}, "dmesg")

    cid = q.send("va-ping", chardev="va0")
    tag, _, _ = g.read_call()
    g.reply_fault(tag, 42, "boom")
    desc = qmp_error(q.wait(cid))
    check(desc == "guest fault 42: boom", desc)


@test
def files_through_passed_fds(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    q = vm.qmp
    d = vm.tmp
    blob = bytes(range(256)) * 12

    # va-putfile from a passed fd: one chunk, the last, with the options
    src = os.path.join(d, "src")
    with open(src, "wb") as f:
        f.write(blob)
    q.pass_file("src", src, os.O_RDONLY)
    cid = q.send("va-putfile", chardev="va0", path="/g/f", fdname="src",
                 mode=0o600, owner="bob:staff")
    p = g.answer("va.putfile", {"transfer": 1000, "size": len(blob),
                                "done": True})
    check(p == ("/g/f", blob, {"final": True, "mode": 0o600,
                               "owner": "bob:staff"}),
          "putfile params %r" % ((p[0], p[2:]),))
    r = q.wait(cid)["return"]
    check(r == {"size": len(blob),
                "sha256": hashlib.sha256(blob).hexdigest()}, "%r" % r)
    # the descriptor was QEMU's to close: the name is gone
    check("not found" in qmp_error(q.cmd_raw("closefd", fdname="src")),
          "fd still named after the transfer")

    # va-putfile with data: one call
    cid = q.send("va-putfile", chardev="va0", path="/g/small",
                 data=base64.b64encode(b"hi").decode())
    p = g.answer("va.putfile", {"transfer": 1001, "size": 2, "done": True})
    check(p == ("/g/small", b"hi", {"final": True}), "%r" % (p,))
    r = q.wait(cid)["return"]
    check(r == {"size": 2, "sha256": hashlib.sha256(b"hi").hexdigest()},
          "%r" % r)
    cid = q.send("va-putfile", chardev="va0", path="/g/small", data="aGk=",
                 **{"async": True})
    g.answer("va.putfile", {"transfer": 1002, "size": 2, "done": True})
    aid = q.wait(cid)["return"]["id"]
    e = q.event("VA_CALL_DONE", pred=lambda e: e["data"]["id"] == aid)
    check(e["data"]["result"] == {"size": 2}, "%r" % e)

    # the guest's fault comes back as it is
    q.pass_file("src", src, os.O_RDONLY)
    cid = q.send("va-putfile", chardev="va0", path="/full/f", fdname="src")
    tag, _, _ = g.read_call()
    g.reply_fault(tag, 1008, "/full/f: No space left on device (ENOSPC)")
    desc = qmp_error(q.wait(cid))
    check("ENOSPC" in desc, desc)

    # va-getfile into a passed fd: chunks until eof
    dst = os.path.join(d, "dst")
    q.pass_file("dst", dst, os.O_WRONLY | os.O_CREAT, 0o600)
    cid = q.send("va-getfile", chardev="va0", path="/g/f", fdname="dst")
    p1 = g.answer("va.getfile", {"data": blob[:1000], "eof": False,
                                 "size": len(blob)})
    p2 = g.answer("va.getfile", {"data": blob[1000:], "eof": True,
                                 "size": len(blob)})
    check(p1 == ("/g/f", 0, 1 << 20) and p2 == ("/g/f", 1000, 1 << 20),
          "getfile params %r %r" % (p1, p2))
    r = q.wait(cid)["return"]
    check(r == {"eof": True, "size": len(blob),
                "sha256": hashlib.sha256(blob).hexdigest()}, "%r" % r)
    with open(dst, "rb") as f:
        check(f.read() == blob, "the host file differs")

    # a guest that trickles chunks and never says eof: the timeout
    # bounds the whole transfer, since it holds the QMP dispatcher
    q.pass_file("dst", dst, os.O_WRONLY | os.O_TRUNC)
    t = time.monotonic()
    cid = q.send("va-getfile", chardev="va0", path="/g/f", fdname="dst",
                 timeout=1)
    chunks = 0
    while True:
        r = q.poll(cid)
        if r is not None or time.monotonic() - t > 10:
            break
        try:
            tag, method, _ = g.read_call(0.05)
        except TestFailure:
            continue
        check(method == "va.getfile", method)
        g.reply(tag, {"data": b"y" * 100, "eof": False, "size": 1 << 40})
        chunks += 1
    took = time.monotonic() - t
    check(r is not None, "trickle: va-getfile still running after %.1f s"
          % took)
    desc = qmp_error(r)
    check(took < 5 and chunks >= 2, "trickle: %.1f s, %d chunks: %s"
          % (took, chunks, desc))
    check("timeout" in desc or "timed out" in desc, desc)
    print("  a guest trickling chunks: va-getfile ended after %.2f s and "
          "%d chunks: %s" % (took, chunks, desc))
    while True:         # a call the host gave up on may be unread
        try:
            g.read_call(0.3)
        except TestFailure:
            break

    # a descriptor open for the wrong direction: refused before any call
    q.pass_file("dst", dst, os.O_RDONLY)
    desc = qmp_error(q.cmd_raw("va-getfile", chardev="va0", path="/g/f",
                               fdname="dst"))
    check(desc == "'dst' is not open for writing", desc)
    q.pass_file("src", dst, os.O_WRONLY)
    desc = qmp_error(q.cmd_raw("va-putfile", chardev="va0", path="/g/f",
                               fdname="src", **{"async": True}))
    check(desc == "'src' is not open for reading", desc)
    check(g.idle(), "a wrong-direction transfer reached the guest")

    # refused before any call
    for args, msg in (
            ({"path": "/f"}, "either 'data' or 'fdname'"),
            ({"path": "/f", "data": "aGk=", "fdname": "x"},
             "either 'data' or 'fdname'"),
            ({"path": "/f", "fdname": "nope"}, "nope"),
            ({"path": "/f", "data": "aGk=", "mode": 0o10000}, "mode must"),
            ({"path": "/f", "fdname": "x", "async": True}, "'x'")):
        desc = qmp_error(q.cmd_raw("va-putfile", chardev="va0", **args))
        check(msg in desc, "%r: %s" % (args, desc))
    desc = qmp_error(q.cmd_raw("va-getfile", chardev="va0", path="/f",
                               fdname="x", length=5))
    check("without 'length'" in desc, desc)
    check(g.idle(), "a refused command reached the guest")

    # HMP opens the host files itself
    out_path = os.path.join(d, "out")
    cid = q.send("human-monitor-command", **{
        "command-line": "va_putfile -c va0 %s /g/h" % src})
    p = g.answer("va.putfile", {"transfer": 1003, "size": len(blob),
                                "done": True})
    check(p == ("/g/h", blob, {"final": True}), "%r" % ((p[0], p[2:]),))
    out = q.wait(cid)["return"]
    check(out == "wrote %d bytes, sha256 %s\r\n"
          % (len(blob), hashlib.sha256(blob).hexdigest()), repr(out))
    cid = q.send("human-monitor-command", **{
        "command-line": "va_getfile -c va0 /g/h %s" % out_path})
    g.answer("va.getfile", {"data": b"abc", "eof": True, "size": 3})
    out = q.wait(cid)["return"]
    check(out == "read 3 bytes, sha256 %s\r\n"
          % hashlib.sha256(b"abc").hexdigest(), repr(out))
    with open(out_path, "rb") as f:
        check(f.read() == b"abc", "va_getfile's host file")
    # a failed read leaves no host file behind
    cid = q.send("human-monitor-command", **{
        "command-line": "va_getfile -c va0 /nope %s.2" % out_path})
    tag, _, _ = g.read_call()
    g.reply_fault(tag, 1008, "/nope: No such file or directory (ENOENT)")
    out = q.wait(cid)["return"]
    check("ENOENT" in out and not os.path.exists(out_path + ".2"), out)
    cid = q.send("human-monitor-command", **{
        "command-line": "va_putfile -c va0 %s /full/h" % src})
    tag, _, _ = g.read_call()
    g.reply_fault(tag, 1008, "/full/h: No space left on device (ENOSPC)")
    out = q.wait(cid)["return"]
    check(out.startswith("Error: ") and "ENOSPC" in out, out)
    # the interactive monitor: suspended through the chunks
    hmp = Hmp(vm.hmp_path)
    hmp.send("va_getfile -c va0 /g/h %s.3" % out_path)
    g.answer("va.getfile", {"data": b"ab", "eof": False, "size": 4})
    check(hmp.prompt_pending(), "prompt came back before the last chunk")
    g.answer("va.getfile", {"data": b"cd", "eof": True, "size": 4})
    out = hmp.until_prompt()
    check("read 4 bytes, sha256 %s" % hashlib.sha256(b"abcd").hexdigest()
          in out, out)
    with open(out_path + ".3", "rb") as f:
        check(f.read() == b"abcd", "interactive va_getfile's host file")


@test
def files_through_fds_async(ctx):
    """va-getfile and va-putfile with fdname and async: a job listed by
    query-virtagent, VA_CALL_DONE with the size and sha256, va-cancel."""
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    q = vm.qmp
    d = vm.tmp
    blob = bytes(range(256)) * 12

    def transfer_jobs():
        return [c for c in q.cmd("query-virtagent")[0]["calls"]
                if c["method"] in ("va-getfile", "va-putfile")]

    # get: the command returns at once, the job is listed meanwhile
    dst = os.path.join(d, "dst")
    q.pass_file("dst", dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    r = q.cmd("va-getfile", chardev="va0", path="/g/f", fdname="dst",
              **ASYNC)
    check(list(r) == ["id"], "%r" % r)
    jobs = transfer_jobs()
    check([(j["id"], j["method"]) for j in jobs] == [(r["id"], "va-getfile")],
          "%r" % jobs)
    g.answer("va.getfile", {"data": blob[:1000], "eof": False,
                            "size": len(blob)})
    g.answer("va.getfile", {"data": blob[1000:], "eof": True,
                            "size": len(blob)})
    e = call_done(q, r["id"])["data"]
    check(e == {"id": r["id"], "chardev": "va0", "result": {
        "eof": True, "size": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest()}}, "%r" % e)
    with open(dst, "rb") as f:
        check(f.read() == blob, "the host file differs")
    check(transfer_jobs() == [], "the job is still listed")

    # put: the same with the options
    src = os.path.join(d, "src")
    with open(src, "wb") as f:
        f.write(blob)
    q.pass_file("src", src, os.O_RDONLY)
    r = q.cmd("va-putfile", chardev="va0", path="/g/p", fdname="src",
              mode=0o600, **ASYNC)
    p = g.answer("va.putfile", {"transfer": 2000, "size": len(blob),
                                "done": True})
    check(p == ("/g/p", blob, {"final": True, "mode": 0o600}),
          "putfile params %r" % ((p[0], p[2:]),))
    e = call_done(q, r["id"])["data"]
    check(e == {"id": r["id"], "chardev": "va0", "result": {
        "size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}},
        "%r" % e)

    # the guest's fault, and the bytes moved before it, in the event
    q.pass_file("dst", dst, os.O_WRONLY | os.O_TRUNC)
    r = q.cmd("va-getfile", chardev="va0", path="/g/f", fdname="dst",
              **ASYNC)
    g.answer("va.getfile", {"data": blob[:100], "eof": False,
                            "size": len(blob)})
    tag, _, _ = g.read_call()
    g.reply_fault(tag, 1008, "/g/f: Permission denied (EACCES)")
    e = call_done(q, r["id"])["data"]
    check(e.get("error") == "va-getfile '/g/f' after 100 bytes: guest fault "
          "1008: /g/f: Permission denied (EACCES)", "%r" % e)

    # va-cancel of a get waiting for its second chunk: that call is
    # cancelled, the host file keeps what was written
    q.pass_file("dst", dst, os.O_WRONLY | os.O_TRUNC)
    r = q.cmd("va-getfile", chardev="va0", path="/g/f", fdname="dst",
              **ASYNC)
    g.answer("va.getfile", {"data": blob[:1000], "eof": False,
                            "size": len(blob)})
    tag, method, params = g.read_call()
    check(method == "va.getfile" and params[1] == 1000, "%r" % (params,))
    check(q.cmd("va-cancel", chardev="va0", id=r["id"]) == {}, "va-cancel")
    e = call_done(q, r["id"])["data"]
    check(e.get("error") == "va-getfile '/g/f' after 1000 bytes: cancelled "
          "by va-cancel", "%r" % e)
    g.reply(tag, {"data": blob[1000:], "eof": True, "size": len(blob)})
    with open(dst, "rb") as f:
        check(f.read() == blob[:1000], "the host file after a cancel")
    check(transfer_jobs() == [] and g.idle(), "calls after the cancel")
    desc = qmp_error(q.cmd_raw("va-cancel", id=r["id"]))
    check("no pending virtagent call" in desc, desc)

    # va-cancel of a put while QEMU waits for its descriptor (a pipe):
    # no call ever reaches the guest, the descriptor is closed
    rd, wr = os.pipe()
    q.getfd("src", rd)
    os.close(rd)
    r = q.cmd("va-putfile", chardev="va0", path="/g/p", fdname="src",
              **ASYNC)
    check(q.cmd("va-cancel", id=r["id"]) == {}, "va-cancel")
    os.write(wr, b"late")
    os.close(wr)
    e = call_done(q, r["id"])["data"]
    check(e.get("error") == "va-putfile '/g/p' after 0 bytes: cancelled "
          "by va-cancel", "%r" % e)
    check(g.idle(), "a cancelled put reached the guest")
    check("not found" in qmp_error(q.cmd_raw("closefd", fdname="src")),
          "fd still named after the transfer")

    # va-cancel of a get whose descriptor never takes a byte (a full
    # non-blocking pipe nobody reads): the worker waiting on it ends too
    rd, wr = os.pipe()
    os.set_blocking(wr, False)
    try:
        while True:
            os.write(wr, b"x" * 65536)
    except BlockingIOError:
        pass
    q.getfd("dst", wr)
    os.close(wr)
    r = q.cmd("va-getfile", chardev="va0", path="/g/f", fdname="dst",
              **ASYNC)
    g.answer("va.getfile", {"data": blob[:1000], "eof": False,
                            "size": len(blob)})
    check(q.cmd("va-cancel", id=r["id"]) == {}, "va-cancel")
    e = call_done(q, r["id"])["data"]
    check(e.get("error") == "va-getfile '/g/f' after 0 bytes: cancelled "
          "by va-cancel", "%r" % e)
    os.close(rd)

    # through an fdset, as libvirt passes files: the descriptor open for
    # the transfer's direction is used, and given back when it ends
    fd = os.open(dst, os.O_WRONLY | os.O_TRUNC)
    q.add_fd(7, fd)
    os.close(fd)
    desc = qmp_error(q.cmd_raw("va-putfile", chardev="va0", path="/g/p",
                               fdname="/dev/fdset/7"))
    check(desc.startswith("'/dev/fdset/7' has no descriptor open "
                          "read-only"), desc)
    r = q.cmd("va-getfile", chardev="va0", path="/g/f",
              fdname="/dev/fdset/7", **ASYNC)
    g.answer("va.getfile", {"data": blob, "eof": True, "size": len(blob)})
    e = call_done(q, r["id"])["data"]
    check(e.get("result", {}).get("size") == len(blob), "%r" % e)
    with open(dst, "rb") as f:
        check(f.read() == blob, "the host file through an fdset differs")
    fdsets = q.cmd("query-fdsets")
    check([len(s["fds"]) for s in fdsets if s["fdset-id"] == 7] == [1],
          "fdset 7 after the transfer: %r" % fdsets)
    q.cmd("remove-fd", **{"fdset-id": 7})

    # a synchronous transfer is a job too, and the channel goes on
    q.pass_file("dst", dst, os.O_WRONLY | os.O_TRUNC)
    cid = q.send("va-getfile", chardev="va0", path="/g/f", fdname="dst")
    g.answer("va.getfile", {"data": b"ok", "eof": True, "size": 2})
    check(q.wait(cid)["return"]["size"] == 2, "sync va-getfile")


DATA_METHODS = ("va.ping", "va.getfile_data", "va.putfile_data")


@test
def files_through_data_frames(ctx):
    """A guest that lists va.getfile_data and va.putfile_data: transfers
    through descriptors go in DATA frames, one call each; sha256 checked
    against the guest's; va-cancel and host errors abort the stream."""
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    q = vm.qmp
    d = vm.tmp
    g.hello("1111111111111111", methods=DATA_METHODS)
    # every byte value, 0xFE and 0xFF (escaped) among them
    blob = bytes(range(256)) * 12
    sha = hashlib.sha256(blob).hexdigest()

    # get: DATA frames before the answer
    dst = os.path.join(d, "dst")
    q.pass_file("dst", dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    r = q.cmd("va-getfile", chardev="va0", path="/g/f", fdname="dst",
              offset=5, **ASYNC)
    tag, method, params = g.read_call()
    check((method, params) == ("va.getfile_data",
                               ("/g/f", 5, -1, {"sha256": False})),
          "%s %r" % (method, params))
    g.data(tag, 0, blob[:1000])
    g.data(tag, 1000, blob[1000:])
    g.reply(tag, {"size": len(blob), "eof": True, "sha256": sha,
                  "file_size": len(blob) + 5})
    e = call_done(q, r["id"])["data"]
    check(e.get("result") == {"eof": True, "size": len(blob),
                              "sha256": sha}, "%r" % e)
    with open(dst, "rb") as f:
        check(f.read() == blob, "the host file differs")

    # a guest that did not hash ("" as asked): QEMU's digest stands
    q.pass_file("dst", dst, os.O_WRONLY | os.O_TRUNC)
    cid = q.send("va-getfile", chardev="va0", path="/g/f", fdname="dst")
    tag, _, _ = g.read_call()
    g.data(tag, 0, blob)
    g.reply(tag, {"size": len(blob), "eof": True, "sha256": "",
                  "file_size": len(blob)})
    r = q.wait(cid)
    check(r.get("return", {}).get("sha256") == sha, "%r" % r)

    # a guest that hashed anyway must agree with QEMU
    q.pass_file("dst", dst, os.O_WRONLY | os.O_TRUNC)
    cid = q.send("va-getfile", chardev="va0", path="/g/f", fdname="dst")
    tag, _, _ = g.read_call()
    g.data(tag, 0, b"abc")
    g.reply(tag, {"size": 3, "eof": True, "sha256": sha, "file_size": 3})
    desc = qmp_error(q.wait(cid))
    check("va.getfile_data: the guest's sha256 %s differs" % sha in desc,
          desc)

    # put: the guest grants credit, takes the bytes up to End ok
    src = os.path.join(d, "src")
    with open(src, "wb") as f:
        f.write(blob)
    q.pass_file("src", src, os.O_RDONLY)
    r = q.cmd("va-putfile", chardev="va0", path="/g/p", fdname="src",
              mode=0o600, owner="bob", **ASYNC)
    tag, method, params = g.read_call()
    check((method, params) == ("va.putfile_data",
                               ("/g/p", {"sha256": False, "mode": 0o600,
                                         "owner": "bob"})),
          "%s %r" % (method, params))
    check(g.idle(0.2), "data sent before any credit")
    g.credit(tag, 1 << 20)
    got, how = g.read_upload(tag)
    check(got == blob and how == "ok", "upload: %d bytes, %s"
          % (len(got), how))
    g.reply(tag, {"size": len(blob), "sha256": sha})
    e = call_done(q, r["id"])["data"]
    check(e.get("result") == {"size": len(blob), "sha256": sha}, "%r" % e)

    # va-cancel of a put held by the guest's credit: End abort
    q.pass_file("src", src, os.O_RDONLY)
    r = q.cmd("va-putfile", chardev="va0", path="/g/p", fdname="src",
              **ASYNC)
    tag, _, _ = g.read_call()
    g.credit(tag, 1000)
    f = g.read_frame()
    check(f.kind == "data" and f.fields["X-Virtagent-Offset"] == "0" and
          "X-Virtagent-End" not in f.fields, "first DATA frame")
    check(g.idle(0.2), "data sent past the credit")
    calls = q.cmd("query-virtagent")[0]["calls"]
    check([c["method"] for c in calls] == ["va-putfile", "va.putfile_data"],
          "%r" % calls)
    check(q.cmd("va-cancel", id=r["id"]) == {}, "va-cancel")
    f = g.read_frame()
    check(f.kind == "data" and f.fields.get("X-Virtagent-End") == "abort",
          "no End abort: %s %r" % (f.kind, f.fields))
    e = call_done(q, r["id"])["data"]
    check(e.get("error") == "va-putfile '/g/p' after 1000 bytes: cancelled "
          "by va-cancel", "%r" % e)
    g.reply_fault(tag, 1007, "aborted")

    # the guest refuses a put at once (its fault ends the stream)
    q.pass_file("src", src, os.O_RDONLY)
    cid = q.send("va-putfile", chardev="va0", path="/ro/p", fdname="src")
    tag, _, _ = g.read_call()
    g.reply_fault(tag, 1008, "/ro/p: Read-only file system (EROFS)")
    desc = qmp_error(q.wait(cid))
    check(desc == "va-putfile '/ro/p' after 0 bytes: guest fault 1008: "
          "/ro/p: Read-only file system (EROFS)", desc)

    # the host's disk full: CREDIT abort to the guest
    q.pass_file("dst", "/dev/full", os.O_WRONLY)
    cid = q.send("va-getfile", chardev="va0", path="/g/f", fdname="dst")
    tag, _, _ = g.read_call()
    g.data(tag, 0, blob)
    f = g.read_frame()
    check(f.kind == "credit" and f.fields["X-Virtagent-Credit"] == "abort",
          "no CREDIT abort: %s %r" % (f.kind, f.fields))
    g.reply_fault(tag, 1007, "aborted")
    desc = qmp_error(q.wait(cid))
    check(desc == "va-getfile '/g/f' after 0 bytes: writing into 'dst' on "
          "the host: No space left on device", desc)
    check(g.idle(), "frames after the transfers")
    check(q.cmd("query-virtagent")[0]["calls"] == [], "calls left")


@test
def raw_data_frames(ctx):
    """A guest with the data-raw feature is asked for raw bodies on a get:
    QEMU takes them by their length, 0xFF and a framed call inside them
    included, and a put still goes escaped (read_upload checks)."""
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    q = vm.qmp
    d = vm.tmp
    g.hello("3333333333333333", methods=DATA_METHODS,
            features=("data", "data-raw"))
    info = q.cmd("query-virtagent")[0]
    check(info.get("features") == ["data", "data-raw"], "%r" % info)
    blob = (bytes(range(256)) * 8 + g.frame("call", "evil.1", b"<x/>") +
            b"\xff" * 300)
    sha = hashlib.sha256(blob).hexdigest()

    dst = os.path.join(d, "dst")
    q.pass_file("dst", dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    cid = q.send("va-getfile", chardev="va0", path="/g/f", fdname="dst")
    tag, method, params = g.read_call()
    check((method, params) == ("va.getfile_data",
                               ("/g/f", 0, -1, {"sha256": False,
                                                "raw": True})),
          "%s %r" % (method, params))
    g.data(tag, 0, blob[:2100], raw=True)
    g.data(tag, 2100, blob[2100:], raw=True)
    g.reply(tag, {"size": len(blob), "eof": True, "sha256": sha,
                  "file_size": len(blob)})
    r = q.wait(cid)
    check(r.get("return", {}).get("sha256") == sha, "%r" % r)
    with open(dst, "rb") as f:
        check(f.read() == blob, "the host file differs")
    check(g.idle(0.2), "QEMU answered a call from inside the data")

    # host to guest stays escaped
    src = os.path.join(d, "src")
    with open(src, "wb") as f:
        f.write(blob)
    q.pass_file("src", src, os.O_RDONLY)
    cid = q.send("va-putfile", chardev="va0", path="/g/p", fdname="src")
    tag, method, _ = g.read_call()
    check(method == "va.putfile_data", method)
    g.credit(tag, 1 << 20)
    got, how = g.read_upload(tag)
    check(got == blob and how == "ok", "put: %d bytes, %s" % (len(got), how))
    g.reply(tag, {"size": len(blob), "sha256": sha})
    check(q.wait(cid).get("return", {}).get("sha256") == sha, "put")
    check(info["bad-frames"] == 0 and
          q.cmd("query-virtagent")[0]["bad-frames"] == 0, "bad frames")


@test
def va_call_mapping(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    params = [1, 1 << 40, 1.5, "s<&>", True, None, {"base64": "AAE="},
              {"i8": 5}, [1, [2]], {"a": {"b": "c"}},
              {"datetime": "20240102T03:04:05"}]
    cid = vm.qmp.send("va-call", chardev="va0", method="test.echo",
                      params=params)
    tag, method, got = g.read_call()
    check(method == "test.echo", method)
    check(got[:6] == (1, 1 << 40, 1.5, "s<&>", True, None), "%r" % (got,))
    check(got[6] == b"\x00\x01" and got[7] == 5, "%r" % (got,))
    check(got[8] == [1, [2]] and got[9] == {"a": {"b": "c"}}, "%r" % (got,))
    check(str(got[10]) == "2024-01-02 03:04:05", "%r" % (got[10],))
    g.reply(tag, [got[0], got[1], got[2], got[3], got[4], got[5],
                  xmlrpc.client.Binary(got[6]), got[8], got[9], got[10]])
    r = vm.qmp.wait(cid)["return"]["result"]
    check(r == [1, 1 << 40, 1.5, "s<&>", True, None,
                {"base64": "AAE="}, [1, [2]], {"a": {"b": "c"}},
                {"datetime": "20240102T03:04:05"}], "%r" % r)
    # HMP prints the decoded answer, words taken as JSON or strings
    cid = vm.qmp.send("human-monitor-command",
                      **{"command-line": "va_call -c va0 test.echo 42 "
                         "word '{\"k\": [true]}'"})
    tag, method, got = g.read_call()
    check(got == (42, "word", {"k": [True]}), "%r" % (got,))
    g.reply(tag, {"k": [True], "s": "x"})
    out = vm.qmp.wait(cid)["return"]
    check(json.loads(out) == {"k": [True], "s": "x"}, out)


@test
def async_calls_in_flight(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    ids = []
    for i in range(3):
        r = vm.qmp.cmd("va-call", chardev="va0", method="test.n",
                       params=[i], **{"async": True})
        ids.append(r["id"])
    check(len(set(ids)) == 3, "%r" % ids)
    calls = [g.read_call() for _ in range(3)]
    check([c[2] for c in calls] == [(0,), (1,), (2,)], "%r" % calls)
    info = vm.qmp.cmd("query-virtagent")[0]
    check(info["in-flight"] == 3, "%r" % info)
    # answer in reverse order; each event carries its own result
    g.reply_fault(calls[2][0], 7, "third")
    g.reply(calls[1][0], "second")
    g.reply(calls[0][0], "first")
    done = {}
    for _ in range(3):
        e = vm.qmp.event("VA_CALL_DONE")["data"]
        done[e["id"]] = e
    check(done[ids[0]]["result"] == "first" and
          done[ids[1]]["result"] == "second" and
          done[ids[2]]["error"] == "guest fault 7: third", "%r" % done)
    check(all(d["chardev"] == "va0" for d in done.values()), "%r" % done)


@test
def window_limits_calls_in_flight(ctx):
    vm = ctx.vm()
    g1 = ctx.guest(vm, COM2)        # va1 has window=1
    for i in range(2):
        vm.qmp.cmd("va-call", chardev="va1", method="test.n", params=[i],
                   **{"async": True})
    tag, _, p = g1.read_call()
    check(p == (0,), "%r" % (p,))
    check(g1.idle(), "second call sent beyond the window")
    info = vm.qmp.cmd("query-virtagent")[1]
    check(info["in-flight"] == 1 and info["queued"] == 1, "%r" % info)
    g1.reply(tag, 0)
    tag, _, p = g1.read_call()
    check(p == (1,), "%r" % (p,))
    g1.reply(tag, 1)
    vm.qmp.event("VA_CALL_DONE")
    vm.qmp.event("VA_CALL_DONE")


@test
def agent_restart_mid_call(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    g.hello("aaaaaaaaaaaaaaaa")
    vm.qmp.event("VA_AGENT_CONNECTED")
    vm.qtest.clock_step()   # past its throttling period
    # async first: a waiting va-ping holds every later QMP command
    r = vm.qmp.cmd("va-call", chardev="va0", method="va.ping",
                   **{"async": True})
    cid = vm.qmp.send("va-ping", chardev="va0", timeout=20)
    g.read_call()
    g.read_call()
    g.hello("bbbbbbbbbbbbbbbb")
    desc = qmp_error(vm.qmp.wait(cid, 5))
    check("disconnected during the call" in desc, desc)
    e = vm.qmp.event("VA_CALL_DONE")["data"]
    check(e["id"] == r["id"] and "disconnected" in e["error"], "%r" % e)
    vm.qmp.event("VA_AGENT_DISCONNECTED")
    info = vm.qmp.cmd("query-virtagent")[0]
    check(info["dropped"] == 2 and info["in-flight"] == 0, "%r" % info)


def hmp_answered(vm, g, line, method, value):
    """HMP @line through human-monitor-command, the guest answering its
    call of @method with @value: the output and the call's params."""
    cid = vm.qmp.send("human-monitor-command", **{"command-line": line})
    params = g.answer(method, value)
    return vm.qmp.wait(cid)["return"], params


@test
def hmp_commands_through_qmp(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)

    def run(line, method, value):
        return hmp_answered(vm, g, line, method, value)

    out, _ = run("va_ping -c va0", "va.ping", "pong")
    check(out == "guest agent answered\r\n", repr(out))
    out, _ = run("va_capabilities -c va0", "va.capabilities",
                 {"version": "2.0", "methods": ["a", "b"]})
    check("guest agent version: 2.0" in out and "methods: a b" in out, out)
    out, _ = run("va_info -c va0", "va.info",
                 {"version": "2.0", "session": "s", "uptime_s": 5,
                  "hostname": "h\x7f\u009b2J", "kernel": "k",
                  "os": {"pretty_name": "Debian"}})
    check("hostname: h\\x7f\\xc2\\x9b2J" in out and "uptime: 5 s" in out and
          "os: Debian" in out, out)
    out, p = run("va_shutdown -c va0 reboot", "va.shutdown", True)
    check(p == ("reboot",) and "accepted reboot" in out, out)
    out, p = run("va_getfile -c va0 /etc/motd", "va.getfile",
                 {"data": b"hello\n", "eof": True, "size": 6})
    check(p == ("/etc/motd", 0, 65536) and out == "hello\r\n", repr(out))
    out, p = run("va_getfile -c va0 /bin/x", "va.getfile",
                 {"data": bytes(range(20)), "eof": False, "size": 999})
    check("binary file" in out and "00000000: 00 01 02 03" in out and
          "(first 20 of 999 bytes)" in out, out)
    out, p = run("va_getdmesg -c va0", "va.getdmesg", "line1\nline2")
    check(out == "line1\r\nline2\r\n", repr(out))
    cid = vm.qmp.send("human-monitor-command",
                      **{"command-line": "va_call -c va0 x.y"})
    tag, _, _ = g.read_call()
    g.reply_fault(tag, 3, "no such thing")
    out = vm.qmp.wait(cid)["return"]
    check("Error: guest fault 3: no such thing" in out, out)
    # non-virtagent commands still work through the coroutine path
    out = vm.qmp.hmp("info status")
    check("VM status" in out, out)
    out = vm.qmp.hmp("help va_getfile")
    check("va_getfile" in out, out)


@test
def interactive_hmp_suspends(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    hmp = Hmp(vm.hmp_path)
    hmp.send("va_ping -c va0")
    tag, method, _ = g.read_call()
    check(method == "va.ping", method)
    check(hmp.prompt_pending(), "prompt came back before the answer")
    # the main loop and QMP go on meanwhile
    check(vm.qmp.cmd("query-virtagent")[0]["in-flight"] == 1, "in-flight")
    g.reply(tag, "pong")
    out = hmp.until_prompt()
    check("guest agent answered" in out, out)
    hmp.send("va_ping -c va0 -t 0.3")
    out = hmp.until_prompt()
    check("timed out" in out, out)
    hmp.send("info virtagent")
    out = hmp.until_prompt()
    check("va0: port open" in out, out)


@test
def hmp_options_any_order(ctx):
    """-c and -t in any order, before the other arguments."""
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    # va1: nothing reads it, so calls time out
    for line in ("va_ping -t 0.3 -c va1", "va_ping -c va1 -t 0.3",
                 "va_call -t 0.3 -c va1 x.y 1", "va_info -t 0.3 -c va1"):
        t = time.monotonic()
        out = vm.qmp.hmp(line)
        took = time.monotonic() - t
        check("timed out" in out, "%s: %r" % (line, out))
        # the default here is 5 s: -t was not ignored
        check(took < 4, "%s: took %.1fs" % (line, took))
    hmp = Hmp(vm.hmp_path)
    hmp.send("va_ping -t 0.3 -c va1")
    out = hmp.until_prompt()
    check("timed out" in out, out)
    # words after the method are the call's, even those starting with -
    cid = vm.qmp.send("human-monitor-command", **{
        "command-line": "va_call -t 5 -c va0 x.y -1 -t '{\"a\": [1]}'"})
    tag, method, params = g.read_call()
    check(method == "x.y" and params == (-1, "-t", {"a": [1]}),
          "%s %r" % (method, params))
    g.reply(tag, True)
    check(vm.qmp.wait(cid)["return"] == "true\r\n", "va_call answer")
    cid = vm.qmp.send("human-monitor-command", **{
        "command-line": "va_getfile -c va0 -t 5 -- '-a b'"})
    p = g.answer("va.getfile", {"data": b"x\n", "eof": True, "size": 2})
    check(p == ("-a b", 0, 65536), "%r" % (p,))
    check(vm.qmp.wait(cid)["return"] == "x\r\n", "va_getfile answer")
    for line, msg in (("va_ping -c", "-c needs a value"),
                      ("va_ping -x", "unknown option '-x'"),
                      ("va_ping -c va0 -c va1", "-c given twice"),
                      ("va_ping -t abc -c va0", "bad timeout 'abc'"),
                      ("va_ping -c va0 -t 0", "timeout must be"),
                      ("va_shutdown -c va0", "missing argument"),
                      ("va_ping -c va0 now", "extraneous argument 'now'"),
                      ("va_call -c va0 'x", "Error:")):
        out = vm.qmp.hmp(line)
        check(msg in out, "%s: %r" % (line, out))
    check(g.idle(), "a refused command reached the guest")


class GdbStub:
    """gdb's remote protocol, enough for its "monitor" command."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TestFailure("no gdbstub at " + path)
                time.sleep(0.05)
        self.buf = b""

    def _packet(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(rb"\$([^#]*)#[0-9a-fA-F]{2}", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                self.sock.sendall(b"+")
                return m.group(1)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("gdbstub: no answer; got %r" % self.buf)
            self.sock.settimeout(left)
            data = self.sock.recv(4096)
            if not data:
                raise TestFailure("gdbstub closed")
            self.buf += data

    def monitor(self, line, timeout=30):
        """The output of "monitor LINE"."""
        data = b"qRcmd," + line.encode().hex().encode()
        self.sock.sendall(b"$%s#%02x" % (data, sum(data) & 0xff))
        out = b""
        while True:
            p = self._packet(timeout)
            if p.startswith(b"O") and p != b"OK":
                out += bytes.fromhex(p[1:].decode())
            elif p == b"OK":
                return out.decode(errors="replace")
            else:
                raise TestFailure("gdbstub: %r" % p)


class PlainVm:
    """QEMU with TCG, stopped, and a gdbstub: qtest has no gdbstub."""

    def __init__(self, ctx, args):
        d = tempfile.mkdtemp(dir=ctx.tmp)
        path = os.path.join(d, "qmp.sock")
        self.gdb_path = os.path.join(d, "gdb.sock")
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.listen(1)
        self.log_path = os.path.join(d, "qemu.log")
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(
            list(ctx.wrapper) + [ctx.binary, "-M", "pc", "-accel", "tcg",
                                 "-S", "-nodefaults", "-display", "none",
                                 "-nic", "none", "-qmp", "unix:" + path,
                                 "-gdb", "unix:%s,server=on,wait=off" %
                                 self.gdb_path] + ctx.extra + args,
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        ctx.vms.append(self)
        listener.settimeout(30)
        try:
            self.qmp = Qmp(listener.accept()[0])
        except socket.timeout:
            with open(self.log_path) as f:
                raise TestFailure("QEMU did not start: " + f.read())
        finally:
            listener.close()

    close = Vm.close


@test
def gdb_monitor_does_not_wait(ctx):
    """gdb's monitor cannot be suspended: va_* fail at once there."""
    vm = PlainVm(ctx, ["-chardev", "virtagent,id=va0,timeout=20",
                       "-device", "isa-serial,chardev=va0"])
    gdb = GdbStub(vm.gdb_path)
    out = gdb.monitor("info virtagent")
    check("va0: port open" in out, out)
    for line in ("va_ping", "va_ping -t 10", "va_getfile /etc/hostname"):
        t = time.monotonic()
        out = gdb.monitor(line)
        took = time.monotonic() - t
        check("cannot wait for the guest agent" in out, "%s: %r" % (line, out))
        t = time.monotonic()
        vm.qmp.cmd("query-status")
        print("  gdb monitor %s: answered in %.3fs, then query-status in "
              "%.3fs" % (line, took, time.monotonic() - t))
    info = vm.qmp.cmd("query-virtagent")[0]
    check(info["sent"] == 0 and info["queued"] == 0, "%r" % info)


@test
def hmp_va_cancel_and_pending_calls(ctx):
    """info virtagent lists pending calls; va_cancel ends one."""
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    hmp = Hmp(vm.hmp_path)
    hmp.send("va_getdmesg -c va0 -t 60")
    g.read_call()
    check(hmp.prompt_pending(), "prompt came back before the answer")
    out = vm.qmp.hmp("info virtagent")
    m = re.search(r"^  pending call (\d+): va\.getdmesg, \d+ ms\r$", out,
                  re.M)
    check(m, out)
    out = vm.qmp.hmp("va_cancel " + m.group(1))
    check(out == "", out)
    # the monitor that made the call gets its answer, and its prompt
    out = hmp.until_prompt()
    check("Error:" in out and "cancelled" in out, out)
    out = vm.qmp.hmp("info virtagent")
    check("pending call" not in out, "still there: %r" % out)
    check("; refused documents: 0\r\n" in out, out)
    for arg, msg in ((m.group(1), "Error:"), ("x", "bad call id 'x'"),
                     ("0", "bad call id '0'")):
        out = vm.qmp.hmp("va_cancel " + arg)
        check(msg in out, "%s: %r" % (arg, out))


def migration_vm(ctx, extra=()):
    """A VM with va0 alone (no second chardev left waiting)."""
    d = tempfile.mkdtemp(dir=ctx.tmp)
    v = Vm(ctx.binary, ctx.extra,
           ["-chardev", "virtagent,id=va0,timeout=10",
            "-device", "isa-serial,chardev=va0,iobase=0x3f8,irq=4"] +
           list(extra), d, ctx.wrapper)
    ctx.vms.append(v)
    return v


def migration_status(vm, want, timeout=60):
    """Wait until query-migrate says one of @want; any other end fails."""
    deadline = time.monotonic() + timeout
    while True:
        st = vm.qmp.cmd("query-migrate").get("status")
        if st in want:
            return st
        check(st not in ("completed", "failed", "cancelled"),
              "migration %s, expected %s" % (st, want))
        check(time.monotonic() < deadline, "migration still %s" % st)
        time.sleep(0.02)


def answer_relearning(g, session, version="test-agent 1.0"):
    """Answer the host's va.info and va.capabilities, in either order."""
    for _ in range(2):
        tag, method, params = g.read_call()
        check(params == (), "%s params %r" % (method, params))
        if method == "va.info":
            g.reply(tag, {"version": version, "session": session,
                          "uptime_s": 5, "hostname": "vm1"})
        else:
            check(method == "va.capabilities", "unexpected " + method)
            g.reply(tag, {"version": version,
                          "methods": ["va.ping", "va.info"]})


@test
def migration_ends_calls_source_resumes(ctx):
    """A completed migration ends every call in flight with "VM
    migrated"; the source, resumed (a memory snapshot, a save that keeps
    the VM running), learns the agent again by calling it."""
    vm = migration_vm(ctx)
    g = ctx.guest(vm, COM1)
    g.hello("1111aaaa2222bbbb")
    vm.qmp.event("VA_AGENT_CONNECTED")
    vm.qtest.clock_step()
    r = vm.qmp.cmd("va-call", chardev="va0", method="va.ping", **ASYNC)
    hmp = Hmp(vm.hmp_path)
    hmp.send("va_ping -c va0 -t 60")
    old_tags = [g.read_call()[0], g.read_call()[0]]
    vm.qmp.cmd("migrate", uri="exec:cat > /dev/null")
    migration_status(vm, ("completed",))
    e = call_done(vm.qmp, r["id"])["data"]
    check("result" not in e and "VM migrated" in e["error"], "%r" % e)
    out = hmp.until_prompt()
    check("Error:" in out and "VM migrated" in out, out)
    e = vm.qmp.event("VA_AGENT_DISCONNECTED")["data"]
    check(e == {"chardev": "va0", "reason": "VM migrated"}, "%r" % e)
    info = vm.qmp.cmd("query-virtagent")[0]
    check(not info["connected"] and info["in-flight"] == 0 and
          info["dropped"] == 2, "%r" % info)
    check(vm.qmp.cmd("query-status")["status"] == "postmigrate", "status")
    desc = qmp_error(vm.qmp.cmd_raw("va-ping", chardev="va0"))
    check(desc == "virtagent 'va0': VM migrated", desc)
    # the guest's late answers match nothing; a stopped VM is not asked
    for tag in old_tags:
        g.reply(tag, "pong")
    check(g.idle(), "host called the guest of a stopped VM")
    vm.qtest.clock_step()
    vm.qmp.cmd("cont")
    answer_relearning(g, "1111aaaa2222bbbb")
    e = vm.qmp.event("VA_AGENT_CONNECTED")["data"]
    check(e == {"chardev": "va0", "version": "test-agent 1.0",
                "session": "1111aaaa2222bbbb"}, "%r" % e)
    info = vm.qmp.cmd("query-virtagent")[0]
    check(info["connected"] and info["methods"] == ["va.ping", "va.info"],
          "%r" % info)
    cid = vm.qmp.send("va-ping", chardev="va0")
    g.answer("va.ping", "pong")
    check("return" in vm.qmp.wait(cid), "va-ping after resuming")
    # the same agent's hello changes nothing
    g.hello("1111aaaa2222bbbb")
    vm.qmp.cmd("query-status")
    check(not [x for x in vm.qmp.events if x["event"].startswith("VA_")],
          "extra events: %r" % vm.qmp.events)


@test
def migration_relearning_refused(ctx):
    """An agent that will not say who it is (va.info blocked) is not
    connected by the relearning; its next hello connects it."""
    vm = migration_vm(ctx)
    g = ctx.guest(vm, COM1)
    vm.qmp.cmd("migrate", uri="exec:cat > /dev/null")
    migration_status(vm, ("completed",))
    vm.qmp.cmd("cont")
    for _ in range(2):
        tag, method, _ = g.read_call()
        if method == "va.info":
            g.reply_fault(tag, VA_FAULT_DISABLED, "va.info is disabled")
        else:
            g.reply(tag, {"version": "x", "methods": ["va.ping"]})
    # one more call: the relearning is over by the time it is answered
    cid = vm.qmp.send("va-ping", chardev="va0")
    g.answer("va.ping", "pong")
    check("return" in vm.qmp.wait(cid), "va-ping")
    info = vm.qmp.cmd("query-virtagent")[0]
    check(not info["connected"] and info["in-flight"] == 0, "%r" % info)
    check(g.idle(), "asked again")
    g.hello("7777aaaa8888bbbb")
    e = vm.qmp.event("VA_AGENT_CONNECTED")["data"]
    check(e["session"] == "7777aaaa8888bbbb", "%r" % e)


@test
def migration_cancelled_changes_nothing(ctx):
    vm = migration_vm(ctx)
    g = ctx.guest(vm, COM1)
    g.hello("3333cccc4444dddd")
    vm.qmp.event("VA_AGENT_CONNECTED")
    # slow enough to be cancelled midway
    vm.qmp.cmd("migrate-set-parameters", **{"max-bandwidth": 4096})
    vm.qmp.cmd("migrate", uri="exec:cat > /dev/null")
    migration_status(vm, ("active",))
    r = vm.qmp.cmd("va-call", chardev="va0", method="va.ping", **ASYNC)
    tag = g.read_call()[0]
    vm.qmp.cmd("migrate_cancel")
    migration_status(vm, ("cancelled",))
    g.reply(tag, "pong")
    e = call_done(vm.qmp, r["id"])["data"]
    check(e.get("result") == "pong", "%r" % e)
    cid = vm.qmp.send("va-ping", chardev="va0")
    g.answer("va.ping", "pong")
    check("return" in vm.qmp.wait(cid), "va-ping after the cancel")
    check(g.call("va.ping", ()) == "pong", "guest call after the cancel")
    info = vm.qmp.cmd("query-virtagent")[0]
    check(info["connected"] and info["session"] == "3333cccc4444dddd",
          "%r" % info)
    check(vm.qmp.cmd("query-status")["status"] == "running", "status")
    check(not [x for x in vm.qmp.events
               if x["event"].startswith("VA_AGENT")], "agent events")


@test
def migration_destination_learns_agent(ctx):
    """The destination learns the agent by calling it; answers to the
    source's calls and the tail of a frame cut by the switch are
    dropped."""
    src = migration_vm(ctx)
    g = ctx.guest(src, COM1)
    g.hello("5555eeee6666ffff", "test-agent 2.0")
    src.qmp.event("VA_AGENT_CONNECTED")
    r = src.qmp.cmd("va-call", chardev="va0", method="va.ping", **ASYNC)
    old_tag = g.read_call()[0]
    # a guest call, half written when the VM stops
    g.counter += 1
    call = g.frame("call", "%s.%d" % (g.session, g.counter),
                   xmlrpc.client.dumps((), "va.ping").encode())
    g.write(call[:len(call) // 2])
    state = os.path.join(ctx.tmp, "state-%d" % os.getpid())
    src.qmp.cmd("migrate", uri="file:" + state)
    migration_status(src, ("completed",))
    e = call_done(src.qmp, r["id"])["data"]
    check("VM migrated" in e.get("error", ""), "%r" % e)
    dst = migration_vm(ctx, ["-incoming", "file:" + state])
    g = ctx.guest(dst, COM1)
    g.session = "5555eeee6666ffff"
    g.write(call[len(call) // 2:])
    g.reply(old_tag, "pong")
    answer_relearning(g, "5555eeee6666ffff", "test-agent 2.0")
    e = dst.qmp.event("VA_AGENT_CONNECTED")["data"]
    check(e == {"chardev": "va0", "version": "test-agent 2.0",
                "session": "5555eeee6666ffff"}, "%r" % e)
    os.unlink(state)
    info = dst.qmp.cmd("query-virtagent")[0]
    check(info["connected"] and info["in-flight"] == 0 and
          info["methods"] == ["va.ping", "va.info"] and
          info["guest-calls"] == 0, "%r" % info)
    cid = dst.qmp.send("va-ping", chardev="va0")
    g.answer("va.ping", "pong")
    check("return" in dst.qmp.wait(cid), "va-ping on the destination")
    check(g.call("va.ping", ()) == "pong", "guest call on the destination")
    check(g.call("va.notify", ("moved",)), "va.notify")
    e = dst.qmp.event("VA_GUEST_NOTIFY")["data"]
    check(e["name"] == "moved", "%r" % e)


@test
def guest_call_during_host_call(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    cid = vm.qmp.send("va-ping", chardev="va0")
    tag, _, _ = g.read_call()
    # while the host waits, the guest calls the host
    check(g.call("va.ping", ()) == "pong", "guest call while host waits")
    g.reply(tag, "pong")
    check("return" in vm.qmp.wait(cid), "va-ping")


@test
def chardev_change(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    g.hello("cccccccccccccccc")
    vm.qmp.event("VA_AGENT_CONNECTED")
    vm.qtest.clock_step()   # past its throttling period
    r = vm.qmp.cmd("va-call", chardev="va0", method="x", **{"async": True})
    g.read_call()
    vm.qmp.cmd("chardev-change", id="va0",
               backend={"type": "virtagent", "data": {"timeout": 3}})
    # the old backend's call fails, its agent is gone
    e = vm.qmp.event("VA_CALL_DONE")["data"]
    check(e["id"] == r["id"] and "disconnected" in e["error"], "%r" % e)
    e = vm.qmp.event("VA_AGENT_DISCONNECTED")["data"]
    check(e == {"chardev": "va0", "reason": "chardev removed"}, "%r" % e)
    info = vm.qmp.cmd("query-virtagent")
    check([i["chardev"] for i in info] == ["va1", "va0"] and
          info[1]["open"] and not info[1]["connected"], "%r" % info)
    cid = vm.qmp.send("va-ping", chardev="va0")
    g.answer("va.ping", "pong")
    check("return" in vm.qmp.wait(cid), "ping on the new backend")
    # its own default timeout, 3 s
    t = time.monotonic()
    desc = qmp_error(vm.qmp.cmd_raw("va-ping", chardev="va0"))
    took = time.monotonic() - t
    check("timed out" in desc and 2.5 < took < 6, "%s %.1fs" % (desc, took))


@test
def quit_while_qmp_call_waits(ctx):
    vm = ctx.vm()
    cid = vm.qmp.send("va-ping", chardev="va0", timeout=60)
    hmp = Hmp(vm.hmp_path)
    time.sleep(0.2)
    check(vm.qmp.poll(cid) is None, "va-ping returned early")
    t = time.monotonic()
    hmp.send("quit")
    try:
        vm.proc.wait(10)
    except subprocess.TimeoutExpired:
        raise TestFailure("QEMU still running 10s after quit")
    check(time.monotonic() - t < 5, "quit took %.1fs" % (time.monotonic() - t))
    check(vm.proc.returncode == 0, "exit code %d" % vm.proc.returncode)


@test
def quit_while_transfers_run(ctx):
    """QEMU quits with a get in data frames and a put in chunk calls
    under way: both jobs end with the chardev, QEMU exits cleanly."""
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    q = vm.qmp
    g.hello("2222222222222222", methods=("va.ping", "va.getfile_data"))
    path = os.path.join(vm.tmp, "f")
    with open(path, "wb") as f:
        f.write(b"y" * 100)
    q.pass_file("dst", path, os.O_WRONLY)
    q.cmd("va-getfile", chardev="va0", path="/g/a", fdname="dst", **ASYNC)
    tag, method, _ = g.read_call()
    check(method == "va.getfile_data", method)
    g.data(tag, 0, b"x" * 100)
    q.pass_file("src", path, os.O_RDONLY)
    q.cmd("va-putfile", chardev="va0", path="/g/b", fdname="src", **ASYNC)
    _, method, _ = g.read_call()
    check(method == "va.putfile", method)
    calls = q.cmd("query-virtagent")[0]["calls"]
    check([c["method"] for c in calls] == ["va-getfile", "va.getfile_data",
                                           "va-putfile", "va.putfile"],
          "%r" % calls)
    q.send("quit")
    try:
        vm.proc.wait(10)
    except subprocess.TimeoutExpired:
        raise TestFailure("QEMU still running 10s after quit")
    check(vm.proc.returncode == 0, "exit code %d" % vm.proc.returncode)


@test
def quit_while_hmp_call_waits(ctx):
    vm = ctx.vm()
    hmp = Hmp(vm.hmp_path)
    hmp.send("va_ping -c va0 -t 60")
    check(hmp.prompt_pending(), "prompt came back")
    t = time.monotonic()
    vm.qmp.send("quit")
    try:
        vm.proc.wait(10)
    except subprocess.TimeoutExpired:
        raise TestFailure("QEMU still running 10s after quit")
    check(time.monotonic() - t < 5, "quit took %.1fs" % (time.monotonic() - t))
    check(vm.proc.returncode == 0, "exit code %d" % vm.proc.returncode)


@test
def every_info_command_through_qmp(ctx):
    """The hook patch moves human-monitor-command into a coroutine."""
    vm = ctx.vm()
    names = re.findall(r"^info (\S+)", vm.qmp.hmp("help info"), re.M)
    check("virtagent" in names and len(names) > 20, "%r" % names)
    for name in names:
        vm.qmp.hmp("info " + name)
    check(vm.qmp.cmd("query-status")["status"] in ("running", "prelaunch"),
          "QEMU unhealthy after the info commands")


ASYNC = {"async": True}


def vm_with_second_qmp(ctx, extra=()):
    """A VM with va0 only and a second QMP monitor; returns (vm, qmp2)."""
    d = tempfile.mkdtemp(dir=ctx.tmp)
    path = os.path.join(d, "qmp2.sock")
    v = Vm(ctx.binary, ctx.extra,
           ["-chardev", "virtagent,id=va0",
            "-device", "isa-serial,chardev=va0,iobase=0x3f8,irq=4",
            "-chardev", "socket,id=qmp2,path=%s,server=on,wait=off" % path,
            "-mon", "chardev=qmp2,mode=control"] + list(extra),
           d, ctx.wrapper)
    ctx.vms.append(v)
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return v, Qmp(s)


def call_done(q, cid):
    return q.event("VA_CALL_DONE", pred=lambda e: e["data"]["id"] == cid)


@test
def async_form_of_every_command(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    q = vm.qmp
    info = {"version": "2.0.0", "session": "abc", "uptime_s": 12,
            "hostname": "vm1", "kernel": "6.1.0"}
    cases = (
        ("va-ping", {}, "va.ping", "pong", {}),
        ("va-capabilities", {}, "va.capabilities",
         {"version": "2.0.0", "methods": ["va.ping"]},
         {"version": "2.0.0", "methods": ["va.ping"]}),
        ("va-info", {}, "va.info", info,
         {"version": "2.0.0", "session": "abc", "uptime": 12,
          "hostname": "vm1", "kernel": "6.1.0"}),
        ("va-shutdown", {"mode": "reboot"}, "va.shutdown", True, {}),
        ("va-getfile", {"path": "/f"}, "va.getfile",
         {"data": b"hi", "eof": True, "size": 2},
         {"data": "aGk=", "eof": True, "size": 2}),
        ("va-getdmesg", {}, "va.getdmesg", "log\n", {"text": "log\n"}),
        ("va-call", {"method": "test.x", "params": [1]}, "test.x",
         [1, "a"], [1, "a"]),
    )
    for cmd, args, method, answer, expect in cases:
        r = q.cmd(cmd, chardev="va0", **args, **ASYNC)
        check(list(r) == ["id"] and isinstance(r["id"], int),
              "%s: %r" % (cmd, r))
        g.answer(method, answer)
        e = call_done(q, r["id"])["data"]
        check(e == {"id": r["id"], "chardev": "va0", "result": expect},
              "%s: %r" % (cmd, e))
    # an answer the sync form refuses: the same error in the event
    r = q.cmd("va-info", chardev="va0", **ASYNC)
    g.answer("va.info", {"version": 7})
    e = call_done(q, r["id"])["data"]
    check("result" not in e and "lacks string 'version'" in e["error"],
          "%r" % e)
    # a fault
    r = q.cmd("va-getdmesg", chardev="va0", **ASYNC)
    tag, _, _ = g.read_call()
    g.reply_fault(tag, 42, "boom")
    e = call_done(q, r["id"])["data"]
    check(e.get("error") == "guest fault 42: boom", "%r" % e)
    # an answer the boundary refuses, decoded in the worker, is counted
    r = q.cmd("va-call", chardev="va0", method="test.x", **ASYNC)
    tag, _, _ = g.read_call()
    g.write(g.frame("reply", tag, b'<?xml version="1.0"?><!DOCTYPE x>'
                    b'<methodResponse/>'))
    e = call_done(q, r["id"])["data"]
    check("bad answer" in e.get("error", ""), "%r" % e)
    info = q.cmd("query-virtagent")[0]
    check(info["calls"] == [] and info["refused-documents"] == 1,
          "%r" % info)


@test
def va_cancel_async_and_errors(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    q = vm.qmp
    r = q.cmd("va-ping", chardev="va0", **ASYNC)
    tag, _, _ = g.read_call()
    calls = q.cmd("query-virtagent")[0]["calls"]
    check(len(calls) == 1 and calls[0]["id"] == r["id"] and
          calls[0]["method"] == "va.ping" and calls[0]["age-ms"] >= 0,
          "%r" % calls)
    check(q.cmd("va-cancel", chardev="va0", id=r["id"]) == {}, "va-cancel")
    e = call_done(q, r["id"])["data"]
    check(e == {"id": r["id"], "chardev": "va0",
                "error": "virtagent 'va0': cancelled by va-cancel"},
          "%r" % e)
    # the guest's late answer is dropped; cancelling again fails
    g.reply(tag, "pong")
    desc = qmp_error(q.cmd_raw("va-cancel", id=r["id"]))
    check(desc == "no pending virtagent call %d" % r["id"], desc)
    desc = qmp_error(q.cmd_raw("va-cancel", chardev="va0", id=99999))
    check(desc == "virtagent 'va0' has no pending call 99999", desc)
    desc = qmp_error(q.cmd_raw("va-cancel", chardev="nosuch", id=1))
    check("'nosuch' is not a virtagent chardev" in desc, desc)
    # a call of va0 is not va1's to cancel
    r = q.cmd("va-call", chardev="va0", method="test.x", **ASYNC)
    tag, _, _ = g.read_call()
    desc = qmp_error(q.cmd_raw("va-cancel", chardev="va1", id=r["id"]))
    check("has no pending call" in desc, desc)
    # cancel after completion
    g.reply(tag, 1)
    check(call_done(q, r["id"])["data"].get("result") == 1, "va-call")
    desc = qmp_error(q.cmd_raw("va-cancel", id=r["id"]))
    check(desc == "no pending virtagent call %d" % r["id"], desc)
    # the channel goes on
    cid = q.send("va-ping", chardev="va0")
    g.answer("va.ping", "pong")
    check(q.wait(cid).get("return") == {}, "va-ping after va-cancel")
    info = q.cmd("query-virtagent")[0]
    check(info["calls"] == [] and info["dropped"] == 1, "%r" % info)


@test
def va_cancel_sync_call(ctx):
    # A sync QMP call holds the QMP dispatcher (no in-band command runs,
    # and va-cancel cannot be out-of-band: it needs the BQL), so the sync
    # call cancelled here is HMP's, whose monitor waits while QMP goes on.
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    hmp = Hmp(vm.hmp_path)
    hmp.send("va_ping -c va0")
    g.read_call()
    calls = vm.qmp.cmd("query-virtagent")[0]["calls"]
    check(len(calls) == 1 and calls[0]["method"] == "va.ping", "%r" % calls)
    vm.qmp.cmd("va-cancel", id=calls[0]["id"])
    out = hmp.until_prompt()
    check("cancelled by va-cancel" in out, out)
    check(vm.qmp.cmd("query-virtagent")[0]["calls"] == [], "calls left")


@test
def sync_call_holds_qmp_async_does_not(ctx):
    vm, q2 = vm_with_second_qmp(ctx)
    g = ctx.guest(vm, COM1)
    # sync, default timeout: the guest never answers
    t0 = time.monotonic()
    cid = vm.qmp.send("va-ping")
    g.read_call()
    t = time.monotonic()
    q2.cmd("query-status")
    sync_wait = time.monotonic() - t
    desc = qmp_error(vm.qmp.wait(cid, 25))
    sync_total = time.monotonic() - t0
    check("timed out" in desc, desc)
    # async: the second client is answered at once
    r = vm.qmp.cmd("va-ping", **ASYNC)
    g.read_call()
    t = time.monotonic()
    q2.cmd("query-status")
    async_wait = time.monotonic() - t
    calls = q2.cmd("query-virtagent")[0]["calls"]
    check([c["id"] for c in calls] == [r["id"]], "%r" % calls)
    q2.cmd("va-cancel", id=r["id"])
    check("cancelled" in call_done(q2, r["id"])["data"]["error"], "cancel")
    print("  sync va-ping unanswered: failed after %.1f s (default "
          "timeout); a second client's query-status waited %.0f ms; "
          "async: %.1f ms" % (sync_total, sync_wait * 1000,
                              async_wait * 1000))


@test
def large_answer_decoded_off_main_loop(ctx):
    vm, q2 = vm_with_second_qmp(ctx, ["-trace", "virtagent_answer_decoded"])
    g = ctx.guest(vm, COM1)
    # bytes of data; VA_LARGE_ANSWER=1540000 makes the answer max-message
    size = int(os.environ.get("VA_LARGE_ANSWER", 384 * 1024))
    data = os.urandom(size)
    # Feeding it through the UART takes a while, longer under valgrind.
    r = vm.qmp.cmd("va-call", method="test.big", timeout=600, **ASYNC)
    tag, _, _ = g.read_call()
    body = xmlrpc.client.dumps(({"data": xmlrpc.client.Binary(data)},),
                               methodresponse=True).encode()
    frame = g.frame("reply", tag, body)
    t = time.monotonic()
    g.write(frame[:-1])
    feed = time.monotonic() - t
    # the last byte completes the answer: its outb returns when chr_write
    # has handled it, before or after parsing
    t = time.monotonic()
    g.write(frame[-1:])
    last = time.monotonic() - t
    e = call_done(q2, r["id"])["data"]
    check(e.get("result") == {"data": {"base64": base64.b64encode(
        data).decode()}}, "big answer: %r" % e.get("error"))
    # The trace line is written after the event was sent: wait for it.
    deadline = time.monotonic() + 10
    while True:
        with open(vm.log_path) as f:
            m = re.findall(r"virtagent_answer_decoded .*: (\d+) bytes, "
                           r"decoded in (\d+) us .* copy (\d+) us, "
                           r"completion (\d+) us", f.read())
        if m or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    check(len(m) == 1, "no trace: %r" % m)
    size, worker, copy, done = (int(x) for x in m[0])
    print("  %d-byte answer: checked, parsed and converted in %.1f ms in a "
          "worker; main loop: copy %.2f ms, completion (VA_CALL_DONE to two "
          "QMP clients) %.1f ms; the last byte's outb took %.2f ms; feeding "
          "took %.1f s" % (size, worker / 1000, copy / 1000, done / 1000,
                           last * 1000, feed))


# -- the commands of qemu-ga's kind ------------------------------------

IFACES = [{"name": "lo", "ip-addresses": [
              {"ip-address-type": "ipv4", "ip-address": "127.0.0.1",
               "prefix": 8}],
           "statistics": {"rx-bytes": 10, "rx-packets": 1, "rx-errs": 0,
                          "rx-dropped": 0, "tx-bytes": 10, "tx-packets": 1,
                          "tx-errs": 0, "tx-dropped": 0}},
          {"name": "eth0", "hardware-address": "52:54:00:12:34:56",
           "ip-addresses": [
              {"ip-address-type": "ipv4", "ip-address": "10.0.2.15",
               "prefix": 24},
              {"ip-address-type": "ipv6", "ip-address": "fe80::1"}]}]
FSINFO = [{"name": "vda1", "mountpoint": "/", "type": "ext4",
           "used-bytes": 2**33, "total-bytes": 2**34,
           "total-bytes-privileged": 2**34 + 4096,
           "disk": [{"dev": "/dev/vda", "bus-type": "virtio",
                     "serial": "disk0"}]},
          {"name": "tmpfs", "mountpoint": "/run", "type": "tmpfs",
           "disk": []}]
NS = 1764583200123456789

# (command, arguments, method, the parameters the guest gets, the guest's
# answer, what the command returns)
TYPED = (
    ("va-exec", {"path": "sh", "arg": ["-c", "echo hi"]}, "va.exec",
     (["sh", "-c", "echo hi"],), {"pid": 42}, {"pid": 42}),
    ("va-exec", {"path": "cat", "env": ["A=1"], "input-data": "aGk=",
                 "capture-output": "merged", "kill-after": 1.5,
                 "output-limit": 100},
     "va.exec", (["cat"], {"env": ["A=1"], "input-data": b"hi",
                          "capture-output": "merged", "timeout-ms": 1500,
                          "output-limit": 100}), {"pid": 43}, {"pid": 43}),
    ("va-exec", {"path": "true", "capture-output": True}, "va.exec",
     (["true"], {"capture-output": True}), {"pid": 44}, {"pid": 44}),
    ("va-exec-status", {"pid": 42}, "va.exec_status", (42,),
     {"exited": False}, {"exited": False}),
    ("va-exec-status", {"pid": 42}, "va.exec_status", (42,),
     {"exited": True, "exitcode": 3, "out-data": b"hi\n",
      "err-data": b"", "out-truncated": True},
     {"exited": True, "exitcode": 3, "out-data": "aGkK", "err-data": "",
      "out-truncated": True}),
    ("va-exec-status", {"pid": 7}, "va.exec_status", (7,),
     {"exited": True, "signal": 9, "timed-out": True},
     {"exited": True, "signal": 9, "timed-out": True}),
    ("va-fsfreeze-freeze", {}, "va.fsfreeze_freeze", (), 2, {"count": 2}),
    ("va-fsfreeze-freeze", {"mountpoints": ["/", "/data"]},
     "va.fsfreeze_freeze_list", (["/", "/data"],), 2, {"count": 2}),
    ("va-fsfreeze-thaw", {}, "va.fsfreeze_thaw", (), 2, {"count": 2}),
    ("va-fsfreeze-status", {}, "va.fsfreeze_status", (), "frozen",
     {"status": "frozen"}),
    ("va-network-get-interfaces", {}, "va.network_get_interfaces", (),
     IFACES, {"interfaces": IFACES}),
    ("va-get-time", {}, "va.get_time", (), NS, {"time": NS}),
    ("va-set-time", {"time": NS}, "va.set_time", (NS,), NS, {"time": NS}),
    ("va-set-time", {}, "va.set_time", (), NS, {"time": NS}),
    ("va-get-users", {}, "va.get_users", (),
     [{"user": "root", "login-time": 1764583200.5}],
     {"users": [{"user": "root", "login-time": 1764583200.5}]}),
    ("va-get-fsinfo", {}, "va.get_fsinfo", (), FSINFO,
     {"filesystems": FSINFO}),
    ("va-set-user-password", {"username": "bob", "password": "c2VjcmV0",
                              "crypted": False},
     "va.set_user_password", ("secret", "bob", False), True, {}),
    ("va-get-vcpus", {}, "va.get_vcpus", (),
     [{"logical-id": 0, "online": True, "can-offline": False},
      {"logical-id": 1, "online": False, "can-offline": True}],
     {"vcpus": [{"logical-id": 0, "online": True, "can-offline": False},
                {"logical-id": 1, "online": False, "can-offline": True}]}),
    ("va-set-vcpus", {"vcpus": [{"logical-id": 1, "online": False,
                                 "can-offline": True}]},
     "va.set_vcpus", ([{"logical-id": 1, "online": False}],), 1,
     {"count": 1}),
    ("va-suspend", {"mode": "ram"}, "va.suspend_ram", (), True, {}),
    ("va-suspend", {"mode": "disk"}, "va.suspend_disk", (), True, {}),
    ("va-suspend", {"mode": "hybrid"}, "va.suspend_hybrid", (), True, {}),
    ("va-ssh-get-authorized-keys", {"username": "bob"},
     "va.ssh_get_authorized_keys", ("bob",), {"keys": ["ssh-ed25519 AAA"]},
     {"keys": ["ssh-ed25519 AAA"]}),
    ("va-ssh-add-authorized-keys", {"username": "bob",
                                    "keys": ["ssh-ed25519 AAA"]},
     "va.ssh_add_authorized_keys", ("bob", ["ssh-ed25519 AAA"]), True, {}),
    ("va-ssh-add-authorized-keys", {"username": "bob", "keys": ["k"],
                                    "reset": True},
     "va.ssh_add_authorized_keys", ("bob", ["k"], True), True, {}),
    ("va-ssh-remove-authorized-keys", {"username": "bob", "keys": ["k"]},
     "va.ssh_remove_authorized_keys", ("bob", ["k"]), True, {}),
)


@test
def typed_commands_sync_and_async(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    q = vm.qmp
    for cmd, args, method, params, answer, expect in TYPED:
        cid = q.send(cmd, chardev="va0", **args)
        got = g.answer(method, answer)
        check(got == params, "%s: the guest got %r" % (cmd, got))
        r = q.wait(cid)
        check(r.get("return") == expect, "%s: %r" % (cmd, r))
        r = q.cmd(cmd, chardev="va0", **args, **ASYNC)
        check(list(r) == ["id"], "%s async: %r" % (cmd, r))
        g.answer(method, answer)
        e = call_done(q, r["id"])["data"]
        check(e == {"id": r["id"], "chardev": "va0", "result": expect},
              "%s async: %r" % (cmd, e))


# (command, arguments, method, an answer that does not fit, the error)
MISFITS = (
    ("va-exec", {"path": "x"}, "va.exec", {"pid": "42"},
     "Invalid parameter type for 'pid', expected: integer"),
    ("va-exec", {"path": "x"}, "va.exec", {}, "lacks 'pid'"),
    ("va-exec", {"path": "x"}, "va.exec", [42], "not a struct"),
    ("va-exec", {"path": "x"}, "va.exec", {"pid": 1, "id": 5},
     "has a member 'id'"),
    ("va-exec", {"path": "x"}, "va.exec", {"pid": 1, "extra": 5},
     "'extra' is unexpected"),
    ("va-exec-status", {"pid": 1}, "va.exec_status",
     {"exited": True, "exitcode": 0, "out-data": "aGk="},
     "member 'out-data' of the guest agent's answer is not base64"),
    ("va-exec-status", {"pid": 1}, "va.exec_status",
     {"exited": True, "exitcode": 1.5}, "expected: integer"),
    ("va-exec-status", {"pid": 1}, "va.exec_status", {"exitcode": 0},
     "lacks 'exited'"),
    ("va-fsfreeze-freeze", {}, "va.fsfreeze_freeze", "2",
     "expected: integer"),
    ("va-fsfreeze-status", {}, "va.fsfreeze_status", "melted",
     "Parameter 'status' does not accept value 'melted'"),
    ("va-network-get-interfaces", {}, "va.network_get_interfaces",
     [{"name": "eth0", "ip-addresses": [{"ip-address-type": "ipv5",
                                         "ip-address": "x"}]}],
     "does not accept value 'ipv5'"),
    ("va-network-get-interfaces", {}, "va.network_get_interfaces",
     [{"hardware-address": "x"}], "'interfaces[0].name' is missing"),
    ("va-network-get-interfaces", {}, "va.network_get_interfaces",
     {"name": "eth0"}, "expected: array"),
    ("va-get-time", {}, "va.get_time", 1.5, "expected: integer"),
    ("va-get-users", {}, "va.get_users", [{"user": "x", "login-time": "y"}],
     "expected: number"),
    ("va-get-fsinfo", {}, "va.get_fsinfo",
     [{"name": "a", "mountpoint": "/", "type": "ext4"}],
     "'filesystems[0].disk' is missing"),
    ("va-get-vcpus", {}, "va.get_vcpus", [{"logical-id": 0}],
     "'vcpus[0].online' is missing"),
    ("va-ssh-get-authorized-keys", {"username": "u"},
     "va.ssh_get_authorized_keys", {"keys": ["a" * (16 * 1024 + 1)]},
     "string over 16384 bytes"),
    ("va-ssh-get-authorized-keys", {"username": "u"},
     "va.ssh_get_authorized_keys", {"keys": [1]}, "expected: string"),
    ("va-ssh-get-authorized-keys", {"username": "u"},
     "va.ssh_get_authorized_keys", {"keys": [], "k" * 65: 1},
     "member name over 64 bytes"),
    ("va-get-fsinfo", {}, "va.get_fsinfo", [{"name": "a", "k" * 65: 1}],
     "member name over 64 bytes"),
    ("va-suspend", {"mode": "ram"}, "va.suspend_ram", False,
     "va.suspend_ram: the guest agent's answer is not true"),
    ("va-set-user-password", {"username": "u", "password": "eA==",
                              "crypted": True},
     "va.set_user_password", "ok", "is not true"),
)


@test
def typed_answers_that_do_not_fit(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    q = vm.qmp
    for cmd, args, method, answer, want in MISFITS:
        cid = q.send(cmd, chardev="va0", **args)
        g.answer(method, answer)
        desc = qmp_error(q.wait(cid))
        check(desc.startswith(method + ": ") and want in desc,
              "%s: %r" % (cmd, desc))
        r = q.cmd(cmd, chardev="va0", **args, **ASYNC)
        g.answer(method, answer)
        e = call_done(q, r["id"])["data"]
        check("result" not in e and e.get("error") == desc,
              "%s async: %r" % (cmd, e))
    # what a guest sends stays JSON: control characters are refused at
    # the boundary, C1 and others pass, and JSON carries them
    cid = q.send("va-get-users", chardev="va0")
    g.answer("va.get_users", [{"user": "a\x1b[2J", "login-time": 1}])
    desc = qmp_error(q.wait(cid))
    check("control character 0x1b" in desc, desc)
    odd = "a\u009b\u00e9\ufffd"
    cid = q.send("va-get-users", chardev="va0")
    g.answer("va.get_users", [{"user": odd, "login-time": 1}])
    r = q.wait(cid)
    check(r.get("return") == {"users": [{"user": odd, "login-time": 1}]},
          "%r" % r)


@test
def typed_arguments_refused(ctx):
    vm = ctx.vm()
    q = vm.qmp
    for cmd, args, want in (
            ("va-exec", {"path": ""}, "path must name a program"),
            ("va-exec", {"path": "x", "input-data": "!!"}, "input-data: "),
            ("va-exec", {"path": "x", "kill-after": 0}, "kill-after must"),
            ("va-exec", {"path": "x", "output-limit": 0},
             "output-limit must be 1 to 524288"),
            ("va-exec", {"path": "x", "capture-output": "some"},
             "capture-output"),
            ("va-exec-status", {"pid": 0}, "pid must be"),
            ("va-set-time", {"time": -1}, "time must not be negative"),
            ("va-set-user-password", {"username": "u", "password": "!",
                                      "crypted": False}, "password: "),
            ("va-set-user-password", {"username": "u", "password": "YQpi",
                                      "crypted": False},
             "without control characters"),
            ("va-suspend", {"mode": "s5"}, "'mode' does not accept"),
            ("va-get-time", {"timeout": 0}, "timeout must be")):
        desc = qmp_error(q.cmd_raw(cmd, chardev="va0", **args))
        check(want in desc, "%s %r: %r" % (cmd, args, desc))
    # nothing reached the guest
    check(q.cmd("query-virtagent")[0]["sent"] == 0, "a call was sent")



@test
def exec_done_event(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    q = vm.qmp
    VA_FAULT_INVALID_ARGS = 1007
    # as qemu-va sends it: the output when small, else data-omitted
    st = {"exited": True, "exitcode": 0, "out-data": b"hi\n",
          "err-data": b""}
    check(g.call("va.exec_done", (42, st)) is True, "va.exec_done")
    e = q.event("VA_EXEC_DONE")["data"]
    check(e == {"chardev": "va0", "pid": 42, "exitcode": 0,
                "out-data": "aGkK", "err-data": "", "data-omitted": False},
          "%r" % e)
    # one event per process, none coalesced: QMP does not throttle them
    for pid in (43, 44):
        g.call("va.exec_done", (pid, {"exited": True, "signal": 9,
                                      "timed-out": True,
                                      "data-omitted": True}))
    for pid in (43, 44):
        e = q.event("VA_EXEC_DONE", pred=lambda e: e["data"]["pid"] == pid)
        check(e["data"] == {"chardev": "va0", "pid": pid, "signal": 9,
                            "timed-out": True, "data-omitted": True},
              "%r" % e)
    ok = {"exited": True, "exitcode": 1}
    for params in ((0, ok), ("42", ok), (2**40, ok), (42,), (42, ok, 1),
                   (42, [1]), (42, {"exited": False}), (42, {"exited": True}),
                   (42, {"exited": True, "exitcode": 0, "signal": 9}),
                   (42, {"exited": True, "exitcode": "0"}),
                   (42, dict(ok, id=1)), (42, dict(ok, extra=1)),
                   (42, dict(ok, **{"out-data": "aGk="})),
                   (42, dict(ok, **{"data-omitted": 1})),
                   (42, dict(ok, **{"data-omitted": True,
                                    "out-data": b"x"})),
                   (42, dict(ok, **{"out-data": b"x" * 8192,
                                    "err-data": b"y" * 8193}))):
        try:
            g.call("va.exec_done", params)
            raise TestFailure("no fault for %r" % (params,))
        except xmlrpc.client.Fault as f:
            check(f.faultCode == VA_FAULT_INVALID_ARGS, "%r: %r" %
                  (params, f))
    q.cmd("query-status")
    check(not [x for x in q.events if x["event"] == "VA_EXEC_DONE"],
          "an event for a refused call")



@test
def hmp_typed_commands(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)

    def run(line, method, value):
        return hmp_answered(vm, g, line, method, value)

    out, _ = run("va_netif -c va0", "va.network_get_interfaces", IFACES)
    check(out == "lo\r\n    inet 127.0.0.1/8\r\n"
          "    rx 10 bytes, 1 packets, 0 errors, 0 dropped\r\n"
          "    tx 10 bytes, 1 packets, 0 errors, 0 dropped\r\n"
          "eth0: 52:54:00:12:34:56\r\n    inet 10.0.2.15/24\r\n"
          "    inet6 fe80::1\r\n", repr(out))
    out, _ = run("va_time -c va0", "va.get_time", NS)
    check(out.startswith("guest time: 2025-12-01 10:00:00.123456789 UTC "
                         "(1764583200123456789 ns)\r\nguest - host: "),
          repr(out))
    out, _ = run("va_users -c va0", "va.get_users",
                 [{"user": "root", "login-time": 1764583200.5},
                  {"user": "bob\x7f", "login-time": 0}])
    check(out == "root since 2025-12-01 10:00:00 UTC\r\n"
          "bob\\x7f since 1970-01-01 00:00:00 UTC\r\n", repr(out))
    out, _ = run("va_users -c va0", "va.get_users",
                 [{"user": "x", "login-time": 1e300}])
    check(out == "x since 1e+300 s\r\n", repr(out))
    out, _ = run("va_users -c va0", "va.get_users", [])
    check(out == "no user logged in\r\n", repr(out))
    out, _ = run("va_fsinfo -c va0", "va.get_fsinfo", FSINFO)
    check(out == "vda1 on / type ext4, 8 GiB used of 16 GiB, disk /dev/vda "
          "(virtio, serial disk0)\r\ntmpfs on /run type tmpfs\r\n",
          repr(out))
    out, p = run("va_fsfreeze -c va0 freeze", "va.fsfreeze_freeze", 2)
    check(p == () and out == "froze 2 filesystems\r\n", repr(out))
    out, p = run("va_fsfreeze -c va0 freeze / /data",
                 "va.fsfreeze_freeze_list", 2)
    check(p == (["/", "/data"],) and out == "froze 2 filesystems\r\n",
          repr(out))
    out, _ = run("va_fsfreeze -c va0 status", "va.fsfreeze_status",
                 "frozen")
    check(out == "frozen\r\n", repr(out))
    out, _ = run("va_fsfreeze -c va0 thaw", "va.fsfreeze_thaw", 1)
    check(out == "thawed 1 filesystem\r\n", repr(out))
    for line, want in (("va_fsfreeze -c va0 melt", "freeze, thaw or status"),
                       ("va_fsfreeze -c va0 thaw /", "only freeze takes"),
                       ("va_fsfreeze -c va0", "missing argument"),
                       ("va_netif -c va0 x", "extraneous argument"),
                       ("va_exec -c va0", "missing argument")):
        out = vm.qmp.hmp(line)
        check("Error: " in out and want in out, "%s: %r" % (line, out))
    # the answers the QMP commands refuse, HMP refuses too
    out, _ = run("va_netif -c va0", "va.network_get_interfaces",
                 [{"name": 1}])
    check(out.startswith("Error: va.network_get_interfaces: the guest "
                         "agent's answer does not fit: "), repr(out))
    out, _ = run("va_fsfreeze -c va0 status", "va.fsfreeze_status", "hot")
    check("does not accept value 'hot'" in out, repr(out))


@test
def hmp_va_exec(ctx):
    vm = ctx.vm()
    g = ctx.guest(vm, COM1)
    q = vm.qmp
    # options in any order; polled until it has exited
    cid = q.send("human-monitor-command", **{
        "command-line": "va_exec -t 20 -c va0 sh -c 'echo hi; exit 3'"})
    p = g.answer("va.exec", {"pid": 42})
    check(p == (["sh", "-c", "echo hi; exit 3"],
                {"capture-output": "merged"}), "%r" % (p,))
    p = g.answer("va.exec_status", {"exited": False})
    check(p == (42,), "%r" % (p,))
    g.answer("va.exec_status", {"exited": True, "exitcode": 3,
                                "out-data": b"hi\n\x1b[2J\xff"})
    out = q.wait(cid)["return"]
    check(out == "hi\r\n\\x1b[2J\ufffd\r\nexit status 3\r\n", repr(out))
    cid = q.send("human-monitor-command",
                 **{"command-line": "va_exec -c va0 yes"})
    g.answer("va.exec", {"pid": 43})
    g.answer("va.exec_status", {"exited": True, "signal": 9,
                                "out-data": b"y\n" * 4,
                                "out-truncated": True, "timed-out": True})
    out = q.wait(cid)["return"]
    check(out == "y\r\ny\r\ny\r\ny\r\nkilled by signal 9, output truncated, "
          "timed out\r\n", repr(out))
    # still running when the wait ends
    cid = q.send("human-monitor-command",
                 **{"command-line": "va_exec -c va0 -t 0.5 sleep 100"})
    g.answer("va.exec", {"pid": 44})
    polls = 0
    while True:
        r = q.poll(cid)
        if r:
            break
        try:
            tag, method, p = g.read_call(timeout=0.2)
            check(method == "va.exec_status" and p == (44,), method)
            g.reply(tag, {"exited": False})
            polls += 1
        except TestFailure:
            pass
    out = r["return"]
    check("process 44 still running after 0.5 s" in out, repr(out))
    print("  %d polls in 0.5 s" % polls)
    # a fault, and an answer that does not fit
    cid = q.send("human-monitor-command",
                 **{"command-line": "va_exec -c va0 nope"})
    tag, _, _ = g.read_call()
    g.reply_fault(tag, 1008, "Failed to execute child process")
    out = q.wait(cid)["return"]
    check(out == "Error: guest fault 1008: Failed to execute child "
          "process\r\n", repr(out))
    cid = q.send("human-monitor-command",
                 **{"command-line": "va_exec -c va0 true"})
    g.answer("va.exec", {"pid": "45"})
    out = q.wait(cid)["return"]
    check(out.startswith("Error: va.exec: the guest agent's answer does "
                         "not fit"), repr(out))
    # an interactive monitor: suspended until the process has finished
    hmp = Hmp(vm.hmp_path)
    hmp.send("va_exec -c va0 true")
    g.answer("va.exec", {"pid": 46})
    check(hmp.prompt_pending(), "prompt came back before the exit")
    g.answer("va.exec_status", {"exited": False})
    check(hmp.prompt_pending(0.1), "prompt came back before the exit")
    g.answer("va.exec_status", {"exited": True, "exitcode": 0})
    out = hmp.until_prompt()
    check("exit status 0" in out, out)



class Ctx:
    def __init__(self, binary, extra, tmp, wrapper):
        self.binary = binary
        self.extra = extra
        self.wrapper = wrapper
        self.tmp = tmp
        self.vms = []

    def vm(self):
        d = tempfile.mkdtemp(dir=self.tmp)
        v = Vm(self.binary, self.extra,
               ["-chardev", "virtagent,id=va0,timeout=10",
                "-device", "isa-serial,chardev=va0,iobase=0x3f8,irq=4",
                "-chardev", "virtagent,id=va1,window=1,max-message=4096",
                "-device", "isa-serial,chardev=va1,iobase=0x2f8,irq=3"],
               d, self.wrapper)
        self.vms.append(v)
        return v

    def guest(self, vm, port):
        return Guest(vm.qtest, port)

    def cleanup(self):
        """Quit every VM; False if one did not exit cleanly."""
        ok = True
        for v in self.vms:
            ok = v.close() and ok
        self.vms = []
        return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qemu", required=True)
    ap.add_argument("-k", default="")
    ap.add_argument("--wrapper", default="")
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="va-qemu-") as tmp:
        for fn in TESTS:
            if a.k not in fn.__name__:
                continue
            ctx = Ctx(os.path.abspath(a.qemu), a.extra, tmp,
                      shlex.split(a.wrapper))
            t = time.monotonic()
            try:
                fn(ctx)
                for v in ctx.vms:
                    if not v.close():
                        raise TestFailure("QEMU exited with status %d" %
                                          v.proc.returncode)
                passed += 1
                print("ok - %s (%.1fs)" % (fn.__name__,
                                           time.monotonic() - t))
            except Exception as e:
                failed += 1
                print("not ok - %s: %s" % (fn.__name__, e))
                if not isinstance(e, TestFailure):
                    traceback.print_exc()
                for v in ctx.vms:
                    with open(v.log_path) as f:
                        log = f.read()
                    if log:
                        print("  qemu log: " + log.replace("\n", "\n  "))
            finally:
                ctx.cleanup()
            sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
