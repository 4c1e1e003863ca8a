#!/usr/bin/env bash
# The main job, end to end on the embedded store: mcpgate, a real MCP server
# (npm server-everything), `terraform apply` of examples/quickstart, real MCP
# calls with the PyPI `mcp` client (one allowed tool, one refused), and the
# analytics table. Everything it starts stops on ctrl-c; all files stay
# under .cache/. With --no-wait it exits once the tour is shown.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/tools.sh

WAIT=1
[ "${1:-}" = "--no-wait" ] && WAIT=0
# Release binaries by default; scripts/test.sh runs the demo on the test build (dev).
PROFILE="${MCPGATE_DEMO_PROFILE:-release}"

need cargo "the Rust toolchain (rustup)"
need curl "curl"
need setsid "util-linux (setsid)"
need_node
need_python
mkdir -p "$MCPGATE_CACHE/demo"
run="$(mktemp -d "$MCPGATE_CACHE/demo/run-XXXXXX")"
pids=()
tools=""
stop() {
    # The installer runs in its own process group, so npm and pip go with it.
    [ -z "$tools" ] || kill -- "-$tools" 2>/dev/null || true
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap 'stop; echo; echo "stopped everything the demo started (files kept in ${run#$MCPGATE_ROOT/})"' EXIT
trap 'exit 130' INT TERM

# The installs mostly wait on the network and the build on the CPU, so they
# overlap; the installer's output is shown only if it fails.
step "installing the upstream MCP server, the PyPI mcp client and Terraform in the background (log: ${run#$MCPGATE_ROOT/}/tools.log)"
setsid bash -c 'source scripts/lib/tools.sh && ensure_upstream && ensure_python_tools && ensure_terraform' >"$run/tools.log" 2>&1 &
tools=$!

step "building mcpgate and terraform-provider-mcp ($PROFILE)"
cargo build --profile "$PROFILE" --locked --bin mcpgate --bin terraform-provider-mcp
case "$PROFILE" in
    dev) bin="$MCPGATE_ROOT/target/debug" ;;
    *) bin="$MCPGATE_ROOT/target/$PROFILE" ;;
esac

step "waiting for the installs"
wait "$tools" || { cat "$run/tools.log" >&2; die "installing the demo's tools failed (log above)"; }
tools=""
# Installed now: these only check and export the paths.
ensure_upstream
ensure_python_tools
ensure_terraform

wait_for() { # wait_for URL WHAT
    for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
    die "$2 did not come up (logs in ${run#$MCPGATE_ROOT/})"
}

upstream_port="$(free_port)"; admin_port="$(free_port)"; gateway_port="$(free_port)"
token="$(python3 -c 'import secrets; print("demo-" + secrets.token_urlsafe(24))')"
admin="http://127.0.0.1:$admin_port"
gateway="http://127.0.0.1:$gateway_port"

step "starting the upstream MCP server (server-everything) on 127.0.0.1:$upstream_port"
PORT="$upstream_port" node "$MCPGATE_UPSTREAM_JS" streamableHttp >"$run/upstream.log" 2>&1 &
pids+=($!)

step "starting mcpgate (store: ${run#$MCPGATE_ROOT/}/mcpgate.db)"
MCPGATE_ADMIN_TOKEN="$token" "$bin/mcpgate" serve \
    --admin-listen "127.0.0.1:$admin_port" --gateway-listen "127.0.0.1:$gateway_port" \
    --database "sqlite://$run/mcpgate.db" >"$run/mcpgate.log" 2>&1 &
pids+=($!)
wait_for "$admin/healthz" "mcpgate"
wait_for "http://127.0.0.1:$upstream_port/mcp" "the upstream MCP server"

step "terraform apply examples/quickstart"
cp examples/quickstart/main.tf "$run/main.tf"
cat >"$run/terraformrc" <<RC
provider_installation {
  dev_overrides { "registry.terraform.io/mcpgate/mcp" = "$bin" }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE="$run/terraformrc" TF_IN_AUTOMATION=1 MCPGATE_ENDPOINT="$admin" MCPGATE_TOKEN="$token"
export TF_VAR_upstream_url="http://127.0.0.1:$upstream_port/mcp"
(cd "$run" && "$MCPGATE_TERRAFORM" apply -auto-approve -input=false -no-color 2>&1 | grep -vE '^\s*$|dev_overrides|development overrides|^ - mcpgate|published releases|may therefore|applying changes|The following provider' ) \
    || die "terraform apply failed (see above)"
key="$(cd "$run" && "$MCPGATE_TERRAFORM" output -raw subscription_key)"
path="$(cd "$run" && "$MCPGATE_TERRAFORM" output -raw mcp_path)"

step "MCP calls through the gateway with the PyPI mcp client"
report="$("$MCPGATE_PYTHON" testdata/clients/mcp_client.py "$gateway$path" "$key" echo '{"message": "hello through mcpgate"}' get-env)" \
    || die "the MCP client failed"
"$MCPGATE_PYTHON" - "$report" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"  server:            {r['server']}")
print(f"  tools offered:     {', '.join(r['tools'])}   (the product's allow-list: echo, get-sum, get-tiny-*)")
print(f"  echo (allowed):    {r['call']}")
print(f"  get-env (refused): {r['refused']['message']}")
PY

step "analytics (mcpgate analytics --group-by tool)"
sleep 0.5
"$bin/mcpgate" analytics --endpoint "$admin" --token "$token" --group-by tool

cat <<SUMMARY

mcpgate is running:
  management API  $admin/api/v1   (token: $token)
  OpenAPI         $admin/api/v1/openapi.json
  metrics         $admin/metrics
  MCP gateway     $gateway$path   (header X-Subscription-Key: the key in 'terraform output subscription_key')
  Terraform       ${run#$MCPGATE_ROOT/}  (state of examples/quickstart)
  portal          $admin/portal    (consumer: ada / demo password 1)
  console         $admin/console   (operator: grace / demo password 1)
SUMMARY
if [ "$WAIT" = 1 ]; then
    echo "Press ctrl-c to stop everything."
    wait
fi
