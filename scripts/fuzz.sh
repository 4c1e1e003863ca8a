#!/usr/bin/env bash
# Fuzzes what parses untrusted input (tests/fuzz.rs: JSON-RPC bodies and
# batches, the SSE rewriter, the cty decoder, the merge-patch path) for
# FUZZ_SECONDS per target on a release build, after replaying the committed
# corpus (testdata/fuzz/), and writes the executions into docs/reliability.md.
#   FUZZ_SECONDS=60 ./scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/tools.sh
need cargo "the Rust toolchain (rustup)"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"

step "fuzzing each target for $FUZZ_SECONDS s (release build)"
out="$(MCPGATE_FUZZ_SECONDS="$FUZZ_SECONDS" cargo test --release --locked --test fuzz -- --nocapture --test-threads 1 2>&1)" || { echo "$out"; die "a fuzz target failed"; }
lines="$(echo "$out" | grep '^{"executions"')"
echo "$lines"
rows="$(echo "$lines" | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(f"| `{r[\"target\"]}` | {r[\"executions\"]:,} | {r[\"failures\"]} |")')"
python3 scripts/lib/bench_section.py fuzz docs/reliability.md <<SECTION
<!-- fuzz:start -->
## Fuzzing (\`./scripts/fuzz.sh\`)

Property-based fuzz targets (proptest; \`cargo fuzz\` needs a nightly toolchain, which
this project does not use) in \`tests/fuzz.rs\`, each run for $FUZZ_SECONDS s on a release build
after replaying its committed corpus (\`testdata/fuzz/<target>/\`), measured $(date +%F).
\`./scripts/test.sh\` runs each for 2 s.

| target | executions | failures |
| --- | ---: | ---: |
$rows

Found and fixed while writing them (each failing input is now in the corpus):
- **Floats changed on re-encoding.** A body the gateway re-serializes (to inject trace
  context or drop refused messages) could change a number's last digit: serde_json parsed
  floats inexactly. Now built with \`float_roundtrip\` (\`jsonrpc/float-roundtrip.json\`).
- **An empty field name in an error.** A merge patch with the key \`""\` was refused with
  the field path \`""\` shown as nothing; it is now named \`""\` (\`merge_patch/empty-key.json\`).
<!-- fuzz:end -->
SECTION
