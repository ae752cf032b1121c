#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check-failure.sh PROGRAM
#
# Runs PROGRAM so that its rp_executor_new() fails (RINGPOOL_BACKEND names
# no backend: -EINVAL), with TMPDIR set to a new empty folder, and checks
# that it fails as a program should: exit status 1, a message on standard
# error that names the call and the cause, and nothing left behind, neither
# under $TMPDIR nor as /tmp/ringpool-NAME-* from a program that does not
# honour TMPDIR.  (The test is not run in parallel with the others, one of
# which makes such a folder while it runs.)  Under the valgrind setup
# PROGRAM runs under valgrind, as in check-output.sh, so that what it does
# not free on the way out fails the test too.

if [ $# -ne 1 ]; then
  echo "usage: $0 PROGRAM" >&2
  exit 2
fi
prog=$1

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
if [ -n "${RINGPOOL_UNDER_VALGRIND:-}" ]; then
  if command -v valgrind >/dev/null 2>&1; then
    set -- valgrind --error-exitcode=99 --leak-check=full \
      --show-leak-kinds=definite,indirect,possible \
      --errors-for-leak-kinds=definite,indirect,possible \
      --track-origins=yes --quiet "$@"
  else
    echo "$0: RINGPOOL_UNDER_VALGRIND is set but valgrind is not found" >&2
    finish 1
  fi
fi

leftovers >"$before"
TMPDIR=$tmp RINGPOOL_BACKEND=no-such-backend "$@" >/dev/null 2>"$err"
status=$?
cat "$err" >&2
if [ "$status" -ne 1 ]; then
  echo "$0: $* exited with status $status, not 1" >&2
  finish 1
fi
if ! grep -q 'rp_executor_new: Invalid argument' "$err"; then
  echo "$0: no message naming rp_executor_new and its error" >&2
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
