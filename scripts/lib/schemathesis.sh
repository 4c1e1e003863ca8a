#!/usr/bin/env bash
# schemathesis against a live `mcpgate serve --ephemeral` (the binary given):
# every check on, EXAMPLES cases per operation, stateful testing over the
# document's links. Exits non-zero on any failure. Run by scripts/test.sh.
# Left out: listing a version's live tools, which asks the generated
# backend_url itself (the network); tests/api_versions.rs covers it against
# a real MCP server.
#   scripts/lib/schemathesis.sh ./target/debug/mcpgate [EXAMPLES] [SEED]
set -euo pipefail
binary="$1"
examples="${2:-25}"
seed="${3:-$RANDOM}"
st="${MCPGATE_SCHEMATHESIS:?run through scripts/test.sh, which installs schemathesis}"
work="$(mktemp -d)"
RUST_LOG=error "$binary" serve --ephemeral >"$work/mcpgate.json" 2>"$work/mcpgate.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/mcpgate.json" ] && break; sleep 0.1; done
admin="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin_url"])' "$work/mcpgate.json")"
token="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$work/mcpgate.json")"
echo "schemathesis: seed $seed, $examples examples per operation"
(cd "$work" && "$st" --config-file "$OLDPWD/testdata/schemathesis/schemathesis.toml" run "$admin/api/v1/openapi.json" \
    -H "Authorization: Bearer $token" --checks all -n "$examples" --seed "$seed" --no-color --output-truncate true \
    --exclude-operation-id list_server_version_tools)
