#!/usr/bin/env bash
# Runs the whole test suite. Installs what the tests need (under .cache/),
# then unit, integration, acceptance and end-to-end tests in one cargo run.
#   ./scripts/test.sh          everything (what CI runs)
#   ./scripts/test.sh --fast   unit tests and in-process tests only: no tools
#                              installed, no engines started (a few minutes warm)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/tools.sh

need cargo "the Rust toolchain (rustup)"
# A one-shot run (CI's fresh clone) gains nothing from incremental state,
# which would add gigabytes to the target directory.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# The in-process test binaries: the admin API, the gateway against in-process
# upstreams, the store on SQLite, the provider's client and protocol, fuzzing.
FAST_TESTS=(api_resources api_subscriptions approved_tools fuzz gateway_headers openapi provider_client provider_protocol_code store_conformance)

if [ "${1:-}" = "--fast" ]; then
    shift
    step "cargo fmt --check"
    cargo fmt --check
    step "cargo test (unit and in-process tests; tests that need tools or engines say so and are skipped)"
    cargo test --locked --lib --bins "${FAST_TESTS[@]/#/--test=}" "$@"
    exit
fi

# Every tool is installed below: a test that finds one missing fails.
export MCPGATE_REQUIRE_TOOLS=1

# Gates first: a formatting or lint failure needs no test tools to show.
step "cargo fmt --check"
cargo fmt --check
step "cargo clippy --all-targets --locked -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

ensure_test_tools
step "starting a throwaway PostgreSQL and Redis"
trap stop_engines EXIT
start_postgres
start_redis

step "cargo build --examples (the benchmark's upstream)"
cargo build --locked --examples

step "cargo test"
results="$MCPGATE_CACHE/test-results.txt"
cargo test --locked --lib --bins --tests "$@" 2>&1 | tee "$results"

# The management API against its own OpenAPI document.
step "schemathesis (every check, against a live mcpgate)"
scripts/lib/schemathesis.sh ./target/debug/mcpgate 25

# Reliability under abuse, short: crash cycles, quota exactness, invented names, malformed input.
./scripts/stress.sh --short

# The README's other command, end to end, on the binaries just tested.
step "demo (./scripts/demo.sh --no-wait, dev build)"
MCPGATE_DEMO_PROFILE=dev ./scripts/demo.sh --no-wait

# One closing line for the whole run.
grep -E '^test result:' "$results" | awk '{ passed += $4; failed += $6 } END { printf "\ntotal: %d passed, %d failed\n", passed, failed }'
