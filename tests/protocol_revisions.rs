//! MCP 2026-07-28 beside 2025-11-25 on one URL (docs/protocol.md). Real
//! parts: npm server-everything (2025-11-25 only), a PyPI `mcp` server
//! (`testdata/mcp/kb.py`, both revisions) and rmcp configured for
//! 2026-07-28 alone; three SDKs' clients (PyPI `mcp`, the TypeScript SDK,
//! rmcp) in each mode; raw HTTP for the routing headers.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::kb::KbServer;
use support::stack::Stack;
use support::tool_upstream::ToolUpstream;
use support::upstream::Upstream;

/// Both backends, and a gateway with product `p` over them (`product`): its key.
async fn setup(calls: u64) -> (Upstream, KbServer, Stack, String) {
    let (everything, kb) = (Upstream::start().await, KbServer::start().await);
    let stack = Stack::memory().await;
    let key = product(&stack, &everything.url, &kb.url, calls).await;
    (everything, kb, stack, key)
}

/// Product `p`: everything (echo, get-sum) and kb (echo, locate, refund, search), quota `calls`.
async fn product(stack: &Stack, everything: &str, kb: &str, calls: u64) -> String {
    for (server, url) in [("everything", everything), ("kb", kb)] {
        stack.api.create(&format!("servers/{server}"), json!({})).await;
        stack.api.create(&format!("servers/{server}/versions/v1"), json!({ "backend_url": url })).await;
    }
    stack.api.create("products/p", json!({ "state": "published", "quota": { "calls": calls, "period_seconds": 3600 } })).await;
    stack.api.create("products/p/servers/everything", json!({ "tools": ["echo", "get-sum"] })).await;
    stack.api.create("products/p/servers/kb", json!({ "tools": ["echo", "locate", "refund", "search"] })).await;
    stack.subscribe("alice", "p").await
}

async fn client(url: &str, key: &str, mode: &str, tool: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/clients/revision_client.py");
    printed(tokio::process::Command::new(support::python()).args([script, url, key, mode, tool]), &format!("client {mode} on {url}")).await
}

/// The one JSON line a client script prints, once it has succeeded.
async fn printed(command: &mut tokio::process::Command, what: &str) -> Value {
    let output = command.output().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{what} failed: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{what}: {e}: {stderr}"))
}

/// The TypeScript SDK's client (npm `@modelcontextprotocol/client`) in `mode`
/// (legacy, auto, or pinned to 2026-07-28): what it negotiated, listed and got.
async fn ts_client(url: &str, key: &str, mode: &str, tool: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/clients/ts_client.mjs");
    let sdk = support::upstream::node_modules().join("@modelcontextprotocol/client/dist/index.mjs");
    let mut command = tokio::process::Command::new("node");
    command.args([script, url, key, mode, tool]).env("MCPGATE_TS_SDK", sdk);
    printed(&mut command, &format!("TypeScript client {mode} on {url}")).await
}

/// rmcp's client with `lifecycle` ("legacy": initialize; "2026-07-28":
/// server/discover and stateless requests only; "auto": discover, then
/// initialize if the server is of an earlier revision), as `ts_client`.
async fn rmcp_client(url: &str, key: &str, lifecycle: &str, tool: &str) -> Value {
    use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
    use rmcp::service::{serve_client_with_lifecycle, ClientLifecycleMode};
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let mode = match lifecycle {
        "legacy" => ClientLifecycleMode::Initialize,
        "2026-07-28" => ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] },
        _ => {
            ClientLifecycleMode::Auto { preferred_versions: vec![ProtocolVersion::V_2026_07_28], legacy_version: Some(ProtocolVersion::V_2025_11_25) }
        }
    };
    let mut headers = std::collections::HashMap::new();
    headers.insert(http::HeaderName::from_static("x-subscription-key"), http::HeaderValue::from_str(key).unwrap());
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string()).custom_headers(headers);
    let info = ClientConfig::new(ClientCapabilities::default(), Implementation::new("mcpgate-rmcp-test", "1.0.0"));
    let transport = rmcp::transport::StreamableHttpClientTransport::from_config(config);
    let client = serve_client_with_lifecycle(info, transport, mode).await.unwrap_or_else(|e| panic!("rmcp {lifecycle} on {url}: {e}"));
    let protocol = client.peer_info().map(|i| i.protocol_version.to_string());
    let mut tools: Vec<String> = client.list_all_tools().await.expect("tools/list").into_iter().map(|t| t.name.to_string()).collect();
    tools.sort();
    let arguments = json!({ "message": "hi" }).as_object().cloned().unwrap();
    let called = client.call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(arguments)).await.expect("tools/call");
    let text = called.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone());
    client.cancel().await.ok();
    json!({ "protocol": protocol, "tools": tools, "text": text })
}

