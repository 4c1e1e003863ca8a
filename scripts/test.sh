#!/usr/bin/env bash
# Runs the whole test suite. Installs what the tests need (under .cache/),
# then unit, integration, acceptance and end-to-end tests in one cargo run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/tools.sh

need cargo "the Rust toolchain (rustup)"
ensure_test_tools

step "cargo test"
cargo test --locked --all-targets "$@"
