#!/usr/bin/env bash
# Gateway cost benchmark, one run, side by side: tools/call straight to a fast
# Rust MCP upstream; through a plain nginx reverse proxy (upstream keepalive,
# no governance: the floor); through mcpgate with full governance (key auth,
# allow-list, quota charge, version routing, metrics, call log), span export
# off and on. The figure is proxy CPU per call, read from /proc/PID/stat
# (user + system, children included) around each measured run, and its ratio
# to nginx's. With 8 or more cores each process gets its own cores (taskset):
# load generator, proxy (4 cores, and 1 core for the contention check),
# upstream; with fewer they share. Also: added p50 at one idle connection,
# latency at a steady rate, mcpgate's RSS after 64 connections; with
# PROFILE=1, a perf profile of mcpgate at saturation, summed per part.
# Writes its tables into docs/benchmarks.md. ONLY=policy measures ten policy
# rules alone; ONLY=idle times an idle call's hops from a loopback capture;
# ONLY=gaps times idle calls against the gap between them.
# The upstream keeps sessions (as most MCP servers do) and every path's load
# carries SESSIONS of them, opened through that path, taken in turn.
#   DURATION=5 ROUNDS=9 CONNECTIONS=64 RATE=2000 SESSIONS=64 PROFILE=1 ./scripts/bench-gateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/tools.sh

DURATION="${DURATION:-5}"
CONNECTIONS="${CONNECTIONS:-64}"
RATE="${RATE:-2000}"
SESSIONS="${SESSIONS:-64}"
need cargo "the Rust toolchain (rustup)"
for pair in wrk:wrk hey:hey nginx:nginx-light taskset:util-linux; do
    tool="${pair%%:*}"; package="${pair#*:}"
    if ! command -v "$tool" >/dev/null 2>&1; then
        step "installing $tool (Debian package $package)"
        apt-get install -y -qq "$package" >/dev/null 2>&1 || die "$tool is missing and 'apt-get install $package' failed; install it and run again"
    fi
done

CORES="$(nproc)"
if [ "$CORES" -ge 8 ]; then
    PLACEMENT="dedicated cores: load generator 0-1, proxy 2-5 (one-core run: 2), upstream 6-$((CORES - 1))"
    LOAD=(taskset -c 0-1); PROXY=(taskset -c 2-5); PROXY_ONE=(taskset -c 2); UPSTREAM=(taskset -c "6-$((CORES - 1))")
    PROXY_CORES=4; WRK_THREADS=2
else
    PLACEMENT="$CORES cores shared by the load generator, the proxy and the upstream (one-core run: proxy on core 0)"
    LOAD=(); PROXY=(); PROXY_ONE=(taskset -c 0); UPSTREAM=()
    PROXY_CORES="$CORES"; WRK_THREADS=1
fi
CLK_TCK="$(getconf CLK_TCK)"

step "building release binaries"
cargo build --release --locked --bin mcpgate --example bench-upstream --example bench-bare-proxy --example bench-policy

work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM

upstream_port="$(free_port)"
"${UPSTREAM[@]}" ./target/release/examples/bench-upstream "$upstream_port" 0 stateful 2>"$work/upstream.log" &
pids+=($!)

# cpu_us PID...: user + system time of the processes and their waited-for children, in µs.
cpu_us() {
    local total=0 pid fields
    for pid in "$@"; do
        fields="$(sed 's/^.*) //' "/proc/$pid/stat")"
        total=$((total + $(awk '{print $12 + $13 + $14 + $15}' <<<"$fields")))
    done
    echo $((total * 1000000 / CLK_TCK))
}

# open_sessions URL KEY: opens SESSIONS MCP sessions through URL (initialize,
# then notifications/initialized) and remembers their ids for URL.
declare -A SESSIONS_OF
open_sessions() {
    local ids=() _
    for _ in $(seq "$SESSIONS"); do ids+=("$(mcp_session "$1" "$2")"); done
    SESSIONS_OF["$1"]="$(IFS=,; echo "${ids[*]}")"
}

