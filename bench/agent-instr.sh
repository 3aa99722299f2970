#!/bin/sh
# virtagent - instructions per ping: qemu-va against Debian's qemu-ga
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: bench/agent-instr.sh BUILDDIR [N1 N2]
#
# Under TCG the guest's user space is emulated instruction by
# instruction, so what an agent costs the vCPU per call follows its
# instruction count, which callgrind measures natively and exactly, where
# wall time on a shared machine is noise.  Each agent listens on a unix
# socket (-m unix-listen) under callgrind and BUILDDIR/bench/agent-ping
# pings it N1 times, then N2 times in a second run; the difference of the
# two totals over N2 - N1 is the cost of one call, start-up and exit
# excluded.  qemu-va is BUILDDIR/qemu-va; qemu-ga the Debian binary with
# its own libraries in BUILDDIR/bench/qga-root (bench/qga-image.sh).  The
# N2 runs' profiles stay in BUILDDIR/bench/callgrind.*.out for
# callgrind_annotate.  AGENTS="va" (or "qga") measures only one.
set -e

[ $# = 1 ] || [ $# = 3 ] || {
    echo "usage: $0 BUILDDIR [N1 N2]" >&2
    exit 2
}
b=$1
n1=${2:-200}
n2=${3:-1200}
root=$b/bench/qga-root
dir=$(mktemp -d "${TMPDIR:-/tmp}/va-instr.XXXXXX")
pid=
cleanup() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

# run AGENT N: print the agent's total instructions for N pings.
run() {
    out=$dir/$1.$2.out
    sock=$dir/$1.sock
    rm -f "$sock"
    case "$1" in
    va) valgrind -q --tool=callgrind --callgrind-out-file="$out" \
            "$b/qemu-va" -m unix-listen -p "$sock" -t "$dir" -s "" \
            -f "" 2>"$dir/$1.log" &
        ;;
    qga) LD_LIBRARY_PATH=$root/lib/x86_64-linux-gnu \
            valgrind -q --tool=callgrind --callgrind-out-file="$out" \
            "$root/usr/sbin/qemu-ga" -m unix-listen -p "$sock" -t "$dir" \
            -f "$dir/qga.pid" 2>"$dir/$1.log" &
        ;;
    esac
    pid=$!
    "$b/bench/agent-ping" "$1" "$sock" "$2" >/dev/null
    # Counted up to here: qemu-ga under valgrind sometimes hangs in its
    # SIGTERM handler, so the profile is dumped, not left to the exit.
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    [ "$2" = "$n2" ] && cp "$out.1" "$b/bench/callgrind.$1.out"
    sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out.1"
}

for agent in ${AGENTS:-va qga}; do
    t1=$(run $agent "$n1")
    t2=$(run $agent "$n2")
    per=$(( (t2 - t1) / (n2 - n1) ))
    eval "per_$agent=$per"
    echo "$agent: $n1 calls $t1, $n2 calls $t2 instructions:" \
         "$per per call"
done
if [ -n "$per_va" ] && [ -n "$per_qga" ]; then
    echo "agent-instr: qemu-va va.ping $per_va, qemu-ga guest-ping" \
         "$per_qga instructions per call ($(echo "$per_va $per_qga" |
         awk '{ printf "%.2f", $1 / $2 }') x)"
fi
