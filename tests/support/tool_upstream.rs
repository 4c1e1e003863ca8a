//! A real MCP server (rmcp, Streamable HTTP) whose tool definitions a test
//! changes while it runs: what an upstream does when a deploy rewrites a
//! tool (the "rug pull" approved manifests catch). Each tool echoes its
//! `message` argument. It runs on its own thread and runtime, so both
//! async tests and the synchronous Terraform tests can use it. Started
//! `stateless_only`, it speaks MCP 2026-07-28 alone (no `initialize`, and
//! every request must carry the per-request envelope).

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// Tool name → description; the input schema is the same for every tool.
type Tools = Arc<RwLock<BTreeMap<String, String>>>;

#[derive(Clone)]
struct Handler {
    tools: Tools,
    stateless_only: bool,
    lists: Lists,
}

/// How many `tools/list` requests were answered, and how long each takes.
#[derive(Clone, Default)]
struct Lists {
    answered: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicU64>,
}

fn input_schema() -> Arc<serde_json::Map<String, serde_json::Value>> {
    let schema = serde_json::json!({ "type": "object", "properties": { "message": { "type": "string" } }, "required": ["message"] });
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

impl ServerHandler for Handler {
    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [rmcp::model::ProtocolVersion]> {
        const STATELESS_ONLY: &[rmcp::model::ProtocolVersion] = &[rmcp::model::ProtocolVersion::V_2026_07_28];
        if self.stateless_only {
            std::borrow::Cow::Borrowed(STATELESS_ONLY)
        } else {
            std::borrow::Cow::Borrowed(rmcp::model::ProtocolVersion::KNOWN_VERSIONS)
        }
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(&self, _: Option<PaginatedRequestParams>, _: RequestContext<RoleServer>) -> Result<ListToolsResult, ErrorData> {
        self.lists.answered.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(self.lists.delay_ms.load(Ordering::SeqCst))).await;
        let tools = self
            .tools
            .read()
            .expect("tools")
            .iter()
            .map(|(name, description)| Tool::new(name.clone(), description.clone(), input_schema()))
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(&self, request: CallToolRequestParams, _: RequestContext<RoleServer>) -> Result<CallToolResponse, ErrorData> {
        if !self.tools.read().expect("tools").contains_key(request.name.as_ref()) {
            return Err(ErrorData::invalid_params(format!("no tool {}", request.name), None));
        }
        let message = request.arguments.as_ref().and_then(|a| a.get("message")).and_then(|m| m.as_str()).unwrap_or_default().to_string();
        Ok(CallToolResult::success(vec![ContentBlock::text(format!("{}: {message}", request.name))]).into())
    }
}

pub struct ToolUpstream {
    pub url: String,
    tools: Tools,
    /// The headers of every request the server received, in order.
    pub seen: Arc<std::sync::Mutex<Vec<axum::http::HeaderMap>>>,
    lists: Lists,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ToolUpstream {
    /// Starts the server offering `tools` (name, description) and waits until it listens.
    pub fn start(tools: &[(&str, &str)]) -> ToolUpstream {
        ToolUpstream::start_speaking(tools, false)
    }

    /// Starts the server speaking MCP 2026-07-28 alone.
    pub fn start_stateless_only(tools: &[(&str, &str)]) -> ToolUpstream {
        ToolUpstream::start_speaking(tools, true)
    }

    fn start_speaking(tools: &[(&str, &str)], stateless_only: bool) -> ToolUpstream {
        let tools: Tools = Arc::new(RwLock::new(tools.iter().map(|(n, d)| (n.to_string(), d.to_string())).collect()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let lists = Lists::default();
        let handler = Handler { tools: tools.clone(), stateless_only, lists: lists.clone() };
        let seen: Arc<std::sync::Mutex<Vec<axum::http::HeaderMap>>> = Arc::default();
        let recorder = seen.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let config = StreamableHttpServerConfig::default()
                    .with_legacy_session_mode(false)
                    .with_json_response(true)
                    .with_stateless_protocol_metadata_required(stateless_only);
                let service = StreamableHttpService::new(move || Ok(handler.clone()), Arc::new(LocalSessionManager::default()), config);
                let record = move |request: axum::extract::Request, next: axum::middleware::Next| {
                    recorder.lock().expect("seen").push(request.headers().clone());
                    next.run(request)
                };
                let app = axum::Router::new().nest_service("/mcp", service).layer(axum::middleware::from_fn(record));
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let _ = axum::serve(listener, app).with_graceful_shutdown(async move { _ = stopped.await }).await;
            });
        });
        ToolUpstream { url, tools, seen, lists, stop: Some(stop) }
    }

    /// How many `tools/list` requests it has answered.
    pub fn lists_answered(&self) -> usize {
        self.lists.answered.load(Ordering::SeqCst)
    }

    /// Makes each `tools/list` take this long (a slow backend).
    pub fn slow_lists(&self, delay: std::time::Duration) {
        self.lists.delay_ms.store(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// Rewrites one tool's description (adding the tool when it is new).
    pub fn set_tool(&self, name: &str, description: &str) {
        self.tools.write().expect("tools").insert(name.to_string(), description.to_string());
    }
}

impl Drop for ToolUpstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
