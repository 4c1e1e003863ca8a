#!/usr/bin/env bash
# Cluster figures: (1) how long a write through the admin process takes to
# be served by every gateway replica (1 admin + 3 gateways on PostgreSQL
# and Redis, release builds), and (2) analytics over a 10-million-call log
# on PostgreSQL and SQLite. Writes the tables into docs/benchmarks.md.
#   WRITES=100 CALLS=10000000 ./scripts/bench-cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/tools.sh

WRITES="${WRITES:-100}"
CALLS="${CALLS:-10000000}"
need cargo "the Rust toolchain (rustup)"

step "building release binaries"
cargo build --release --locked --bin mcpgate --example bench-upstream --example bench-analytics --example bench-propagation

work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; stop_engines; rm -rf "$work"; }
trap cleanup EXIT INT TERM
start_postgres
start_redis
database() { # database NAME: a fresh PostgreSQL database's URL
    psql "$MCPGATE_TEST_POSTGRES" -qc "CREATE DATABASE $1" >/dev/null
    echo "${MCPGATE_TEST_POSTGRES%/*}/$1"
}

step "propagation: 1 admin + 3 gateways"
upstream_port="$(free_port)"
./target/release/examples/bench-upstream "$upstream_port" 2>"$work/upstream.log" &
pids+=($!)
db="$(database propagation)"
export MCPGATE_SECRET_KEY="$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')"
export MCPGATE_ADMIN_TOKEN=bench-token RUST_LOG=warn
serve() { # serve ROLE ADMIN_PORT GATEWAY_PORT
    ./target/release/mcpgate serve --role "$1" --database "$db" --counters "$MCPGATE_TEST_REDIS" \
        --admin-listen "127.0.0.1:$2" --gateway-listen "127.0.0.1:$3" 2>>"$work/mcpgate.log" &
    pids+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/healthz" >/dev/null && return; sleep 0.1; done
    die "mcpgate ($1) did not start; see $work/mcpgate.log"
}
admin_port="$(free_port)"
serve admin "$admin_port" "$(free_port)"
gateways=()
for _ in 1 2 3; do
    a="$(free_port)"; g="$(free_port)"
    serve gateway "$a" "$g"
    gateways+=("http://127.0.0.1:$g/mcp/bench")
done
api() { curl -sf -H "Authorization: Bearer $MCPGATE_ADMIN_TOKEN" -H 'Content-Type: application/json' "$@" >/dev/null; }
admin="http://127.0.0.1:$admin_port"
api -X PUT "$admin/api/v1/servers/bench" -d '{}'
api -X PUT "$admin/api/v1/servers/bench/versions/v1" -d "{\"backend_url\": \"http://127.0.0.1:$upstream_port/mcp\"}"
api -X PUT "$admin/api/v1/products/bench" -d '{"state": "published"}'
api -X PUT "$admin/api/v1/products/bench/servers/bench" -d '{}'
propagation="$(./target/release/examples/bench-propagation "$admin" "$MCPGATE_ADMIN_TOKEN" "$WRITES" "${gateways[@]}")"
echo "$propagation"

step "analytics over $CALLS calls: PostgreSQL"
pg_results="$(./target/release/examples/bench-analytics "$(database analytics)" "$CALLS")"
echo "$pg_results"
step "analytics over $CALLS calls: SQLite"
sqlite_results="$(./target/release/examples/bench-analytics "sqlite://$work/analytics.db" "$CALLS")"
echo "$sqlite_results"

tables="$(python3 - "$propagation" "$pg_results" "$sqlite_results" <<'PY'
import json, sys
p = json.loads(sys.argv[1])
print("| writes | replicas | p50 ms | p99 ms | max ms |")
print("| ---: | ---: | ---: | ---: | ---: |")
print(f"| {p['writes']} | {p['replicas']} | {p['p50_ms']:.1f} | {p['p99_ms']:.1f} | {p['max_ms']:.1f} |")
print()
rows = {}
loads = {}
for engine, text in (("PostgreSQL", sys.argv[2]), ("SQLite", sys.argv[3])):
    for line in text.splitlines():
        r = json.loads(line)
        if r["query"] == "load":
            loads[engine] = r
        else:
            rows.setdefault(r["query"], {})[engine] = r
print("| query | calls aggregated | PostgreSQL median / max ms | SQLite median / max ms |")
print("| --- | ---: | ---: | ---: |")
for query, by in rows.items():
    pg, lite = by["PostgreSQL"], by["SQLite"]
    print(f"| {query} | {pg['calls']:,} | {pg['median_ms']:.0f} / {pg['max_ms']:.0f} | {lite['median_ms']:.0f} / {lite['max_ms']:.0f} |")
print()
print("Loading the log through the store's write path (calls and rollups, batches of 5,000): " + ", ".join(
    f"{e} {r['seconds']:.0f} s ({r['calls'] / r['seconds']:,.0f} calls/s)" for e, r in loads.items()) + ".")
PY
)"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
python3 scripts/lib/bench_section.py cluster-bench <<SECTION
<!-- cluster-bench:start -->
## Cluster: propagation and analytics (\`./scripts/bench-cluster.sh\`)

Release builds, PostgreSQL 15 and Redis on loopback, all on one machine ($cpu, $(nproc) cores), measured $(date +%F).

**Propagation**: a write through the admin process (\`--role admin\`) until every one of
three gateway replicas (\`--role gateway\`) admits it: a new subscription is created, then
each replica is polled every millisecond with the new key. It rides on PostgreSQL
LISTEN/NOTIFY; each replica re-reads only the changed record. Target: p99 ≤ 100 ms.

$(echo "$tables" | sed -n '1,3p')

**Analytics** over a log of $(printf "%'d" "$CALLS") tool calls spread over 7 days (3 servers × 2 versions,
8 tools, 50 subscriptions, 3 products, 4 clients, independent of one another), written through
the store's own write path. Whole hours come from the hourly rollups (one row per hour and
combination of dimensions, the latency histogram in its columns), partial hours at a
window's edges from the call log. Target: under 1 s.

$(echo "$tables" | sed -n '5,$p')
<!-- cluster-bench:end -->
SECTION