# measure URL KEY PIDS -> "rps p50_ms p99_ms errors cpu_us_per_call"
measure() {
    local url="$1" key="$2"; shift 2
    export MCPGATE_BENCH_SESSIONS="${SESSIONS_OF[$url]:-}"
    MCPGATE_BENCH_KEY="$key" "${LOAD[@]}" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d2s -s benches/gateway.lua "$url" >/dev/null
    local before after
    before="$(cpu_us "$@")"
    MCPGATE_BENCH_KEY="$key" "${LOAD[@]}" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s benches/gateway.lua "$url" \
        | sed -n 's/^RESULT //p' >"$work/result"
    after="$(cpu_us "$@")"
    python3 - "$((after - before))" "$work/result" <<'PY'
import sys
f = dict(kv.split("=") for kv in open(sys.argv[2]).read().split())
cpu = int(sys.argv[1])
requests = int(f["requests"])
rps = requests / (int(f["duration_us"]) / 1e6)
errors = int(f["errors"]) + int(f["non2xx"])
per_call = cpu / requests if cpu > 0 else float("nan")
print("%.0f %.3f %.3f %d %.1f" % (rps, int(f["p50_us"]) / 1000, int(f["p99_us"]) / 1000, errors, per_call))
PY
}

body="$work/call.json"
printf '%s' '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}' >"$body"

# latency URL KEY CONNECTIONS RATE SECONDS -> "p50_ms p99_ms"
latency() {
    # One hey per connection, each in a session of its own (a session's
    # requests must not share an id while in flight), latencies merged.
    local key_header=() sessions i
    [ -n "$2" ] && key_header=(-H "X-Subscription-Key: $2")
    IFS=, read -r -a sessions <<<"${SESSIONS_OF[$1]:-}"
    for i in $(seq 0 $(($3 - 1))); do
        local session=()
        [ "${#sessions[@]}" -gt 0 ] && session=(-H "Mcp-Session-Id: ${sessions[$((i % ${#sessions[@]}))]}")
        "${LOAD[@]}" hey -z "$5s" -c 1 -q $(($4 / $3)) -m POST -D "$body" -T application/json -o csv \
            -H "Accept: application/json, text/event-stream" -H "MCP-Protocol-Version: 2025-06-18" "${key_header[@]}" "${session[@]}" "$1" \
            >"$work/latency.$i.csv" &
    done
    wait
    python3 - "$work"/latency.*.csv <<'PY'
import csv, statistics, sys
times = sorted(float(row["response-time"]) for path in sys.argv[1:] for row in csv.DictReader(open(path)))
q = statistics.quantiles(times, n=100)
print("%.3f %.3f" % (q[49] * 1000, q[98] * 1000))
PY
    rm -f "$work"/latency.*.csv
}
idle() { latency "$1" "$2" 1 20 10; }
steady() { latency "$1" "$2" 20 "$RATE" 10; }

start_nginx() { # sets NGINX_URL and NGINX_PIDS
    local port; port="$(free_port)"
    mkdir -p "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<CONF
worker_processes $PROXY_CORES;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/nginx/client_body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    upstream mcp { server 127.0.0.1:$upstream_port; keepalive 128; }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://mcp;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host:\$server_port;
        }
    }
}
CONF
    "${PROXY[@]}" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
    local master=$!
    pids+=("$master")
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    NGINX_URL="http://127.0.0.1:$port/mcp"
    NGINX_PIDS="$master $(pgrep -P "$master" | tr '\n' ' ')"
}

# Ten policy rules on the product, none covering the benchmark's tool: what
# evaluating rules that do not apply costs.
TEN_RULES="$(python3 -c 'import json; print(json.dumps([{"name": f"rule-{i}", "tools": [f"refund-{i}*"], "rate_limit": {"calls": 10, "period_seconds": 60}} for i in range(10)]))')"

run_gateway() { # run_gateway LABEL PLACEMENT... -- [env...]: starts mcpgate, configures it; sets GATEWAY, KEY, GATEWAY_PID
    local label="$1"; shift
    local policies="[]"
    [ "$label" = "ruled" ] && policies="$TEN_RULES"
    local place=()
    while [ "$1" != "--" ]; do place+=("$1"); shift; done
    shift
    # A file-backed store, as in production: with --ephemeral's in-memory
    # store the call log of every benchmark call would sit in the RSS.
    local admin_port gateway_port token="mcpa_bench_$RANDOM$RANDOM"
    admin_port="$(free_port)"; gateway_port="$(free_port)"
    env "$@" RUST_LOG=warn "${place[@]}" ./target/release/mcpgate serve --database "sqlite://$work/$label.db" \
        --admin-listen "127.0.0.1:$admin_port" --gateway-listen "127.0.0.1:$gateway_port" --admin-token "$token" 2>"$work/$label.log" &
    GATEWAY_PID=$!
    pids+=("$GATEWAY_PID")
    local admin="http://127.0.0.1:$admin_port"
    for _ in $(seq 100); do curl -sf -o /dev/null "$admin/healthz" && break; sleep 0.1; done
    GATEWAY="http://127.0.0.1:$gateway_port/mcp/bench"
    KEY="$(bench_product "$admin" "$token" "$upstream_port" "$policies")"
    open_sessions "$GATEWAY" "$KEY"
}

