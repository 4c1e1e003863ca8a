//! A minimal, fast MCP upstream for the gateway benchmark (rmcp, stateless
//! Streamable HTTP with JSON responses), so the upstream is not the
//! bottleneck. With LIST_DELAY_MS, `tools/list` answers after that long (a
//! product endpoint's members, in the federation benchmark). With
//! `stateful`, it opens a session at initialize and wants it on every
//! request, answering in SSE, as most MCP servers do.
//! Usage: bench-upstream PORT [LIST_DELAY_MS] [stateful]

use axum::serve::ListenerExt;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolRequestParams, CallToolResponse, ListToolsResult, PaginatedRequestParams, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{schemars, tool, tool_router};
use rmcp::{ErrorData, RoleServer, ServerHandler};
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

/// `Echo`, whose `tools/list` takes `delay`.
#[derive(Clone)]
struct Slow {
    inner: Echo,
    delay: std::time::Duration,
}

impl ServerHandler for Slow {
    async fn list_tools(&self, request: Option<PaginatedRequestParams>, context: RequestContext<RoleServer>) -> Result<ListToolsResult, ErrorData> {
        tokio::time::sleep(self.delay).await;
        self.inner.list_tools(request, context).await
    }

    async fn call_tool(&self, request: CallToolRequestParams, context: RequestContext<RoleServer>) -> Result<CallToolResponse, ErrorData> {
        self.inner.call_tool(request, context).await
    }

    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(3100);
    let delay = std::time::Duration::from_millis(args.next().and_then(|d| d.parse().ok()).unwrap_or(0));
    let stateful = args.next().as_deref() == Some("stateful");
    let config = StreamableHttpServerConfig::default().with_legacy_session_mode(stateful).with_json_response(!stateful);
    // Sessions live as long as the benchmark: rmcp closes one after 300 s
    // unused, and a path's sessions can wait longer than that between its
    // saturation rounds (each round runs every path for 17 s).
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = None;
    let service = StreamableHttpService::new(move || Ok(Slow { inner: Echo, delay }), Arc::new(sessions), config);
    let app = axum::Router::new().nest_service("/mcp", service);
    // No Nagle: an SSE answer is written in pieces (a priming event, then the
    // message), and the second would wait for the client's delayed ACK.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    eprintln!("bench upstream on http://127.0.0.1:{port}/mcp");
    axum::serve(listener, app).await
}
