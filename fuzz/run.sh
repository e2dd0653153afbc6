#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 30 s each) on nightly, starting
# from the committed corpus and past findings. New inputs go to a scratch directory,
# not into the repository. A finding fails the run and leaves its input under
# fuzz/artifacts/<target>/: add it to fuzz/regressions/<target>/ with the fix.
#
#   fuzz/run.sh [seconds] [target...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(http_head resp buf_stream timer_heap)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo +nightly fuzz build --features libfuzzer
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target" "fuzz/regressions/$target"
  echo "--- $target, ${seconds} s"
  cargo +nightly fuzz run --features libfuzzer "$target" \
    "$scratch/$target" "fuzz/corpus/$target" "fuzz/regressions/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=1024 -malloc_limit_mb=256 -print_final_stats=1 \
    2>&1 | grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)|panicked|ERROR|SUMMARY' || true
  if [ -n "$(ls -A "fuzz/artifacts/$target" 2>/dev/null)" ]; then
    echo "fuzz target $target found a failing input: fuzz/artifacts/$target" >&2
    exit 1
  fi
done
