#!/usr/bin/env bash
# Syscalls per echoed message, in all and at the margin.
#
# Runs an echo server under `strace -c -f`, drives it with the `echo` example's client
# (not traced), and divides the server's syscall counts by the number of messages. It
# does so twice, with MSGS1 and then MSGS2 round trips per connection, and reports:
#
#   - each run's totals and totals per message (these include the fixed costs: process
#     start-up and shutdown, and per connection accept4, setsockopt, epoll_ctl add and
#     delete, the EOF read, close);
#   - the marginal figure, (S2 - S1) / (M2 - M1) for S syscalls and M messages, in all
#     and for recv, send and wait separately. The fixed costs are the same in both runs
#     and cancel, so this is the cost of one more message.
#
# Usage:
#
#   cargo build -p net --release --example echo
#   BIN=target/release/examples/echo net/tests/syscalls.sh
#
#   # any other echo server, e.g. the compare bench's, on tokio:
#   cargo bench -p compare --no-run
#   SERVER="target/release/deps/compare-HASH --serve echo --runtime tokio" \
#     BIN=target/release/examples/echo net/tests/syscalls.sh
#
# Environment:
#   BIN          the echo example binary (its client always drives the load; it is also
#                the server unless SERVER is set)
#   SERVER       command line of the server to trace instead of `$BIN server 127.0.0.1:0
#                $CONNS`, split on spaces (no shell quoting). It must print
#                `listening on ADDR`. A server that does not exit by itself once the
#                client is done gets SIGTERM (then SIGKILL), so strace still writes its
#                summary; a server that does, the example's, is given EXIT_WAIT seconds.
#   CONNS        connections (50)
#   MSGS1 MSGS2  round trips per connection in the short and the long run (1000, 5000)
#   SIZE         message size in bytes (64)
#   SERVER_CORE  core the traced server is pinned to (0), after it has announced itself;
#   CLIENT_CORE  core the client is pinned to (1). PIN=0 turns pinning off; it is off
#                anyway on a single core. strace itself is not pinned.
#   TIMEOUT      bound on each client run, in seconds (300)
#   EXIT_WAIT    how long a server with no SERVER override may take to exit (10)
#   VERBOSE      1 (default) prints the server's output and strace's table of each run
#   EVLOOP_BACKEND  passed to the server (not to the client); with `uring`, the wait is
#                `io_uring_enter`, which also submits every send of a turn
#
# The last lines are the summary, one per run and one for the margin:
#
#   messages 50000: 2.030 syscalls per message in all (recv 1.001, send 1.000, wait 0.025); totals: ...
#   messages 250000: 2.022 syscalls per message in all (recv 1.000, send 1.000, wait 0.021); totals: ...
#   marginal over 200000 messages (50000 -> 250000): 2.0200 syscalls per message (recv ..., send ..., wait ...)
set -euo pipefail

if [ -n "${MSGS:-}" ]; then
  echo "syscalls.sh: MSGS is gone; set MSGS1 and MSGS2, the two run lengths" >&2
  exit 2
fi

BIN=${BIN:-target/release/examples/echo}
SERVER=${SERVER:-}
CONNS=${CONNS:-50}
MSGS1=${MSGS1:-1000}
MSGS2=${MSGS2:-5000}
SIZE=${SIZE:-64}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
PIN=${PIN:-1}
TIMEOUT=${TIMEOUT:-300}
EXIT_WAIT=${EXIT_WAIT:-10}
VERBOSE=${VERBOSE:-1}

if ((MSGS1 == MSGS2)); then
  echo "MSGS1 and MSGS2 must differ (got $MSGS1 and $MSGS2)" >&2
  exit 2
fi
if (($(nproc) < 2)); then
  PIN=0
fi

out=$(mktemp -d)
strace_pid=
server_pid=

# Stops what this script started (only those processes, by id) if it ends early.
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  if [[ -n $strace_pid ]] && kill -0 "$strace_pid" 2>/dev/null; then
    kill -TERM "$strace_pid" 2>/dev/null || true
  fi
  rm -rf "$out"
}
trap cleanup EXIT

