//! Gateway policy against a real MCP server: access refusals, version
//! routing (canary, pinning, preview, deprecation, retirement), limits, and
//! upstream failures.

mod support;

use mcpgate::gateway::GatewaySettings;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use support::stack::{RawMcp, Stack};
use support::upstream::Upstream;

fn ping(id: u64) -> serde_json::Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": "ping" })
}

#[tokio::test]
async fn access_is_refused_with_the_right_status() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let stack = Stack::memory().await;
    stack.publish("everything", &upstream.url, "gold", json!({})).await;
    stack.api.create("servers/other", json!({})).await;
    stack.api.create("servers/other/versions/v1", json!({ "backend_url": upstream.url })).await;
    let key = stack.subscribe("alice", "gold").await;

    let anonymous = RawMcp::new(stack.mcp_url("everything"), None).post(ping(1)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.first()["id"], 1, "refusals carry the request id");
    assert_eq!(anonymous.first()["error"]["data"]["reason"], "unauthorized");

    let unknown = RawMcp::new(stack.mcp_url("everything"), Some("mcpk_not-a-key")).post(ping(2)).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);

    let outside = RawMcp::new(stack.mcp_url("other"), Some(&key)).post(ping(3)).await;
    assert_eq!(outside.status, StatusCode::FORBIDDEN);
    assert_eq!(outside.first()["error"]["data"]["reason"], "server_not_in_product");

    let nowhere = RawMcp::new(stack.mcp_url("nope"), Some(&key)).post(ping(4)).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);

    stack.api.patch("subscriptions/alice", json!({ "state": "suspended" })).await;
    let suspended = RawMcp::new(stack.mcp_url("everything"), Some(&key)).post(ping(5)).await;
    assert_eq!(suspended.status, StatusCode::FORBIDDEN);
    assert_eq!(suspended.first()["error"]["data"]["reason"], "subscription_inactive");

    stack.api.patch("subscriptions/alice", json!({ "state": "active" })).await;
    stack.api.patch("products/gold", json!({ "state": "not_published" })).await;
    let unpublished = RawMcp::new(stack.mcp_url("everything"), Some(&key)).post(ping(6)).await;
    assert_eq!(unpublished.status, StatusCode::FORBIDDEN);
    assert_eq!(unpublished.first()["error"]["data"]["reason"], "product_not_published");

    stack.api.create("products/open", json!({ "state": "published", "subscription_required": false })).await;
    stack.api.create("products/open/servers/other", json!({})).await;
    let mut open = RawMcp::new(stack.mcp_url("other"), None);
    assert_eq!(open.initialize().await.status, StatusCode::OK, "a product without subscriptions admits calls without a key");
}

