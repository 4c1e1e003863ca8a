//! Policies through the gateway, with the real server-everything (and a
//! real rmcp server that records what reaches it): each action once, a
//! condition on an argument's value, a per-tool limit exact under
//! concurrency, refusals with stable reasons in replies, the call log and
//! metrics, and bad rules refused at write time with their position.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::stack::{RawMcp, RawReply, Stack};
use support::tool_upstream::ToolUpstream;
use support::upstream::Upstream;

fn error(reply: &RawReply) -> Value {
    reply.first()["error"].clone()
}

fn text(reply: &RawReply) -> String {
    reply.first()["result"]["content"][0]["text"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn each_action_refuses_limits_rewrites_or_records_as_it_says() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let stack = Stack::memory().await;
    stack.publish("everything", &upstream.url, "gold", json!({})).await;
    let policies = json!([
        { "name": "no-big-sums", "tools": ["get-sum"], "when": "mcp.tool.arguments.a > 100", "deny": { "message": "sums over 100 need a human" } },
        { "name": "echo-limit", "tools": ["echo"], "rate_limit": { "calls": 3, "period_seconds": 3600 } },
        { "name": "check-sums", "tools": ["get-sum"], "validate_arguments": {} },
        { "name": "hide-cards", "tools": ["echo"], "redact": { "pattern": "\\d{4}-\\d{4}", "in": "result" } },
        { "name": "hide-secrets", "tools": ["echo"], "redact": { "pattern": "hunter2", "in": "log" } },
        { "name": "log-echo", "tools": ["echo"], "log_payload": { "enabled": true } },
        { "name": "echo-price", "tools": ["echo"], "cost": { "per_call": 2.5 } },
        { "name": "short-ops", "tools": ["trigger-long-running-operation"], "timeout": { "ms": 300 } },
    ]);
    stack.api.create("products/gold", json!({ "state": "published", "policies": policies })).await;
    let key = stack.subscribe("alice", "gold").await;
    let mut mcp = RawMcp::new(stack.mcp_url("everything"), Some(&key));
    assert_eq!(mcp.initialize().await.status, StatusCode::OK);

    // deny, with a condition on an argument's value.
    let denied = mcp.call(1, "get-sum", json!({ "a": 150, "b": 1 })).await;
    assert_eq!((error(&denied)["code"].clone(), error(&denied)["message"].clone()), (json!(-32602), json!("sums over 100 need a human")));
    assert_eq!((error(&denied)["data"]["reason"].clone(), error(&denied)["data"]["rule"].clone()), (json!("policy_denied"), json!("no-big-sums")));
    assert_eq!(text(&mcp.call(2, "get-sum", json!({ "a": 99, "b": 1 })).await), "The sum of 99 and 1 is 100.");

    // validate_arguments: refused before the upstream, naming where.
    let invalid = mcp.call(3, "get-sum", json!({ "a": "two", "b": 1 })).await;
    assert_eq!(error(&invalid)["code"], -32602);
    assert_eq!((error(&invalid)["data"]["reason"].clone(), error(&invalid)["data"]["path"].clone()), (json!("invalid_arguments"), json!("/a")));
    assert!(error(&invalid)["data"]["schemaPath"].as_str().unwrap().contains("type"), "{:?}", error(&invalid));

    // redact in the result; in the log only; the payload logged although the version does not log payloads.
    let echoed = mcp.call(4, "echo", json!({ "message": "card 1234-5678, password hunter2" })).await;
    assert_eq!(text(&echoed), "Echo: card [REDACTED], password hunter2");

    // rate_limit: three echoes an hour (one spent above), then 429 with when to retry.
    for id in 5..7 {
        assert_eq!(mcp.call(id, "echo", json!({ "message": "again" })).await.status, StatusCode::OK);
    }
    let limited = mcp.call(7, "echo", json!({ "message": "one too many" })).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.header("retry-after").expect("Retry-After").parse().unwrap();
    assert_eq!((error(&limited)["data"]["reason"].clone(), error(&limited)["data"]["rule"].clone()), (json!("rate_limited"), json!("echo-limit")));
    assert_eq!(error(&limited)["data"]["retryAfterSeconds"], retry_after);
    assert_eq!(error(&limited)["code"], -32600, "a code the specification defines, not one of the reserved server-error range");
    assert_eq!(text(&mcp.call(8, "get-sum", json!({ "a": 1, "b": 1 })).await), "The sum of 1 and 1 is 2.", "other tools are not limited");

    // timeout: the operation takes 2 s; the rule allows 300 ms. The answer
    // was already streaming (progress events), so the timeout is its error.
    let started = Instant::now();
    let slow = mcp.call(9, "trigger-long-running-operation", json!({ "duration": 2, "steps": 2 })).await;
    let answer = slow.messages.iter().find(|m| m["id"] == 9).expect("an answer to the call");
    assert_eq!(answer["error"]["data"]["reason"], "upstream_timeout", "{:?}", slow.messages);
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());

    // The call log and metrics say which rule did what.
    stack.gateway.flush().await;
    let calls = stack.api.get("calls?limit=100").await.body;
    let rows = calls["items"].as_array().unwrap();
    let row = |id_tool: &str, error_type: Option<&str>| {
        rows.iter()
            .find(|r| r["tool"] == id_tool && r["error_type"].as_str() == error_type)
            .unwrap_or_else(|| panic!("no {id_tool} {error_type:?} row in {calls}"))
            .clone()
    };
    assert_eq!(row("get-sum", Some("policy_denied"))["policy_rule"], "no-big-sums");
    assert_eq!(row("get-sum", Some("invalid_arguments"))["policy_rule"], "check-sums");
    assert_eq!(row("echo", Some("rate_limited"))["policy_rule"], "echo-limit");
    let logged = rows.iter().find(|r| r["tool"] == "echo" && r["arguments"].as_str().is_some_and(|a| a.contains("card"))).expect("a logged echo");
    let (arguments, result) = (logged["arguments"].as_str().unwrap(), logged["result"].as_str().unwrap());
    assert!(arguments.contains("[REDACTED]") && !arguments.contains("hunter2") && !arguments.contains("1234-5678"), "{arguments}");
    assert!(!result.contains("hunter2") && !result.contains("1234-5678"), "the log is redacted for every pattern: {result}");
    assert_eq!(logged["cost"], 2.5);
    let metrics = reqwest::get(format!("{}/metrics", stack.api.base)).await.unwrap().text().await.unwrap();
    for (rule, reason) in [("no-big-sums", "policy_denied"), ("check-sums", "invalid_arguments"), ("echo-limit", "rate_limited")] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("mcpgate_gateway_policy_refusals_total") && l.contains(&format!("rule=\"{rule}\"")) && l.contains(reason)),
            "{rule} {reason} missing from the metrics"
        );
    }
}

