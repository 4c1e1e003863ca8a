//! The `mcpgate` command line: `serve` (see `serve.rs`) and `analytics`, the
//! analytics table in the terminal, read from a running mcpgate's management
//! API.

use crate::serve::{self, ServeArgs};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;
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
    Serve(Box<ServeArgs>),
    /// Print calls, errors, latency and cost per tool (or version, product, subscription, client).
    Analytics(AnalyticsArgs),
}

/// The `mcpgate` process. The runtime is built here, not in the binary, so
/// the async code is compiled once, in this crate, rather than again in
/// each binary that awaits it.
pub fn main() -> ExitCode {
    crate::telemetry::init_logging();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => return fail(format!("cannot start the async runtime: {err}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await.map_err(|e| e.to_string()),
            Command::Analytics(args) => analytics(args).await.map(|table| print!("{table}")).map_err(|e| e.to_string()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(err),
    }
}

fn fail(message: String) -> ExitCode {
    eprintln!("mcpgate: {message}");
    ExitCode::FAILURE
}

#[derive(Debug, Clone, Args)]
struct AnalyticsArgs {
    /// The admin URL of the mcpgate to ask.
    #[arg(long, env = "MCPGATE_ENDPOINT", default_value = "http://127.0.0.1:9090")]
    pub endpoint: String,
    /// The admin token.
    #[arg(long, env = "MCPGATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Group calls by tool, version, product, subscription, client or
    /// endpoint (`/mcp/{server}`, or a product's `/products/{product}/mcp`).
    #[arg(long, default_value = "tool")]
    pub group_by: String,
    /// Only this server's calls.
    #[arg(long)]
    pub server: Option<String>,
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("cannot reach {endpoint}: {message}")]
    Unreachable { endpoint: String, message: String },
    #[error("the management API refused the request: {0}")]
    Refused(String),
}

async fn analytics(args: AnalyticsArgs) -> Result<String, CliError> {
    let mut base = format!("{}/api/v1/analytics?group_by={}&limit=1000", args.endpoint.trim_end_matches('/'), args.group_by);
    if let Some(server) = &args.server {
        base.push_str(&format!("&server={server}"));
    }
    let unreachable = |e: reqwest::Error| CliError::Unreachable { endpoint: args.endpoint.clone(), message: e.to_string() };
    let client = crate::http_client::client_builder().build().map_err(unreachable)?;
    let mut items = Vec::new();
    let mut offset = Some(0);
    while let Some(at) = offset {
        let mut request = client.get(format!("{base}&offset={at}"));
        if let Some(token) = &args.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let body: Value = response.json().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(CliError::Refused(body["detail"].as_str().unwrap_or(status.as_str()).to_string()));
        }
        items.extend(body["items"].as_array().cloned().unwrap_or_default());
        offset = body["next_offset"].as_u64();
    }
    Ok(table(&args.group_by, &items))
}

/// Renders analytics items as an aligned text table.
fn table(group_by: &str, items: &[Value]) -> String {
    let group_columns: Vec<&str> = if group_by == "version" { vec!["server", "version"] } else { vec![group_by] };
    let mut header: Vec<String> = group_columns.iter().map(|c| c.to_uppercase()).collect();
    header.extend(["CALLS", "ERRORS", "ERROR %", "P50 ms", "P95 ms", "P99 ms", "COST"].map(String::from));
    let mut rows = vec![header];
    for item in items {
        let mut row: Vec<String> = group_columns.iter().map(|c| item[*c].as_str().unwrap_or("-").to_string()).collect();
        let number = |key: &str| item[key].as_f64().unwrap_or(0.0);
        row.push(format!("{}", item["calls"].as_u64().unwrap_or(0)));
        row.push(format!("{}", item["errors"].as_u64().unwrap_or(0)));
        row.push(format!("{:.1}", number("error_rate") * 100.0));
        row.push(format!("{:.2}", number("p50_ms")));
        row.push(format!("{:.2}", number("p95_ms")));
        row.push(format!("{:.2}", number("p99_ms")));
        row.push(format!("{:.2}", number("cost")));
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let text_columns = group_columns.len();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| if i < text_columns { format!("{cell:<w$}", w = widths[i]) } else { format!("{cell:>w$}", w = widths[i]) })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if items.is_empty() {
        out.push_str("(no calls recorded yet)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_an_aligned_table() {
        let items =
            [json!({ "tool": "echo", "calls": 3, "errors": 1, "error_rate": 0.3333, "p50_ms": 1.5, "p95_ms": 2.0, "p99_ms": 2.25, "cost": 1.5 })];
        let text = table("tool", &items);
        assert_eq!(text, "TOOL  CALLS  ERRORS  ERROR %  P50 ms  P95 ms  P99 ms  COST\necho      3       1     33.3    1.50    2.00    2.25  1.50\n");
        assert!(table("version", &[]).starts_with("SERVER  VERSION  CALLS"));
    }
}
