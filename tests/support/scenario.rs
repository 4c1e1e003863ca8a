//! Scenario fixtures: each folder under `testdata/scenarios` holds the
//! Terraform configuration of every step and a `scenario.json` saying what
//! each step does and what must hold after it. A new scenario is a new
//! folder.

use super::stack::RawMcp;
use super::terraform::{contains, resources_of, Mcpgate, Workspace};
use super::upstream::Upstream;
use serde::Deserialize;
use serde_json::json;
use serde_json::Value;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub description: String,
    /// How many real upstream MCP servers to start; their URLs reach
    /// Terraform as `var.upstream_url` (the first) and `var.upstream_urls`.
    #[serde(default)]
    pub upstreams: usize,
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
    /// An action to run alone after the step's apply (`terraform apply -invoke=…`).
    pub invoke: Option<String>,
    /// Warnings the plan after the step must show (each string in its output).
    #[serde(default)]
    pub expect_warning: Vec<String>,
    /// MCP exchanges through the gateway after the step, and what they must show.
    #[serde(default)]
    pub mcp: Vec<McpCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpCheck {
    /// The Terraform output holding the subscription key (a string, or a map and `key_entry`).
    pub key_output: String,
    pub key_entry: Option<String>,
    pub server: String,
    /// `/mcp/{server}/{version}` instead of `/mcp/{server}`.
    pub path_version: Option<String>,
    /// Sent as `MCP-Server-Version`.
    pub header_version: Option<String>,
    /// Use a session remembered by an earlier check instead of starting one.
    pub use_session: Option<String>,
    /// Remember this check's session under a name.
    pub remember: Option<String>,
    #[serde(default = "ok_status")]
    pub expect_status: u16,
    pub expect_version: Option<String>,
    #[serde(default)]
    pub expect_version_in: Vec<String>,
    /// The version must be the one the remembered session started on.
    pub expect_same_version_as: Option<String>,
    /// Response headers that must be present.
    #[serde(default)]
    pub expect_headers: Vec<String>,
    /// A tool that must answer `echo`-style: called with {"message": "scenario"}.
    pub call: Option<String>,
    /// A tool the product's allow-list must refuse (-32602).
    pub refused_call: Option<String>,
}

fn ok_status() -> u16 {
    200
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
            // Each step's file is the workspace's main.tf; other files keep their names.
            let base = Path::new(name).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| name.clone());
            let target = if base.starts_with("step") { "main.tf".to_string() } else { base };
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
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let upstreams: Vec<Upstream> = (0..scenario.upstreams).map(|_| runtime.block_on(Upstream::start())).collect();
    let urls: Vec<String> = upstreams.iter().map(|u| u.url.clone()).collect();
    let mut env = vec![("MCPGATE_ENDPOINT".to_string(), mcpgate.admin_url.clone()), ("MCPGATE_TOKEN".to_string(), mcpgate.token.clone())];
    if let Some(first) = urls.first() {
        env.push(("TF_VAR_upstream_url".into(), first.clone()));
        env.push(("TF_VAR_upstream_urls".into(), serde_json::to_string(&urls).expect("JSON")));
    }
    let workspace = Workspace::with_env(env);
    let mut sessions: HashMap<String, (RawMcp, String)> = HashMap::new();
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
        if let Some(action) = &step.invoke {
            let invoke = format!("-invoke={action}");
            let run = workspace.terraform(&["apply", "-auto-approve", "-input=false", "-no-color", &invoke]);
            assert!(run.ok(), "{context}: terraform apply {invoke} failed:\n{}", run.output());
            assert!(run.stdout.contains(&format!("Action complete: {action}")), "{context}: {action} did not complete:\n{}", run.output());
        }
        let expectation = step.expect_plan.as_deref().unwrap_or(if applies || step.invoke.is_some() { "empty" } else { "skip" });
        let planned = match expectation {
            "empty" | "changes" => Some(workspace.plan_exit_code()),
            "skip" if !step.expect_warning.is_empty() => Some(workspace.plan_exit_code()),
            "skip" => None,
            other => panic!("{context}: expect_plan must be empty or changes, not {other}"),
        };
        if let Some((code, output)) = &planned {
            match expectation {
                "empty" => assert_eq!(*code, 0, "{context}: expected no changes:\n{output}"),
                "changes" => assert_eq!(*code, 2, "{context}: expected changes:\n{output}"),
                _ => assert_ne!(*code, 1, "{context}: the plan failed:\n{output}"),
            }
            for warning in &step.expect_warning {
                assert!(output.contains(warning), "{context}: warning {warning:?} missing from the plan:\n{output}");
            }
        }
        if !step.state.is_empty() {
            let state = workspace.state();
            for (address, expected) in &step.state {
                let actual = state.get(address).unwrap_or_else(|| panic!("{context}: {address} is not in the state: {:?}", state.keys()));
                assert!(contains(actual, expected), "{context}: {address}\n  expected ⊇ {expected}\n  actual     {actual}");
            }
        }
        for check in &step.mcp {
            runtime.block_on(run_mcp_check(&mcpgate, &workspace, check, &mut sessions, &context));
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
    drop(upstreams);
}