#[tokio::test]
async fn clients_of_either_revision_use_backends_of_either_revision() {
    if !support::available(&[support::Need::Node, support::Need::Python]) {
        return;
    }
    let (_everything, _kb, stack, key) = setup(1000).await;
    for (server, tools, text) in
        [("everything", json!(["echo", "get-sum"]), "Echo: hi"), ("kb", json!(["echo", "locate", "refund", "search"]), "kb: hi")]
    {
        for (mode, speaks) in [("legacy", "2025-11-25"), ("2026-07-28", "2026-07-28"), ("auto", "2026-07-28")] {
            let seen = client(&stack.mcp_url(server), &key, mode, "echo").await;
            assert_eq!(seen["protocol"], speaks, "{mode} on {server}: {seen}");
            assert_eq!(seen["tools"], tools, "{mode} on {server}: the allow-list applies");
            assert_eq!(seen["text"], text, "{mode} on {server}");
            if server == "kb" {
                assert_eq!(seen["located"], "office in eu-west", "{mode}: Mcp-Param-Region, when sent, agrees with the argument");
            }
            if speaks == "2026-07-28" {
                assert_eq!(seen["cache_scope"], "private", "{mode} on {server}: a list filtered for the product is private");
            }
            for (sdk, seen) in [
                ("typescript", ts_client(&stack.mcp_url(server), &key, mode, "echo").await),
                ("rmcp", rmcp_client(&stack.mcp_url(server), &key, mode, "echo").await),
            ] {
                assert_eq!(seen["protocol"], speaks, "{sdk} {mode} on {server}: {seen}");
                assert_eq!(seen["tools"], tools, "{sdk} {mode} on {server}: the allow-list applies");
                assert_eq!(seen["text"], text, "{sdk} {mode} on {server}");
            }
        }
    }
}

fn stateless_call(name_header: &str, name: &str) -> (reqwest::header::HeaderMap, Value) {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("mcp-protocol-version", "2026-07-28".parse().unwrap());
    headers.insert("mcp-method", "tools/call".parse().unwrap());
    headers.insert("mcp-name", name_header.parse().unwrap());
    headers.insert("accept", "application/json, text/event-stream".parse().unwrap());
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": name, "arguments": { "message": "hi" },
        "_meta": { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} } } });
    (headers, body)
}

async fn post(url: &str, key: &str, headers: reqwest::header::HeaderMap, body: &Value) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new().post(url).header("x-subscription-key", key).headers(headers).json(body).send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let text = response.text().await.unwrap();
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or(&text).to_string();
    (status, headers, serde_json::from_str(&data).unwrap_or(Value::Null))
}

