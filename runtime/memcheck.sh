#!/usr/bin/env bash
# Runs the task tests under valgrind's memcheck: any invalid access, use of
# uninitialised memory or definite leak fails the run.
#
# Usage: runtime/memcheck.sh [test-binary-name ...]
#   (default: tasks wakers panics misuse priorities blocking budget time handle shutdown clock)
# Honours CARGO_TARGET_DIR. The tests' watchdogs get 20 times their limit under
# valgrind (EVLOOP_TEST_TIMEOUT_SCALE), unless the caller sets another factor.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "memcheck.sh: valgrind is not installed" >&2; exit 2; }
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(tasks wakers panics misuse priorities blocking budget time handle shutdown clock)
export EVLOOP_TEST_TIMEOUT_SCALE="${EVLOOP_TEST_TIMEOUT_SCALE:-20}"
args=()
for t in "${tests[@]}"; do args+=(--test "$t"); done
# The JSON lines name each test binary cargo built.
json=$(cargo test -p runtime "${args[@]}" --no-run --message-format=json) ||
    { echo "memcheck.sh: building the tests failed" >&2; exit 2; }
mapfile -t bins < <(printf '%s\n' "$json" |
    grep '"executable":"' | grep '"kind":\["test"\]' |
    sed -E 's/.*"executable":"([^"]+)".*/\1/')
[ ${#bins[@]} -gt 0 ] || { echo "memcheck.sh: no test binary was built" >&2; exit 2; }
status=0
for bin in "${bins[@]}"; do
    echo "== valgrind memcheck: $bin"
    valgrind --tool=memcheck --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite --show-leak-kinds=definite \
        --fair-sched=yes --quiet \
        "$bin" --test-threads=1 || status=1
done
if [ $status -eq 0 ]; then echo "memcheck: clean"; else echo "memcheck: errors found" >&2; fi
exit $status
