//! The PyPI `mcp` client (a second, independent MCP implementation) through
//! the gateway, as a script.

mod support;

use serde_json::json;
use support::stack::Stack;
use support::upstream::Upstream;

#[tokio::test]
async fn python_mcp_client_lists_calls_and_is_refused() {
    if !support::available(&[support::Need::Node, support::Need::Python]) {
        return;
    }
    let python = support::python();
    let upstream = Upstream::start().await;
    let stack = Stack::memory().await;
    stack.publish("everything", &upstream.url, "gold", json!({ "tools": ["echo", "get-sum"] })).await;
    let key = stack.subscribe("alice", "gold").await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/clients/mcp_client.py");
    let output = tokio::process::Command::new(&python)
        .args([script, &stack.mcp_url("everything"), &key, "echo", r#"{"message":"from python"}"#, "get-env"])
        .output()
        .await
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "client failed: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(report["tools"], json!(["echo", "get-sum"]));
    assert_eq!(report["call"], "Echo: from python");
    assert_eq!(report["refused"]["is_error"], true);
    assert!(report["refused"]["message"].as_str().unwrap().contains("Unknown tool: get-env"), "{report}");
}