# gone PID SECONDS: waits up to SECONDS for PID to exit; fails if it is still there.
gone() {
  local pid=$1 tenths=$(($2 * 10)) i
  for ((i = 0; i < tenths; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  ! kill -0 "$pid" 2>/dev/null
}

# run MSGS TAG: one traced server and one client run; leaves strace's table in
# $out/TAG.strace.
run() {
  local msgs=$1 tag=$2 addr
  local -a server_cmd
  if [[ -n $SERVER ]]; then
    read -r -a server_cmd <<<"$SERVER"
  else
    server_cmd=("$BIN" server 127.0.0.1:0 "$CONNS")
  fi

  strace -c -f -o "$out/$tag.strace" -- "${server_cmd[@]}" >"$out/$tag.server" 2>&1 &
  strace_pid=$!
  for _ in $(seq 200); do
    grep -q "listening on" "$out/$tag.server" 2>/dev/null && break
    kill -0 "$strace_pid" 2>/dev/null || break
    sleep 0.05
  done
  addr=$(awk '/listening on/ {print $3; exit}' "$out/$tag.server")
  if [[ -z $addr ]]; then
    echo "the server did not say where it listens:" >&2
    cat "$out/$tag.server" >&2
    exit 1
  fi
  # strace's only child is the server (strace execs it in place).
  server_pid=$(pgrep -P "$strace_pid" | head -n 1)

  local -a client=(timeout "$TIMEOUT" "$BIN" client "$addr" "$CONNS" "$msgs" "$SIZE")
  if ((PIN)); then
    taskset -a -p -c "$SERVER_CORE" "$server_pid" >/dev/null
    client=(taskset -c "$CLIENT_CORE" "${client[@]}")
  fi
  EVLOOP_BACKEND='' "${client[@]}" >"$out/$tag.client"

  # The example's server exits once every connection has closed; any other is told to.
  if [[ -n $SERVER ]]; then
    sleep 0.2 # let it read the EOFs and close, so the totals include them
    kill -TERM "$server_pid" 2>/dev/null || true
  elif ! gone "$server_pid" "$EXIT_WAIT"; then
    echo "the server has not exited ${EXIT_WAIT}s after the client; stopping it" >&2
    kill -TERM "$server_pid" 2>/dev/null || true
  fi
  if ! gone "$strace_pid" 10; then
    kill -KILL "$server_pid" 2>/dev/null || true
    gone "$strace_pid" 5 || kill -TERM "$strace_pid" 2>/dev/null || true
  fi
  # strace exits as its tracee did, so a server ended by SIGTERM is not an error here.
  wait "$strace_pid" || true
  strace_pid=
  server_pid=

  if ((VERBOSE)); then
    echo "== $tag: $((CONNS * msgs)) messages"
    cat "$out/$tag.server" "$out/$tag.client" "$out/$tag.strace"
  else
    cat "$out/$tag.client"
  fi
}

# counts TAG: "total recv send wait" from strace's table of run TAG.
counts() {
  awk '
    $NF == "total" { total = $4 }
    $NF ~ /^(recvfrom|read|readv|recvmsg)$/ { recv += $4 }
    $NF ~ /^(sendto|write|writev|sendmsg)$/ { send += $4 }
    $NF ~ /^epoll_(p)?wait2?$|^p?poll$|^io_uring_enter$/ { wait += $4 }
    END { printf "%d %d %d %d\n", total, recv, send, wait }' "$out/$1.strace"
}

run "$MSGS1" short
run "$MSGS2" long

m1=$((CONNS * MSGS1))
m2=$((CONNS * MSGS2))
read -r t1 r1 s1 w1 < <(counts short)
read -r t2 r2 s2 w2 < <(counts long)

for line in "$m1 $t1 $r1 $s1 $w1" "$m2 $t2 $r2 $s2 $w2"; do
  read -r m t r s w <<<"$line"
  awk -v m="$m" -v t="$t" -v r="$r" -v s="$s" -v w="$w" 'BEGIN {
    printf "messages %d: %.3f syscalls per message in all (recv %.3f, send %.3f, wait %.3f); totals: all %d, recv %d, send %d, wait %d\n",
      m, t / m, r / m, s / m, w / m, t, r, s, w
  }'
done
awk -v m1="$m1" -v m2="$m2" \
  -v t="$((t2 - t1))" -v r="$((r2 - r1))" -v s="$((s2 - s1))" -v w="$((w2 - w1))" 'BEGIN {
  dm = m2 - m1
  printf "marginal over %d messages (%d -> %d): %.4f syscalls per message (recv %.4f, send %.4f, wait %.4f)\n",
    dm, m1, m2, t / dm, r / dm, s / dm, w / dm
}'
