//! What crosses the gateway's upstream leg: backend headers are added, the
//! consumer's key, cookies and the gateway's own headers never are, and a
//! call that names no tool by a string never goes upstream at all. The
//! upstream here is a recording HTTP server, since server-everything does
//! not echo requests.

mod support;

use axum::http::HeaderMap;
use mcpgate::gateway::GatewaySettings;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use support::stack::{RawMcp, Stack};

type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// An upstream that answers every request with an empty result and records
/// each message it received with its request's headers.
async fn recording_upstream() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let capture = seen.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
            let capture = capture.clone();
            async move {
                let answer = |message: &Value| json!({ "jsonrpc": "2.0", "id": message.get("id").cloned().unwrap_or(Value::Null), "result": {} });
                let reply = match &body {
                    Value::Array(messages) => Value::Array(messages.iter().map(answer).collect()),
                    message => answer(message),
                };
                let messages = match body {
                    Value::Array(messages) => messages,
                    message => vec![message],
                };
                capture.lock().unwrap().extend(messages.into_iter().map(|m| (headers.clone(), m)));
                axum::Json(reply)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

async fn stack_with(settings: GatewaySettings, url: &str, association: Value) -> (Stack, String) {
    let stack = Stack::start_with("sqlite::memory:", settings).await;
    stack.api.create("servers/svc", json!({})).await;
    stack
        .api
        .create("servers/svc/versions/v1", json!({ "backend_url": url, "backend_headers": { "Authorization": "Bearer upstream-secret" } }))
        .await;
    stack.api.create("products/gold", json!({ "state": "published", "quota": { "calls": 100, "period_seconds": 3600 } })).await;
    stack.api.create("products/gold/servers/svc", association).await;
    let key = stack.subscribe("alice", "gold").await;
    (stack, key)
}

#[tokio::test]
async fn backend_headers_are_added_and_the_client_s_credentials_cookies_and_forwarding_claims_are_not() {
    let (url, seen) = recording_upstream().await;
    let (stack, key) = stack_with(GatewaySettings::default(), &url, json!({})).await;
    let mcp = RawMcp::new(stack.mcp_url("svc"), Some(&key));
    let client_claims = [
        ("mcp-server-version", "v1"),
        ("authorization", "Bearer consumer"),
        ("cookie", "mcpgate_session=stolen"),
        ("x-forwarded-for", "10.9.9.9"),
        ("forwarded", "for=10.9.9.9"),
    ];
    let reply = mcp.post_with(json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }), &client_claims).await;
    assert_eq!(reply.status, reqwest::StatusCode::OK);

    let (headers, _) = seen.lock().unwrap().pop().expect("the upstream was called");
    assert_eq!(headers["authorization"], "Bearer upstream-secret", "backend headers win over the consumer's");
    assert!(headers.get("x-subscription-key").is_none(), "the subscription key never goes upstream");
    assert!(headers.get("mcp-server-version").is_none());
    assert!(headers.get("cookie").is_none(), "the client's cookies are not the upstream's");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1", "the connection's peer, not what the client claims");
    assert_eq!(headers["forwarded"], "for=127.0.0.1");
    assert_eq!(headers["mcp-protocol-version"], "2025-06-18", "MCP headers pass");
    assert!(!format!("{headers:?}").contains(&key));

    // Behind a trusted proxy, what it says is kept and the proxy appended.
    let trusted = GatewaySettings { trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()], ..GatewaySettings::default() };
    let (stack, key) = stack_with(trusted, &url, json!({})).await;
    let mcp = RawMcp::new(stack.mcp_url("svc"), Some(&key));
    mcp.post_with(json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }), &client_claims).await;
    let (headers, _) = seen.lock().unwrap().pop().expect("the upstream was called");
    assert_eq!(headers["x-forwarded-for"], "10.9.9.9, 127.0.0.1");
    assert_eq!(headers["forwarded"], "for=10.9.9.9, for=127.0.0.1");
}

/// A `tools/call` whose `params.name` is not a string names no tool the
/// allow-list can check: it is refused with -32602, never charged, and
/// never reaches an upstream that might coerce `["get-env"]` to `get-env`.
#[tokio::test]
async fn a_call_without_a_string_tool_name_is_refused_before_the_upstream() {
    let (url, seen) = recording_upstream().await;
    let (stack, key) = stack_with(GatewaySettings::default(), &url, json!({ "tools": ["echo"] })).await;
    let mcp = RawMcp::new(stack.mcp_url("svc"), Some(&key));
    let names = [json!(["get-env"]), json!(7), json!({ "name": "get-env" }), Value::Null];
    for (id, name) in names.iter().enumerate() {
        let reply = mcp.post(json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": { "name": name } })).await;
        let error = &reply.first()["error"];
        assert_eq!(error["code"], -32602, "{name}: {reply:?}", reply = reply.messages);
        assert_eq!(error["data"]["reason"], "invalid_tool_name");
    }
    let missing = mcp.post(json!({ "jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {} })).await;
    assert_eq!(missing.first()["error"]["code"], -32602);
    // In a batch, the others still go.
    let batch = json!([
        { "jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": { "name": ["get-env"] } },
        { "jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": { "name": "echo", "arguments": { "message": "hi" } } },
    ]);
    let reply = mcp.post(batch).await;
    assert_eq!(reply.messages.len(), 2, "{:?}", reply.messages);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "only the valid call went upstream: {:?}", seen.iter().map(|(_, b)| b).collect::<Vec<_>>());
    assert_eq!(seen[0].1["params"]["name"], "echo");
    // Charged: only the one call that was forwarded.
    let remaining = reply.header("ratelimit").expect("RateLimit header");
    assert!(remaining.contains("r=99"), "{remaining}");
}
