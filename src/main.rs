use clap::{Parser, Subcommand};
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
}

#[tokio::main]
async fn main() -> ExitCode {
    mcpgate::telemetry::init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mcpgate: {err}");
            ExitCode::FAILURE
        }
    }
}
