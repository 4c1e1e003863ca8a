//! The PyPI `mcp` client (a second, independent MCP implementation) through
//! the gateway, as a script.

mod support;

use serde_json::json;
use support::stack::Stack;
use support::upstream::Upstream;

fn python() -> std::path::PathBuf {
    match std::env::var("MCPGATE_PYTHON") {
        Ok(path) => path.into(),
        Err(_) => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/venv/bin/python"),
    }
}

#[tokio::test]
async fn python_mcp_client_lists_calls_and_is_refused() {
    let python = python();
    assert!(python.exists(), "{} is missing: run ./scripts/test.sh once to install the test tools", python.display());
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
