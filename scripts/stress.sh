#!/usr/bin/env bash
# Reliability figures under abuse (benches/stress.rs) against release builds
# and the real server-everything: write bursts killed with SIGKILL, quota
# traffic killed at random moments, 200 concurrent callers on a quota,
# calls into another product's server, invented tool names against
# /metrics, malformed requests. Writes docs/reliability.md.
#   CYCLES=20 NAMES=10000 ./scripts/stress.sh
#   ./scripts/stress.sh --short    (what test.sh runs: debug builds, 3 cycles; no docs)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/tools.sh
need cargo "the Rust toolchain (rustup)"
ensure_upstream

if [ "${1:-}" = "--short" ]; then
    step "stress, short (debug builds, 3 cycles)"
    cargo build --locked --bin mcpgate --example bench-stress
    ./target/debug/examples/bench-stress ./target/debug/mcpgate "$MCPGATE_UPSTREAM_JS" 3 2000
    exit
fi

CYCLES="${CYCLES:-20}"
NAMES="${NAMES:-10000}"
step "building release binaries"
cargo build --release --locked --bin mcpgate --example bench-stress
step "stress: $CYCLES crash cycles, $NAMES invented names per round"
results="$(./target/release/examples/bench-stress ./target/release/mcpgate "$MCPGATE_UPSTREAM_JS" "$CYCLES" "$NAMES")" || { echo "$results"; die "a reliability check failed"; }
echo "$results"
table="$(echo "$results" | python3 -c '
import json, sys
def words(key):
    return key.replace("_", " ")
def show(value):
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value).lower()
rows = [json.loads(l) for l in sys.stdin if l.strip()]
print("| experiment | tried | failed | figures |")
print("| --- | ---: | ---: | --- |")
for r in rows:
    name, failed = r.pop("experiment"), r.pop("failed")
    tried = r.pop("tried", r.get("cycles", "-"))
    figures = ", ".join(words(k) + " " + show(v) for k, v in r.items())
    print(f"| {name} | {show(tried)} | {failed} | {figures} |")')"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
python3 scripts/lib/bench_section.py stress docs/reliability.md <<SECTION
<!-- stress:start -->
## Under abuse (\`./scripts/stress.sh\`)

Release builds of \`mcpgate serve\` (SQLite store, local counters) in front of the real
server-everything, $cpu, $(nproc) cores, measured $(date +%F). \`./scripts/test.sh\` runs the
same program with 3 cycles against debug builds.

$table

- **Write bursts**: 8 writers create servers until the process is killed with SIGKILL at a
  random moment (100–400 ms in); after a restart every write that was answered 2xx is read
  back with the ETag it was answered with (*lost* counts the ones that are not). Then six
  writers race with the same \`If-Match\`: exactly one may win.
- **Quota after crashes**: a quota of 2,000; six callers run until SIGKILL at a random
  moment (50–400 ms in), $CYCLES times; then a clean run spends what is left. Units are
  reserved in the store before they are spent, so a crash can only strand unspent units
  (*stranded*, at most an eighth of the limit per crash), never admit more than the quota.
- **Exactness and isolation**: 200 concurrent callers on a quota of 50; 1,000 calls by a
  subscriber of one product to another product's server.
- **Invented tool names**: three rounds of random names. After the first, \`/metrics\`
  must not grow (labels come only from tools the version offers, the allow-list and
  MCP's methods; the rest count as \`_other\`), and the next two rounds together must
  grow the process's memory by less than 32 MiB. Caches move it by up to ±20 MiB from
  round to round; labels for invented names grew it by 60 MB per round before they
  were bounded.
- **Malformed requests**: bodies of every wrong shape (broken JSON, wrong types in every
  field, 10,000-deep nesting, invalid UTF-8, NUL bytes, 100 KB strings): no 5xx, and the
  process still answers \`/healthz\`.
<!-- stress:end -->
SECTION
