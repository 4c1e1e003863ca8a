#!/usr/bin/env bash
# Product endpoint benchmark (#22), one mcpgate, release build. Five members
# (benches/upstream.rs, each answering tools/list after LIST_DELAY_MS): how
# long a tools/list on a five-member product endpoint takes against a
# one-member one (members are asked in parallel, so the target is ≤ 1.3×,
# not 5×); and the gateway's CPU per tools/call through the product endpoint
# against the same call on /mcp/{server}, same process, same subscription,
# rounds alternating (target ≤ 1.1×). Writes its table into docs/benchmarks.md.
#   DURATION=10 ROUNDS=5 LISTS=40 LIST_DELAY_MS=50 ./scripts/bench-federation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/tools.sh

DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-5}"
LISTS="${LISTS:-40}"
LIST_DELAY_MS="${LIST_DELAY_MS:-50}"
CONNECTIONS="${CONNECTIONS:-32}"
need cargo "the Rust toolchain (rustup)"
need_python
if ! command -v wrk >/dev/null 2>&1; then
    step "installing wrk (Debian package wrk)"
    apt-get install -y -qq wrk >/dev/null 2>&1 || die "wrk is missing and 'apt-get install wrk' failed; install it and run again"
fi
CLK_TCK="$(getconf CLK_TCK)"

step "building release binaries"
cargo build --release --locked --bin mcpgate --example bench-upstream

work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM

step "starting five members (tools/list after $LIST_DELAY_MS ms) and mcpgate"
members=()
for i in 1 2 3 4 5; do
    port="$(free_port)"
    ./target/release/examples/bench-upstream "$port" "$LIST_DELAY_MS" 2>"$work/m$i.log" &
    pids+=($!)
    members+=("$port")
done
admin_port="$(free_port)"; gateway_port="$(free_port)"; token="mcpa_bench_$RANDOM$RANDOM"
RUST_LOG=warn ./target/release/mcpgate serve --database "sqlite://$work/gateway.db" \
    --admin-listen "127.0.0.1:$admin_port" --gateway-listen "127.0.0.1:$gateway_port" --admin-token "$token" 2>"$work/gateway.log" &
gateway_pid=$!
pids+=("$gateway_pid")
admin="http://127.0.0.1:$admin_port"
gateway="http://127.0.0.1:$gateway_port"
for _ in $(seq 100); do curl -sf -o /dev/null "$admin/healthz" && break; sleep 0.1; done
for port in "${members[@]}"; do
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/mcp" && break; sleep 0.1; done
done

api() { curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
quota='{"calls": 1000000000, "period_seconds": 86400}'
for i in 1 2 3 4 5; do
    api -X PUT "$admin/api/v1/servers/m$i" -d '{}' >/dev/null
    api -X PUT "$admin/api/v1/servers/m$i/versions/v1" -d "{\"backend_url\": \"http://127.0.0.1:${members[$((i - 1))]}/mcp\"}" >/dev/null
done
api -X PUT "$admin/api/v1/products/five" -d "{\"state\": \"published\", \"quota\": $quota}" >/dev/null
api -X PUT "$admin/api/v1/products/one" -d "{\"state\": \"published\", \"quota\": $quota}" >/dev/null
for i in 1 2 3 4 5; do api -X PUT "$admin/api/v1/products/five/servers/m$i" -d '{}' >/dev/null; done
api -X PUT "$admin/api/v1/products/one/servers/m1" -d '{}' >/dev/null
key_of() { api -X PUT "$admin/api/v1/subscriptions/$1" -d "{\"product\": \"$2\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["primary_key"])'; }
five_key="$(key_of bench-five five)"
one_key="$(key_of bench-one one)"

# session URL KEY -> the Mcp-Session-Id initialize returns (none from
# /mcp/{server}: its upstream is stateless)
session() {
    python3 - "$1" "$2" <<'PY'
import http.client, json, sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
conn = http.client.HTTPConnection(url.hostname, url.port)
body = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}
headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "X-Subscription-Key": sys.argv[2]}
conn.request("POST", url.path, json.dumps(body), headers)
reply = conn.getresponse()
reply.read()
session = reply.getheader("Mcp-Session-Id") or ""
if reply.status != 200 or (not session and "/products/" in url.path):
    sys.exit(f"initialize on {sys.argv[1]} answered {reply.status} without a session")
if session:
    headers["Mcp-Session-Id"] = session
headers["MCP-Protocol-Version"] = "2025-11-25"
conn.request("POST", url.path, json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}), headers)
conn.getresponse().read()
print(session)
PY
}
five_session="$(session "$gateway/products/five/mcp" "$five_key")"
one_session="$(session "$gateway/products/one/mcp" "$one_key")"
server_session="$(session "$gateway/mcp/m1" "$one_key")"

step "tools/list: five members against one, $LISTS lists each, alternating"
list_json="$(python3 - "$gateway" "$LISTS" "$five_key" "$five_session" "$one_key" "$one_session" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse
gateway, lists = sys.argv[1], int(sys.argv[2])
url = urllib.parse.urlsplit(gateway)
endpoints = {"five": (sys.argv[3], sys.argv[4]), "one": (sys.argv[5], sys.argv[6])}
conns = {name: http.client.HTTPConnection(url.hostname, url.port) for name in endpoints}
times = {name: [] for name in endpoints}
counts = {}
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
for _ in range(lists):
    for name, (key, session) in endpoints.items():
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                   "X-Subscription-Key": key, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
        start = time.perf_counter()
        conns[name].request("POST", f"/products/{name}/mcp", body, headers)
        reply = conns[name].getresponse()
        text = reply.read()
        times[name].append(time.perf_counter() - start)
        if reply.status != 200:
            sys.exit(f"tools/list on {name} answered {reply.status}: {text[:200]!r}")
        if text.startswith(b"event:") or text.startswith(b"data:"):
            text = next(line[5:] for line in text.splitlines() if line.startswith(b"data:"))
        counts[name] = len(json.loads(text)["result"]["tools"])
