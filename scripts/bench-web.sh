#!/usr/bin/env bash
# Web UI server time: every portal and console page, signed in, over a call
# log of CALLS tool calls (default 1,000,000, spread over 7 days, written
# through the store's own path by bench-analytics), release build, SQLite.
# Writes its table into docs/benchmarks.md. Target: every page < 100 ms.
#   CALLS=1000000 REQUESTS=20 ./scripts/bench-web.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/tools.sh

CALLS="${CALLS:-1000000}"
REQUESTS="${REQUESTS:-20}"
need cargo "the Rust toolchain (rustup)"
need curl "curl"

step "building release binaries"
cargo build --release --locked --bin mcpgate --example bench-upstream --example bench-analytics

work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM
export MCPGATE_SECRET_KEY="$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')"
export MCPGATE_ADMIN_TOKEN=bench-token RUST_LOG=warn
db="sqlite://$work/web.db"

step "writing $CALLS calls into the call log"
./target/release/examples/bench-analytics "$db" "$CALLS" >"$work/analytics.jsonl"
head -1 "$work/analytics.jsonl"

upstream_port="$(free_port)"; admin_port="$(free_port)"; gateway_port="$(free_port)"
./target/release/examples/bench-upstream "$upstream_port" 2>"$work/upstream.log" &
pids+=($!)
./target/release/mcpgate serve --database "$db" --admin-listen "127.0.0.1:$admin_port" \
    --gateway-listen "127.0.0.1:$gateway_port" 2>"$work/mcpgate.log" &
pids+=($!)
admin="http://127.0.0.1:$admin_port"
for _ in $(seq 100); do curl -sf "$admin/healthz" >/dev/null && break; sleep 0.1; done

step "configuring 3 servers, 3 products, 50 subscriptions, 2 portal users"
put() { curl -sf -X PUT "$admin/api/v1/$1" -H "Authorization: Bearer $MCPGATE_ADMIN_TOKEN" -H 'Content-Type: application/json' -d "$2" >/dev/null \
    || die "PUT $1 failed"; }
for s in 0 1 2; do
    put "servers/server-$s" '{}'
    for v in 1 2; do put "servers/server-$s/versions/v$v" "{\"backend_url\": \"http://127.0.0.1:$upstream_port/mcp\", \"traffic_weight\": 50}"; done
    put "products/product-$s" '{"state": "published", "quota": {"calls": 100000, "period_seconds": 86400}}'
    put "products/product-$s/servers/server-$s" '{}'
done
for n in $(seq 0 49); do put "subscriptions/sub-$n" "{\"product\": \"product-$((n % 3))\", \"owner\": \"$([ "$n" -lt 5 ] && echo consumer || echo "team-$n")\"}"; done
put portal-users/consumer '{"password": "bench password 1"}'
put portal-users/operator '{"password": "bench password 1", "role": "operator"}'

sign_in() { # sign_in USER JAR
    local page token
    page="$(curl -sf -c "$2" "$admin/portal/sign-in")"
    token="$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' <<<"$page" | head -1)"
    curl -sf -b "$2" -c "$2" -o /dev/null -d "name=$1" -d "password=bench password 1" -d "csrf=$token" "$admin/portal/sign-in" \
        || die "sign-in as $1 failed"
}
sign_in consumer "$work/consumer.jar"
sign_in operator "$work/operator.jar"

step "timing each page $REQUESTS times"
time_page() { # time_page JAR PATH → one line: PATH and each request's seconds
    local times=()
    for _ in $(seq "$REQUESTS"); do
        times+=("$(curl -s -o /dev/null -b "$1" -w '%{http_code}:%{time_total}' "$admin$2")")
    done
    echo "$2 ${times[*]}"
}
results="$(
    for path in /portal /portal/products/product-0 /portal/subscriptions /portal/usage; do time_page "$work/consumer.jar" "$path"; done
    for path in /console /console/servers/server-0 /console/calls "/console/calls?tool=tool-3&status=error" "/console/calls?subscription=sub-7"; do
        time_page "$work/operator.jar" "$path"
    done
)"
table="$(python3 - "$results" <<'PY'
import statistics, sys
rows = ["| page | requests | median ms | p95 ms | max ms |", "| --- | ---: | ---: | ---: | ---: |"]
worst = 0.0
for line in sys.argv[1].splitlines():
    path, *samples = line.split()
    codes = {s.split(":")[0] for s in samples}
    if codes != {"200"}:
        sys.exit(f"{path}: answered {sorted(codes)}, not 200")
    ms = sorted(float(s.split(":")[1]) * 1000 for s in samples)
    p95 = ms[max(0, round(0.95 * len(ms)) - 1)]
    worst = max(worst, p95)
    rows.append(f"| `{path}` | {len(ms)} | {statistics.median(ms):.1f} | {p95:.1f} | {ms[-1]:.1f} |")
print("\n".join(rows))
print(f"\nSlowest page at p95: {worst:.1f} ms (target: every page under 100 ms).")
PY
)"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
python3 scripts/lib/bench_section.py web-bench <<SECTION
<!-- web-bench:start -->
## Portal and console pages (\`./scripts/bench-web.sh\`)

Each page of the web UI, signed in, timed with curl over loopback (server time plus a
loopback round trip), $REQUESTS requests each, with $(python3 -c "print(f'{$CALLS:,}')") tool calls in the call log
(7 days, 3 servers × 2 versions, 8 tools, 50 subscriptions; the dimensions vary
independently, so the hourly rollups hold more rows than real traffic, where a
subscription belongs to one product, would make). Release build, SQLite,
$cpu, $(nproc) cores, measured $(date +%F). Summaries and charts read the hourly
rollups (partial hours at the edges from the call log); the call log pages read the
newest rows through its indexes; a page's independent queries run side by side. The product page includes the server's live
\`tools/list\` (a local rmcp upstream).

$table
<!-- web-bench:end -->
SECTION
