//! The provider's schema as Terraform reports it (`terraform providers
//! schema -json`), snapshotted, plus the protocol facts Terraform relies on.

mod support;

use support::terraform::Workspace;

/// The provider's schema as `terraform providers schema -json` reports it.
fn provider_schema() -> serde_json::Value {
    let workspace = Workspace::with_env(vec![]);
    workspace.write(&[("main.tf", "terraform {\n  required_providers {\n    mcp = { source = \"mcpgate/mcp\" }\n  }\n}\n")]);
    let run = workspace.terraform(&["providers", "schema", "-json"]);
    assert!(run.ok(), "terraform providers schema failed:\n{}", run.output());
    let mut schemas: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    schemas["provider_schemas"]["registry.terraform.io/mcpgate/mcp"].take()
}

#[test]
fn terraform_reports_the_provider_schema() {
    if !support::available(&[support::Need::Terraform]) {
        return;
    }
    let schema = provider_schema();
    let provider = &schema;
    let resources = provider["resource_schemas"].as_object().expect("resources");
    let mut names: Vec<&str> = resources.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        ["mcp_authorization_server", "mcp_portal_user", "mcp_product", "mcp_product_server", "mcp_server", "mcp_server_version", "mcp_subscription"]
    );
    let mut data_sources: Vec<&str> = provider["data_source_schemas"].as_object().expect("data sources").keys().map(String::as_str).collect();
    data_sources.sort();
    assert_eq!(data_sources, ["mcp_product", "mcp_server", "mcp_server_tools", "mcp_servers"]);
    let mut actions: Vec<&str> = provider["action_schemas"].as_object().expect("actions").keys().map(String::as_str).collect();
    actions.sort();
    assert_eq!(actions, ["mcp_approve_subscription", "mcp_promote_version", "mcp_rotate_subscription_key"]);
    let ephemeral = &provider["ephemeral_resource_schemas"]["mcp_subscription_key"]["block"]["attributes"];
    assert_eq!(ephemeral["value"]["sensitive"], true, "the key is sensitive as well as ephemeral");
    assert_eq!(resources["mcp_subscription"]["block"]["attributes"]["store_keys_in_state"]["optional"], true);
    let version = &resources["mcp_server_version"]["block"]["attributes"];
    assert_eq!(version["backend_headers"]["write_only"], true, "backend header values are write-only");
    assert_eq!(version["client_secret"]["write_only"], true, "the upstream client secret is write-only");
    assert_eq!(resources["mcp_portal_user"]["block"]["attributes"]["password"]["write_only"], true, "portal passwords are write-only");
    assert_eq!(provider["provider"]["block"]["attributes"]["token"]["sensitive"], true);
    let rate_limit = &resources["mcp_product"]["block"]["attributes"]["rate_limit"];
    assert_eq!(rate_limit["nested_type"]["nesting_mode"], "single", "nested attributes, not blocks");
    insta::assert_json_snapshot!("provider_schema", provider);
}

/// The registry docs are generated from the schema and the examples; this
/// test fails when they are stale (`MCPGATE_UPDATE_DOCS=1` rewrites them).
#[test]
fn registry_docs_match_the_schema() {
    if !support::available(&[support::Need::Terraform]) {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let pages = support::docs::render(&provider_schema(), root);
    assert_eq!(pages.len(), 16, "index, seven resources, four data sources, one ephemeral resource, three actions");
    let update = std::env::var("MCPGATE_UPDATE_DOCS").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for (path, content) in pages {
        let file = root.join(&path);
        if update {
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            std::fs::write(&file, &content).expect("write docs");
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(content.as_str()) {
            stale.push(path);
        }
    }
    assert!(stale.is_empty(), "stale docs (regenerate with MCPGATE_UPDATE_DOCS=1 cargo test --test provider_schema): {stale:?}");
}
