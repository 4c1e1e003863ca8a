#!/usr/bin/env bash
# Importing a large real API description: GitHub's REST description (npm
# @octokit/openapi, pinned in testdata/tools/package.json) read into tools the
# way a write of a version with an openapi block reads it. Release build.
# Writes its lines into docs/benchmarks.md. Target: ≤ 2 s for about a
# thousand operations.
#   ROUNDS=5 ./scripts/bench-openapi.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/tools.sh

ROUNDS="${ROUNDS:-5}"
need cargo "the Rust toolchain (rustup)"
ensure_upstream
document="$MCPGATE_CACHE/node/node_modules/@octokit/openapi/generated/api.github.com.json"
[ -f "$document" ] || die "npm @octokit/openapi is missing $document"
version="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$MCPGATE_CACHE/node/node_modules/@octokit/openapi/package.json")"

step "building the release benchmark"
cargo build --release --locked --example bench-openapi

step "importing $document, $ROUNDS rounds"
result="$(./target/release/examples/bench-openapi "$document" "$ROUNDS")"
echo "$result"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
line="$(python3 - "$result" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"| {r['document_bytes'] / 1e6:.1f} MB | {r['tools']:,} | {r['definitions_bytes'] / 1e6:.1f} MB | {r['rounds']} | {r['median_seconds']:.3f} | {r['max_seconds']:.3f} |")
PY
)"
python3 scripts/lib/bench_section.py openapi-bench <<SECTION
<!-- openapi-bench:start -->
## Importing an OpenAPI document (\`./scripts/bench-openapi.sh\`)

GitHub's REST description (npm \`@octokit/openapi\` $version, \`generated/api.github.com.json\`,
OpenAPI 3.0) imported into tools by \`src/model/openapi.rs\`, as a write of a
version with an \`openapi\` block does: parse, select, resolve every \`\$ref\`,
derive names, \`inputSchema\` and \`outputSchema\`, and each operation's request
plan. Release build, one thread, $cpu, $(nproc) cores, measured $(date +%F).
Target: ≤ 2 s for about a thousand operations.

| document | tools | definitions | rounds | median s | max s |
| --- | --- | --- | --- | --- | --- |
$line
<!-- openapi-bench:end -->
SECTION
