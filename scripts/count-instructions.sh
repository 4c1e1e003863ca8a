#!/usr/bin/env bash
# Instructions mcpgate executes per tools/call, counted by valgrind's
# callgrind: exact and repeatable where CPU time on a shared 2-core machine
# moves by 10-20% between rounds, so a change to the hot path can be judged
# on its own. User-space work only (system calls are the kernel's, not
# counted); the call log's SQLite writes are included.
#
# mcpgate (the release build, or BINARY) runs under callgrind with a file-backed
# SQLite store; a product and key as in bench-gateway.sh; 8 MCP sessions through
# it, each driven by one hey (-c 1), WARMUP calls first, then CALLS measured
# (counters zeroed before, dumped after the call log's batch is written).
#   CALLS=2000 ./scripts/count-instructions.sh [BINARY]
# Prints instructions and heap allocations (the global allocator's) per call
# and the gateway functions that cost most (inclusive), per call; KEEP=FILE
# keeps the callgrind profile there (for callgrind_annotate --tree=caller).
# TRACED=1 counts mcpgate with span export on (OTLP/HTTP to a local sink that
# discards), as bench-gateway.sh's "span export on" row.
# THREADS=1 reads each thread's CPU time instead (run without valgrind; use
# more CALLS, e.g. 20000): where a call's CPU goes by thread, including what
# instruction counts leave out (the kernel, cache misses, hand-offs); the
# process's user and system time a call; and its peak and current memory
# after the calls.
# SYSCALLS=1 counts system calls instead (strace -c on every thread of the
# process, run without valgrind), per call: the kernel's share, which
# instruction counts leave out. SESSIONS=N (default 8) sets how many sessions
# (one hey connection each) carry the calls: 64 is bench-gateway.sh's load.
# FLOOR=1 counts the logging floor of bench-gateway.sh instead: the bare proxy
# (benches/bare_proxy.rs, or BINARY) recording each call with mcpgate's metrics
# and call log, so mcpgate's governance is the difference, free of the 10%
# noise of CPU time on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/tools.sh

CALLS="${CALLS:-2000}"
WARMUP="${WARMUP:-400}"
need cargo "the Rust toolchain (rustup)"
for pair in valgrind:valgrind hey:hey strace:strace; do
    tool="${pair%%:*}"; package="${pair#*:}"
    command -v "$tool" >/dev/null 2>&1 || apt-get install -y -qq "$package" >/dev/null 2>&1 || die "$tool is missing and 'apt-get install $package' failed"
done
binary="${1:-}"
if [ -n "${FLOOR:-}" ]; then
    step "building release binaries"
    cargo build --release --locked --example bench-upstream --example bench-bare-proxy
    binary="${binary:-./target/release/examples/bench-bare-proxy}"
elif [ -z "$binary" ]; then
    step "building release binaries"
    cargo build --release --locked --bin mcpgate --example bench-upstream
    binary=./target/release/mcpgate
else
    cargo build --release --locked --example bench-upstream
fi

