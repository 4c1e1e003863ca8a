//! Every registry example is applied against a real mcpgate, so none can rot:
//! `examples/resources/*/resource.tf` (then its `import.sh` command in a fresh
//! state), `examples/data-sources/*/data-source.tf`, and the provider example
//! is validated.

mod support;

use std::path::{Path, PathBuf};
use support::terraform::{Mcpgate, Workspace};

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

fn apply_example(dir: &Path, file: &str, import: bool) {
    let mcpgate = Mcpgate::start();
    let workspace = Workspace::new(&mcpgate);
    let example = std::fs::read_to_string(dir.join(file)).expect("example");
    workspace.write(&[("provider.tf", PROVIDER), ("main.tf", &example)]);
    workspace.apply();
    workspace.assert_plan_empty();
    if import {
        let fresh = Workspace::with_env(workspace.provider_env());
        fresh.write(&[("provider.tf", PROVIDER), ("main.tf", &example)]);
        let mut args = import_command(dir);
        args.insert(1, "-no-color".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = fresh.terraform(&args);
        assert!(run.ok(), "{}: import.sh's command failed:\n{}", dir.display(), run.output());
    }
    workspace.destroy();
    mcpgate.assert_empty();
}

#[test]
fn resource_and_data_source_examples_apply_and_import() {
    let mut jobs: Vec<(PathBuf, &str, bool)> = examples("resources").into_iter().map(|d| (d, "resource.tf", true)).collect();
    jobs.extend(examples("data-sources").into_iter().map(|d| (d, "data-source.tf", false)));
    assert_eq!(jobs.len(), 8, "five resources and three data sources: {jobs:?}");
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs.iter().map(|(dir, file, import)| (dir, scope.spawn(move || apply_example(dir, file, *import)))).collect();
        let failed: Vec<_> = handles.into_iter().filter_map(|(dir, h)| h.join().err().map(|_| dir.display().to_string())).collect();
        assert!(failed.is_empty(), "examples failed (see panics above): {failed:?}");
    });
}

#[test]
fn provider_example_is_valid() {
    let workspace = Workspace::with_env(vec![]);
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/provider/provider.tf")).expect("example");
    workspace.write(&[("main.tf", &example)]);
    let run = workspace.terraform(&["validate", "-no-color"]);
    assert!(run.ok(), "terraform validate failed:\n{}", run.output());
}