print(json.dumps({name: {"median_ms": statistics.median(t) * 1000, "p90_ms": sorted(t)[int(len(t) * 0.9)] * 1000,
                         "tools": counts[name]} for name, t in times.items()}))
PY
)"
echo "$list_json"

# cpu_us PID: user + system time of the process, in µs.
cpu_us() { echo $(($(sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13 + $14 + $15}') * 1000000 / CLK_TCK)); }

# measure URL KEY SESSION TOOL -> "rps p50_ms p99_ms errors cpu_us_per_call"
measure() {
    local before after
    MCPGATE_BENCH_KEY="$2" MCPGATE_BENCH_SESSION="$3" MCPGATE_BENCH_TOOL="$4" wrk -t1 -c"$CONNECTIONS" -d2s -s benches/gateway.lua "$1" >/dev/null
    before="$(cpu_us "$gateway_pid")"
    MCPGATE_BENCH_KEY="$2" MCPGATE_BENCH_SESSION="$3" MCPGATE_BENCH_TOOL="$4" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s benches/gateway.lua "$1" \
        | sed -n 's/^RESULT //p' >"$work/result"
    after="$(cpu_us "$gateway_pid")"
    python3 - "$((after - before))" "$work/result" <<'PY'
import sys
f = dict(kv.split("=") for kv in open(sys.argv[2]).read().split())
requests = int(f["requests"])
print("%.0f %.3f %.3f %d %.1f" % (requests / (int(f["duration_us"]) / 1e6), int(f["p50_us"]) / 1000,
      int(f["p99_us"]) / 1000, int(f["errors"]) + int(f["non2xx"]), int(sys.argv[1]) / requests))
PY
}

for round in $(seq "$ROUNDS"); do
    step "tools/call CPU, round $round of $ROUNDS"
    # Which goes first alternates too: the call log's store work (checkpoints)
    # lands on whatever runs after a burst.
    if [ $((round % 2)) = 1 ]; then
        measure "$gateway/mcp/m1" "$one_key" "$server_session" echo >>"$work/server.rows"
        measure "$gateway/products/one/mcp" "$one_key" "$one_session" m1__echo >>"$work/product.rows"
    else
        measure "$gateway/products/one/mcp" "$one_key" "$one_session" m1__echo >>"$work/product.rows"
        measure "$gateway/mcp/m1" "$one_key" "$server_session" echo >>"$work/server.rows"
    fi
done
median_row() { sort -g -k5 "$work/$1.rows" | sed -n "$(( ($(wc -l <"$work/$1.rows") + 1) / 2 ))p"; }
spread() { python3 -c "import sys; v=sorted(float(l.split()[4]) for l in open(sys.argv[1])); print(f'{v[0]:.0f}–{v[-1]:.0f}')" "$work/$1.rows"; }
read -r sv_rps sv_p50 sv_p99 sv_err sv_cpu <<<"$(median_row server)"
read -r pr_rps pr_p50 pr_p99 pr_err pr_cpu <<<"$(median_row product)"
[ "$sv_err" = 0 ] && [ "$pr_err" = 0 ] || die "calls failed (server $sv_err, product endpoint $pr_err); see $work/gateway.log"
rows="$(python3 - "$list_json" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
five, one = r["five"], r["one"]
print(f"| one member | {one['tools']} | {one['median_ms']:.1f} | {one['p90_ms']:.1f} | 1.00× |")
print(f"| five members | {five['tools']} | {five['median_ms']:.1f} | {five['p90_ms']:.1f} | **{five['median_ms'] / one['median_ms']:.2f}×** |")
PY
)"
ratio="$(python3 -c "print(f'{$pr_cpu / $sv_cpu:.2f}')")"

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
python3 scripts/lib/bench_section.py federation-bench <<SECTION
<!-- federation-bench:start -->
## Product endpoints (\`./scripts/bench-federation.sh\`)

One mcpgate (release build, file-backed SQLite store) in front of five rmcp members
(\`benches/upstream.rs\`, stateless, JSON replies), each answering \`tools/list\` after $LIST_DELAY_MS ms; $cpu,
$(nproc) cores shared by everything; measured $(date +%F).

\`tools/list\` on \`/products/{product}/mcp\` with a session, one connection, $LISTS lists
per product alternating. The members are asked in parallel, so five cost about
what one does (target ≤ 1.3×):

| product | tools | median ms | p90 ms | vs one member |
| --- | ---: | ---: | ---: | ---: |
$rows

\`tools/call echo\` with full governance (key, allow-list, quota
charge, version routing, metrics, call log), \`wrk -t1 -c$CONNECTIONS -d${DURATION}s\`,
$ROUNDS rounds alternating (and which goes first); gateway CPU per call from \`/proc/PID/stat\`, each row
the round with its median (the range beside it). The product endpoint routes
\`m1__echo\` by its prefix to the member's session and sends it on the same byte
path; it also verifies its own signed session id, which \`/mcp/m1\` in front of a
stateless upstream does not issue (target ≤ 1.1×): **${ratio}×**.

| endpoint | requests/s | p50 ms | p99 ms | errors | CPU µs/call | range | vs /mcp/{server} |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| \`/mcp/m1\` | $sv_rps | $sv_p50 | $sv_p99 | $sv_err | $sv_cpu | $(spread server) | 1.00× |
| \`/products/one/mcp\` | $pr_rps | $pr_p50 | $pr_p99 | $pr_err | $pr_cpu | $(spread product) | ${ratio}× |
<!-- federation-bench:end -->
SECTION
