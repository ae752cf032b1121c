# SPDX-License-Identifier: MIT
#
# Sourced by check-output.sh and check-failure.sh after `set -- "$prog"`:
# under the valgrind setup (RINGPOOL_UNDER_VALGRIND set), puts valgrind with
# the setup's options (the top-level meson.build) in front of the command
# line, since valgrind does not follow the script's shell into PROGRAM.
# Calls the caller's finish() when valgrind is not found.

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