#[tokio::test]
async fn versions_split_pin_preview_deprecate_and_retire() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let (one, two) = (Upstream::start().await, Upstream::start().await);
    let stack = Stack::memory().await;
    stack.publish("everything", &one.url, "gold", json!({})).await;
    stack.api.create("servers/everything/versions/v2", json!({ "backend_url": two.url, "status": "preview", "traffic_weight": 0 })).await;
    stack.api.create("products/early", json!({ "state": "published" })).await;
    stack.api.create("products/early/servers/everything", json!({ "versions": ["v2"] })).await;
    let gold_key = stack.subscribe("alice", "gold").await;
    let early_key = stack.subscribe("eve", "early").await;

    let mut gold = RawMcp::new(stack.mcp_url("everything"), Some(&gold_key));
    let gold_init = gold.initialize().await;
    assert_eq!((gold_init.status, gold_init.header("mcp-server-version").as_deref()), (StatusCode::OK, Some("v1")));
    let mut early = RawMcp::new(stack.mcp_url("everything"), Some(&early_key));
    let early_init = early.initialize().await;
    assert_eq!(
        (early_init.status, early_init.header("mcp-server-version").as_deref()),
        (StatusCode::OK, Some("v2")),
        "the early product reaches the preview"
    );
    let early_call = early.call(1, "echo", json!({ "message": "preview" })).await;
    assert_eq!(early_call.first()["result"]["content"][0]["text"], "Echo: preview", "the session lives on the v2 upstream");
    gold.session = None;
    let sneaky = gold.post_with(ping(2), &[("mcp-server-version", "v2")]).await;
    assert_eq!(sneaky.status, StatusCode::FORBIDDEN, "a preview is only for products that list it");
    let by_path = RawMcp::new(format!("{}/v2", stack.mcp_url("everything")), Some(&gold_key)).post(ping(3)).await;
    assert_eq!(by_path.status, StatusCode::FORBIDDEN);
    let explicit_v1 = RawMcp::new(format!("{}/v1", stack.mcp_url("everything")), Some(&gold_key)).initialize().await;
    assert_eq!((explicit_v1.status, explicit_v1.header("mcp-server-version").as_deref()), (StatusCode::OK, Some("v1")));

    // Canary: 50/50 among active versions, sticky per subscription.
    stack.api.patch("servers/everything/versions/v2", json!({ "status": "active", "traffic_weight": 50 })).await;
    stack.api.patch("servers/everything/versions/v1", json!({ "traffic_weight": 50 })).await;
    let mut landed = std::collections::HashMap::new();
    for i in 0..24 {
        let key = stack.subscribe(&format!("canary-{i}"), "gold").await;
        let mut mcp = RawMcp::new(stack.mcp_url("everything"), Some(&key));
        let first = mcp.initialize().await.header("mcp-server-version").unwrap();
        for _ in 0..2 {
            assert_eq!(mcp.initialize().await.header("mcp-server-version").unwrap(), first, "sticky while weights stay");
        }
        *landed.entry(first).or_insert(0) += 1;
    }
    assert!(landed.get("v1").copied().unwrap_or(0) >= 4 && landed.get("v2").copied().unwrap_or(0) >= 4, "both versions get traffic: {landed:?}");

    // A session never moves: start one on v1, then shift all weight to v2.
    stack.api.patch("servers/everything/versions/v2", json!({ "traffic_weight": 0 })).await;
    let mut pinned = RawMcp::new(stack.mcp_url("everything"), Some(&gold_key));
    assert_eq!(pinned.initialize().await.header("mcp-server-version").as_deref(), Some("v1"));
    stack.api.patch("servers/everything/versions/v2", json!({ "traffic_weight": 100 })).await;
    stack
        .api
        .patch("servers/everything/versions/v1", json!({ "traffic_weight": 0, "status": "deprecated", "sunset_at": "2027-03-01T00:00:00Z" }))
        .await;
    let in_session = pinned.call(5, "echo", json!({ "message": "still v1" })).await;
    assert_eq!(in_session.status, StatusCode::OK);
    assert_eq!(in_session.header("mcp-server-version").as_deref(), Some("v1"));
    assert_eq!(in_session.first()["result"]["content"][0]["text"], "Echo: still v1", "the v1 upstream still knows the session");
    assert!(in_session.header("deprecation").unwrap().starts_with('@'), "deprecated versions say so");
    assert_eq!(in_session.header("sunset").as_deref(), Some("Mon, 01 Mar 2027 00:00:00 GMT"));
    let mut fresh = RawMcp::new(stack.mcp_url("everything"), Some(&gold_key));
    assert_eq!(fresh.initialize().await.header("mcp-server-version").as_deref(), Some("v2"), "new sessions follow the weights");

    stack.api.patch("servers/everything/versions/v1", json!({ "status": "retired" })).await;
    let gone = pinned.call(6, "echo", json!({ "message": "too late" })).await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert_eq!(gone.first()["error"]["data"]["reason"], "version_retired");
}

