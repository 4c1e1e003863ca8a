//! `mcpgate serve` as a process: refusing to start without a token, the
//! ephemeral mode's JSON line, health, and graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn mcpgate() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcpgate"));
    command.env_remove("MCPGATE_ADMIN_TOKEN").env_remove("MCPGATE_INSECURE_NO_AUTH").env("RUST_LOG", "warn");
    command
}

#[test]
fn refuses_to_start_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let output =
        mcpgate().args(["serve", "--admin-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0"]).current_dir(dir.path()).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--admin-token") && stderr.contains("--insecure-no-auth"), "{stderr}");
}

#[test]
fn refuses_an_unknown_database_url() {
    let output = mcpgate().args(["serve", "--insecure-no-auth", "--database", "mysql://x"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unsupported database URL"));
}

#[tokio::test]
async fn ephemeral_instance_serves_and_stops_on_sigterm() {
    let mut child = mcpgate().args(["serve", "--ephemeral"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    let admin = info["admin_url"].as_str().unwrap();
    let token = info["token"].as_str().unwrap();
    assert!(info["gateway_url"].as_str().unwrap().starts_with("http://127.0.0.1:"));

    let client = mcpgate::http_client::client_builder().build().expect("HTTP client");
    assert_eq!(client.get(format!("{admin}/healthz")).send().await.unwrap().status(), 200);
    let created = client.put(format!("{admin}/api/v1/servers/demo")).bearer_auth(token).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(created.status(), 201);

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "graceful shutdown exits 0, got {status}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn analytics_command_prints_the_table() {
    let mut child = mcpgate().args(["serve", "--ephemeral"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcpgate"))
        .args(["analytics", "--endpoint", info["admin_url"].as_str().unwrap(), "--group-by", "tool"])
        .env("MCPGATE_TOKEN", info["token"].as_str().unwrap())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("TOOL  CALLS  ERRORS"), "{stdout}");
    assert!(stdout.contains("(no calls recorded yet)"));
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcpgate"))
        .args(["analytics", "--endpoint", info["admin_url"].as_str().unwrap(), "--token", "wrong"])
        .output()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("refused"), "{}", String::from_utf8_lossy(&refused.stderr));
}
