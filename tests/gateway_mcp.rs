//! The gateway in front of a real MCP server (npm server-everything), driven
//! by a real MCP client (rmcp) and by raw Streamable HTTP where HTTP details
//! matter.

mod support;

use reqwest::StatusCode;
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use std::collections::HashMap;
use support::stack::{RawMcp, Stack};
use support::upstream::Upstream;

#[tokio::test]
async fn rmcp_client_lists_filtered_tools_and_calls_through_the_gateway() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let stack = Stack::memory().await;
    stack.publish("everything", &upstream.url, "gold", json!({ "tools": ["echo", "get-sum"] })).await;
    let key = stack.subscribe("alice", "gold").await;

    let client = support::rmcp_client(&stack.mcp_url("everything"), &key).await;
    let info = client.peer_info().expect("initialized");
    assert_eq!(info.server_info.as_ref().map(|s| s.name.as_str()), Some("mcp-servers/everything"));

    let mut tools: Vec<String> = client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    tools.sort();
    assert_eq!(tools, vec!["echo", "get-sum"], "tools/list is filtered to the allow-list");

    let echoed = client
        .call_tool(CallToolRequestParams::new("echo").with_arguments(json!({ "message": "through the gateway" }).as_object().unwrap().clone()))
        .await
        .unwrap();
    assert_eq!(echoed.content[0].as_text().map(|t| t.text.as_str()), Some("Echo: through the gateway"));
    let sum =
        client.call_tool(CallToolRequestParams::new("get-sum").with_arguments(json!({ "a": 2, "b": 3 }).as_object().unwrap().clone())).await.unwrap();
    assert!(sum.content[0].as_text().map(|t| t.text.contains('5')).unwrap_or(false), "{sum:?}");

    let refused = client.call_tool(CallToolRequestParams::new("get-env")).await.expect_err("get-env is not in the product");
    match refused {
        rmcp::ServiceError::McpError(error) => {
            assert_eq!(error.code.0, -32602);
            assert_eq!(error.message, "Unknown tool: get-env");
        }
        other => panic!("expected the unknown-tool error, got {other:?}"),
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn sessions_are_pinned_proxied_and_deleted() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let stack = Stack::memory().await;
    stack.publish("everything", &upstream.url, "gold", json!({})).await;
    let key = stack.subscribe("alice", "gold").await;
    let mut mcp = RawMcp::new(stack.mcp_url("everything"), Some(&key));
    let init = mcp.initialize().await;
    assert_eq!(init.status, StatusCode::OK);
    assert!(init.header("content-type").unwrap().starts_with("text/event-stream"), "SSE passes through");
    assert_eq!(init.first()["result"]["serverInfo"]["name"], "mcp-servers/everything");
    let session = mcp.session.clone().expect("Mcp-Session-Id passes back");
    assert_eq!(init.header("mcp-server-version").as_deref(), Some("v1"));

    let notification = mcp.post(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" })).await;
    assert_eq!(notification.status, StatusCode::ACCEPTED, "202 for notifications");
    let listed = mcp.post(json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" })).await;
    assert!(listed.first()["result"]["tools"].as_array().unwrap().len() > 5, "no allow-list: every tool");
    assert_eq!(listed.header("mcp-session-id").as_deref(), Some(session.as_str()), "the session id comes back as the client sent it");

    let batch = mcp
        .post(json!([
            { "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": { "name": "echo", "arguments": { "message": "a" } } },
            { "jsonrpc": "2.0", "id": 4, "method": "ping" }
        ]))
        .await;
    let mut ids: Vec<i64> = batch.messages.iter().filter_map(|m| m["id"].as_i64()).collect();
    ids.sort();
    assert_eq!(ids, vec![3, 4], "a batch is answered message by message");

    let intruder_key = stack.subscribe("mallory", "gold").await;
    let mut intruder = RawMcp::new(stack.mcp_url("everything"), Some(&intruder_key));
    intruder.session = Some(session.clone());
    let hijack = intruder.post(json!({ "jsonrpc": "2.0", "id": 9, "method": "ping" })).await;
    assert_eq!(hijack.status, StatusCode::NOT_FOUND, "a session belongs to the subscription that started it");

    let deleted =
        mcp.client.delete(stack.mcp_url("everything")).header("x-subscription-key", &key).header("mcp-session-id", &session).send().await.unwrap();
    assert!(deleted.status().is_success(), "DELETE reaches the server: {}", deleted.status());
    let after = mcp.post(json!({ "jsonrpc": "2.0", "id": 5, "method": "ping" })).await;
    assert!(after.status.is_client_error(), "the upstream forgot the session: {}", after.status);
    assert!(after.first()["error"]["message"].as_str().unwrap().contains("session ID"), "{:?}", after.messages);
}

#[tokio::test]
async fn upstream_client_errors_pass_through_unchanged() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let stack = Stack::memory().await;
    stack.publish("everything", &upstream.url, "gold", json!({})).await;
    let key = stack.subscribe("alice", "gold").await;
    let mcp = RawMcp::new(stack.mcp_url("everything"), Some(&key));
    let discover = mcp.post(json!({ "jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {} })).await;
    assert_eq!(discover.status, StatusCode::BAD_REQUEST, "older servers answer 400 and clients fall back");
    assert_eq!(discover.first()["error"]["code"], -32000);
    assert_eq!(discover.first()["error"]["message"], "Bad Request: Server not initialized");
}

#[tokio::test]
async fn tool_calls_outside_the_allow_list_never_reach_the_upstream() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let stack = Stack::memory().await;
    stack.publish("everything", &upstream.url, "gold", json!({ "tools": ["echo"] })).await;
    stack.api.create("products/gold", json!({ "state": "published", "quota": { "calls": 100, "period_seconds": 3600 } })).await;
    let key = stack.subscribe("alice", "gold").await;
    let mut mcp = RawMcp::new(stack.mcp_url("everything"), Some(&key));
    mcp.initialize().await;

    let refused = mcp.call(7, "toggle-simulated-logging", json!({})).await;
    assert_eq!(refused.status, StatusCode::OK);
    assert_eq!(
        refused.first(),
        json!({ "jsonrpc": "2.0", "id": 7, "error": { "code": -32602, "message": "Unknown tool: toggle-simulated-logging" } })
    );

    let mixed = mcp
        .post(json!([
            { "jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": { "name": "echo", "arguments": { "message": "ok" } } },
            { "jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": { "name": "get-env", "arguments": {} } }
        ]))
        .await;
    let by_id: HashMap<i64, serde_json::Value> = mixed.messages.iter().map(|m| (m["id"].as_i64().unwrap(), m.clone())).collect();
    assert_eq!(by_id[&8]["result"]["content"][0]["text"], "Echo: ok");
    assert_eq!(by_id[&9]["error"]["code"], -32602);
    let quota = mixed.header("ratelimit").unwrap();
    assert!(quota.contains("r=98"), "initialize and echo were charged, the refused call was not: {quota}");

    let listed = mcp.post(json!({ "jsonrpc": "2.0", "id": 10, "method": "tools/list" })).await;
    let first = listed.first();
    let names: Vec<&str> = first["result"]["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, vec!["echo"]);
}

#[tokio::test]
async fn legacy_sse_backends_are_served_as_streamable_http() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start_sse().await;
    let stack = Stack::memory().await;
    stack.api.create("servers/legacy", json!({})).await;
    stack.api.create("servers/legacy/versions/v1", json!({ "backend_url": upstream.url, "transport": "sse" })).await;
    stack.api.create("products/gold", json!({ "state": "published" })).await;
    stack.api.create("products/gold/servers/legacy", json!({ "tools": ["echo"] })).await;
    let key = stack.subscribe("alice", "gold").await;

    let client = support::rmcp_client(&stack.mcp_url("legacy"), &key).await;
    let tools: Vec<String> = client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert_eq!(tools, vec!["echo"]);
    let echoed = client
        .call_tool(CallToolRequestParams::new("echo").with_arguments(json!({ "message": "over sse" }).as_object().unwrap().clone()))
        .await
        .unwrap();
    assert_eq!(echoed.content[0].as_text().map(|t| t.text.as_str()), Some("Echo: over sse"));
    client.cancel().await.unwrap();

    let mut raw = RawMcp::new(stack.mcp_url("legacy"), Some(&key));
    let init = raw.initialize().await;
    let session = raw.session.clone().expect("the gateway issues a session id");
    assert_eq!(init.first()["result"]["serverInfo"]["name"], "mcp-servers/everything");
    let deleted =
        raw.client.delete(stack.mcp_url("legacy")).header("x-subscription-key", &key).header("mcp-session-id", &session).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let stale = raw.call(3, "echo", json!({ "message": "gone" })).await;
    assert_eq!(stale.status, StatusCode::NOT_FOUND, "clients re-initialize on 404");

    // The live manifest comes over a bridge too (it answered 502 before).
    let manifest = stack.api.get("servers/legacy/versions/v1/tools").await;
    assert_eq!(manifest.status, StatusCode::OK, "{}", manifest.body);
    let names: Vec<&str> = manifest.body["items"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"echo") && names.contains(&"get-env"), "{names:?}");
}

/// An MCP server that answers `initialize` and `tools/call` in SSE and
/// leaves the stream open afterwards (the transport says it SHOULD close
/// it) for a minute unless the reader goes; anything else in JSON.
async fn lingering_upstream() -> String {
    use axum::response::IntoResponse;
    use futures::StreamExt;
    async fn answer(body: axum::Json<serde_json::Value>) -> axum::response::Response {
        let Some(id) = body.get("id").cloned() else { return axum::http::StatusCode::ACCEPTED.into_response() };
        let result = match body["method"].as_str() {
            Some("initialize") => {
                json!({ "protocolVersion": "2025-06-18", "capabilities": { "tools": {} }, "serverInfo": { "name": "lingering", "version": "1" } })
            }
            Some("tools/call") => json!({ "content": [{ "type": "text", "text": "answered" }], "isError": false }),
            Some("tools/list") => return axum::Json(json!({ "jsonrpc": "2.0", "id": id, "result": { "tools": [] } })).into_response(),
            _ => {
                return axum::Json(json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32601, "message": "Method not found" } })).into_response()
            }
        };
        let event = format!("data: {}\n\n", json!({ "jsonrpc": "2.0", "id": id, "result": result }));
        // `slow`: a priming event (an id, no message) at once, the answer 1.5 s later.
        let priming = (body["params"]["name"] == "slow").then(|| "id: p-1\ndata: \n\n".to_string());
        let answer_after = std::time::Duration::from_millis(if priming.is_some() { 1500 } else { 0 });
        let events = futures::stream::iter(priming.map(Ok::<_, std::convert::Infallible>))
            .chain(futures::stream::once(async move {
                tokio::time::sleep(answer_after).await;
                Ok(event)
            }))
            .chain(futures::stream::once(async {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                Ok(String::new())
            }));
        let mut response = axum::body::Body::from_stream(events).into_response();
        response.headers_mut().insert("content-type", axum::http::HeaderValue::from_static("text/event-stream"));
        response.headers_mut().insert("mcp-session-id", axum::http::HeaderValue::from_static("lingering-1"));
        response
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().route("/mcp", axum::routing::post(answer))).await });
    url
}

