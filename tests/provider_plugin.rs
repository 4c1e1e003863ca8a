//! The provider as a plugin process: refusing to run by hand, `--debug`
//! reattach output, and `terraform query` over its list resources.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use support::terraform::{Mcpgate, Workspace};

#[test]
fn run_by_hand_it_explains_itself() {
    let output = Command::new(env!("CARGO_BIN_EXE_terraform-provider-mcp")).env_remove("TF_PLUGIN_MAGIC_COOKIE").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "stdout carries only the handshake");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("This binary is a Terraform plugin") && stderr.contains("--debug"), "{stderr}");
}

#[test]
fn debug_mode_prints_a_reattach_value() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_terraform-provider-mcp"))
        .arg("--debug")
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let export = lines.by_ref().map_while(Result::ok).find(|l| l.contains("TF_REATTACH_PROVIDERS=")).expect("an export line");
    let _ = child.kill();
    let _ = child.wait();
    let value = export.split_once('=').unwrap().1.trim().trim_matches('\'');
    let reattach: serde_json::Value = serde_json::from_str(value).expect("JSON");
    let provider = &reattach["registry.terraform.io/mcpgate/mcp"];
    assert_eq!(provider["Protocol"], "grpc");
    assert_eq!(provider["ProtocolVersion"], 6);
    assert_eq!(provider["Addr"]["Network"], "tcp");
    assert!(provider["Addr"]["String"].as_str().unwrap().starts_with("127.0.0.1:"));
}

#[test]
fn terraform_query_lists_servers_versions_and_products() {
    if !support::available(&[support::Need::Terraform]) {
        return;
    }
    let mcpgate = Mcpgate::start();
    for (path, body) in [
        ("servers/alpha", serde_json::json!({ "tags": { "tier": "gold" } })),
        ("servers/beta", serde_json::json!({ "tags": { "tier": "silver" } })),
        ("servers/alpha/versions/v1", serde_json::json!({ "backend_url": "http://127.0.0.1:1/mcp" })),
        ("products/starter", serde_json::json!({})),
    ] {
        let (status, reply) = mcpgate.send(reqwest::Method::PUT, path, Some(&body));
        assert!(status.is_success(), "{path}: {reply}");
    }
    let workspace = Workspace::new(&mcpgate);
    let query = r#"
list "mcp_server" "gold" {
  provider = mcp
  config {
    tags = { tier = "gold" }
  }
}
list "mcp_server_version" "alpha" {
  provider = mcp
  config {
    server = "alpha"
  }
}
list "mcp_product" "all" {
  provider = mcp
}
"#;
    workspace.write(&[
        ("main.tf", "terraform {\n  required_providers {\n    mcp = { source = \"mcpgate/mcp\" }\n  }\n}\nprovider \"mcp\" {}\n"),
        ("all.tfquery.hcl", query),
    ]);
    let run = workspace.terraform(&["query", "-no-color"]);
    assert!(run.ok(), "terraform query failed:\n{}", run.output());
    let lines: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("list.")).collect();
    let has = |prefix: &str, identity: &str| lines.iter().any(|l| l.starts_with(prefix) && l.contains(identity));
    assert!(has("list.mcp_server.gold", "name=alpha"), "{lines:?}");
    assert!(!has("list.mcp_server.gold", "name=beta"), "the tag filter applies: {lines:?}");
    assert!(has("list.mcp_server_version.alpha", "name=v1,server=alpha"), "{lines:?}");
    assert!(has("list.mcp_product.all", "name=starter"), "{lines:?}");

    let generated = workspace.terraform(&["query", "-no-color", "-generate-config-out=generated.tf"]);
    assert!(generated.ok(), "{}", generated.output());
    let config = std::fs::read_to_string(workspace.path().join("generated.tf")).expect("generated config");
    assert!(config.contains("resource \"mcp_server\"") && config.contains("import {"), "{config}");
}
