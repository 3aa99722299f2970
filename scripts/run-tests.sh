#!/bin/sh
# virtagent - run GTest programs in TAP mode and sum up their results
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: scripts/run-tests.sh PROGRAM...
# VA_TEST_WRAPPER (e.g. valgrind) is put before each program. Ends with
# the line "N passed, N failed" and fails when a test or a program failed.
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$@"; do
    # shellcheck disable=SC2086
    $VA_TEST_WRAPPER "$t" --tap >"$log" 2>&1
    rc=$?
    p=$(grep -c '^ok ' "$log")
    f=$(grep -c '^not ok ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1     # crashed or leaked outside a test case
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" -ne 0 ]; then
        echo "FAIL $t (exit $rc)"
        cat "$log"
    else
        echo "ok   $t ($p tests)"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