# A local OTLP/HTTP sink that accepts and discards, so export cost is the gateway's own.
sink_port="$(free_port)"
otlp_sink "$sink_port" &
pids+=($!)

# ONLY=policy: what ten policy rules that do not cover the call cost, alone:
# two mcpgates (without and with the rules) measured in ROUNDS rounds, which
# goes first alternating; the figure is the median of the rounds' ratios, so
# drift between rounds cancels. Writes its own section.
if [ "${ONLY:-}" = policy ]; then
    ROUNDS="${ROUNDS:-8}"
    step "starting two mcpgates, without and with ten policy rules"
    run_gateway plain "${PROXY[@]}" --
    plain_url="$GATEWAY"; plain_key="$KEY"; plain_pid="$GATEWAY_PID"
    run_gateway ruled "${PROXY[@]}" --
    ruled_url="$GATEWAY"; ruled_key="$KEY"; ruled_pid="$GATEWAY_PID"
    for round in $(seq "$ROUNDS"); do
        step "policy overhead, round $round of $ROUNDS"
        if [ $((round % 2)) = 1 ]; then
            plain_row="$(measure "$plain_url" "$plain_key" "$plain_pid")"; ruled_row="$(measure "$ruled_url" "$ruled_key" "$ruled_pid")"
        else
            ruled_row="$(measure "$ruled_url" "$ruled_key" "$ruled_pid")"; plain_row="$(measure "$plain_url" "$plain_key" "$plain_pid")"
        fi
        echo "$plain_row $ruled_row" >>"$work/pairs"
    done
    table="$(python3 - "$work/pairs" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
for i, r in enumerate(rows, 1):
    print(f"| {i} | {float(r[4]):.1f} | {float(r[9]):.1f} | {float(r[9]) / float(r[4]):.3f} |")
ratios = [float(r[9]) / float(r[4]) for r in rows]
print(f"\nMedian of the rounds' ratios: **{(statistics.median(ratios) - 1) * 100:+.1f}%** CPU per call (target ≤ +5%).")
PY
)"
    cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    python3 scripts/lib/bench_section.py policy-overhead <<SECTION
<!-- policy-overhead:start -->
## Policy rules that do not apply (\`ONLY=policy ./scripts/bench-gateway.sh\`)