fn output(workspace: &Workspace, name: &str, entry: Option<&str>, context: &str) -> String {
    let run = workspace.terraform(&["output", "-json", name]);
    assert!(run.ok(), "{context}: terraform output {name}:\n{}", run.output());
    let value: Value = serde_json::from_str(&run.stdout).expect("output JSON");
    let value = match entry {
        Some(entry) => value[entry].clone(),
        None => value,
    };
    value.as_str().unwrap_or_else(|| panic!("{context}: output {name} is not a string: {value}")).to_string()
}

async fn run_mcp_check(mcpgate: &Mcpgate, workspace: &Workspace, check: &McpCheck, sessions: &mut HashMap<String, (RawMcp, String)>, context: &str) {
    let context = format!("{context}, MCP check {check:?}");
    let key = output(workspace, &check.key_output, check.key_entry.as_deref(), &context);
    let url = match &check.path_version {
        Some(version) => format!("{}/mcp/{}/{version}", mcpgate.gateway_url, check.server),
        None => format!("{}/mcp/{}", mcpgate.gateway_url, check.server),
    };
    let extra: Vec<(&str, &str)> = check.header_version.iter().map(|v| ("mcp-server-version", v.as_str())).collect();
    let (mut mcp, reply) = match check.use_session.as_ref().and_then(|name| sessions.get(name)) {
        Some((session, _)) => {
            let mcp = session.clone();
            let reply = mcp.post_with(json!({ "jsonrpc": "2.0", "id": 90, "method": "ping" }), &extra).await;
            (mcp, reply)
        }
        None => {
            let mut mcp = RawMcp::new(url, Some(&key));
            let reply = mcp.initialize_with(&extra).await;
            (mcp, reply)
        }
    };
    assert_eq!(reply.status.as_u16(), check.expect_status, "{context}: {:?}", reply.messages);
    let version = reply.header("mcp-server-version").unwrap_or_default();
    if let Some(expected) = &check.expect_version {
        assert_eq!(&version, expected, "{context}");
    }
    if !check.expect_version_in.is_empty() {
        assert!(check.expect_version_in.contains(&version), "{context}: landed on {version:?}");
    }
    if let Some(name) = &check.expect_same_version_as {
        let (_, started_on) = sessions.get(name).unwrap_or_else(|| panic!("{context}: no session {name}"));
        assert_eq!(&version, started_on, "{context}: a session never moves between versions");
    }
    for header in &check.expect_headers {
        assert!(reply.header(header).is_some(), "{context}: header {header} missing");
    }
    if let Some(tool) = &check.call {
        let called = mcp.call(91, tool, json!({ "message": "scenario" })).await;
        assert_eq!(called.first()["result"]["content"][0]["text"], "Echo: scenario", "{context}: {:?}", called.messages);
    }
    if let Some(tool) = &check.refused_call {
        let refused = mcp.call(92, tool, json!({})).await;
        assert_eq!(refused.first()["error"]["code"], -32602, "{context}: {:?}", refused.messages);
    }
    if let Some(name) = &check.remember {
        mcp.key = Some(key);
        sessions.insert(name.clone(), (mcp, version));
    }
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
