//! Installing the provider as users do: `scripts/package.sh` builds the
//! release layout, real Terraform installs it from the filesystem mirror
//! (no dev_overrides) and applies the quickstart; and the errors a user
//! meets first, reported at `terraform plan` when the provider is configured.

mod support;

use std::path::Path;
use std::process::Command;
use support::terraform::{Mcpgate, Workspace};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Terraform's name for the platform these tests run on.
fn platform() -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{os}_{arch}")
}

/// The packaged artifacts of the binaries these tests were built with.
fn package(dist: &Path) {
    let binaries = Path::new(env!("CARGO_BIN_EXE_terraform-provider-mcp")).parent().expect("the binaries' directory");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/package.sh");
    let output = Command::new(script).arg("--prebuilt").arg(binaries).arg("--dist").arg(dist).output().expect("scripts/package.sh runs");
    assert!(output.status.success(), "scripts/package.sh failed:\n{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn the_packaged_provider_installs_from_a_filesystem_mirror_and_applies_the_quickstart() {
    if !support::available(&[support::Need::Terraform]) {
        return;
    }
    let artifacts = tempfile::tempdir().expect("temp dir");
    let dist = artifacts.path().join("dist");
    package(&dist);
    let platform = platform();
    for name in [
        format!("terraform-provider-mcp_{VERSION}_{platform}.zip"),
        format!("terraform-provider-mcp_{VERSION}_SHA256SUMS"),
        format!("terraform-provider-mcp_{VERSION}_manifest.json"),
        format!("mcpgate_{VERSION}_{platform}.tar.gz"),
        format!("mirror/registry.terraform.io/mcpgate/mcp/terraform-provider-mcp_{VERSION}_{platform}.zip"),
    ] {
        assert!(dist.join(&name).is_file(), "{name} is missing");
    }
    let checked =
        Command::new("sha256sum").args(["-c", &format!("terraform-provider-mcp_{VERSION}_SHA256SUMS")]).current_dir(&dist).output().unwrap();
    assert!(checked.status.success(), "sha256sum -c: {}", String::from_utf8_lossy(&checked.stdout));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dist.join(format!("terraform-provider-mcp_{VERSION}_manifest.json"))).unwrap()).unwrap();
    assert_eq!(manifest["metadata"]["protocol_versions"], serde_json::json!(["6.0"]));
    let listed = Command::new("python3")
        .args(["-c", "import sys, zipfile; print(*zipfile.ZipFile(sys.argv[1]).namelist())"])
        .arg(dist.join(format!("terraform-provider-mcp_{VERSION}_{platform}.zip")))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), format!("terraform-provider-mcp_v{VERSION}"));
    let mirror = dist.join("mirror/registry.terraform.io/mcpgate/mcp");
    let version_document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(mirror.join(format!("{VERSION}.json"))).unwrap()).unwrap();
    let h1 = version_document["archives"][&platform]["hashes"][0].as_str().expect("the archive's h1 hash").to_string();

    // A CLI configuration with only the mirror: no dev_overrides, no registry.
    let mcpgate = Mcpgate::start();
    let cli_config = format!("provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n", dist.join("mirror").display());
    let workspace = Workspace::with_cli_config(
        &cli_config,
        vec![("MCPGATE_ENDPOINT".into(), mcpgate.admin_url.clone()), ("MCPGATE_TOKEN".into(), mcpgate.token.clone())],
    );
    let quickstart = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/main.tf")).unwrap();
    workspace.write(&[("main.tf", &quickstart)]);
    let init = workspace.terraform(&["init", "-input=false", "-no-color"]);
    assert!(init.ok(), "terraform init from the mirror failed:\n{}", init.output());
    assert!(!init.output().contains("overrides"), "no development overrides are involved:\n{}", init.output());
    assert!(init.output().contains(&format!("Installed mcpgate/mcp v{VERSION}")), "{}", init.output());
    let lock = std::fs::read_to_string(workspace.path().join(".terraform.lock.hcl")).expect("terraform init writes the lock file");
    assert!(lock.contains("provider \"registry.terraform.io/mcpgate/mcp\""), "{lock}");
    assert!(
        lock.contains(&format!("version = \"{VERSION}\"")) && lock.contains(&h1),
        "the lock file pins the packaged provider's hash {h1}:\n{lock}"
    );

    let apply = workspace.apply();
    assert!(!apply.output().contains("overrides"), "{}", apply.output());
    assert!(mcpgate.get("servers/everything").is_some() && mcpgate.get("products/starter/servers/everything").is_some());
    workspace.destroy();
    mcpgate.assert_empty();
}

const ONE_SERVER: &str = r#"
terraform {
  required_providers {
    mcp = { source = "mcpgate/mcp" }
  }
}

provider "mcp" {}

resource "mcp_server" "a" {
  name = "a"
}
"#;

/// One `terraform plan` against a provider configured with `env`: its
/// output, whitespace folded (Terraform wraps long lines).
fn plan_with(env: Vec<(String, String)>) -> String {
    let workspace = Workspace::with_env(env);
    workspace.write(&[("main.tf", ONE_SERVER)]);
    let run = workspace.terraform(&["plan", "-input=false", "-no-color"]);
    assert!(!run.ok(), "the plan must fail:\n{}", run.output());
    run.output().split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn a_bad_endpoint_or_token_is_one_diagnostic_at_plan() {
    if !support::available(&[support::Need::Terraform]) {
        return;
    }
    let mcpgate = Mcpgate::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let tls_to_plain = mcpgate.admin_url.replacen("http://", "https://", 1);
    let cases = [
        (
            format!("http://{closed}"),
            mcpgate.token.clone(),
            vec!["Error: Cannot reach mcpgate", "cannot connect to", "Connection refused", "MCPGATE_ENDPOINT"],
        ),
        (tls_to_plain.clone(), mcpgate.token.clone(), vec!["Error: TLS handshake with mcpgate failed", "MCPGATE_ENDPOINT"]),
        (mcpgate.admin_url.clone(), "not-the-token".into(), vec!["Error: mcpgate refused the token", "HTTP 401", "MCPGATE_TOKEN"]),
        (
            mcpgate.gateway_url.clone(),
            mcpgate.token.clone(),
            vec!["Error: Not an mcpgate endpoint", "is not mcpgate's admin API", "HTTP 404", "MCPGATE_ENDPOINT"],
        ),
    ];
    for (endpoint, token, expected) in cases {
        let output = plan_with(vec![("MCPGATE_ENDPOINT".into(), endpoint.clone()), ("MCPGATE_TOKEN".into(), token)]);
        assert!(output.contains(&endpoint), "the diagnostic names {endpoint}: {output}");
        for text in expected {
            assert!(output.contains(text), "{endpoint}: expected {text:?} in: {output}");
        }
        assert_eq!(output.matches("Error:").count(), 1, "one diagnostic: {output}");
    }
    // The check can be skipped, for plans that need no API call.
    let workspace = Workspace::with_env(vec![
        ("MCPGATE_ENDPOINT".into(), format!("http://{closed}")),
        ("MCPGATE_TOKEN".into(), "x".into()),
        ("MCPGATE_SKIP_ENDPOINT_CHECK".into(), "true".into()),
    ]);
    workspace.write(&[("main.tf", ONE_SERVER)]);
    let offline = workspace.terraform(&["plan", "-input=false", "-no-color", "-refresh=false"]);
    assert!(offline.ok(), "an offline plan of new resources works with the check skipped:\n{}", offline.output());
}
