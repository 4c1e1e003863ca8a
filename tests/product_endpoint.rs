//! A product as one MCP endpoint (`/products/{product}/mcp`), with two real
//! upstreams: npm server-everything and a PyPI `mcp` server
//! (`testdata/mcp/kb.py`) that also has a tool named `echo`. Driven by the
//! PyPI `mcp` client, rmcp and raw HTTP: prefixed lists with allow-lists
//! applied, calls to both members, a prompt, a resource, a tool list change
//! from a member reaching the client, limits charged once per request,
//! prefix collisions refused at write time, aliases, a member that is down,
//! and ending the session.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::kb::KbServer;
use support::stack::{RawMcp, Stack};
use support::upstream::Upstream;

/// Two servers in product `support`: everything (allow-list: echo, get-sum)
/// and kb. Returns alice's key.
async fn support_product(stack: &Stack, everything: &str, kb: &str, product: Value) -> String {
    for (server, url) in [("everything", everything), ("kb", kb)] {
        stack.api.create(&format!("servers/{server}"), json!({})).await;
        stack.api.create(&format!("servers/{server}/versions/v1"), json!({ "backend_url": url })).await;
    }
    stack.api.create("products/support", product).await;
    stack.api.create("products/support/servers/everything", json!({ "tools": ["echo", "get-sum"] })).await;
    stack.api.create("products/support/servers/kb", json!({ "list_timeout_ms": 2000 })).await;
    stack.subscribe("alice", "support").await
}

fn product_url(stack: &Stack) -> String {
    format!("{}/products/support/mcp", stack.gateway_url)
}

