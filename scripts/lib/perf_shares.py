"""Where a process's CPU goes, from `perf script` output (call graphs) on
stdin: for each part of the gateway, the share of samples whose stack passes
through it (inclusive, so rows overlap: allocation happens inside the
others). Prints Markdown table rows, largest first."""

import re
import sys

PARTS = [
    ("system calls (TCP send and receive on loopback)", r"^do_syscall_64$"),
    ("the gateway's handler (after the request head is read)", r"^<F as axum::handler::Handler"),
    ("the upstream leg (hyper client: request, response)", r"^hyper_util::client::legacy::client::Client"),
    ("call log: batched inserts into the store", r"^mcpgate::telemetry::call_log::|^sqlx_sqlite::|^sqlite3"),
    ("following each request (begin, answer, observation)", r"^mcpgate::gateway::observe::Exchanges"),
    ("authentication, routing and version choice", r"^mcpgate::gateway::route"),
    ("metrics (OpenTelemetry instruments)", r"^mcpgate::telemetry::metrics::Metrics"),
    ("parsing the request (JSON-RPC)", r"^mcpgate::gateway::jsonrpc::Body::parse"),
    ("reading answers (jsonrpc::Answer, or the whole parse)", r"^mcpgate::gateway::proxy::rewrite_json"),
    ("headers (upstream, response, RateLimit)", r"^mcpgate::gateway::proxy::(upstream_headers|response_headers|rate_limit_headers)"),
    ("quota and rate-limit charge", r"^mcpgate::gateway::(limits::|admit)"),
    ("memory allocation and freeing (mimalloc)", r"^_?mi_"),
    ("task switches and thread wake-ups (kernel scheduler)", r"^(finish_task_switch|schedule|__schedule|try_to_wake_up)"),
]


def frames(stream):
    """Yields each sample's stack as a list of symbol names, leaf first."""
    stack = None
    for line in stream:
        if not line.strip():
            if stack:
                yield stack
            stack = None
        elif not line[0].isspace():
            stack = []
        elif stack is not None:
            # "    addr symbol+0xoff (dso)"
            match = re.match(r"\s*[0-9a-f]+ (.*?)(\+0x[0-9a-f]+)? \(", line)
            if match:
                stack.append(match.group(1))
    if stack:
        yield stack


def main():
    patterns = [(name, re.compile(pattern)) for name, pattern in PARTS]
    counts = {name: 0 for name, _ in PARTS}
    total = 0
    for stack in frames(sys.stdin):
        total += 1
        for name, pattern in patterns:
            if any(pattern.search(frame) for frame in stack):
                counts[name] += 1
    if total == 0:
        sys.exit("no samples in the perf script output")
    for name, count in sorted(counts.items(), key=lambda item: -item[1]):
        print(f"| {name} | {100 * count / total:.1f}% |")
    print(f"| (samples) | {total} |")


if __name__ == "__main__":
    main()
