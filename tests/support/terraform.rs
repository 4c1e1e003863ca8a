//! Acceptance-test support in the style of terraform-plugin-testing: a real
//! `mcpgate serve --ephemeral` process, a Terraform CLI config whose
//! dev_overrides point at the freshly built provider, and Terraform runs in a
//! temporary directory. Every process it starts is stopped on drop, also
//! when a test fails.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The Terraform to drive: MCPGATE_TERRAFORM (set by scripts/test.sh), else
/// the wrapper scripts/test.sh installs under .cache/bin.
pub fn terraform_binary() -> PathBuf {
    if let Ok(path) = std::env::var("MCPGATE_TERRAFORM") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/bin/terraform")
}

/// A running `mcpgate serve --ephemeral`.
pub struct Mcpgate {
    pub admin_url: String,
    pub gateway_url: String,
    pub token: String,
    child: Child,
    http: reqwest::blocking::Client,
}

impl Mcpgate {
    pub fn start() -> Mcpgate {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcpgate"))
            .args(["serve", "--ephemeral"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("mcpgate starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("mcpgate prints its URLs");
        let info: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("mcpgate's first line is JSON ({e}): {line}"));
        let field = |name: &str| info[name].as_str().unwrap_or_default().to_string();
        Mcpgate {
            admin_url: field("admin_url"),
            gateway_url: field("gateway_url"),
            token: field("token"),
            child,
            http: {
                mcpgate::http_client::install_crypto_provider();
                reqwest::blocking::Client::new()
            },
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/{}", self.admin_url, path.trim_start_matches('/'))
    }

    /// GET a management API path: the JSON body, or `None` on 404.
    pub fn get(&self, path: &str) -> Option<Value> {
        let response = self.http.get(self.url(path)).bearer_auth(&self.token).send().expect("API answers");
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return None;
        }
        assert!(response.status().is_success(), "GET {path}: {}", response.status());
        Some(response.json().expect("JSON"))
    }

    pub fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (reqwest::StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().expect("API answers");
        let status = response.status();
        let text = response.text().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The names in a collection.
    pub fn names(&self, collection: &str) -> Vec<String> {
        let page = self.get(collection).unwrap_or(Value::Null);
        page["items"].as_array().map(|items| items.iter().filter_map(|i| i["name"].as_str().map(str::to_string)).collect()).unwrap_or_default()
    }

    /// Asserts that no server, product or subscription is left.
    pub fn assert_empty(&self) {
        for collection in ["servers", "products", "subscriptions", "authorization-servers", "portal-users"] {
            assert_eq!(self.names(collection), Vec::<String>::new(), "{collection} left behind");
        }
    }
}

impl Drop for Mcpgate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn ok(&self) -> bool {
        self.status == 0
    }

    pub fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A Terraform working directory wired to a provider build and an mcpgate.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    provider_env: Vec<(String, String)>,
}

impl Workspace {
    /// A workspace whose provider talks to `mcpgate` (through MCPGATE_ENDPOINT/TOKEN).
    pub fn new(mcpgate: &Mcpgate) -> Workspace {
        Workspace::with_env(vec![("MCPGATE_ENDPOINT".into(), mcpgate.admin_url.clone()), ("MCPGATE_TOKEN".into(), mcpgate.token.clone())])
    }

    pub fn with_env(extra: Vec<(String, String)>) -> Workspace {
        let provider_dir = Path::new(env!("CARGO_BIN_EXE_terraform-provider-mcp")).parent().expect("provider dir").to_path_buf();
        let cli_config = format!(
            "provider_installation {{\n  dev_overrides {{\n    \"registry.terraform.io/mcpgate/mcp\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
            provider_dir.display()
        );
        Workspace::with_cli_config(&cli_config, extra)
    }

    /// A workspace whose Terraform CLI configuration is `cli_config`
    /// (where providers are installed from).
    pub fn with_cli_config(cli_config_text: &str, extra: Vec<(String, String)>) -> Workspace {
        let terraform = terraform_binary();
        assert!(terraform.exists(), "{} is missing: run ./scripts/test.sh once to install the test tools", terraform.display());
        let dir = tempfile::tempdir().expect("temp dir");
        let cli_config = dir.path().join(".terraformrc");
        std::fs::write(&cli_config, cli_config_text).expect("CLI config");
        let mut env = vec![
            ("TF_CLI_CONFIG_FILE".to_string(), cli_config.display().to_string()),
            ("CHECKPOINT_DISABLE".to_string(), "1".to_string()),
            ("TF_IN_AUTOMATION".to_string(), "1".to_string()),
        ];
        env.extend(extra.iter().cloned());
        Workspace { dir, env, provider_env: extra }
    }

    /// The environment that points the provider at its mcpgate.
    pub fn provider_env(&self) -> Vec<(String, String)> {
        self.provider_env.clone()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the configuration with these files (name, content).
    pub fn write(&self, files: &[(&str, &str)]) {
        for entry in std::fs::read_dir(self.path()).expect("read dir").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tf") || name.ends_with(".tfquery.hcl") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        for (name, content) in files {
            std::fs::write(self.path().join(name), content).expect("write config");
        }
    }

    pub fn terraform_in(&self, dir: &Path, args: &[&str]) -> Run {
        let mut command = Command::new(terraform_binary());
        command.args(args).current_dir(dir).stdin(Stdio::null());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        Run::from(command.output().expect("terraform runs"))
    }

    pub fn terraform(&self, args: &[&str]) -> Run {
        self.terraform_in(self.path(), args)
    }

    /// `terraform apply`, insisting on success.
    pub fn apply(&self) -> Run {
        let run = self.terraform(&["apply", "-auto-approve", "-input=false", "-no-color"]);
        assert!(run.ok(), "terraform apply failed:\n{}", run.output());
        run
    }

    /// `terraform plan -detailed-exitcode`: 0 no changes, 2 changes, 1 error.
    pub fn plan_exit_code(&self) -> (i32, String) {
        let run = self.terraform(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
        (run.status, run.output())
    }

    pub fn assert_plan_empty(&self) {
        let (code, output) = self.plan_exit_code();
        assert_eq!(code, 0, "expected an empty plan:\n{output}");
    }

    /// `terraform show -json` of the state: resource address → attribute values.
    pub fn state(&self) -> std::collections::BTreeMap<String, Value> {
        let run = self.terraform(&["show", "-json", "-no-color"]);
        assert!(run.ok(), "terraform show failed:\n{}", run.output());
        let shown: Value = serde_json::from_str(&run.stdout).expect("show -json");
        resources_of(&shown["values"]["root_module"])
    }

    /// The planned values of `terraform plan` (as `show -json` of the plan file reports them).
    pub fn planned_values(&self) -> Value {
        let plan = self.terraform(&["plan", "-out=plan.bin", "-input=false", "-no-color"]);
        assert!(plan.ok(), "terraform plan failed:\n{}", plan.output());
        let shown = self.terraform(&["show", "-json", "plan.bin"]);
        let _ = std::fs::remove_file(self.path().join("plan.bin"));
        let parsed: Value = serde_json::from_str(&shown.stdout).expect("show -json plan");
        parsed["planned_values"].clone()
    }

    pub fn destroy(&self) {
        let run = self.terraform(&["destroy", "-auto-approve", "-input=false", "-no-color"]);
        assert!(run.ok(), "terraform destroy failed:\n{}", run.output());
    }
}

/// Resources of a module in `show -json` output, also from child modules.
pub fn resources_of(module: &Value) -> std::collections::BTreeMap<String, Value> {
    let mut found = std::collections::BTreeMap::new();
    for resource in module["resources"].as_array().into_iter().flatten() {
        if let Some(address) = resource["address"].as_str() {
            found.insert(address.to_string(), resource["values"].clone());
        }
    }
    for child in module["child_modules"].as_array().into_iter().flatten() {
        found.extend(resources_of(child));
    }
    found
}

/// Whether `actual` contains every field of `expected` (recursively; lists
/// element by element).
pub fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e.iter().all(|(k, v)| a.get(k).is_some_and(|av| contains(av, v))),
        // Lists in order, each element containing the expected one.
        (Value::Array(a), Value::Array(e)) => a.len() == e.len() && a.iter().zip(e).all(|(av, ev)| contains(av, ev)),
        _ => actual == expected,
    }
}
