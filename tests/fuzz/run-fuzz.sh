#!/bin/sh
# virtagent - run libFuzzer targets one after the other and sum up
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: tests/fuzz/run-fuzz.sh SECONDS WORKDIR PROGRAM...
#        tests/fuzz/run-fuzz.sh merge WORKDIR PROGRAM...
# Each fuzz-NAME runs SECONDS with new inputs in WORKDIR/NAME, starting
# from the committed corpus tests/fuzz/corpus/NAME and the seeds in
# tests/fuzz/seeds/NAME. A target passes when libFuzzer exits 0: no crash,
# leak, timeout or out-of-memory; what it found is kept as
# WORKDIR/NAME-crash-* and the like. Ends with "N passed, N failed".
# "merge" instead minimises the committed corpus with what WORKDIR found.
set -u
secs=$1
work=$2
shift 2
dir=$(dirname "$0")
passed=0
failed=0
for prog in "$@"; do
    name=${prog##*/fuzz-}
    case $name in
    channel) max_len=8192 ;;
    *) max_len=4096 ;;
    esac
    dict=
    [ -f "$dir/$name.dict" ] && dict=-dict=$dir/$name.dict
    mkdir -p "$work/$name" "$dir/corpus/$name"
    if [ "$secs" = merge ]; then
        new=$dir/corpus/$name.new
        rm -rf "$new"
        mkdir -p "$new"
        # Edges only, not hit counts: a few hundred inputs, not thousands.
        "$prog" -merge=1 -use_counters=0 -max_len=$max_len "$new" \
            "$dir/corpus/$name" "$work/$name" "$dir/seeds/$name" \
            >"$work/$name.log" 2>&1 &&
            rm -rf "$dir/corpus/$name" && mv "$new" "$dir/corpus/$name"
        echo "fuzz-$name: $(ls "$dir/corpus/$name" | wc -l) inputs"
        continue
    fi
    log=$work/$name.log
    # shellcheck disable=SC2086
    if "$prog" -max_total_time="$secs" -timeout=10 -max_len=$max_len \
            -print_final_stats=1 -artifact_prefix="$work/$name-" $dict \
            "$work/$name" "$dir/corpus/$name" "$dir/seeds/$name" \
            >"$log" 2>&1; then
        passed=$((passed + 1))
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "ok   fuzz-$name ($secs s, $runs runs)"
    else
        failed=$((failed + 1))
        echo "FAIL fuzz-$name (log: $log)"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit)' \
            "$log" | head -20
    fi
done
[ "$secs" = merge ] && exit 0
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