fn tool_names(reply: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        reply["result"]["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str().map(str::to_string)).collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_real_client_sees_one_server_with_every_members_tools() {
    if !support::available(&[support::Need::Node, support::Need::Python]) {
        return;
    }
    let (everything, kb) = (Upstream::start().await, KbServer::start().await);
    let stack = Stack::memory().await;
    let key = support_product(&stack, &everything.url, &kb.url, json!({ "state": "published", "display_name": "Support" })).await;

    let report = product_client(&stack, &key, "legacy").await;
    assert_eq!(report["server"], "support");
    assert_eq!(report["list_changed"], true, "kb's notification reached the client on its stream");
    sees_every_members_tools(&report);
    // The client's default: server/discover first, answered by the gateway
    // with 2026-07-28, then stateless requests; the members are bridged over
    // 2025-11-25 sessions the gateway holds for the subscription.
    let stateless = product_client(&stack, &key, "auto").await;
    assert_eq!(stateless["protocol"], "2026-07-28", "{stateless}");
    assert_eq!(stateless["server"], "support");
    sees_every_members_tools(&stateless);

    // The call log names the endpoint, the member and the unprefixed tool.
    stack.gateway.flush().await;
    let calls = stack.api.get("calls?server=kb&limit=10").await.body;
    let echo = calls["items"].as_array().unwrap().iter().find(|c| c["tool"] == "echo").expect("kb's echo is logged");
    assert_eq!((echo["endpoint"].as_str(), echo["version"].as_str()), (Some("/products/support/mcp"), Some("v1")));
    let by_endpoint = stack.api.get("analytics?group_by=endpoint").await.body;
    let groups = by_endpoint["items"].as_array().cloned().unwrap_or_default();
    assert!(groups.iter().any(|g| g["endpoint"] == "/products/support/mcp"), "{by_endpoint}");
}

/// What `testdata/clients/product_client.py` saw, in `mode`.
async fn product_client(stack: &Stack, key: &str, mode: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/clients/product_client.py");
    let output = tokio::process::Command::new(support::python()).args([script, &product_url(stack), key, mode]).output().await.expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client ({mode}) failed: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

fn sees_every_members_tools(report: &Value) {
    assert!(report["instructions"].as_str().is_some_and(|i| i.contains("## kb\nSearch the knowledge base")), "{report}");
    // Prefixed, the allow-list applied to everything, kb's `lookup.article` left out (clients reject the name).
    // (kb__read_faq, which kb__publish adds, is there on the second run.)
    let tools: Vec<&Value> = report["tools"].as_array().unwrap().iter().filter(|t| *t != "kb__read_faq").collect();
    assert_eq!(json!(tools), json!(["everything__echo", "everything__get-sum", "kb__echo", "kb__locate", "kb__publish", "kb__refund", "kb__search"]));
    assert_eq!(report["everything_echo"], "Echo: hi");
    assert_eq!(report["kb_echo"], "kb: hi", "the same tool name on two members reaches each");
    let prompts = report["prompts"].as_array().unwrap();
    assert!(prompts.contains(&json!("kb__summarize")) && prompts.iter().any(|p| p.as_str().unwrap().starts_with("everything__")), "{report}");
    assert!(report["prompt"].as_str().unwrap().contains("refunds"));
    assert!(report["resources"].as_array().unwrap().contains(&json!("kb://articles/welcome")));
    assert_eq!(report["resource"], "Welcome to the knowledge base.");
    assert_eq!(report["publish"], "published faq");
    assert!(report["tools_after"].as_array().unwrap().contains(&json!("kb__read_faq")), "{report}");
    assert_eq!(report["made_up"]["is_error"], true);
    assert!(report["made_up"]["message"].as_str().unwrap().contains("nobody__echo"), "{report}");
}

#[tokio::test]
async fn names_collide_at_write_time_and_aliases_rename() {
    if !support::available(&[support::Need::Node, support::Need::Python]) {
        return;
    }
    let (everything, kb) = (Upstream::start().await, KbServer::start().await);
    let stack = Stack::memory().await;
    let key = support_product(&stack, &everything.url, &kb.url, json!({ "state": "published" })).await;

    let before = stack.api.get("products/support/servers/kb").await.body;
    let clash = stack.api.put("products/support/servers/kb", json!({ "tool_prefix": "everything" })).await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.body);
    let detail = clash.body.to_string();
    assert!(detail.contains("products/support/servers/kb") && detail.contains("products/support/servers/everything"), "{detail}");
    assert_eq!(stack.api.get("products/support/servers/kb").await.body, before, "nothing stored changed");
    let bad =
        stack.api.put("products/support/servers/kb", json!({ "tool_prefix": "k__b", "tool_aliases": { "lookup.article": "lookup article" } })).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let fields: Vec<&str> = bad.body["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["tool_prefix", "tool_aliases.lookup.article"]);

    let renamed =
        stack.api.put("products/support/servers/kb", json!({ "tool_prefix": "", "tool_aliases": { "lookup.article": "lookup_article" } })).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["tool_prefix"], "");
    let mut mcp = RawMcp::new(product_url(&stack), Some(&key));
    assert_eq!(mcp.initialize().await.status, StatusCode::OK);
    let listed = mcp.post(json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" })).await.first();
    assert_eq!(tool_names(&listed), ["echo", "everything__echo", "everything__get-sum", "locate", "lookup_article", "publish", "refund", "search"]);
    let read = mcp.call(2, "lookup_article", json!({ "article_id": 7 })).await.first();
    assert_eq!(read["result"]["content"][0]["text"], "article 7", "{read}");
    let echoed = mcp.call(3, "echo", json!({ "message": "plain" })).await.first();
    assert_eq!(echoed["result"]["content"][0]["text"], "kb: plain", "the unprefixed member takes unclaimed names");
}

#[tokio::test]
async fn limits_are_charged_once_and_a_member_that_is_down_is_left_out() {
    if !support::available(&[support::Need::Node, support::Need::Python]) {
        return;
    }
    let (everything, mut kb) = (Upstream::start().await, KbServer::start().await);
    let stack = Stack::memory().await;
    let product = json!({ "state": "published", "quota": { "calls": 100, "period_seconds": 3600 } });
    let key = support_product(&stack, &everything.url, &kb.url, product).await;

    // rmcp, a second real client: initialize, list, call.
    let client = support::rmcp_client(&product_url(&stack), &key).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert_eq!(tools.len(), 7, "{tools:?}");
    let sum = client
        .call_tool(
            rmcp::model::CallToolRequestParams::new("everything__get-sum").with_arguments(json!({ "a": 2, "b": 3 }).as_object().cloned().unwrap()),
        )
        .await
        .expect("get-sum");
    assert!(format!("{:?}", sum.content).contains('5'), "{sum:?}");
    client.cancel().await.expect("rmcp closes");

    let remaining = |reply: &support::stack::RawReply| {
        let header = reply.header("ratelimit").unwrap_or_default();
        header.split(";r=").nth(1).and_then(|r| r.split(';').next()).and_then(|r| r.parse::<i64>().ok()).expect("a ratelimit header")
    };
    let mut mcp = RawMcp::new(product_url(&stack), Some(&key));
    mcp.initialize().await;
    let listed = mcp.post(json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" })).await;
    let called = mcp.call(2, "kb__search", json!({ "query": "refunds" })).await;
    assert_eq!(called.first()["result"]["content"][0]["text"], "3 articles about refunds");
    assert_eq!(remaining(&listed) - remaining(&called), 1, "a call is charged once; a list over two members was too");

    // kb goes down: the list answers with everything's tools, a call to kb names the tool.
    kb.stop();
    let listed = mcp.post(json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/list" })).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(tool_names(&listed.first()), ["everything__echo", "everything__get-sum"]);
    let failed = mcp.call(4, "kb__search", json!({ "query": "x" })).await;
    assert_eq!(failed.status, StatusCode::OK, "one tool failed, not the endpoint");
    let error = &failed.first()["error"];
    assert!(error["message"].as_str().unwrap().contains("kb__search"), "{error}");
    let metrics = reqwest::get(format!("{}/metrics", stack.api.base)).await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("mcpgate_gateway_member_failures_total") && l.contains("mcpgate_server=\"kb\"")),
        "the left-out member is counted"
    );
    kb.restart().await;

    // DELETE ends the session and its members'; the id opens nothing again.
    let ended =
        mcp.client.delete(&mcp.url).header("x-subscription-key", &key).header("mcp-session-id", mcp.session.clone().unwrap()).send().await.unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let after = mcp.call(5, "everything__echo", json!({ "message": "again" })).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
    assert_eq!(after.first()["error"]["data"]["reason"], "unknown_session");
}
