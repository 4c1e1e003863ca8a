//! A minimal, fast MCP upstream for the gateway benchmark (rmcp, stateless
//! Streamable HTTP with JSON responses), so the upstream is not the
//! bottleneck. Usage: bench-upstream PORT

use rmcp::handler::server::wrapper::Parameters;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{schemars, tool, tool_router};
use std::sync::Arc;

#[derive(Clone)]
struct Echo;

#[derive(serde::Deserialize, schemars::JsonSchema, Default)]
struct EchoArgs {
    message: String,
}

#[tool_router(server_handler)]
impl Echo {
    #[tool(name = "echo", description = "Echoes the message")]
    fn echo(&self, Parameters(EchoArgs { message }): Parameters<EchoArgs>) -> String {
        format!("Echo: {message}")
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(3100);
    let config = StreamableHttpServerConfig::default().with_legacy_session_mode(false).with_json_response(true);
    let service = StreamableHttpService::new(|| Ok(Echo), Arc::new(LocalSessionManager::default()), config);
    let app = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("bench upstream on http://127.0.0.1:{port}/mcp");
    axum::serve(listener, app).await
}
