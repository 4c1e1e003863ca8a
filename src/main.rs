use clap::{Parser, Subcommand};

// The gateway allocates per request (JSON values, headers); mimalloc keeps
// that off the critical path far better than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use mcpgate::serve::{self, ServeArgs};
use std::process::ExitCode;

/// API management for MCP servers.
#[derive(Debug, Parser)]
#[command(name = "mcpgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the management API and the MCP gateway.
    Serve(ServeArgs),
    /// Print calls, errors, latency and cost per tool (or version, product, subscription, client).
    Analytics(mcpgate::cli::AnalyticsArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    mcpgate::telemetry::init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).await.map_err(|e| e.to_string()),
        Command::Analytics(args) => mcpgate::cli::analytics(args).await.map(|table| print!("{table}")).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mcpgate: {err}");
            ExitCode::FAILURE
        }
    }
}