#[tokio::test]
async fn rate_limit_answers_429_with_headers() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let stack = Stack::memory().await;
    stack.publish("everything", &upstream.url, "gold", json!({})).await;
    stack.api.create("products/gold", json!({ "state": "published", "rate_limit": { "calls": 3, "period_seconds": 60 } })).await;
    let key = stack.subscribe("alice", "gold").await;
    let mut mcp = RawMcp::new(stack.mcp_url("everything"), Some(&key));
    assert_eq!(mcp.initialize().await.status, StatusCode::OK);
    for i in 1..3 {
        assert_eq!(mcp.post(ping(i)).await.status, StatusCode::OK);
    }
    let notification = mcp.post(json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": { "requestId": 1 } })).await;
    assert_ne!(notification.status, StatusCode::TOO_MANY_REQUESTS, "notifications are not counted");
    let limited = mcp.post(ping(9)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(limited.header("ratelimit-policy").as_deref(), Some("\"rate_limit\";q=3;w=60"));
    assert!(limited.header("ratelimit").unwrap().starts_with("\"rate_limit\";r=0;t="));
    let error = &limited.first()["error"];
    assert_eq!(limited.first()["id"], 9);
    assert_eq!(error["data"]["reason"], "rate_limit");
    assert_eq!(error["data"]["retryAfterSeconds"], retry_after);
}

#[tokio::test]
async fn quota_is_exact_under_concurrency_and_survives_a_restart() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/quota.db", dir.path().display());
    let key = {
        let stack = Stack::start(&database).await;
        stack.publish("everything", &upstream.url, "gold", json!({})).await;
        stack.api.create("products/gold", json!({ "state": "published", "quota": { "calls": 25, "period_seconds": 86400 } })).await;
        let key = stack.subscribe("alice", "gold").await;
        let mut session = RawMcp::new(stack.mcp_url("everything"), Some(&key));
        assert_eq!(session.initialize().await.status, StatusCode::OK, "initialize is the first of the 25 calls");
        let calls = (1..60).map(|i| {
            let mcp = session.clone();
            tokio::spawn(async move { mcp.post(ping(i)).await.status })
        });
        let mut ok = 0;
        let mut throttled = 0;
        for call in calls.collect::<Vec<_>>() {
            match call.await.unwrap() {
                StatusCode::OK => ok += 1,
                StatusCode::TOO_MANY_REQUESTS => throttled += 1,
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!((ok, throttled), (24, 35), "a quota of 25 admits exactly 25");
        stack.gateway.flush().await;
        key
    };
    let restarted = Stack::start(&database).await;
    let after = RawMcp::new(restarted.mcp_url("everything"), Some(&key)).post(ping(99)).await;
    assert_eq!(after.status, StatusCode::TOO_MANY_REQUESTS, "the count survived the restart");
    assert_eq!(after.first()["error"]["data"]["reason"], "quota");
}

#[tokio::test]
async fn upstream_failures_answer_fast_with_json_rpc_errors() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let mut upstream = Upstream::start().await;
    let stack = Stack::memory().await;
    stack.publish("everything", &upstream.url, "gold", json!({})).await;
    let key = stack.subscribe("alice", "gold").await;
    let mut mcp = RawMcp::new(stack.mcp_url("everything"), Some(&key));
    assert_eq!(mcp.initialize().await.status, StatusCode::OK);

    upstream.kill();
    let started = Instant::now();
    let down = mcp.post(ping(2)).await;
    assert_eq!(down.status, StatusCode::BAD_GATEWAY);
    assert!(started.elapsed() < Duration::from_secs(2), "a dead upstream fails fast: {:?}", started.elapsed());
    assert_eq!(down.first()["id"], 2);
    assert_eq!(down.first()["error"]["data"]["reason"], "upstream_unavailable");

    // An upstream that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/mcp", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    stack.api.patch("servers/everything/versions/v1", json!({ "backend_url": silent_url, "timeout_seconds": 1 })).await;
    let started = Instant::now();
    let hung = mcp.post(ping(3)).await;
    assert_eq!(hung.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(3), "the version's timeout applies: {:?}", started.elapsed());
    assert_eq!(hung.first()["error"]["data"]["reason"], "upstream_timeout");
    hold.abort();
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let settings = GatewaySettings { max_body_bytes: 1024, ..GatewaySettings::default() };
    let stack = Stack::start_with("sqlite::memory:", settings).await;
    stack.publish("everything", &upstream.url, "gold", json!({})).await;
    let key = stack.subscribe("alice", "gold").await;
    let mcp = RawMcp::new(stack.mcp_url("everything"), Some(&key));
    let big = mcp.call(1, "echo", json!({ "message": "x".repeat(4096) })).await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(big.first()["error"]["code"], -32600);

    let garbled = mcp.client.post(stack.mcp_url("everything")).header("x-subscription-key", &key).body("{oops").send().await.unwrap();
    assert_eq!(garbled.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = garbled.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32700);
}