#[tokio::test]
async fn routing_headers_that_disagree_with_the_body_are_refused_before_anything_is_charged() {
    if !support::available(&[support::Need::Node, support::Need::Python]) {
        return;
    }
    let (_everything, _kb, stack, key) = setup(5).await;
    let product_url = format!("{}/products/p/mcp", stack.gateway_url);

    for url in [stack.mcp_url("kb"), product_url.clone()] {
        let name = if url.ends_with("/products/p/mcp") { "kb__echo" } else { "echo" };
        let (headers, body) = stateless_call("search", name);
        let (status, _, reply) = post(&url, &key, headers, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {reply}");
        assert_eq!(reply["error"]["code"], -32020, "{url}: {reply}");
        assert_eq!(reply["error"]["data"]["reason"], "header_mismatch", "{url}: {reply}");
        assert!(reply["error"]["message"].as_str().unwrap().contains("Mcp-Name"), "{reply}");
        let (mut headers, body) = stateless_call(name, name);
        headers.remove("mcp-method");
        let (status, _, reply) = post(&url, &key, headers, &body).await;
        assert_eq!(
            (status, reply["error"]["code"].as_i64()),
            (StatusCode::BAD_REQUEST, Some(-32020)),
            "{url}: a 2026-07-28 request names its method"
        );
    }
    // A 2026-07-28 call whose Mcp-Param-Region disagrees with the argument
    // its tool's schema mirrors into it (known from a list through the gateway).
    let mut list_headers = reqwest::header::HeaderMap::new();
    list_headers.insert("mcp-protocol-version", "2026-07-28".parse().unwrap());
    list_headers.insert("mcp-method", "tools/list".parse().unwrap());
    let list = json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": { "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} } } });
    let (_, _, listed) = post(&stack.mcp_url("kb"), &key, list_headers, &list).await;
    assert_eq!(listed["result"]["cacheScope"], "private", "{listed}");
    let (mut headers, mut body) = stateless_call("locate", "locate");
    body["params"]["arguments"] = json!({ "region": "eu-west" });
    headers.insert("mcp-param-region", "us-east".parse().unwrap());
    let (status, _, reply) = post(&stack.mcp_url("kb"), &key, headers, &body).await;
    assert_eq!((status, reply["error"]["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(-32020)), "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("mcp-param-region"), "{reply}");

    // The same name, base64-encoded as a client sends a name a header cannot carry.
    let (headers, body) = stateless_call("=?base64?ZWNobw==?=", "echo");
    let (status, answer, reply) = post(&stack.mcp_url("kb"), &key, headers, &body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["result"]["content"][0]["text"], "kb: hi", "{reply}");
    let ratelimit = answer.get("ratelimit").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(ratelimit.contains("r=3"), "only the list and the call that went upstream were charged: {ratelimit}");
    // Through the product endpoint the member is sent the name it knows.
    let (headers, body) = stateless_call("kb__echo", "kb__echo");
    let (status, _, reply) = post(&product_url, &key, headers, &body).await;
    assert_eq!((status, &reply["result"]["content"][0]["text"]), (StatusCode::OK, &json!("kb: hi")), "{reply}");
    assert_eq!(reply["result"]["resultType"], "complete", "{reply}");
    stack.gateway.flush().await;
    let calls = stack.api.get("calls?limit=20").await.body;
    assert_eq!(calls["items"].as_array().unwrap().len(), 2, "refused requests never reached an upstream: {calls}");

    // server/discover is answered on the product endpoint, and an unknown
    // method is -32601 (what a probing client falls back on), never -32602.
    let discover = json!({ "jsonrpc": "2.0", "id": 7, "method": "server/discover", "params": { "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} } } });
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("mcp-protocol-version", "2026-07-28".parse().unwrap());
    headers.insert("mcp-method", "server/discover".parse().unwrap());
    let (status, _, reply) = post(&product_url, &key, headers.clone(), &discover).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(reply["result"]["supportedVersions"].as_array().unwrap().contains(&json!("2026-07-28")), "{reply}");
    assert_eq!((&reply["result"]["cacheScope"], &reply["result"]["ttlMs"]), (&json!("private"), &json!(0)), "{reply}");
    assert!(reply["result"]["capabilities"]["tools"].is_object(), "{reply}");
    let unknown = json!({ "jsonrpc": "2.0", "id": 8, "method": "tools/frobnicate", "params": { "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} } } });
    headers.insert("mcp-method", "tools/frobnicate".parse().unwrap());
    for url in [product_url.clone(), stack.mcp_url("kb")] {
        let (_, _, reply) = post(&url, &key, headers.clone(), &unknown).await;
        assert_eq!(reply["error"]["code"], -32601, "{url}: {reply}");
    }
    // What no endpoint serves, whatever its backend speaks: a revision spoken
    // nowhere here (-32022, listing what is), a 2026-07-28 request without
    // its envelope (-32602), a method 2026-07-28 removed (404, -32601).
    for url in [product_url.clone(), stack.mcp_url("everything"), stack.mcp_url("kb")] {
        let mut future = discover.clone();
        future["id"] = json!(301);
        future["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
        let mut future_headers = headers.clone();
        future_headers.insert("mcp-protocol-version", "2099-01-01".parse().unwrap());
        future_headers.insert("mcp-method", "server/discover".parse().unwrap());
        let (status, _, reply) = post(&url, &key, future_headers, &future).await;
        assert_eq!((status, &reply["id"], &reply["error"]["code"]), (StatusCode::BAD_REQUEST, &json!(301), &json!(-32022)), "{url}: {reply}");
        assert_eq!(
            (&reply["error"]["data"]["supported"], &reply["error"]["data"]["requested"]),
            (&json!(["2026-07-28"]), &json!("2099-01-01")),
            "{reply}"
        );
        let mut bare = discover.clone();
        bare["params"] = json!({});
        let mut bare_headers = headers.clone();
        bare_headers.insert("mcp-method", "server/discover".parse().unwrap());
        let (status, _, reply) = post(&url, &key, bare_headers.clone(), &bare).await;
        assert_eq!((status, &reply["error"]["code"]), (StatusCode::BAD_REQUEST, &json!(-32602)), "{url}: {reply}");
        let mut ping = discover.clone();
        ping["method"] = json!("ping");
        bare_headers.insert("mcp-method", "ping".parse().unwrap());
        let (status, _, reply) = post(&url, &key, bare_headers, &ping).await;
        assert_eq!((status, &reply["error"]["code"]), (StatusCode::NOT_FOUND, &json!(-32601)), "{url}: {reply}");
    }
}

#[tokio::test]
async fn a_client_of_an_earlier_revision_uses_a_backend_that_speaks_only_2026_07_28() {
    if !support::available(&[support::Need::Python]) {
        return;
    }
    // rmcp, configured for 2026-07-28 alone: it refuses initialize and any
    // request without the per-request envelope.
    let upstream = ToolUpstream::start_stateless_only(&[("echo", "Echoes the message"), ("lookup", "Looks a word up")]);
    let stack = Stack::memory().await;
    stack.publish("modern", &upstream.url, "p", json!({ "tools": ["echo"] })).await;
    let key = stack.subscribe("alice", "p").await;
    for (mode, speaks) in [("legacy", "2025-11-25"), ("auto", "2026-07-28"), ("2026-07-28", "2026-07-28")] {
        let seen = client(&stack.mcp_url("modern"), &key, mode, "echo").await;
        assert_eq!(seen["protocol"], speaks, "{mode}: {seen}");
        assert_eq!(seen["tools"], json!(["echo"]), "{mode}: the allow-list applies");
        assert_eq!(seen["text"], "echo: hi", "{mode}");
        for (sdk, seen) in [
            ("typescript", ts_client(&stack.mcp_url("modern"), &key, mode, "echo").await),
            ("rmcp", rmcp_client(&stack.mcp_url("modern"), &key, mode, "echo").await),
        ] {
            assert_eq!(
                (&seen["protocol"], &seen["tools"], &seen["text"]),
                (&json!(speaks), &json!(["echo"]), &json!("echo: hi")),
                "{sdk} {mode}: {seen}"
            );
        }
        // The same backend as a member of the product's endpoint: no member
        // session, each request sent statelessly.
        let product_url = format!("{}/products/p/mcp", stack.gateway_url);
        let seen = client(&product_url, &key, mode, "modern__echo").await;
        assert_eq!((&seen["tools"], &seen["text"]), (&json!(["modern__echo"]), &json!("echo: hi")), "product endpoint, {mode}: {seen}");
        let seen = ts_client(&product_url, &key, mode, "modern__echo").await;
        assert_eq!((&seen["protocol"], &seen["text"]), (&json!(speaks), &json!("echo: hi")), "typescript on the product endpoint, {mode}: {seen}");
    }
    // What the backend received from the legacy client's session: stateless
    // requests with the routing headers set by the gateway.
    let seen = upstream.seen.lock().unwrap().clone();
    let call = seen.iter().find(|h| h.get("mcp-method").is_some_and(|m| m == "tools/call")).expect("a tools/call reached the backend");
    assert_eq!(call.get("mcp-name").and_then(|v| v.to_str().ok()), Some("echo"));
    assert_eq!(call.get("mcp-protocol-version").and_then(|v| v.to_str().ok()), Some("2026-07-28"));
    assert!(seen.iter().all(|h| h.get("mcp-session-id").is_none()), "no session id reaches a backend that keeps none");
}

/// kb's `refund` of `amount` asks the user first (unless it is 0). What the
/// PyPI client in `mode` saw.
async fn refund(url: &str, key: &str, mode: &str, tool: &str, amount: u32) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/clients/input_client.py");
    let amount = amount.to_string();
    printed(tokio::process::Command::new(support::python()).args([script, url, key, mode, tool, &amount]), &format!("refund {mode} on {url}")).await
}

/// What the quota has left, as a call's `RateLimit` header says (the call is charged too).
async fn quota_left(url: &str, key: &str) -> i64 {
    let (headers, body) = stateless_call("echo", "echo");
    let (status, answer, reply) = post(url, key, headers, &body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let ratelimit = answer.get("ratelimit").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let left = ratelimit.split(';').find_map(|part| part.trim().strip_prefix("r=")).and_then(|r| r.parse().ok());
    left.unwrap_or_else(|| panic!("no remaining count in RateLimit: {ratelimit:?}"))
}

#[tokio::test]
async fn an_input_required_result_and_its_retry_pass_through_charged_and_linked() {
    if !support::available(&[support::Need::Node, support::Need::Python]) {
        return;
    }
    let (_everything, _kb, stack, key) = setup(1000).await;
    let product_url = format!("{}/products/p/mcp", stack.gateway_url);
    // 2026-07-28: an input_required result with a requestState, then the
    // call again with the answer; an earlier revision: an elicitation
    // request during the call, on the session's stream.
    let start = quota_left(&stack.mcp_url("kb"), &key).await;
    let seen = refund(&stack.mcp_url("kb"), &key, "2026-07-28", "refund", 0).await;
    assert_eq!((&seen["text"], &seen["asked"]), (&json!("refund of 0 approved"), &json!([])), "{seen}");
    let one_round = quota_left(&stack.mcp_url("kb"), &key).await;
    let seen = refund(&stack.mcp_url("kb"), &key, "2026-07-28", "refund", 5).await;
    assert_eq!((&seen["text"], &seen["asked"]), (&json!("refund of 5 approved"), &json!(["Approve a refund of 5?"])), "{seen}");
    let two_rounds = quota_left(&stack.mcp_url("kb"), &key).await;
    assert_eq!((one_round - two_rounds) - (start - one_round), 1, "the retry is charged as the request it is");
    for (url, tool, mode) in [(product_url.clone(), "kb__refund", "2026-07-28"), (stack.mcp_url("kb"), "refund", "legacy")] {
        let seen = refund(&url, &key, mode, tool, 5).await;
        assert_eq!(seen["text"], "refund of 5 approved", "{mode} on {url}: {seen}");
        assert_eq!(seen["asked"], json!(["Approve a refund of 5?"]), "{mode} on {url}: the user was asked once");
    }
    stack.gateway.flush().await;
    let calls = stack.api.get("calls?tool=refund&limit=20").await.body;
    let rows = calls["items"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "each request is a call: one for 0, two rounds on each 2026-07-28 path, one legacy call: {calls}");
    for endpoint in ["/mcp/kb", "/products/p/mcp"] {
        let rounds: Vec<&Value> =
            rows.iter().filter(|r| r["endpoint"] == endpoint && (r.get("awaits_input").is_some() || r.get("continues").is_some())).collect();
        assert_eq!(rounds.len(), 2, "{endpoint}: {calls}");
        let asked = rounds.iter().find_map(|r| r["awaits_input"].as_str()).expect("the first round awaits input");
        let answered = rounds.iter().find_map(|r| r["continues"].as_str()).expect("the retry continues it");
        assert_eq!(asked, answered, "{endpoint}: the retry links to the call that asked");
        assert!(rounds.iter().all(|r| r["status"] == "ok"), "{endpoint}: asking for input is not an error: {calls}");
    }
}

#[tokio::test]
async fn sessions_the_gateway_holds_are_opened_again_when_a_backend_forgets_them() {
    if !support::available(&[support::Need::Node, support::Need::Python]) {
        return;
    }
    let (mut everything, _kb, stack, key) = setup(1000).await;
    let product_url = format!("{}/products/p/mcp", stack.gateway_url);
    // Sessions the gateway holds with server-everything: a 2026-07-28
    // caller's bridge session on /mcp/everything and member session on the
    // product endpoint, and a 2025-11-25 client's member session there.
    let mut earlier = support::stack::RawMcp::new(product_url.clone(), Some(&key));
    earlier.initialize().await;
    for round in ["before", "after"] {
        if round == "after" {
            everything.restart().await;
        }
        let seen = client(&stack.mcp_url("everything"), &key, "2026-07-28", "echo").await;
        assert_eq!(seen["text"], "Echo: hi", "bridged, {round} the restart: {seen}");
        let seen = client(&product_url, &key, "2026-07-28", "everything__echo").await;
        assert_eq!(seen["text"], "Echo: hi", "product endpoint, 2026-07-28, {round} the restart: {seen}");
        let echoed = earlier.call(1, "everything__echo", json!({ "message": round })).await.first();
        assert_eq!(echoed["result"]["content"][0]["text"], format!("Echo: {round}"), "product endpoint, 2025-11-25, {round} the restart: {echoed}");
    }
    stack.gateway.flush().await;
    let calls = stack.api.get("calls?server=everything&limit=50").await.body;
    let rows = calls["items"].as_array().unwrap();
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r["status"] == "ok"),
        "the calls that met a forgotten session are recorded once, as their retries: {calls}"
    );
}
