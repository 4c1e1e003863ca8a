//! examples/environments: one module, a dev and a prod root, each against its
//! own mcpgate with its own variables; promotion to prod is a variable
//! change reviewed in a plan. And the module's own `terraform test` suite,
//! against a throwaway mcpgate.

mod support;

use serde_json::json;
use std::path::{Path, PathBuf};
use support::terraform::{Mcpgate, Workspace};

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A copy of examples/environments inside the workspace, so module paths resolve.
fn environments(workspace: &Workspace) -> PathBuf {
    let target = workspace.path().join("environments");
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/environments"), &target);
    target
}

fn terraform_ok(workspace: &Workspace, dir: &Path, args: &[&str]) -> String {
    let run = workspace.terraform_in(dir, args);
    assert!(run.ok(), "terraform {args:?} in {} failed:\n{}", dir.display(), run.output());
    run.stdout
}

fn workspace_for(mcpgate: &Mcpgate) -> Workspace {
    Workspace::with_env(vec![
        ("MCPGATE_ENDPOINT".into(), mcpgate.admin_url.clone()),
        ("MCPGATE_TOKEN".into(), mcpgate.token.clone()),
        ("TF_VAR_upstream_url".into(), "http://127.0.0.1:3001/mcp".into()),
        ("TF_VAR_candidate_url".into(), "http://127.0.0.1:3002/mcp".into()),
    ])
}

#[test]
fn dev_and_prod_differ_by_variables_and_promotion_is_a_reviewed_plan() {
    if !support::available(&[support::Need::Terraform]) {
        return;
    }
    let (dev_gate, prod_gate) = (Mcpgate::start(), Mcpgate::start());
    let dev = workspace_for(&dev_gate);
    let prod = workspace_for(&prod_gate);
    let dev_root = environments(&dev).join("dev");
    let prod_root = environments(&prod).join("prod");
    for (workspace, root) in [(&dev, &dev_root), (&prod, &prod_root)] {
        terraform_ok(workspace, root, &["init", "-input=false", "-no-color"]);
        terraform_ok(workspace, root, &["apply", "-auto-approve", "-input=false", "-no-color"]);
    }

    // Dev runs the candidate and lets consumers reach it; prod runs v1 only, with tighter limits.
    assert_eq!(dev_gate.get("servers/everything/versions/v2").unwrap()["status"], "active");
    assert_eq!(dev_gate.get("servers/everything/versions/v1").unwrap()["status"], "deprecated");
    assert_eq!(dev_gate.get("products/agent-tools/servers/everything").unwrap()["versions"], json!(["v1", "v2"]));
    assert_eq!(dev_gate.get("products/agent-tools").unwrap()["quota"], json!({ "calls": 100000, "period_seconds": 86400 }));
    assert_eq!(prod_gate.get("servers/everything/versions/v1").unwrap()["status"], "active");
    assert_eq!(prod_gate.get("servers/everything/versions/v2").unwrap()["status"], "preview");
    assert_eq!(prod_gate.get("products/agent-tools/servers/everything").unwrap()["versions"], json!(null));
    assert_eq!(prod_gate.get("products/agent-tools").unwrap()["rate_limit"], json!({ "calls": 60, "period_seconds": 60 }));
    assert_eq!(prod_gate.names("subscriptions"), vec!["agent-tools-billing-bot", "agent-tools-support-bot"]);
    assert_eq!(dev_gate.names("subscriptions"), vec!["agent-tools-dev-agent"]);

    // Promotion: the prod tfvars change, the plan shows it, then it applies.
    std::fs::write(prod_root.join("terraform.tfvars"), "release = \"v2\"\n").expect("tfvars");
    let plan = prod.terraform_in(&prod_root, &["plan", "-detailed-exitcode", "-input=false", "-no-color", "-out=promote.tfplan"]);
    assert_eq!(plan.status, 2, "promotion is a reviewed change:\n{}", plan.output());
    let shown = terraform_ok(&prod, &prod_root, &["show", "-json", "promote.tfplan"]);
    let changes: serde_json::Value = serde_json::from_str(&shown).expect("plan JSON");
    let updated: Vec<(String, serde_json::Value)> = changes["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["change"]["actions"] == json!(["update"]))
        .map(|c| (c["address"].as_str().unwrap().to_string(), c["change"]["after"]["status"].clone()))
        .collect();
    assert!(updated.contains(&("module.tools.mcp_server_version.v2[\"everything\"]".to_string(), json!("active"))), "{updated:?}");
    assert!(updated.contains(&("module.tools.mcp_server_version.v1[\"everything\"]".to_string(), json!("deprecated"))), "{updated:?}");
    terraform_ok(&prod, &prod_root, &["apply", "-input=false", "-no-color", "promote.tfplan"]);
    assert_eq!(prod_gate.get("servers/everything/versions/v2").unwrap()["status"], "active");
    assert_eq!(prod_gate.get("servers/everything/versions/v2").unwrap()["traffic_weight"], 100);
    let (code, output) = (prod.terraform_in(&prod_root, &["plan", "-detailed-exitcode", "-no-color"]).status, "");
    assert_eq!(code, 0, "{output}");

    for (workspace, root, gate) in [(&dev, &dev_root, &dev_gate), (&prod, &prod_root, &prod_gate)] {
        terraform_ok(workspace, root, &["destroy", "-auto-approve", "-input=false", "-no-color"]);
        gate.assert_empty();
    }
}

#[test]
fn module_terraform_test_suite_passes_against_an_ephemeral_mcpgate() {
    if !support::available(&[support::Need::Terraform]) {
        return;
    }
    let gate = Mcpgate::start();
    let workspace = workspace_for(&gate);
    let module = environments(&workspace).join("modules/mcp-product-bundle");
    terraform_ok(&workspace, &module, &["init", "-input=false", "-no-color"]);
    let run = workspace.terraform_in(&module, &["test", "-no-color"]);
    assert!(run.ok(), "terraform test failed:\n{}", run.output());
    assert!(run.stdout.contains("4 passed, 0 failed"), "{}", run.stdout);
    gate.assert_empty();
}
