-- wrk script: one MCP tools/call per request.
-- MCPGATE_BENCH_KEY: the subscription key; MCPGATE_BENCH_SESSION: an
-- Mcp-Session-Id to send; MCPGATE_BENCH_SESSIONS: several, comma-separated,
-- taken in turn request by request (many live sessions, as MCP clients
-- keep them); MCPGATE_BENCH_TOOL: the tool (default echo).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-06-18"
local key = os.getenv("MCPGATE_BENCH_KEY")
if key and key ~= "" then
  wrk.headers["X-Subscription-Key"] = key
end
local session = os.getenv("MCPGATE_BENCH_SESSION")
if session and session ~= "" then
  wrk.headers["Mcp-Session-Id"] = session
end
local sessions = {}
for id in string.gmatch(os.getenv("MCPGATE_BENCH_SESSIONS") or "", "[^,]+") do
  table.insert(sessions, id)
end
local tool = os.getenv("MCPGATE_BENCH_TOOL")
if not tool or tool == "" then
  tool = "echo"
end
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"' .. tool .. '","arguments":{"message":"hello"}}}'
-- In sessions, each request has an id of its own: a session's requests in
-- flight must not share one.
local turn = 0
if #sessions > 0 then
  function request()
    turn = turn + 1
    wrk.headers["Mcp-Session-Id"] = sessions[turn % #sessions + 1]
    local body = '{"jsonrpc":"2.0","id":' .. turn .. ',"method":"tools/call","params":{"name":"' .. tool .. '","arguments":{"message":"hello"}}}'
    return wrk.format(nil, nil, nil, body)
  end
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d errors=%d non2xx=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(99)))
end
