//! Every registry example is applied against a real mcpgate, so none can rot:
//! `examples/resources/*/resource.tf` (then its `import.sh` command in a fresh
//! state), `examples/data-sources/*/data-source.tf` (a real MCP server behind
//! the versions that need one), `examples/ephemeral-resources/*/ephemeral-resource.tf`,
//! `examples/actions/*/action.tf` (then the `terraform apply -invoke=…` its
//! comments show), and the provider example is validated.

mod support;

use std::path::{Path, PathBuf};
use support::terraform::{Mcpgate, Workspace};
use support::tool_upstream::ToolUpstream;

const PROVIDER: &str = "terraform {\n  required_providers {\n    mcp = { source = \"mcpgate/mcp\" }\n  }\n}\n\nprovider \"mcp\" {}\n";

fn examples(kind: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(kind);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root).expect("examples").flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

fn import_command(dir: &Path) -> Vec<String> {
    let script = std::fs::read_to_string(dir.join("import.sh")).unwrap_or_else(|_| panic!("{} has no import.sh", dir.display()));
    let line = script.lines().find(|l| l.starts_with("terraform import ")).expect("a terraform import line");
    line.split_whitespace().skip(1).map(str::to_string).collect()
}

/// What to do after applying an example.
#[derive(Clone, Copy, Debug)]
enum Then {
    Nothing,
    /// Import with the command of `import.sh` into a fresh state.
    Import,
    /// Run the `terraform apply -invoke=…` its comments show.
    Invoke,
}

/// The `-invoke=…` argument of the command an example's comment shows.
fn invoke_argument(example: &str) -> String {
    let line = example.lines().find_map(|l| l.trim_start_matches(['#', ' ']).strip_prefix("terraform apply -invoke=")).expect("an invoke comment");
    format!("-invoke={}", line.trim())
}

fn apply_example(dir: &Path, file: &str, then: Then, backend_url: &str) {
    let mcpgate = Mcpgate::start();
    let mut env = vec![("MCPGATE_ENDPOINT".to_string(), mcpgate.admin_url.clone()), ("MCPGATE_TOKEN".to_string(), mcpgate.token.clone())];
    // Examples whose data needs a live MCP server declare `weather_url`.
    env.push(("TF_VAR_weather_url".into(), backend_url.into()));
    let workspace = Workspace::with_env(env);
    let example = std::fs::read_to_string(dir.join(file)).expect("example");
    workspace.write(&[("provider.tf", PROVIDER), ("main.tf", &example)]);
    workspace.apply();
    workspace.assert_plan_empty();
    match then {
        Then::Nothing => {}
        Then::Import => {
            let fresh = Workspace::with_env(workspace.provider_env());
            fresh.write(&[("provider.tf", PROVIDER), ("main.tf", &example)]);
            let mut args = import_command(dir);
            args.insert(1, "-no-color".into());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = fresh.terraform(&args);
            assert!(run.ok(), "{}: import.sh's command failed:\n{}", dir.display(), run.output());
        }
        Then::Invoke => {
            let invoke = invoke_argument(&example);
            let run = workspace.terraform(&["apply", "-auto-approve", "-input=false", "-no-color", &invoke]);
            assert!(run.ok() && run.stdout.contains("Action complete"), "{}: {invoke} failed:\n{}", dir.display(), run.output());
            workspace.assert_plan_empty();
        }
    }
    workspace.destroy();
    mcpgate.assert_empty();
}

#[test]
fn every_registry_example_applies() {
    if !support::available(&[support::Need::Terraform]) {
        return;
    }
    let upstream = ToolUpstream::start(&[("forecast", "Tomorrow's weather for a city")]);
    let mut jobs: Vec<(PathBuf, &str, Then)> = examples("resources").into_iter().map(|d| (d, "resource.tf", Then::Import)).collect();
    jobs.extend(examples("data-sources").into_iter().map(|d| (d, "data-source.tf", Then::Nothing)));
    jobs.extend(examples("ephemeral-resources").into_iter().map(|d| (d, "ephemeral-resource.tf", Then::Nothing)));
    jobs.extend(examples("actions").into_iter().map(|d| (d, "action.tf", Then::Invoke)));
    assert_eq!(jobs.len(), 15, "seven resources, four data sources, one ephemeral resource, three actions: {jobs:?}");
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs.iter().map(|(dir, file, then)| (dir, scope.spawn(|| apply_example(dir, file, *then, &upstream.url)))).collect();
        let failed: Vec<_> = handles.into_iter().filter_map(|(dir, h)| h.join().err().map(|_| dir.display().to_string())).collect();
        assert!(failed.is_empty(), "examples failed (see panics above): {failed:?}");
    });
}

#[test]
fn provider_example_is_valid() {
    if !support::available(&[support::Need::Terraform]) {
        return;
    }
    let workspace = Workspace::with_env(vec![]);
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/provider/provider.tf")).expect("example");
    workspace.write(&[("main.tf", &example)]);
    let run = workspace.terraform(&["validate", "-no-color"]);
    assert!(run.ok(), "terraform validate failed:\n{}", run.output());
}
