//! Limits kept in a real Redis (`--counters redis://…`): exact, and what a
//! product does when Redis cannot be reached (`limit_failure_mode`).

mod support;

use mcpgate::gateway::{Counters, GatewaySettings};
use reqwest::StatusCode;
use serde_json::json;
use support::stack::{RawMcp, Stack};
use support::upstream::Upstream;

fn redis_settings(url: String) -> GatewaySettings {
    GatewaySettings { counters: Counters::Redis(url), ..GatewaySettings::default() }
}

#[tokio::test]
async fn quotas_and_rate_limits_in_redis_are_exact() {
    if !support::available(&[support::Need::Node, support::Need::Redis]) {
        return;
    }
    let upstream = Upstream::start().await;
    let stack = Stack::start_with("sqlite::memory:", redis_settings(support::engines::redis_url())).await;
    stack.publish("everything", &upstream.url, "gold", json!({})).await;
    stack.api.create("products/gold", json!({ "state": "published", "quota": { "calls": 7, "period_seconds": 3600 } })).await;
    let key = stack.subscribe("alice", "gold").await;
    let mut session = RawMcp::new(stack.mcp_url("everything"), Some(&key));
    assert_eq!(session.initialize().await.status, StatusCode::OK);
    let calls = (1..40).map(|i| {
        let mcp = session.clone();
        tokio::spawn(async move { mcp.post(json!({ "jsonrpc": "2.0", "id": i, "method": "ping" })).await })
    });
    let mut statuses = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        statuses.push(call.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|r| r.status == StatusCode::OK).count(), 6, "initialize plus 6: a quota of 7");
    let throttled = statuses.iter().find(|r| r.status == StatusCode::TOO_MANY_REQUESTS).expect("throttled calls");
    assert_eq!(throttled.first()["error"]["data"]["reason"], "quota");
    assert!(throttled.header("ratelimit").unwrap().starts_with("\"quota\";r=0;"));

    stack.api.create("products/fast", json!({ "state": "published", "rate_limit": { "calls": 3, "period_seconds": 60 } })).await;
    stack.api.create("products/fast/servers/everything", json!({})).await;
    let key = stack.subscribe("bob", "fast").await;
    let mut mcp = RawMcp::new(stack.mcp_url("everything"), Some(&key));
    assert_eq!(mcp.initialize().await.status, StatusCode::OK);
    assert_eq!(mcp.post(json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" })).await.status, StatusCode::OK);
    assert_eq!(mcp.post(json!({ "jsonrpc": "2.0", "id": 2, "method": "ping" })).await.status, StatusCode::OK);
    let limited = mcp.post(json!({ "jsonrpc": "2.0", "id": 3, "method": "ping" })).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.first()["error"]["data"]["reason"], "rate_limit");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
}

#[tokio::test]
async fn unreachable_redis_fails_closed_unless_the_product_says_open() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let dead = format!("redis://127.0.0.1:{}", support::upstream::free_port());
    let stack = Stack::start_with("sqlite::memory:", redis_settings(dead)).await;
    stack.publish("everything", &upstream.url, "closed", json!({})).await;
    stack.api.create("products/closed", json!({ "state": "published", "quota": { "calls": 100, "period_seconds": 3600 } })).await;
    stack
        .api
        .create("products/open", json!({ "state": "published", "quota": { "calls": 100, "period_seconds": 3600 }, "limit_failure_mode": "open" }))
        .await;
    stack.api.create("products/open/servers/everything", json!({})).await;
    stack.api.create("products/unlimited", json!({ "state": "published" })).await;
    stack.api.create("products/unlimited/servers/everything", json!({})).await;

    let closed = stack.subscribe("alice", "closed").await;
    let started = std::time::Instant::now();
    let refused = RawMcp::new(stack.mcp_url("everything"), Some(&closed)).initialize().await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE, "fail closed by default");
    assert_eq!(refused.first()["error"]["data"]["reason"], "limits_unavailable");
    assert_eq!(refused.header("retry-after").as_deref(), Some("1"));
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "refused promptly: {:?}", started.elapsed());

    let open = stack.subscribe("bob", "open").await;
    assert_eq!(RawMcp::new(stack.mcp_url("everything"), Some(&open)).initialize().await.status, StatusCode::OK, "open admits uncounted");
    let unlimited = stack.subscribe("carol", "unlimited").await;
    assert_eq!(RawMcp::new(stack.mcp_url("everything"), Some(&unlimited)).initialize().await.status, StatusCode::OK, "no limits, no Redis");
    assert_eq!(stack.api.get("products/open").await.body["limit_failure_mode"], "open");
    let bad = stack.api.put("products/x", json!({ "limit_failure_mode": "sometimes" })).await;
    assert_eq!(bad.field_errors(), vec![("limit_failure_mode".to_string(), "malformed".to_string())]);
}
