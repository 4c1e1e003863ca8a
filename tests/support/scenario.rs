//! Scenario fixtures: each folder under `testdata/scenarios` holds the
//! Terraform configuration of every step and a `scenario.json` saying what
//! each step does and what must hold after it. A new scenario is a new
//! folder.

use super::terraform::{contains, resources_of, Mcpgate, Workspace};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub description: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    /// Files of the scenario folder that make up the configuration for this
    /// step (copied as they are); empty keeps the previous configuration.
    #[serde(default)]
    pub config: Vec<String>,
    /// Management API calls made before the step, as if by someone else.
    #[serde(default)]
    pub out_of_band: Vec<ApiCall>,
    /// The plan must fail, with every one of these strings in its output.
    #[serde(default)]
    pub expect_error: Vec<String>,
    /// Import this address by this ID into a fresh state and compare it with
    /// the current one.
    pub import: Option<ImportCheck>,
    /// Snapshot the planned values (insta) instead of applying.
    #[serde(default)]
    pub snapshot_plan: bool,
    /// `empty` (the default after an apply) or `changes`.
    pub expect_plan: Option<String>,
    /// Attribute values the state must contain, by resource address.
    #[serde(default)]
    pub state: BTreeMap<String, Value>,
    /// Fields the management API must return, by path; null: must not exist.
    #[serde(default)]
    pub api: BTreeMap<String, Value>,
    /// Whether to apply the configuration (default: when it changed and no error is expected).
    pub apply: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiCall {
    pub method: String,
    pub path: String,
    pub body: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportCheck {
    pub address: String,
    pub id: String,
    /// Attributes the import cannot recover (write-only or create-only ones).
    #[serde(default)]
    pub ignore: Vec<String>,
}

pub fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/scenarios")
}

/// Every scenario folder, by name.
pub fn all() -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(scenarios_dir())
        .expect("testdata/scenarios")
        .flatten()
        .filter(|e| e.path().join("scenario.json").exists())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    found.sort();
    found
}

fn read_files(dir: &Path, names: &[String]) -> Vec<(String, String)> {
    names
        .iter()
        .map(|name| {
            let content = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()));
            // Each step's file is the workspace's main.tf unless it is a .tf file of its own.
            let target = if name.starts_with("step") { "main.tf".to_string() } else { name.clone() };
            (target, content)
        })
        .collect()
}

/// Timestamps differ run to run; snapshots show where they are, not what they are.
fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key.ends_with("_at") && v.is_string() {
                    *v = Value::String("[timestamp]".into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Runs one scenario against a fresh mcpgate, then destroys and checks that
/// the API is empty.
pub fn run(name: &str, dir: &Path) {
    let scenario: Scenario = serde_json::from_str(&std::fs::read_to_string(dir.join("scenario.json")).expect("scenario.json"))
        .unwrap_or_else(|e| panic!("{name}/scenario.json: {e}"));
    let mcpgate = Mcpgate::start();
    let workspace = Workspace::new(&mcpgate);
    let mut configured: Vec<(String, String)> = Vec::new();
    for step in &scenario.steps {
        let context = format!("scenario {name} ({}), step {:?}", scenario.description, step.name);
        let config_changed = !step.config.is_empty();
        if config_changed {
            configured = read_files(dir, &step.config);
            let files: Vec<(&str, &str)> = configured.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
            workspace.write(&files);
        }
        for call in &step.out_of_band {
            let method = reqwest::Method::from_bytes(call.method.as_bytes()).expect("HTTP method");
            let (status, body) = mcpgate.send(method, &call.path, call.body.as_ref());
            assert!(status.is_success(), "{context}: out-of-band {} {}: {status} {body}", call.method, call.path);
        }
        let applies = step.apply.unwrap_or(config_changed && !step.snapshot_plan && step.import.is_none() && step.expect_error.is_empty());
        if !step.expect_error.is_empty() {
            let (code, output) = workspace.plan_exit_code();
            assert_eq!(code, 1, "{context}: the plan should fail:\n{output}");
            for needle in &step.expect_error {
                assert!(output.contains(needle), "{context}: {needle:?} missing from:\n{output}");
            }
        } else if let Some(import) = &step.import {
            check_import(&workspace, &configured, import, &context);
        } else if step.snapshot_plan {
            let mut planned = workspace.planned_values();
            redact(&mut planned);
            insta::assert_json_snapshot!(format!("plan-{name}-{}", step.name), planned);
        } else if applies {
            workspace.apply();
        }
        let expectation = step.expect_plan.as_deref().unwrap_or(if applies { "empty" } else { "skip" });
        match expectation {
            "empty" => {
                let (code, output) = workspace.plan_exit_code();
                assert_eq!(code, 0, "{context}: expected no changes:\n{output}");
            }
            "changes" => {
                let (code, output) = workspace.plan_exit_code();
                assert_eq!(code, 2, "{context}: expected changes:\n{output}");
            }
            "skip" => {}
            other => panic!("{context}: expect_plan must be empty or changes, not {other}"),
        }
        if !step.state.is_empty() {
            let state = workspace.state();
            for (address, expected) in &step.state {
                let actual = state.get(address).unwrap_or_else(|| panic!("{context}: {address} is not in the state: {:?}", state.keys()));
                assert!(contains(actual, expected), "{context}: {address}\n  expected ⊇ {expected}\n  actual     {actual}");
            }
        }
        for (path, expected) in &step.api {
            let actual = mcpgate.get(path);
            match (actual, expected) {
                (None, Value::Null) => {}
                (Some(actual), Value::Null) => panic!("{context}: {path} should not exist, got {actual}"),
                (None, _) => panic!("{context}: {path} does not exist"),
                (Some(actual), expected) => assert!(contains(&actual, expected), "{context}: {path}\n  expected ⊇ {expected}\n  actual     {actual}"),
            }
        }
    }
    // Destroy from the configuration without the steps' resources, so a
    // scenario may end on an invalid step.
    let base: Vec<(&str, &str)> = configured.iter().filter(|(n, _)| n != "main.tf").map(|(n, c)| (n.as_str(), c.as_str())).collect();
    workspace.write(&base);
    workspace.destroy();
    mcpgate.assert_empty();
}

/// terraform-plugin-testing's ImportStateVerify: the same configuration,
/// a fresh state, `terraform import`, and the imported attributes equal.
fn check_import(workspace: &Workspace, configured: &[(String, String)], import: &ImportCheck, context: &str) {
    let current = workspace.state();
    let expected = current.get(&import.address).unwrap_or_else(|| panic!("{context}: {} is not in the state", import.address)).clone();
    let fresh = Workspace::with_env(workspace.provider_env());
    let files: Vec<(&str, &str)> = configured.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
    fresh.write(&files);
    let run = fresh.terraform(&["import", "-input=false", "-no-color", &import.address, &import.id]);
    assert!(run.ok(), "{context}: terraform import failed:\n{}", run.output());
    let shown = fresh.terraform(&["show", "-json", "-no-color"]);
    let parsed: Value = serde_json::from_str(&shown.stdout).expect("show -json");
    let imported = resources_of(&parsed["values"]["root_module"]).remove(&import.address).unwrap_or_else(|| panic!("{context}: nothing imported"));
    let mut want = expected;
    let mut got = imported;
    for ignored in &import.ignore {
        want.as_object_mut().map(|o| o.remove(ignored));
        got.as_object_mut().map(|o| o.remove(ignored));
    }
    assert_eq!(got, want, "{context}: the imported state differs");
}