work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM
# What runs the process: callgrind, or nothing when strace attaches later.
launch=(valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out")
under="under callgrind"
if [ -n "${SYSCALLS:-}" ]; then launch=(); under="(strace attaches after the warm-up)"; fi
if [ -n "${THREADS:-}" ]; then launch=(); under="(its threads' CPU time read after the warm-up)"; fi

upstream_port="$(free_port)"
./target/release/examples/bench-upstream "$upstream_port" 0 stateful 2>"$work/upstream.log" &
pids+=($!)
gateway_port="$(free_port)"
if [ -n "${FLOOR:-}" ]; then
    step "starting the bare proxy with mcpgate's call log $under"
    RUST_LOG=warn "${launch[@]}" "$binary" "$gateway_port" \
        "http://127.0.0.1:$upstream_port/mcp" "sqlite://$work/floor.db" 2>"$work/valgrind.log" &
    gateway_pid=$!
    pids+=("$gateway_pid")
    url="http://127.0.0.1:$gateway_port/mcp"
    key=""
    # What wakes the process for callgrind's commands: a request the upstream refuses at once.
    nudge="$url"
    for _ in $(seq 600); do curl -s -o /dev/null -X DELETE "$url" && break; sleep 0.2; done
else
    admin_port="$(free_port)"; token="mcpa_count_$RANDOM$RANDOM"
    export_env=()
    if [ -n "${TRACED:-}" ]; then
        sink_port="$(free_port)"
        otlp_sink "$sink_port" &
        pids+=($!)
        export_env=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)
    fi
    step "starting mcpgate $under${TRACED:+, span export on}"
    env "${export_env[@]}" RUST_LOG=warn "${launch[@]}" "$binary" serve \
        --database "sqlite://$work/gateway.db" --admin-listen "127.0.0.1:$admin_port" --gateway-listen "127.0.0.1:$gateway_port" \
        --admin-token "$token" 2>"$work/valgrind.log" &
    gateway_pid=$!
    pids+=("$gateway_pid")
    admin="http://127.0.0.1:$admin_port"
    nudge="$admin/healthz"
    for _ in $(seq 600); do curl -sf -o /dev/null "$admin/healthz" && break; sleep 0.2; done
    key="$(bench_product "$admin" "$token" "$upstream_port")"
    url="http://127.0.0.1:$gateway_port/mcp/bench"
fi

sessions=()
for _ in $(seq "${SESSIONS:-8}"); do sessions+=("$(mcp_session "$url" "$key")"); done
printf '%s' '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}' >"$work/call.json"

