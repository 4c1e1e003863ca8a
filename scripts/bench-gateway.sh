#!/usr/bin/env bash
# Gateway overhead benchmark: tools/call straight to a fast Rust MCP upstream
# vs through mcpgate (key auth, allow-list, quota, call log, metrics), with
# span export off and on (to a local OTLP sink), same machine, same run.
# Writes the results table into docs/benchmarks.md.
#   DURATION=15 CONNECTIONS=16 ./scripts/bench-gateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/tools.sh

DURATION="${DURATION:-15}"
CONNECTIONS="${CONNECTIONS:-16}"
need cargo "the Rust toolchain (rustup)"
for tool in wrk hey; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        step "installing $tool (Debian package)"
        apt-get install -y -qq "$tool" >/dev/null 2>&1 || die "$tool is missing and 'apt-get install $tool' failed; install it and run again"
    fi
done
RATE="${RATE:-2000}"

step "building release binaries"
cargo build --release --locked --bin mcpgate --example bench-upstream

work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM

upstream_port="$(free_port)"
./target/release/examples/bench-upstream "$upstream_port" 2>"$work/upstream.log" &
pids+=($!)

run_gateway() { # run_gateway LABEL [extra env...]: starts mcpgate, configures it, sets GATEWAY and KEY
    local label="$1"; shift
    env "$@" RUST_LOG=warn ./target/release/mcpgate serve --ephemeral >"$work/$label.json" 2>"$work/$label.log" &
    pids+=($!)
    for _ in $(seq 50); do [ -s "$work/$label.json" ] && break; sleep 0.1; done
    local admin token
    admin="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin_url"])' "$work/$label.json")"
    token="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$work/$label.json")"
    GATEWAY="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["gateway_url"])' "$work/$label.json")/mcp/bench"
    api() { curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@" >/dev/null; }
    api -X PUT "$admin/api/v1/servers/bench" -d '{}'
    api -X PUT "$admin/api/v1/servers/bench/versions/v1" -d "{\"backend_url\": \"http://127.0.0.1:$upstream_port/mcp\"}"
    api -X PUT "$admin/api/v1/products/bench" -d '{"state": "published", "quota": {"calls": 1000000000, "period_seconds": 86400}}'
    api -X PUT "$admin/api/v1/products/bench/servers/bench" -d '{"tools": ["echo"]}'
    KEY="$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -X PUT "$admin/api/v1/subscriptions/bench" -d '{"product": "bench"}' \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["primary_key"])')"
}

measure() { # measure URL KEY -> "rps p50_ms p99_ms errors"
    MCPGATE_BENCH_KEY="$2" wrk -t1 -c"$CONNECTIONS" -d2s -s benches/gateway.lua "$1" >/dev/null
    MCPGATE_BENCH_KEY="$2" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s benches/gateway.lua "$1" \
        | sed -n 's/^RESULT //p' \
        | python3 -c '
import sys
f = dict(kv.split("=") for kv in sys.stdin.read().split())
rps = int(f["requests"]) / (int(f["duration_us"]) / 1e6)
errors = int(f["errors"]) + int(f["non2xx"])
print("%.0f %.3f %.3f %d" % (rps, int(f["p50_us"]) / 1000, int(f["p99_us"]) / 1000, errors))'
}

body="$work/call.json"
printf '%s' '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}' >"$body"

steady() { # steady URL KEY -> "p50_ms p99_ms": latency at RATE requests/s, below saturation
    local key_header=()
    [ -n "$2" ] && key_header=(-H "X-Subscription-Key: $2")
    hey -z 10s -c 20 -q $((RATE / 20)) -m POST -D "$body" -T application/json \
        -H "Accept: application/json, text/event-stream" -H "MCP-Protocol-Version: 2025-06-18" "${key_header[@]}" "$1" \
        | python3 -c '
import re, sys
text = sys.stdin.read()
p = dict(re.findall(r"(\d+)%+ in ([0-9.]+) secs", text))
print("%.3f %.3f" % (float(p["50"]) * 1000, float(p["99"]) * 1000))'
}

step "direct to the upstream"
read -r direct_rps direct_p50 direct_p99 direct_err <<<"$(measure "http://127.0.0.1:$upstream_port/mcp" "")"
read -r direct_s50 direct_s99 <<<"$(steady "http://127.0.0.1:$upstream_port/mcp" "")"

step "through mcpgate, span export off"
run_gateway plain
read -r gw_rps gw_p50 gw_p99 gw_err <<<"$(measure "$GATEWAY" "$KEY")"
read -r gw_s50 gw_s99 <<<"$(steady "$GATEWAY" "$KEY")"

# A local OTLP/HTTP sink that accepts and discards, so export cost is the gateway's own.
sink_port="$(free_port)"
python3 - "$sink_port" <<'PY' &
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
pids+=($!)
step "through mcpgate, span export on (OTLP/HTTP to a local sink)"
run_gateway traced OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
read -r tr_rps tr_p50 tr_p99 tr_err <<<"$(measure "$GATEWAY" "$KEY")"
read -r tr_s50 tr_s99 <<<"$(steady "$GATEWAY" "$KEY")"

versus() { python3 -c "print(f'{$1/$direct_rps*100:.0f}% of direct, +{$2-$direct_p99:.3f} ms p99')"; }
rows="| direct to upstream | $direct_rps | $direct_p50 | $direct_p99 | $direct_err | — |
| through mcpgate, span export off | $gw_rps | $gw_p50 | $gw_p99 | $gw_err | $(versus "$gw_rps" "$gw_p99") |
| through mcpgate, span export on | $tr_rps | $tr_p50 | $tr_p99 | $tr_err | $(versus "$tr_rps" "$tr_p99") |"
added() { python3 -c "print(f'+{$1-$direct_s99:.3f} ms p99')"; }
steady_rows="| direct to upstream | $direct_s50 | $direct_s99 | — |
| through mcpgate, span export off | $gw_s50 | $gw_s99 | $(added "$gw_s99") |
| through mcpgate, span export on | $tr_s50 | $tr_s99 | $(added "$tr_s99") |"

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
python3 scripts/lib/bench_section.py gateway-bench <<SECTION
<!-- gateway-bench:start -->
## Gateway overhead (\`./scripts/bench-gateway.sh\`)

\`tools/call echo\` against a minimal rmcp upstream (stateless, JSON replies),
\`wrk -t1 -c$CONNECTIONS -d${DURATION}s\`, all processes on one machine ($cpu, 2 cores),
measured $(date +%F). Through mcpgate means subscription-key auth, the tool
allow-list check, a quota check and charge, version routing, metrics and the call log on
every call; "span export on" adds an OTLP span per call, exported over HTTP to a local sink.
Targets: under 1 ms added at p99, at least 85% of direct throughput.

Saturation (wrk, as fast as it goes; on 2 cores the gateway competes with the load generator and the upstream for CPU):

| path | requests/s | p50 ms | p99 ms | errors | vs direct |
| --- | ---: | ---: | ---: | ---: | --- |
$rows

Steady load below saturation (\`hey -q\`, $RATE requests/s for 10 s): the latency the gateway adds.

| path | p50 ms | p99 ms | added |
| --- | ---: | ---: | --- |
$steady_rows
<!-- gateway-bench:end -->
SECTION