Two mcpgates, the same as the gateway benchmark's (full governance), one with ten
policy rules on the product whose tool globs (\`refund-{i}*\`) do not cover the call.
\`tools/call echo\`, \`wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s\`, $ROUNDS rounds, which goes first
alternating; $cpu, $PLACEMENT; measured $(date +%F).

| round | without rules, CPU µs/call | with ten rules | ratio |
| ---: | ---: | ---: | ---: |
$table
<!-- policy-overhead:end -->
SECTION
    exit 0
fi

step "starting nginx, the bare Rust proxy (without, and twice with, the call log) and mcpgates (span export off twice, off on one core, on twice, with ten rules)"
upstream_pid="${pids[0]}"
start_nginx
bare_port="$(free_port)"
"${PROXY[@]}" ./target/release/examples/bench-bare-proxy "$bare_port" "http://127.0.0.1:$upstream_port/mcp" 2>"$work/bare.log" &
bare_pid=$!
pids+=("$bare_pid")
bare_url="http://127.0.0.1:$bare_port/mcp"
# The same proxy handing every call to mcpgate's telemetry (metrics and a
# call-log row in a file-backed SQLite store): the floor of any gateway that
# keeps mcpgate's call log and metrics on this stack.
logged_port="$(free_port)"
"${PROXY[@]}" ./target/release/examples/bench-bare-proxy "$logged_port" "http://127.0.0.1:$upstream_port/mcp" "sqlite://$work/logged.db" 2>"$work/logged.log" &
logged_pid=$!
pids+=("$logged_pid")
logged_url="http://127.0.0.1:$logged_port/mcp"
# A second process of the same, for the saturation rounds: two processes of
# one build and configuration read 10-20% apart in every round of a run
# (docs/benchmarks.md, twelfth pass), so the two rows the main ratio divides
# are each measured on two processes.
logged2_port="$(free_port)"
"${PROXY[@]}" ./target/release/examples/bench-bare-proxy "$logged2_port" "http://127.0.0.1:$upstream_port/mcp" "sqlite://$work/logged2.db" 2>"$work/logged2.log" &
logged2_pid=$!
pids+=("$logged2_pid")
logged2_url="http://127.0.0.1:$logged2_port/mcp"
for _ in $(seq 50); do curl -s -o /dev/null "$logged_url" && curl -s -o /dev/null "$logged2_url" && curl -s -o /dev/null "$bare_url" && break; sleep 0.1; done
open_sessions "http://127.0.0.1:$upstream_port/mcp" ""
open_sessions "$NGINX_URL" ""
open_sessions "$bare_url" ""
open_sessions "$logged_url" ""
open_sessions "$logged2_url" ""
run_gateway plain "${PROXY[@]}" --
plain_url="$GATEWAY"; plain_key="$KEY"; plain_pid="$GATEWAY_PID"
run_gateway plain2 "${PROXY[@]}" --
plain2_url="$GATEWAY"; plain2_key="$KEY"; plain2_pid="$GATEWAY_PID"
run_gateway one "${PROXY_ONE[@]}" --
one_url="$GATEWAY"; one_key="$KEY"; one_pid="$GATEWAY_PID"
run_gateway traced "${PROXY[@]}" -- OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
traced_url="$GATEWAY"; traced_key="$KEY"; traced_pid="$GATEWAY_PID"
# Span export on is a ratio against span export off too, so it also runs as
# two processes: on one, its row read +4%, -8% and +19% over runs 16 to 18
# of one build (docs/benchmarks.md, sixteenth pass).
run_gateway traced2 "${PROXY[@]}" -- OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
traced2_url="$GATEWAY"; traced2_key="$KEY"; traced2_pid="$GATEWAY_PID"
run_gateway ruled "${PROXY[@]}" --
ruled_url="$GATEWAY"; ruled_key="$KEY"; ruled_pid="$GATEWAY_PID"

# ONLY=idle: where a call's time goes at one idle connection, hop by hop,
# read off a loopback capture (tcpdump timestamps each packet as it is
# sent, so neither the client's nor the proxy's own clock is in it): the
# proxy's leg in (request arrived -> forwarded), the upstream's, and the
# proxy's leg out (answer arrived -> answered). Writes its own section.
if [ "${ONLY:-}" = idle ]; then
    command -v tcpdump >/dev/null 2>&1 || apt-get install -y -qq tcpdump >/dev/null 2>&1 || die "tcpdump is missing and 'apt-get install tcpdump' failed"
    port_of() { local rest="${1#http://127.0.0.1:}"; echo "${rest%%/*}"; }
    tcpdump -i lo -n -tt -l 'tcp[tcpflags] & tcp-push != 0' >"$work/hops.dump" 2>/dev/null &
    dump_pid=$!
    pids+=("$dump_pid")
    sleep 1
    rows=""
    for path in "nginx (floor)|$NGINX_URL|" "bare Rust proxy|$bare_url|" "bare Rust proxy + metrics and call log|$logged_url|" \
        "mcpgate, span export off|$plain_url|$plain_key"; do
        IFS='|' read -r label url key <<<"$path"
        step "idle calls through $label"
        read -r p50 _ <<<"$(idle "$url" "$key")"
        rows+="$label=$(port_of "$url")"$'\n'
        echo "$p50" >>"$work/idle.p50"
    done
    sleep 0.5
    kill "$dump_pid"
    wait "$dump_pid" 2>/dev/null || true
    mapfile -t labelled <<<"${rows%$'\n'}"
    table="$(python3 scripts/lib/idle_hops.py "$work/hops.dump" "$upstream_port" "${labelled[@]}" | paste -d' ' - <(sed 's/$/ |/' "$work/idle.p50"))"
    cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    python3 scripts/lib/bench_section.py idle-hops <<SECTION
<!-- idle-hops:start -->
## An idle call, hop by hop (\`ONLY=idle ./scripts/bench-gateway.sh\`)

One connection at 20 calls/s for 10 s through each path in turn (\`hey -q\`), the same
\`tools/call echo\` and upstream as above; the legs are read off a loopback capture
(\`tcpdump -i lo\`: each packet timed as it is sent), medians over the calls. "In" is the
proxy's time from the request's arrival to forwarding it, "out" from the upstream's
last packet of the answer to the proxy's last (nginx passes an SSE head on as it comes,
mcpgate once the message is there, so both legs end where the answer does); both include
waking the proxy's thread. $cpu, $PLACEMENT;
measured $(date +%F).

| path | calls | in µs | upstream µs | out µs | in + upstream + out µs | client p50 ms (hey) |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
$table
<!-- idle-hops:end -->
SECTION
    exit 0
fi

# ONLY=gaps: an idle call's p50 against the gap between calls (0.5, 5 and
# 50 ms; the latency table's idle rate is 50 ms), one connection per path,
# timed by scripts/lib/idle_client.py (hey's 0.1 ms steps are too coarse),
# ROUNDS rounds with the paths' order rotating. Writes its own section.
if [ "${ONLY:-}" = gaps ]; then
    ROUNDS="${ROUNDS:-2}"
    first_session() { local sessions; IFS=, read -r -a sessions <<<"${SESSIONS_OF[$1]:-}"; echo "${sessions[0]:-}"; }
    direct_url="http://127.0.0.1:$upstream_port/mcp"
    paths=("direct|$direct_url|" "nginx|$NGINX_URL|" "bare|$bare_url|" "mcpgate|$plain_url|$plain_key")
    for gap in 0.0005 0.005 0.05; do
        for round in $(seq "$ROUNDS"); do
            step "idle calls $gap s apart, round $round of $ROUNDS"
            for i in $(seq 0 $((${#paths[@]} - 1))); do
                IFS='|' read -r label url key <<<"${paths[$(((i + round) % ${#paths[@]}))]}"
                p50="$("${LOAD[@]}" python3 scripts/lib/idle_client.py "$url" "$key" "$(first_session "$url")" "$gap" 150)"
                echo "$gap $round $label $p50" >>"$work/gaps"
            done
        done
    done
    table="$(python3 - "$work/gaps" <<'PY'
import collections, sys
p50 = collections.defaultdict(list)
for line in open(sys.argv[1]):
    gap, _, label, value = line.split()
    p50[(gap, label)].append(int(value))
def cell(values):
    return " / ".join(str(v) for v in values)
for gap in ("0.0005", "0.005", "0.05"):
    over = [m - n for m, n in zip(p50[(gap, "mcpgate")], p50[(gap, "nginx")])]
    row = [f"{float(gap) * 1000:g} ms"] + [cell(p50[(gap, label)]) for label in ("direct", "nginx", "bare", "mcpgate")]
    print("| " + " | ".join(row) + " | " + " / ".join(f"{v:+d}" for v in over) + " |")
PY
)"
    cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    python3 scripts/lib/bench_section.py idle-gaps <<SECTION
<!-- idle-gaps:start -->
## Idle latency against the gap between calls (\`ONLY=gaps ./scripts/bench-gateway.sh\`)

One keep-alive connection per path, 150 \`tools/call echo\` a fixed gap apart after 20 unmeasured,
timed by \`scripts/lib/idle_client.py\` (hey's 0.1 ms steps are too coarse here); p50 µs of each of
$ROUNDS rounds, the paths' order rotating. The latency table above is the 50 ms row's rate.
$cpu, $PLACEMENT; measured $(date +%F).

| gap between calls | direct | nginx | bare Rust proxy | mcpgate | mcpgate − nginx |
| --- | ---: | ---: | ---: | ---: | ---: |
$table
<!-- idle-gaps:end -->
SECTION
    exit 0
fi

# Saturation in ROUNDS rounds, the paths alternating within each, so drift in
# a shared machine's speed falls on every path alike; each path's row is the
# round with its median CPU per call. The order rotates by three paths a
# round: in a fixed order a path always ran right after the same neighbour
# (whose call log was still being written, say), and the same build read
# 8-20% apart as "span export off" and "ten rules" in three runs.
# Nine 5 s rounds rather than three of 15 s, in the same time: two runs of
# one build read the floor ratio 1.18x and 1.03x (medians of rows) in three
# rounds, 1.32x and 1.27x in nine (docs/benchmarks.md, eighteenth pass).
ROUNDS="${ROUNDS:-9}"
saturation_paths=(
    "direct|http://127.0.0.1:$upstream_port/mcp||$upstream_pid"
    "nginx|$NGINX_URL||$NGINX_PIDS"
    "bare|$bare_url||$bare_pid"
    "logged|$logged_url||$logged_pid"
    "plain|$plain_url|$plain_key|$plain_pid"
    "logged|$logged2_url||$logged2_pid"
    "plain|$plain2_url|$plain2_key|$plain2_pid"
    "traced|$traced_url|$traced_key|$traced_pid"
    "one|$one_url|$one_key|$one_pid"
    "ruled|$ruled_url|$ruled_key|$ruled_pid"
    "traced|$traced2_url|$traced2_key|$traced2_pid"
)
for round in $(seq "$ROUNDS"); do
    step "saturation, round $round of $ROUNDS"
    count="${#saturation_paths[@]}"
    for i in $(seq 0 $((count - 1))); do
        IFS='|' read -r label url key pids_of <<<"${saturation_paths[$(((i + 3 * (round - 1)) % count))]}"
        # shellcheck disable=SC2086
        measure "$url" "$key" $pids_of >>"$work/$label.rows"
    done
done
median_row() { sort -g -k5 "$work/$1.rows" | sed -n "$(( ($(wc -l <"$work/$1.rows") + 1) / 2 ))p"; }
spread() { python3 -c "import sys; v=sorted(float(l.split()[4]) for l in open(sys.argv[1])); print(f'{v[0]:.0f}–{v[-1]:.0f}')" "$work/$1.rows"; }
read -r direct_rps direct_p50 direct_p99 direct_err _ <<<"$(median_row direct)"
read -r nx_rps nx_p50 nx_p99 nx_err nx_cpu <<<"$(median_row nginx)"
read -r bare_rps bare_p50 bare_p99 bare_err bare_cpu <<<"$(median_row bare)"
read -r lg_rps lg_p50 lg_p99 lg_err lg_cpu <<<"$(median_row logged)"
read -r gw_rps gw_p50 gw_p99 gw_err gw_cpu <<<"$(median_row plain)"
read -r tr_rps tr_p50 tr_p99 tr_err tr_cpu <<<"$(median_row traced)"
read -r one_rps one_p50 one_p99 one_err one_cpu <<<"$(median_row one)"
read -r ru_rps ru_p50 ru_p99 ru_err ru_cpu <<<"$(median_row ruled)"
# The same ratios paired by round: each round's ratio of the paths' CPU
# per call (a path on two processes: their mean in that round), then the
# median over rounds. A slow stretch of the machine falls on both sides of
# a round's ratio; reported beside the medians of rows, not instead.
paired="$(python3 - "$work" "$ROUNDS" <<'PY'
import statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def by_round(label):
    cpu = [float(line.split()[4]) for line in open(f"{work}/{label}.rows")]
    per = len(cpu) // rounds
    return [statistics.mean(cpu[r * per:(r + 1) * per]) for r in range(rounds)]
nginx, bare, logged, plain, traced = (by_round(label) for label in ("nginx", "bare", "logged", "plain", "traced"))
median = lambda values: statistics.median(values)
floor = [p / l for p, l in zip(plain, logged)]
span = [(t / p - 1) * 100 for t, p in zip(traced, plain)]
recording = [l - b for l, b in zip(logged, bare)]
over_nginx = [p / n for p, n in zip(plain, nginx)]
print(f"- Paired by round (each round's ratio, the median over {rounds} rounds): mcpgate ÷ the logging floor **{median(floor):.2f}×** "
      f"(rounds {', '.join(f'{v:.2f}' for v in floor)}); span export on **{median(span):+.0f}%** ({', '.join(f'{v:+.0f}' for v in span)}); "
      f"recording **{median(recording):.0f} µs** ({', '.join(f'{v:.0f}' for v in recording)}); mcpgate ÷ nginx **{median(over_nginx):.2f}×**.")
PY
)"
step "one policy condition (benches/policy.rs)"
policy_json="$(./target/release/examples/bench-policy 500000)"
gw_rss="$(cat "/proc/$plain_pid/status" "/proc/$plain2_pid/status" | awk '/VmHWM/ && $2 > peak {peak = $2} END {printf "%.0f", peak / 1024}')"

# PROFILE=1: where mcpgate's CPU goes at saturation (perf call graphs).
profile_section=""
if [ "${PROFILE:-0}" = 1 ]; then
    step "profiling mcpgate at saturation (perf, ${DURATION}s)"
    command -v perf >/dev/null 2>&1 || apt-get install -y -qq linux-perf >/dev/null 2>&1 || die "perf is missing and 'apt-get install linux-perf' failed"
    MCPGATE_BENCH_KEY="$plain_key" "${LOAD[@]}" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$((DURATION + 3))s" -s benches/gateway.lua "$plain_url" >/dev/null &
    load_pid=$!
    sleep 2
    perf record -q -F 499 --call-graph dwarf,65528 -p "$plain_pid" -o "$work/perf.data" -- sleep "$DURATION" 2>/dev/null
    wait "$load_pid"
    profile_section="Where mcpgate's CPU goes at saturation, span export off (\`PROFILE=1\`: \`perf record --call-graph dwarf\`
on the release build; the share of samples whose stack passes through each part, so rows overlap; a
stack deeper than the 64 KB perf copies is cut short, so outer parts such as the handler read low):

| part | share of samples |
| --- | ---: |
$(perf script -i "$work/perf.data" 2>/dev/null | python3 scripts/lib/perf_shares.py)
"
fi

step "latency: one idle connection, then a steady rate"
read -r direct_i50 direct_i99 <<<"$(idle "http://127.0.0.1:$upstream_port/mcp" "")"
read -r nx_i50 nx_i99 <<<"$(idle "$NGINX_URL" "")"
read -r gw_i50 gw_i99 <<<"$(idle "$plain_url" "$plain_key")"
read -r tr_i50 tr_i99 <<<"$(idle "$traced_url" "$traced_key")"
read -r direct_s50 direct_s99 <<<"$(steady "http://127.0.0.1:$upstream_port/mcp" "")"
read -r nx_s50 nx_s99 <<<"$(steady "$NGINX_URL" "")"
read -r gw_s50 gw_s99 <<<"$(steady "$plain_url" "$plain_key")"
read -r tr_s50 tr_s99 <<<"$(steady "$traced_url" "$traced_key")"

ratio() { python3 -c "print(f'{$1/$nx_cpu:.2f}×')"; }
rows="| direct to upstream | $direct_rps | $direct_p50 | $direct_p99 | $direct_err | — | — | — |
| nginx (floor) | $nx_rps | $nx_p50 | $nx_p99 | $nx_err | $nx_cpu | $(spread nginx) | 1.00× |
| bare Rust proxy: mcpgate's HTTP stack, no governance | $bare_rps | $bare_p50 | $bare_p99 | $bare_err | $bare_cpu | $(spread bare) | $(ratio "$bare_cpu") |
| bare Rust proxy + mcpgate's metrics and call log, nothing else | $lg_rps | $lg_p50 | $lg_p99 | $lg_err | $lg_cpu | $(spread logged) | $(ratio "$lg_cpu") |
| mcpgate, span export off | $gw_rps | $gw_p50 | $gw_p99 | $gw_err | $gw_cpu | $(spread plain) | $(ratio "$gw_cpu") |
| mcpgate, span export on | $tr_rps | $tr_p50 | $tr_p99 | $tr_err | $tr_cpu | $(spread traced) | $(ratio "$tr_cpu") |
| mcpgate on one core, span export off | $one_rps | $one_p50 | $one_p99 | $one_err | $one_cpu | $(spread one) | $(ratio "$one_cpu") |
| mcpgate, ten policy rules (none covering the call) | $ru_rps | $ru_p50 | $ru_p99 | $ru_err | $ru_cpu | $(spread ruled) | $(ratio "$ru_cpu") |"
over() { python3 -c "print(f'{$1-$2:+.3f}')"; }
latency_rows="| direct to upstream | $direct_i50 | $direct_s50 | $direct_s99 | — | — |
| nginx (floor) | $nx_i50 | $nx_s50 | $nx_s99 | $(over "$nx_i50" "$direct_i50") | $(over "$nx_s99" "$direct_s99") |
| mcpgate, span export off | $gw_i50 | $gw_s50 | $gw_s99 | $(over "$gw_i50" "$direct_i50") | $(over "$gw_s99" "$direct_s99") |
| mcpgate, span export on | $tr_i50 | $tr_s50 | $tr_s99 | $(over "$tr_i50" "$direct_i50") | $(over "$tr_s99" "$direct_s99") |"
figures="$(POLICY_JSON="$policy_json" python3 -c "
import json, os
gw, tr, one, nx, bare, logged, ruled = $gw_cpu, $tr_cpu, $one_cpu, $nx_cpu, $bare_cpu, $lg_cpu, $ru_cpu
policy = json.loads(os.environ['POLICY_JSON'])
print(f'- mcpgate ÷ the logging floor (the bare proxy with the call log and metrics) CPU per call: **{gw/logged:.2f}×** (target ≤ 1.2×); mcpgate ÷ nginx: **{gw/nx:.2f}×** (about 1.7× when the floor target is met); span export on adds **{(tr/gw-1)*100:+.0f}%** (target ≤ +15%).')
print(f'- Recording a call (metrics, call-log row, rollups) costs **{logged-bare:.0f} µs** of CPU per call: the logging floor minus the bare proxy (target ≤ 10 µs).')
print(f'- The bare Rust proxy (hyper server and client, no governance) alone costs **{bare/nx:.2f}×** nginx; governance adds **{gw-bare:.0f} µs** per call on top ({gw/bare:.2f}× the bare proxy).')
print(f'- The bare Rust proxy recording each call with mcpgate\'s metrics and call log, and doing nothing else, costs **{logged/nx:.2f}×** nginx: the floor of a gateway that keeps this call log on this stack.')
print(f'- CPU per call on $PROXY_CORES cores vs one core: **{(gw/one-1)*100:+.0f}%** (target within 10%).')
print(f'- Added p50 at one idle connection (20 calls/s): nginx +{$nx_i50-$direct_i50:.3f} ms, mcpgate +{$gw_i50-$direct_i50:.3f} ms (target: nginx + 0.1 ms).')
print(f'- Added p99 at $RATE calls/s over nginx: {$gw_s99-$nx_s99:+.3f} ms (target ≤ 0.3 ms).')
print(f'- mcpgate peak RSS after $CONNECTIONS connections: **$gw_rss MiB** (target < 100 MB).')
print(f'- Ten policy rules on the product, none covering the call, add **{(ruled/gw-1)*100:+.1f}%** CPU per call (target ≤ 5%).')
evaluations = policy['evaluations']
for e in policy['expressions']:
    expression, first, again = e['expression'], e['first_ns'] / 1000, e['again_ns'] / 1000
    print(f'- CEL condition \`{expression}\`: **{first:.2f} µs** on a call\'s first evaluation (building the variables it reads), {again:.2f} µs for each further rule on the same call (target ≤ 2 µs; \`benches/policy.rs\`, {evaluations:,} evaluations, thread CPU time).')
")"

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
python3 scripts/lib/bench_section.py gateway-bench <<SECTION
<!-- gateway-bench:start -->
## Gateway cost (\`./scripts/bench-gateway.sh\`)

\`tools/call echo\` against a minimal rmcp upstream that keeps sessions and answers in SSE, as most MCP
servers do; every path's load carries $SESSIONS sessions opened through that path, taken in turn
(so the call log indexes $SESSIONS live sessions), \`wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s\`, $cpu, $PLACEMENT; measured $(date +%F).
Through mcpgate means subscription-key auth, the tool allow-list check, a quota
charge, version routing, metrics and the call log (a file-backed SQLite store, as in
production) on every call; "span export on"
adds an OTLP span per call, exported over HTTP to a local sink. nginx is a plain
reverse proxy with upstream keepalive and no governance: the floor. The bare Rust
proxy (\`benches/bare_proxy.rs\`) is mcpgate's own HTTP stack (hyper server through an
axum handler, hyper-util's pooled client, mimalloc) forwarding with no governance:
what the stack costs before any governance. Given a store, the same proxy also
hands each call to mcpgate's telemetry (metrics, and a call-log row in a file-backed
SQLite store) and does nothing else. CPU per call is
the proxy's user + system time (children included, from \`/proc/PID/stat\`) over
the measured run divided by the calls it served.

$figures
$paired

Saturation, $ROUNDS rounds with the paths alternating (their order rotating by three a round); each row is the path's round with the median CPU per call (the range over rounds beside it). The logging floor, "mcpgate, span export off" and "span export on" each run as two processes, measured in every round: their rows are the median of both processes' rounds (the lower of the middle two):

| path | requests/s | p50 ms | p99 ms | errors | proxy CPU µs/call | range | CPU vs nginx |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
$rows

Latency: one idle connection at 20 calls/s (10 s), and a steady $RATE calls/s over 20 connections (\`hey -q\`, 10 s).

| path | idle p50 ms | steady p50 ms | steady p99 ms | idle p50 added | steady p99 added |
| --- | ---: | ---: | ---: | ---: | ---: |
$latency_rows

$profile_section<!-- gateway-bench:end -->
SECTION