#[tokio::test]
async fn set_headers_reach_the_upstream_and_invalid_arguments_never_do() {
    let upstream = ToolUpstream::start(&[("forecast", "Tomorrow's weather")]);
    let stack = Stack::memory().await;
    stack.publish("weather", &upstream.url, "gold", json!({})).await;
    let association = json!({ "policies": [
        { "name": "stamp", "set_headers": { "X-Consumer": "{subscription}", "X-Via": "mcpgate/{product}/{tool}" } },
        { "name": "check", "validate_arguments": {} },
    ] });
    stack.api.create("products/gold/servers/weather", association).await;
    let key = stack.subscribe("alice", "gold").await;
    let mut mcp = RawMcp::new(stack.mcp_url("weather"), Some(&key));
    mcp.initialize().await;
    assert_eq!(text(&mcp.call(1, "forecast", json!({ "message": "Lisbon" })).await), "forecast: Lisbon");
    let stamped = upstream.seen.lock().unwrap().iter().rev().find(|h| h.contains_key("x-consumer")).cloned().expect("a stamped request");
    assert_eq!((stamped["x-consumer"].to_str().unwrap(), stamped["x-via"].to_str().unwrap()), ("alice", "mcpgate/gold/forecast"));

    let requests_before = upstream.seen.lock().unwrap().len();
    let invalid = mcp.call(2, "forecast", json!({ "message": 42 })).await;
    assert_eq!((error(&invalid)["data"]["reason"].clone(), error(&invalid)["data"]["path"].clone()), (json!("invalid_arguments"), json!("/message")));
    let missing = mcp.call(3, "forecast", json!({})).await;
    assert_eq!(error(&missing)["data"]["reason"], "invalid_arguments");
    assert_eq!(upstream.seen.lock().unwrap().len(), requests_before, "the upstream saw neither refused call");
}