#[tokio::test]
async fn an_answered_sse_stream_ends_though_the_upstream_keeps_it_open() {
    let upstream = lingering_upstream().await;
    let stack = Stack::memory().await;
    stack.publish("lingering", &upstream, "gold", json!({})).await;
    let key = stack.subscribe("alice", "gold").await;
    let mut mcp = RawMcp::new(stack.mcp_url("lingering"), Some(&key));
    let within = std::time::Duration::from_secs(10);
    let init = tokio::time::timeout(within, mcp.initialize()).await.expect("initialize is answered and its stream ends");
    assert_eq!(init.first()["result"]["serverInfo"]["name"], "lingering");
    for id in 1..=3 {
        let reply = tokio::time::timeout(within, mcp.call(id, "echo", json!({ "message": "hi" }))).await.expect("the answer's stream ends");
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.messages.len(), 1, "{:?}", reply.messages);
        assert_eq!(reply.first()["id"], id);
        assert_eq!(reply.first()["result"]["content"][0]["text"], "answered");
    }
    stack.gateway.flush().await;
    let calls = stack.api.get("calls?tool=echo").await.body;
    let outcomes: Vec<&str> = calls["items"].as_array().unwrap().iter().filter_map(|c| c["status"].as_str()).collect();
    assert_eq!(outcomes, ["ok", "ok", "ok"], "{calls}");

    // The head waits for the first message only briefly (the gateway holds
    // a priming event to send it with a quick answer): a slow tool's client
    // gets the head and the priming event long before the answer.
    let started = std::time::Instant::now();
    let call = json!({ "jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": { "name": "slow", "arguments": {} } });
    let mut response = mcp
        .client
        .post(&mcp.url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .header("x-subscription-key", &key)
        .header("mcp-session-id", mcp.session.as_deref().expect("a session"))
        .json(&call)
        .send()
        .await
        .expect("the head");
    let head_after = started.elapsed();
    let first = response.chunk().await.expect("a chunk").expect("the priming event");
    assert!(head_after < std::time::Duration::from_millis(1000), "the head came after {head_after:?}");
    assert!(String::from_utf8_lossy(&first).contains("id: p-1"), "{first:?}");
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("the stream") {
        rest.extend_from_slice(&chunk);
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(1500));
    assert!(String::from_utf8_lossy(&rest).contains("\"id\":9"), "the answer follows: {}", String::from_utf8_lossy(&rest));
}
