#!/usr/bin/env bash
# Provider benchmark: `terraform apply` then a no-change `terraform plan` of
# 200 servers with one version each (400 resources), against the same count
# of built-in terraform_data resources (the floor Terraform itself sets), in
# the same run. Writes the results table into docs/benchmarks.md.
#   COUNT=200 ./scripts/bench-provider.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/tools.sh

COUNT="${COUNT:-200}"
need cargo "the Rust toolchain (rustup)"
ensure_terraform

step "building release binaries"
cargo build --release --locked --bin mcpgate --bin terraform-provider-mcp

work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM

RUST_LOG=warn ./target/release/mcpgate serve --ephemeral >"$work/mcpgate.json" 2>"$work/mcpgate.log" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/mcpgate.json" ] && break; sleep 0.1; done
export MCPGATE_ENDPOINT="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin_url"])' "$work/mcpgate.json")"
export MCPGATE_TOKEN="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$work/mcpgate.json")"
cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides { "registry.terraform.io/mcpgate/mcp" = "$PWD/target/release" }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1

mkdir -p "$work/mcp" "$work/floor"
cat >"$work/mcp/main.tf" <<TF
terraform {
  required_providers {
    mcp = { source = "mcpgate/mcp" }
  }
}
provider "mcp" {}
resource "mcp_server" "s" {
  count = $COUNT
  name  = "bench-\${count.index}"
  tags  = { bench = "yes" }
}
resource "mcp_server_version" "v" {
  count       = $COUNT
  server      = mcp_server.s[count.index].name
  name        = "v1"
  backend_url = "http://127.0.0.1:3001/mcp"
}
TF
cat >"$work/floor/main.tf" <<TF
resource "terraform_data" "s" {
  count = $COUNT
  input = { name = "bench-\${count.index}", tags = { bench = "yes" } }
}
resource "terraform_data" "v" {
  count = $COUNT
  input = { server = terraform_data.s[count.index].output.name, name = "v1", backend_url = "http://127.0.0.1:3001/mcp" }
}
TF

seconds() { # seconds DIR ARGS...: wall time of one terraform run
    local dir="$1"; shift
    local start end
    start="$(date +%s.%N)"
    (cd "$dir" && "$MCPGATE_TERRAFORM" "$@" -no-color -input=false >"$work/last.log" 2>&1) || { cat "$work/last.log" >&2; die "terraform $* failed in $dir"; }
    end="$(date +%s.%N)"
    python3 -c "print(f'{$end - $start:.2f}')"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

step "terraform_data floor: $((COUNT * 2)) resources"
(cd "$work/floor" && "$MCPGATE_TERRAFORM" init -no-color -input=false >/dev/null)
floor_apply="$(seconds "$work/floor" apply -auto-approve)"

step "mcp provider: $COUNT servers + $COUNT versions"
mcp_apply="$(seconds "$work/mcp" apply -auto-approve)"

step "no-change plans, alternating floor and provider, 5 each"
: >"$work/floor.times"; : >"$work/mcp.times"
for _ in 1 2 3 4 5; do
    seconds "$work/floor" plan -detailed-exitcode >>"$work/floor.times"
    seconds "$work/mcp" plan -detailed-exitcode >>"$work/mcp.times"
done
floor_plan="$(median <"$work/floor.times")"
mcp_plan="$(median <"$work/mcp.times")"
servers="$(curl -sf -H "Authorization: Bearer $MCPGATE_TOKEN" "$MCPGATE_ENDPOINT/api/v1/servers?limit=1000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')"
[ "$servers" = "$COUNT" ] || die "expected $COUNT servers in mcpgate, found $servers"

rows="| \`terraform apply\` (create) | $floor_apply | $mcp_apply | $(python3 -c "print(f'{$mcp_apply/$floor_apply:.2f}×')") |
| \`terraform plan\` (no change, median of 5, runs alternating) | $floor_plan | $mcp_plan | $(python3 -c "print(f'{$mcp_plan/$floor_plan:.2f}×')") |"
tf_version="$("$MCPGATE_TERRAFORM" version | head -1)"
python3 scripts/lib/bench_section.py provider-bench <<SECTION
<!-- provider-bench:start -->
## Terraform provider (\`./scripts/bench-provider.sh\`)

$COUNT \`mcp_server\` + $COUNT \`mcp_server_version\` against $((COUNT * 2)) built-in \`terraform_data\`
resources of the same shape, same run, same Terraform ($tf_version, default parallelism 10),
release builds, mcpgate on loopback with its in-memory store, measured $(date +%F).
Target: within 1.5× of the terraform_data floor.

| operation | terraform_data (s) | mcp provider (s) | ratio |
| --- | ---: | ---: | ---: |
$rows
<!-- provider-bench:end -->
SECTION