#[tokio::test]
async fn a_per_tool_rate_limit_is_exact_under_200_concurrent_calls() {
    if !support::available(&[support::Need::Node]) {
        return;
    }
    let upstream = Upstream::start().await;
    let stack = Stack::memory().await;
    stack.publish("everything", &upstream.url, "gold", json!({})).await;
    let policies = json!([{ "name": "echo-limit", "tools": ["echo"], "rate_limit": { "calls": 50, "period_seconds": 3600 } }]);
    stack.api.create("products/gold", json!({ "state": "published", "policies": policies })).await;
    let key = stack.subscribe("alice", "gold").await;
    let mut session = RawMcp::new(stack.mcp_url("everything"), Some(&key));
    session.initialize().await;
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let mcp = session.clone();
            tokio::spawn(async move { mcp.call(i, "echo", json!({ "message": "hi" })).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap());
    }
    let count = |status: StatusCode| statuses.iter().filter(|s| **s == status).count();
    assert_eq!((count(StatusCode::OK), count(StatusCode::TOO_MANY_REQUESTS)), (50, 150), "exactly the limit");
    assert_eq!(text(&session.call(999, "get-sum", json!({ "a": 1, "b": 2 })).await), "The sum of 1 and 2 is 3.", "the limit is echo's alone");
}

#[tokio::test]
async fn bad_rules_are_refused_at_write_time_naming_the_rule_and_position() {
    let stack = Stack::memory().await;
    stack.api.create("servers/s", json!({})).await;
    let bad = json!({ "state": "published", "policies": [
        { "name": "ok", "tools": ["echo"], "timeout": { "ms": 100 } },
        { "name": "bad-when", "when": "mcp.tool.arguments.amount >", "deny": { "message": "no" } },
    ] });
    let reply = stack.api.put("products/gold", bad).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(reply.body["errors"][0]["field"], "policies[1].when");
    assert!(reply.body["errors"][0]["reason"].as_str().unwrap().starts_with("does not compile at line 1, column"), "{}", reply.body);
    assert_eq!(stack.api.get("products/gold").await.status, StatusCode::NOT_FOUND, "nothing was stored");

    stack.api.create("products/gold", json!({ "state": "published" })).await;
    let two_actions = json!({ "policies": [{ "name": "x", "deny": { "message": "no" }, "timeout": { "ms": 1 } }] });
    let reply = stack.api.put("products/gold/servers/s", two_actions).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["errors"][0]["field"], "policies[0]");
    let unknown = stack.api.put("products/gold/servers/s", json!({ "policies": [{ "name": "x", "allow": {} }] })).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    assert!(unknown.body.to_string().contains("allow"), "{}", unknown.body);
    let kept = stack.api.put("products/gold", json!({ "state": "published", "policies": [{ "name": "r", "quota": { "calls": 5, "period_seconds": 60, "key": "request.headers['x'] +" } }] })).await;
    assert_eq!(kept.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(kept.body["errors"][0]["field"], "policies[0].quota.key");
    assert!(
        stack.api.get("products/gold").await.body.get("policies").is_some_and(|p| p.as_array().unwrap().is_empty()),
        "the stored product is unchanged"
    );
}
