#!/usr/bin/env bash
# Syscalls per echoed message: runs the `echo` example's server under `strace -c -f`,
# drives it with the example's client (not traced), and divides the server's syscall
# counts by the number of messages.
#
#   CARGO_TARGET_DIR=/work/target-net cargo build -p net --release --example echo
#   BIN=/work/target-net/release/examples/echo net/tests/syscalls.sh
#
# Environment: BIN (the example binary), CONNS (50), MSGS (2000 per connection),
# SIZE (64 bytes), EVLOOP_BACKEND (passed to the server).
set -euo pipefail
BIN=${BIN:-target/release/examples/echo}
CONNS=${CONNS:-50}
MSGS=${MSGS:-2000}
SIZE=${SIZE:-64}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

strace -c -f -o "$out/strace" "$BIN" server 127.0.0.1:0 "$CONNS" >"$out/server" &
server=$!
for _ in $(seq 200); do
  grep -q "listening on" "$out/server" 2>/dev/null && break
  sleep 0.05
done
addr=$(awk '/listening on/ {print $3}' "$out/server")
EVLOOP_BACKEND= "$BIN" client "$addr" "$CONNS" "$MSGS" "$SIZE"
wait "$server"
cat "$out/server"
cat "$out/strace"
messages=$((CONNS * MSGS))
awk -v m="$messages" '
  $NF == "total" { total = $4 }
  $NF ~ /^(recvfrom|read|recvmsg)$/ { recv += $4 }
  $NF ~ /^(sendto|write|sendmsg)$/ { send += $4 }
  $NF ~ /^epoll_(p)?wait2?$|^p?poll$/ { wait += $4 }
  END {
    printf "messages %d: %.3f syscalls per message in all (recv %.3f, send %.3f, wait %.3f)\n",
      m, total / m, recv / m, send / m, wait / m
  }' "$out/strace"
