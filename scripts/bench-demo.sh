#!/usr/bin/env bash
# Time-to-demo benchmark: a fresh clone of HEAD (no target/, no .cache/; the
# crates already fetched) running `./scripts/demo.sh --no-wait` end to end,
# release build and tool installs included. Target: under 3 minutes on 2 cores.
# Writes the results table into docs/benchmarks.md.
#   RUNS=1 ./scripts/bench-demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/tools.sh

RUNS="${RUNS:-1}"
need git "git"
need cargo "the Rust toolchain (rustup)"
step "fetching crates (not part of the measurement)"
cargo fetch --locked

rows=""
for run in $(seq "$RUNS"); do
    clone="$MCPGATE_CACHE/bench-demo/clone"
    rm -rf "$clone"
    mkdir -p "$(dirname "$clone")"
    git clone --quiet "$MCPGATE_ROOT" "$clone"
    step "run $run of $RUNS: ./scripts/demo.sh --no-wait in a fresh clone of $(git rev-parse --short HEAD)"
    start="$(date +%s.%N)"
    (cd "$clone" && ./scripts/demo.sh --no-wait) >"$MCPGATE_CACHE/bench-demo/run-$run.log" 2>&1 \
        || { tail -30 "$MCPGATE_CACHE/bench-demo/run-$run.log" >&2; die "the demo failed (log: .cache/bench-demo/run-$run.log)"; }
    total="$(python3 -c "import time; print(f'{time.time() - $start:.0f}')")"
    build="$(sed -n 's/.*Finished `release` profile.* in \(.*\)$/\1/p' "$MCPGATE_CACHE/bench-demo/run-$run.log")"
    grep -q "echo (allowed):" "$MCPGATE_CACHE/bench-demo/run-$run.log" || die "run $run: the demo did not show the allowed call"
    rows+="| $run | $build | $((total / 60)) min $((total % 60)) s |"$'\n'
    rm -rf "$clone"
done

cpu="$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
python3 scripts/lib/bench_section.py demo-bench <<SECTION
<!-- demo-bench:start -->
## Time to the demo (\`./scripts/bench-demo.sh\`)

A fresh clone (no \`target/\`, no \`.cache/\`; crates already fetched) running
\`./scripts/demo.sh --no-wait\`: release build of both binaries, npm and PyPI installs
(in parallel with the build), mcpgate and the upstream started, \`terraform apply\`,
MCP calls and the analytics table. $(nproc) cores ($cpu), measured $(date +%F).
Target: under 3 minutes on 2 cores.

| run | cargo build --release | whole demo |
| ---: | ---: | ---: |
${rows%$'\n'}

What it took to get there (\`cargo build --timings\`, clean release build): one
reqwest instead of two, no sqlx macros (they compiled a second SQLite for the host),
the binaries' runtimes moved into the library (async server code compiled once,
not per binary), each dependency in one codegen unit, and SQLite at -O2 without
full-text search, R-trees and dbstat.
<!-- demo-bench:end -->
SECTION
