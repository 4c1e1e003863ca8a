//! `terraform-provider-mcp`: the Terraform provider for mcpgate. Terraform
//! starts it; `--debug` runs it standalone for a debugger.

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    init_logging();
    let debug = std::env::args().skip(1).any(|a| a == "--debug" || a == "-debug");
    match mcpgate::provider::plugin::run(debug).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (stdout carries the handshake); TF_LOG_PROVIDER or
/// RUST_LOG sets the level, warnings by default.
fn init_logging() {
    let level = std::env::var("TF_LOG_PROVIDER").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "warn".into()).to_lowercase();
    let filter = tracing_subscriber::EnvFilter::try_new(&level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).try_init();
}
