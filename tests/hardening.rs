//! The defects a hostile probe found, each reproduced: unbounded metrics,
//! sessions taken over after a restart, batches charged but not served or
//! forwarded whole, refused notifications answered 200, errors outside the
//! API's own contract, collections without limits.

mod support;

use futures::StreamExt;
use mcpgate::gateway::GatewaySettings;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::stack::{RawMcp, Stack};
use support::upstream::Upstream;

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

async fn metrics(stack: &Stack) -> String {
    reqwest::get(format!("{}/metrics", stack.api.base)).await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn metrics_stay_bounded_when_clients_invent_tools_and_methods() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let stack = Stack::memory().await;
    stack.publish("everything", &upstream.url, "gold", json!({ "tools": ["echo", "get-*"] })).await;
    let key = stack.subscribe("alice", "gold").await;
    let mut mcp = RawMcp::new(stack.mcp_url("everything"), Some(&key));
    mcp.initialize().await;
    mcp.post(json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" })).await;
    mcp.call(2, "echo", json!({ "message": "known" })).await;
    mcp.call(3, "get-sum", json!({ "a": 1, "b": 2 })).await;
    let before = metrics(&stack).await;
    let rss_before = resident_kib();

    let attack = (0..10_000).map(|i| {
        let mcp = mcp.clone();
        async move {
            let name = format!("made-up-{i}-{}", hex::encode(rand::random::<[u8; 8]>()));
            mcp.call(10 + i, &name, json!({})).await.status
        }
    });
    let statuses: Vec<StatusCode> = futures::stream::iter(attack).buffer_unordered(64).collect().await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK), "refused tools are answered with a JSON-RPC error");
    for method in ["x".repeat(10_000), "evil\u{0}method".to_string(), "tools/call2".to_string()] {
        mcp.post(json!({ "jsonrpc": "2.0", "id": 99, "method": method })).await;
    }
    let after = metrics(&stack).await;
    assert!(after.len() < before.len() * 2 + 16 * 1024, "/metrics grew from {} to {} bytes", before.len(), after.len());
    assert!(!after.contains("made-up-"), "invented tool names never become labels");
    assert!(!after.contains('\u{0}') && !after.contains(&"x".repeat(200)));
    assert!(after.contains("gen_ai_tool_name=\"_other\""), "they count under _other");
    assert!(after.contains("gen_ai_tool_name=\"echo\"") && after.contains("gen_ai_tool_name=\"get-sum\""), "offered tools keep their names");
    assert!(after.contains("mcp_method_name=\"_other\""));
    let grown_mib = resident_kib().saturating_sub(rss_before) / 1024;
    assert!(grown_mib < 40, "RSS grew by {grown_mib} MiB under 10,000 invented tool names");
}

#[tokio::test]
async fn a_session_stays_its_owners_across_a_restart() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/sessions.db", dir.path().display());
    let (alice_key, mallory_key, session) = {
        let stack = Stack::start(&database).await;
        stack.publish("everything", &upstream.url, "gold", json!({})).await;
        stack.api.create("products/other", json!({ "state": "published" })).await;
        stack.api.create("products/other/servers/everything", json!({})).await;
        let alice = stack.subscribe("alice", "gold").await;
        let mallory = stack.subscribe("mallory", "other").await;
        let mut mcp = RawMcp::new(stack.mcp_url("everything"), Some(&alice));
        assert_eq!(mcp.initialize().await.status, StatusCode::OK);
        (alice, mallory, mcp.session.unwrap())
    };
    let restarted = Stack::start(&database).await;
    let mut intruder = RawMcp::new(restarted.mcp_url("everything"), Some(&mallory_key));
    intruder.session = Some(session.clone());
    let hijack = intruder.call(1, "echo", json!({ "message": "mine now" })).await;
    assert_eq!(hijack.status, StatusCode::NOT_FOUND, "another subscription's session is refused");
    assert_eq!(hijack.first()["error"]["data"]["reason"], "unknown_session");
    let mut owner = RawMcp::new(restarted.mcp_url("everything"), Some(&alice_key));
    owner.session = Some(session);
    let call = owner.call(2, "echo", json!({ "message": "still mine" })).await;
    assert_eq!(call.first()["result"]["content"][0]["text"], "Echo: still mine", "the owner keeps the session after the restart");
    restarted.gateway.flush().await;
    let calls = restarted.api.get("calls?tool=echo").await.body;
    assert_eq!(calls["items"].as_array().unwrap().len(), 1, "the refused call never reached the upstream");
}

fn echo_call(id: u64) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": { "name": "echo", "arguments": { "message": "batched" } } })
}

#[tokio::test]
async fn batches_are_bounded_and_charged_only_when_served() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let settings = GatewaySettings { max_batch: 100, ..GatewaySettings::default() };
    let stack = Stack::start_with("sqlite::memory:", settings).await;
    stack.publish("everything", &upstream.url, "gold", json!({})).await;
    stack.api.create("products/gold", json!({ "state": "published", "quota": { "calls": 60, "period_seconds": 86400 } })).await;
    let key = stack.subscribe("alice", "gold").await;
    let mut mcp = RawMcp::new(stack.mcp_url("everything"), Some(&key));
    assert_eq!(mcp.initialize().await.status, StatusCode::OK);

    let too_big = mcp.post(Value::Array((1..=101).map(echo_call).collect())).await;
    assert_eq!(too_big.status, StatusCode::BAD_REQUEST);
    assert_eq!(too_big.messages.len(), 101, "every request of the batch gets the error");
    assert_eq!(too_big.first()["error"]["code"], -32600);
    assert_eq!(too_big.first()["error"]["data"]["reason"], "batch_too_large");

    // Without a session the upstream refuses the whole body with 400:
    // nothing of it was served.
    let sessionless = RawMcp { session: None, ..mcp.clone() };
    let refused = sessionless.post(Value::Array((1..=50).map(echo_call).collect())).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{:?}", refused.messages);
    let mut admitted = 0;
    for id in 200..270 {
        if mcp.call(id, "echo", json!({ "message": "single" })).await.status == StatusCode::OK {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 59, "initialize and 59 calls: the refused batch was not charged");
}

