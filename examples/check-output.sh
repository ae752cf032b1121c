#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check-output.sh PROGRAM EXPECTED [--any-order]
#
# Runs PROGRAM and compares its standard output with the file EXPECTED, byte
# for byte, or with --any-order line by line in any order: for an example
# whose lines come in the order its tasks end, which sleeps decide only on a
# machine that runs each thread when it wakes (a loaded one, or valgrind,
# may run a thread late by more than the gaps between the sleeps; the order
# itself is the library's to get right, and tests/test_wait.c checks it).
# Exits 0 when PROGRAM exits 0 and its output matches; otherwise
# prints what went wrong (a unified diff for a mismatch) and exits 1.
# PROGRAM's standard error is passed through, so its messages reach the test
# log.
#
# Under `meson test --setup valgrind`, meson wraps only the program it runs,
# which is this script's shell, and valgrind does not follow it into child
# processes.  So when that setup's RINGPOOL_UNDER_VALGRIND is set, the script
# runs PROGRAM under valgrind itself (under-valgrind.sh), with the options of
# the setup in the top-level meson.build: leaks and memory errors then fail
# the test.

if [ $# -ne 2 ] && { [ $# -ne 3 ] || [ "$3" != --any-order ]; }; then
  echo "usage: $0 PROGRAM EXPECTED [--any-order]" >&2
  exit 2
fi
prog=$1
expected=$2
any_order=${3:+yes}

if [ ! -r "$expected" ]; then
  echo "$0: cannot read $expected" >&2
  exit 1
fi

# No EXIT trap: dash leaks its string, which fails the valgrind setup (meson
# runs this shell under valgrind), so every exit below goes through finish.
actual=$(mktemp "${TMPDIR:-/tmp}/check-output.XXXXXX") || exit 1
trap 'rm -f "$actual" "$actual.expected"; exit 1' HUP INT TERM
finish() {
  rm -f "$actual" "$actual.expected"
  exit "$1"
}

set -- "$prog"
. "$(dirname "$0")/under-valgrind.sh"

"$@" >"$actual"
status=$?
if [ "$status" -ne 0 ]; then
  echo "$0: $* exited with status $status" >&2
  finish 1
fi

if [ -n "$any_order" ]; then
  # Both sorted, into the files compared below.
  sort "$actual" >"$actual.sorted" && mv "$actual.sorted" "$actual" &&
    sort "$expected" >"$actual.expected" || finish 1
  expected=$actual.expected
fi
if ! cmp -s "$expected" "$actual"; then
  echo "$0: the output of $prog differs from $expected:" >&2
  diff -u "$expected" "$actual" >&2
  finish 1
fi
finish 0