# calls N: N tools/call, spread over the sessions, one hey each.
calls() {
    local hey_pids=() i=0 session
    for session in "${sessions[@]}"; do
        hey -n $(($1 / ${#sessions[@]})) -c 1 -m POST -D "$work/call.json" -T application/json \
            -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2025-06-18' \
            ${key:+-H "X-Subscription-Key: $key"} -H "Mcp-Session-Id: $session" "$url" >"$work/hey.$i.out" &
        hey_pids+=($!); i=$((i + 1))
    done
    wait "${hey_pids[@]}"
    if grep -h -A5 'Status code distribution' "$work"/hey.*.out | grep '\[' | grep -qv '\[200\]'; then
        die "calls through $url failed: $(cat "$work"/hey.0.out)"
    fi
}

# callgrind takes commands between basic blocks: an idle gateway waits in
# epoll, so requests nudge it until the command is taken.
control() {
    callgrind_control "$1" "$gateway_pid" >/dev/null &
    local control_pid=$!
    for _ in $(seq 50); do
        kill -0 "$control_pid" 2>/dev/null || break
        curl -s -o /dev/null -X DELETE "$nudge" || true
        sleep 0.3
    done
    wait "$control_pid"
}

step "warming up ($WARMUP calls), then counting $CALLS calls"
calls "$WARMUP"
sleep 1
if [ -n "${SYSCALLS:-}" ]; then
    # Attached to every thread after the warm-up; detached once the call log's batch is written.
    mapfile -t threads < <(ls "/proc/$gateway_pid/task")
    strace -c -f -o "$work/strace.out" "${threads[@]/#/-p}" 2>/dev/null &
    strace_pid=$!
    sleep 1
    calls "$CALLS"
    sleep 1.5
    kill -INT "$strace_pid"
    wait "$strace_pid" || true
    # strace -c's rows: % time, seconds, usecs/call, calls, [errors], syscall.
    awk -v calls="$CALLS" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { printf "%-14s %7d  %5.2f a call\n", $NF, $4, $4 / calls }' "$work/strace.out"
    exit 0
fi
if [ -n "${THREADS:-}" ]; then
    # Each thread's time on a CPU (schedstat's first field, in ns) before and
    # after the calls, by thread name, digits dropped (one row for a pool).
    times() { for task in "/proc/$gateway_pid/task/"*; do echo "$(tr -d '0-9 ' <"$task/comm") $(cut -d' ' -f1 "$task/schedstat")"; done; }
    # And the process's user and system time (/proc/PID/stat's utime and
    # stime, in clock ticks): the kernel's share, which instructions leave out.
    user_system() { cut -d' ' -f14,15 "/proc/$gateway_pid/stat"; }
    times >"$work/before"
    read -r user_before system_before <<<"$(user_system)"
    calls "$CALLS"
    sleep 1.5
    times >"$work/after"
    read -r user_after system_after <<<"$(user_system)"
    python3 - "$work/before" "$work/after" "$CALLS" <<'PY'
import collections, sys
def read(path):
    totals = collections.Counter()
    for line in open(path):
        name, ns = line.rsplit(" ", 1)
        totals[name] += int(ns)
    return totals
before, after, calls = read(sys.argv[1]), read(sys.argv[2]), int(sys.argv[3])
spent = {name: after[name] - before.get(name, 0) for name in after}
for name, ns in sorted(spent.items(), key=lambda item: -item[1]):
    if ns > 0:
        print(f"{name:<24} {ns / calls / 1000:6.2f} µs a call")
print(f"{'all threads':<24} {sum(spent.values()) / calls / 1000:6.2f} µs a call")
PY
    python3 -c "import os; tick, calls = 1e6 / os.sysconf('SC_CLK_TCK'), $CALLS; print(f'user {($user_after - $user_before) * tick / calls:.2f} µs a call, system {($system_after - $system_before) * tick / calls:.2f} µs a call')"
    # What the process holds: its peak, and now by kind (RssAnon is the heap).
    grep -E "VmHWM|RssAnon|RssFile" "/proc/$gateway_pid/status" | tr -s ' \t' ' ' | tr '\n' ' '; echo
    exit 0
fi
control -z
calls "$CALLS"
sleep 1.5 # the call log's batch is written
control -d
profile="$(ls -t "$work"/callgrind.out.* | head -1)"
if [ -n "${KEEP:-}" ]; then cp "$profile" "$KEEP"; fi
python3 - "$profile" "$CALLS" <<'PY'
import re, subprocess, sys
path, calls = sys.argv[1], int(sys.argv[2])
out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=99.9", path], capture_output=True, text=True).stdout
total = next(int(line.split()[0].replace(",", "")) for line in out.splitlines() if "PROGRAM TOTALS" in line)
print(f"instructions per call: {total // calls:,}")
# The call log's statements are prepared once per pooled connection and
# batch size; the window catches a varying number of those first prepares
# (2 million instructions each), which steady load never repeats.
prepare = next((int(line.split()[0].replace(",", "")) for line in out.splitlines() if "???:sqlite3_prepare_v3 " in line), 0)
print(f"instructions per call without SQLite statement preparation (warm-up): {(total - prepare) // calls:,}")
# Heap allocations: calls into the global allocator's entry points, summed
# over their callers (each caller line ends in its call count, "(Nx)").
callers = subprocess.run(["callgrind_annotate", "--tree=caller", "--inclusive=no", "--threshold=100", path], capture_output=True, text=True).stdout
allocations, block = 0, []
for line in callers.splitlines():
    if not line.strip():
        block = []
    elif re.search(r"\*\s+\?\?\?:__rustc::__rust_(alloc|alloc_zeroed|realloc) ", line):
        allocations += sum(int(m.replace(",", "")) for m in re.findall(r"\(([\d,]+)x\)", "\n".join(block)))
    else:
        block.append(line)
print(f"heap allocations per call: {allocations / calls:.1f}")
print("most costly gateway functions, inclusive, per call:")
shown = 0
for line in out.splitlines():
    match = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+\?\?\?:(mcpgate::\S+)", line)
    if match and shown < 25:
        print(f"  {int(match.group(1).replace(',', '')) // calls:>9,}  {match.group(2)}")
        shown += 1
PY
