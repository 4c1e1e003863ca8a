//! mcpgate as a cluster: one admin and three gateway processes on a real
//! PostgreSQL and Redis, in front of the real server-everything, driven by
//! MCP clients. Configuration reaches every replica, a session moves
//! between replicas, a quota is exact across replicas, and killing a
//! replica under load loses no call a client saw answered.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::cluster::Cluster;
use support::stack::RawMcp;
use support::upstream::Upstream;

/// Waits until `key` is accepted by the gateway at `url` (a write has
/// reached it): the request goes upstream (which, without a session,
/// refuses it; the gateway then charges nothing).
async fn until_served(url: &str, key: &str) -> Duration {
    let started = Instant::now();
    let probe = RawMcp::new(url.to_string(), Some(key));
    loop {
        let reply = probe.post(json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" })).await;
        if reply.status != StatusCode::UNAUTHORIZED && reply.status != StatusCode::FORBIDDEN {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{url} never served the new subscription: {}", reply.status);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn one_admin_and_three_gateways_on_postgres_and_redis() {
    if !support::available(&[support::Need::Node, support::Need::Postgres, support::Need::Redis]) {
        return;
    }
    let upstream = Upstream::start().await;
    let database = support::engines::fresh_postgres().await;
    let redis = support::engines::redis_url();
    let mut cluster = Cluster::start(&database, &redis, 3, &["--call-log-write", "before-response"]).await;

    cluster.create("servers/everything", json!({})).await;
    cluster.create("servers/everything/versions/v1", json!({ "backend_url": upstream.url, "payload_logging": true })).await;
    cluster.create("products/gold", json!({ "state": "published" })).await;
    cluster.create("products/gold/servers/everything", json!({})).await;
    cluster.create("products/metered", json!({ "state": "published", "quota": { "calls": 50, "period_seconds": 86400 } })).await;
    cluster.create("products/metered/servers/everything", json!({})).await;

    // A write through the admin reaches every replica.
    let alice = cluster.create("subscriptions/alice", json!({ "product": "gold" })).await["primary_key"].as_str().unwrap().to_string();
    for gateway in &cluster.gateways {
        let took = until_served(&gateway.mcp_url("everything"), &alice).await;
        assert!(took < Duration::from_secs(2), "propagation took {took:?}");
    }
    let (status, _) = cluster.api(Method::PATCH, "subscriptions/alice", Some(json!({ "state": "suspended" }))).await;
    assert_eq!(status, StatusCode::OK);
    for gateway in &cluster.gateways {
        let probe = RawMcp::new(gateway.mcp_url("everything"), Some(&alice));
        let started = Instant::now();
        while probe.post(json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" })).await.status != StatusCode::FORBIDDEN {
            assert!(started.elapsed() < Duration::from_secs(2), "the suspension did not reach {}", gateway.mcp_url("everything"));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    cluster.api(Method::PATCH, "subscriptions/alice", Some(json!({ "state": "active" }))).await;

    // One session, three replicas: initialize on A, call on B, delete on C.
    let [a, b, c] = [0, 1, 2].map(|i| cluster.gateways[i].mcp_url("everything"));
    until_served(&a, &alice).await;
    until_served(&b, &alice).await;
    let mut on_a = RawMcp::new(a.clone(), Some(&alice));
    assert_eq!(on_a.initialize().await.status, StatusCode::OK);
    let session = on_a.session.clone().expect("a session id");
    let mut on_b = RawMcp::new(b.clone(), Some(&alice));
    on_b.session = Some(session.clone());
    let echoed = on_b.call(2, "echo", json!({ "message": "across replicas" })).await;
    assert_eq!(echoed.first()["result"]["content"][0]["text"], "Echo: across replicas", "{:?}", echoed.messages);
    let deleted = on_b
        .client
        .delete(&c)
        .header("x-subscription-key", &alice)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "DELETE on C ends the session: {}", deleted.status());
    let after = on_a.call(3, "echo", json!({ "message": "too late" })).await;
    assert!(after.status.is_client_error(), "the upstream forgot the session: {}", after.status);

    // A product endpoint's session: initialized on A, its member session
    // opened on B (kept in the store), used on C and A, ended on C.
    let product = |i: usize| format!("{}/products/gold/mcp", cluster.gateways[i].gateway_url.as_deref().unwrap());
    let mut on_a = RawMcp::new(product(0), Some(&alice));
    assert_eq!(on_a.initialize().await.status, StatusCode::OK);
    let mut elsewhere = [RawMcp::new(product(1), Some(&alice)), RawMcp::new(product(2), Some(&alice))];
    for mcp in &mut elsewhere {
        mcp.session.clone_from(&on_a.session);
    }
    for (i, mcp) in elsewhere.iter().enumerate() {
        let echoed = mcp.call(10 + i as u64, "everything__echo", json!({ "message": "one session" })).await;
        assert_eq!(echoed.first()["result"]["content"][0]["text"], "Echo: one session", "{:?}", echoed.messages);
    }
    let listed = on_a.post(json!({ "jsonrpc": "2.0", "id": 12, "method": "tools/list" })).await.first();
    assert!(listed["result"]["tools"].as_array().is_some_and(|t| t.iter().any(|t| t["name"] == "everything__echo")), "{listed}");
    let ended = elsewhere[1]
        .client
        .delete(product(2))
        .header("x-subscription-key", &alice)
        .header("mcp-session-id", on_a.session.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let after = elsewhere[1].call(13, "everything__echo", json!({ "message": "too late" })).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND, "an ended session opens nothing again");

    // A quota of 50, 200 concurrent callers over three replicas: exactly 50.
    let carol = cluster.create("subscriptions/carol", json!({ "product": "metered" })).await["primary_key"].as_str().unwrap().to_string();
    for gateway in &cluster.gateways {
        until_served(&gateway.mcp_url("everything"), &carol).await;
    }
    let calls = (0..200).map(|i| {
        let mut mcp = RawMcp::new(cluster.gateways[i % 3].mcp_url("everything"), Some(&carol));
        tokio::spawn(async move { mcp.initialize().await.status })
    });
    let mut admitted = 0;
    for call in calls.collect::<Vec<_>>() {
        match call.await.unwrap() {
            StatusCode::OK => admitted += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(admitted, 50, "a quota of 50 admits exactly 50 across replicas (the probes' refused pings were refunded)");

    // A policy's per-tool rate limit of 30 echoes, 90 concurrent echoes over three replicas: exactly 30.
    let policies = json!([{ "name": "echo-limit", "tools": ["echo"], "rate_limit": { "calls": 30, "period_seconds": 3600 } }]);
    cluster.create("products/per-tool", json!({ "state": "published", "policies": policies })).await;
    cluster.create("products/per-tool/servers/everything", json!({})).await;
    let erin = cluster.create("subscriptions/erin", json!({ "product": "per-tool" })).await["primary_key"].as_str().unwrap().to_string();
    let mut sessions = Vec::new();
    for gateway in &cluster.gateways {
        until_served(&gateway.mcp_url("everything"), &erin).await;
        let mut mcp = RawMcp::new(gateway.mcp_url("everything"), Some(&erin));
        assert_eq!(mcp.initialize().await.status, StatusCode::OK);
        sessions.push(mcp);
    }
    let calls: Vec<_> = (0..90)
        .map(|i| {
            let mcp = sessions[i % 3].clone();
            tokio::spawn(async move { mcp.call(i as u64, "echo", json!({ "message": "limited" })).await.status })
        })
        .collect();
    let mut echoed = 0;
    for call in calls {
        match call.await.unwrap() {
            StatusCode::OK => echoed += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(echoed, 30, "a policy's rate limit of 30 admits exactly 30 across replicas");

    // Kill one replica under load: every call answered 200 is in the call log.
    let dave = cluster.create("subscriptions/dave", json!({ "product": "gold" })).await["primary_key"].as_str().unwrap().to_string();
    for gateway in &cluster.gateways {
        until_served(&gateway.mcp_url("everything"), &dave).await;
    }
    let urls: Vec<String> = cluster.gateways.iter().map(|g| g.mcp_url("everything")).collect();
    let deadline = Instant::now() + Duration::from_millis(2500);
    let workers = (0..12).map(|w| {
        let urls = urls.clone();
        let dave = dave.clone();
        tokio::spawn(async move {
            let mut answered = Vec::new();
            let mut n = 0;
            // One session per worker, used on every replica in turn.
            let session = {
                let mut mcp = RawMcp::new(urls[w % 2].clone(), Some(&dave));
                assert_eq!(mcp.initialize().await.status, StatusCode::OK);
                mcp
            };
            // At most 80 each: the call log lists up to 1000 rows per query.
            while Instant::now() < deadline && n < 80 {
                let mut mcp = session.clone();
                mcp.url = urls[(w + n) % urls.len()].clone();
                let marker = format!("w{w}-n{n}");
                let reply = mcp.try_call(1, "echo", json!({ "message": marker })).await;
                if let Some(reply) = reply {
                    if reply.status == StatusCode::OK && reply.first()["result"]["content"][0]["text"] == format!("Echo: {marker}") {
                        answered.push(marker);
                    }
                }
                n += 1;
            }
            answered
        })
    });
    let handles: Vec<_> = workers.collect();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    cluster.gateways[2].kill();
    let mut answered = BTreeSet::new();
    for handle in handles {
        answered.extend(handle.await.unwrap());
    }
    assert!(answered.len() > 50, "the load ran: {} calls answered", answered.len());
    // The survivors' background work (none is needed in before-response mode) has time to land.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut recorded = BTreeSet::new();
    let (_, calls) = cluster.api(Method::GET, "calls?subscription=dave&tool=echo&limit=1000", None).await;
    for call in calls["items"].as_array().unwrap() {
        let arguments: serde_json::Value = serde_json::from_str(call["arguments"].as_str().unwrap_or("{}")).unwrap_or_default();
        if let Some(marker) = arguments["message"].as_str() {
            recorded.insert(marker.to_string());
        }
    }
    let lost: Vec<&String> = answered.difference(&recorded).collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered calls are missing from the call log, e.g. {:?}",
        lost.len(),
        answered.len(),
        &lost[..lost.len().min(5)]
    );
    for url in &urls[..2] {
        let mut mcp = RawMcp::new(url.clone(), Some(&dave));
        assert_eq!(mcp.initialize().await.status, StatusCode::OK, "{url} keeps serving after another replica died");
        let still = mcp.call(9, "echo", json!({ "message": "still serving" })).await;
        assert_eq!(still.first()["result"]["content"][0]["text"], "Echo: still serving");
    }
}

/// PostgreSQL stops under a running admin and gateway: the management API
/// answers 503 with Retry-After (not 500) and readiness names the store,
/// the gateway keeps serving the configuration it holds; once PostgreSQL is
/// back, writes work and reach the gateway again.
#[tokio::test]
async fn a_store_outage_is_503_for_the_api_while_the_gateway_serves() {
    if !support::available(&[support::Need::Node, support::Need::Postgres, support::Need::Redis]) {
        return;
    }
    let upstream = Upstream::start().await;
    let postgres = support::engines::PrivatePostgres::start();
    let cluster = Cluster::start(&postgres.url(), &support::engines::redis_url(), 1, &[]).await;
    cluster.create("servers/everything", json!({})).await;
    cluster.create("servers/everything/versions/v1", json!({ "backend_url": upstream.url })).await;
    cluster.create("products/gold", json!({ "state": "published" })).await;
    cluster.create("products/gold/servers/everything", json!({})).await;
    let key = cluster.create("subscriptions/alice", json!({ "product": "gold" })).await["primary_key"].as_str().unwrap().to_string();
    let gateway = cluster.gateways[0].mcp_url("everything");
    until_served(&gateway, &key).await;

    postgres.stop();
    let http = mcpgate::http_client::client_builder().build().unwrap();
    for (method, body) in [(Method::GET, None), (Method::PUT, Some(json!({ "description": "during the outage" })))] {
        let reply = http
            .request(method.clone(), format!("{}/api/v1/servers/everything", cluster.admin.admin_url))
            .bearer_auth(&cluster.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE, "{method}");
        assert_eq!(reply.headers()["content-type"], "application/problem+json");
        assert!(reply.headers().contains_key("retry-after"), "{method}: Retry-After");
        let problem: serde_json::Value = reply.json().await.unwrap();
        assert_eq!(problem["type"], "https://mcpgate.dev/problems/unavailable", "{problem}");
    }
    let health = http.get(format!("{}/healthz", cluster.admin.admin_url)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.headers()["content-type"], "application/health+json");
    let health: serde_json::Value = health.json().await.unwrap();
    assert_eq!((health["status"].clone(), health["checks"]["store:connection"][0]["status"].clone()), (json!("fail"), json!("fail")), "{health}");
    let gateway_health = http.get(format!("{}/healthz", cluster.gateways[0].admin_url)).send().await.unwrap();
    assert_eq!(gateway_health.status(), StatusCode::OK, "a gateway keeps serving: it warns, it does not fail");
    assert_eq!(gateway_health.json::<serde_json::Value>().await.unwrap()["status"], "warn");
    let mut mcp = RawMcp::new(gateway.clone(), Some(&key));
    assert_eq!(mcp.initialize().await.status, StatusCode::OK);
    let echoed = mcp.call(2, "echo", json!({ "message": "while the store is down" })).await;
    assert_eq!(echoed.first()["result"]["content"][0]["text"], "Echo: while the store is down", "{:?}", echoed.messages);

    postgres.start_server();
    let started = Instant::now();
    while cluster.api(Method::GET, "servers/everything", None).await.0 != StatusCode::OK {
        assert!(started.elapsed() < Duration::from_secs(20), "the API did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bob = cluster.create("subscriptions/bob", json!({ "product": "gold" })).await["primary_key"].as_str().unwrap().to_string();
    until_served(&gateway, &bob).await;
}