#[tokio::test]
async fn notifications_the_gateway_answers_alone_get_202_and_no_body() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let stack = Stack::memory().await;
    stack.publish("everything", &upstream.url, "gold", json!({ "tools": ["echo"] })).await;
    let key = stack.subscribe("alice", "gold").await;
    let mut mcp = RawMcp::new(stack.mcp_url("everything"), Some(&key));
    mcp.initialize().await;
    let reply = mcp
        .client
        .post(stack.mcp_url("everything"))
        .header("x-subscription-key", &key)
        .header("mcp-session-id", mcp.session.clone().unwrap())
        .header("accept", "application/json, text/event-stream")
        .json(&json!({ "jsonrpc": "2.0", "method": "tools/call", "params": { "name": "get-env" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::ACCEPTED);
    assert!(reply.bytes().await.unwrap().is_empty(), "no body");
}

#[tokio::test]
async fn oversized_gateway_headers_get_a_json_rpc_431() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let stack = Stack::memory().await;
    stack.publish("everything", &upstream.url, "gold", json!({})).await;
    let key = stack.subscribe("alice", "gold").await;
    let reply = RawMcp::new(stack.mcp_url("everything"), Some(&key))
        .post_with(json!({ "jsonrpc": "2.0", "id": 7, "method": "ping" }), &[("x-padding", &"p".repeat(40 * 1024))])
        .await;
    assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(reply.first()["error"]["code"], -32600);
    assert_eq!(reply.first()["error"]["data"]["reason"], "headers_too_large");
}

#[tokio::test]
async fn the_admin_api_keeps_its_own_contract() {
    let api = support::Api::memory().await;
    let created = api.create("servers/a", json!({})).await;
    let etag = created.etag();
    api.delete("servers/a").await;
    let stale = api.send(Method::DELETE, "servers/a", None, &[("if-match", &etag)]).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "a stale If-Match fails the same for every verb");
    assert_eq!(stale.body["type"], "https://mcpgate.dev/problems/precondition-failed");

    let big = api
        .raw()
        .put(format!("{}/api/v1/servers/b", api.base))
        .bearer_auth(support::TOKEN)
        .header("content-type", "application/json")
        .body(format!("{{\"description\": \"{}\"}}", "x".repeat(3 * 1024 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(big.headers()["content-type"], "application/problem+json", "413 is a problem too");
    let problem: Value = big.json().await.unwrap();
    assert_eq!((problem["type"].as_str(), problem["status"].as_u64()), (Some("https://mcpgate.dev/problems/payload-too-large"), Some(413)));

    let wrong_method = api.raw().post(format!("{}/api/v1/servers/b", api.base)).bearer_auth(support::TOKEN).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.headers()["content-type"], "application/problem+json");
    assert!(wrong_method.headers().contains_key("allow"));

    let current = api.create("servers/c", json!({ "description": "one" })).await.etag();
    let unchanged = api.send(Method::GET, "servers/c", None, &[("if-none-match", &format!("\"other\", {current}"))]).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED, "If-None-Match lists work (RFC 9110)");
    let changed = api.send(Method::GET, "servers/c", None, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(changed.status, StatusCode::OK);
    let guarded = api.send(Method::PUT, "servers/c", Some(json!({})), &[("if-none-match", &current)]).await;
    assert_eq!(guarded.status, StatusCode::PRECONDITION_FAILED);
    let weak = api.send(Method::PUT, "servers/c", Some(json!({})), &[("if-match", &format!("W/{current}"))]).await;
    assert_eq!(weak.status, StatusCode::PRECONDITION_FAILED, "If-Match compares strongly: a weak tag never matches");
    let malformed = api.send(Method::PUT, "servers/c", Some(json!({})), &[("if-match", "not-quoted")]).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.field_errors(), vec![("If-Match".to_string(), "malformed".to_string())]);
    let patch_absent = api.send(Method::PATCH, "servers/c", Some(json!({})), &[("if-none-match", "*")]).await;
    assert_eq!(patch_absent.status, StatusCode::CONFLICT, "If-None-Match: * on an existing resource fails as for PUT");
    let patch_missing = api.send(Method::PATCH, "servers/nope", Some(json!({})), &[("if-none-match", "*")]).await;
    assert_eq!(patch_missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn collections_have_limits() {
    let api = support::Api::memory().await;
    let tags: serde_json::Map<String, Value> = (0..100_000).map(|i| (format!("t{i}"), json!("v"))).collect();
    let refused = api.put("servers/a", json!({ "tags": tags })).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.field_errors().contains(&("tags".to_string(), "too_many".to_string())), "{:?}", refused.field_errors());
    assert_eq!(api.get("servers/a").await.status, StatusCode::NOT_FOUND, "nothing stored");
    api.create("servers/b", json!({})).await;
    let headers: serde_json::Map<String, Value> = (0..40).map(|i| (format!("x-h{i}"), json!("v"))).collect();
    let version = api.put("servers/b/versions/v1", json!({ "backend_url": "http://a", "backend_headers": headers })).await;
    assert!(version.field_errors().contains(&("backend_headers".to_string(), "too_many".to_string())));
}
