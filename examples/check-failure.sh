#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check-failure.sh PROGRAM executor
# check-failure.sh PROGRAM task MODULE
#
# Runs PROGRAM so that something it asks of the library fails, and checks
# that it fails as a program should: exit status 1, a message on standard
# error that names what failed and why, and nothing left behind.
#
# - executor: its rp_executor_new() fails (RINGPOOL_BACKEND names no
#   backend: -EINVAL).  Nothing may be left under $TMPDIR, set to a new
#   empty folder, nor as /tmp/ringpool-NAME-* from a program that does not
#   honour TMPDIR.  (The test is not run in parallel with the others, one
#   of which makes such a folder while it runs.)
# - task: its first CPU task fails with -EIO (MODULE, fail_first_task.c,
#   is preloaded to make it so).
#
# Under the valgrind setup PROGRAM runs under valgrind (under-valgrind.sh,
# as in check-output.sh), so that what it does not free on the way out (the
# results of the tasks that did not fail, say) fails the test too.

if [ $# -lt 2 ]; then
  echo "usage: $0 PROGRAM executor|task [MODULE]" >&2
  exit 2
fi
prog=$1
mode=$2
case $mode in
executor)
  message='rp_executor_new: Invalid argument' ;;
task)
  message='task failed: Input/output error'
  if [ $# -ne 3 ]; then
    echo "$0: task needs the module to preload" >&2
    exit 2
  fi
  module=$3 ;;
*)
  echo "$0: unknown mode $mode" >&2
  exit 2 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-failure.XXXXXX") || exit 1
err=$(mktemp "${TMPDIR:-/tmp}/check-failure-err.XXXXXX") || exit 1
before=$(mktemp "${TMPDIR:-/tmp}/check-failure-ls.XXXXXX") || exit 1
# No EXIT trap (see check-output.sh): every exit goes through finish.
trap 'rm -rf "$tmp" "$err" "$before"; exit 1' HUP INT TERM
finish() {
  rm -rf "$tmp" "$err" "$before"
  exit "$1"
}
# What the examples name their folders: ringpool-io-bound-XXXXXX for io_bound.
leftovers() {
  ls -d "/tmp/ringpool-$(basename "$prog" | tr _ -)-"* 2>/dev/null | sort
}

set -- "$prog"
. "$(dirname "$0")/under-valgrind.sh"

leftovers >"$before"
if [ "$mode" = executor ]; then
  TMPDIR=$tmp RINGPOOL_BACKEND=no-such-backend "$@" >/dev/null 2>"$err"
else
  # A sanitized build: AddressSanitizer wants its runtime loaded first, and
  # the module comes before it; LeakSanitizer then checks what is freed.
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
    TMPDIR=$tmp LD_PRELOAD=$module "$@" >/dev/null 2>"$err"
fi
status=$?
cat "$err" >&2
if [ "$status" -ne 1 ]; then
  echo "$0: $* exited with status $status, not 1" >&2
  finish 1
fi
if ! grep -q "$message" "$err"; then
  echo "$0: no message \"$message\"" >&2
  finish 1
fi
if [ -n "$(ls -A "$tmp")" ]; then
  echo "$0: $prog left files under TMPDIR:" >&2
  ls -lAR "$tmp" >&2
  finish 1
fi
new=$(leftovers | comm -13 "$before" -)
if [ -n "$new" ]; then
  echo "$0: $prog left behind: $new" >&2
  finish 1
fi
finish 0
