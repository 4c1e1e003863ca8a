//! A whole mcpgate in-process: the admin API and the gateway over one store,
//! on ephemeral loopback ports.

use super::Api;
use mcpgate::api::AppState;
use mcpgate::gateway::{self, Gateway, GatewaySettings};
use mcpgate::telemetry::{Telemetry, TelemetrySettings};
use serde_json::{json, Value};
use std::sync::Arc;

pub struct Stack {
    pub api: Api,
    pub gateway: Arc<Gateway>,
    pub gateway_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Stack {
    pub async fn start(database: &str) -> Stack {
        Stack::start_with(database, GatewaySettings::default()).await
    }

    pub async fn start_with(database: &str, settings: GatewaySettings) -> Stack {
        Stack::start_full(database, settings, TelemetrySettings::default()).await
    }

    /// With telemetry settings (OTLP receivers, payload policy) of the test's choosing.
    pub async fn start_full(database: &str, settings: GatewaySettings, telemetry: TelemetrySettings) -> Stack {
        let store = mcpgate::store::open(database).await.expect("store opens");
        let telemetry = Telemetry::start(&telemetry, store.clone()).expect("telemetry starts");
        let api = Api::serve(AppState::new(store, Some(super::TOKEN)).with_telemetry(telemetry.clone())).await;
        let gateway = Gateway::start(api.state.store.clone(), settings, telemetry).await.expect("gateway starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let gateway_url = format!("http://{}", listener.local_addr().expect("addr"));
        // The gateway's own accept loop, as `mcpgate serve` runs it.
        let router = gateway::router(gateway.clone());
        let task = tokio::spawn(async move {
            let _ = gateway::listener::serve(listener, router, std::future::pending()).await;
        });
        Stack { api, gateway, gateway_url, task }
    }

    pub async fn memory() -> Stack {
        Stack::start("sqlite::memory:").await
    }

    pub fn mcp_url(&self, server: &str) -> String {
        format!("{}/mcp/{server}", self.gateway_url)
    }

    /// Creates a subscription and returns its primary key.
    pub async fn subscribe(&self, name: &str, product: &str) -> String {
        let reply = self.api.create(&format!("subscriptions/{name}"), json!({ "product": product })).await;
        reply.body["primary_key"].as_str().expect("key").to_string()
    }

    /// A server with one version at `backend`, in a published product.
    pub async fn publish(&self, server: &str, backend: &str, product: &str, association: Value) {
        self.api.create(&format!("servers/{server}"), json!({})).await;
        self.api.create(&format!("servers/{server}/versions/v1"), json!({ "backend_url": backend })).await;
        self.api.create(&format!("products/{product}"), json!({ "state": "published" })).await;
        self.api.create(&format!("products/{product}/servers/{server}"), association).await;
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A raw MCP exchange over reqwest, for asserting on HTTP details.
#[derive(Clone)]
pub struct RawMcp {
    pub client: reqwest::Client,
    pub url: String,
    pub key: Option<String>,
    pub session: Option<String>,
}

pub struct RawReply {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    /// JSON-RPC messages of the body, whether JSON or SSE.
    pub messages: Vec<Value>,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }

    pub fn first(&self) -> Value {
        self.messages.first().cloned().unwrap_or(Value::Null)
    }
}

/// JSON-RPC messages in a JSON or SSE body.
pub fn messages_of(content_type: &str, body: &str) -> Vec<Value> {
    if content_type.starts_with("text/event-stream") {
        return body
            .split("\n\n")
            .filter_map(|event| {
                let data: Vec<&str> = event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
                (!data.is_empty()).then(|| serde_json::from_str(&data.join("\n")).ok()).flatten()
            })
            .collect();
    }
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Array(items)) => items,
        Ok(Value::Null) | Err(_) => Vec::new(),
        Ok(value) => vec![value],
    }
}

impl RawMcp {
    pub fn new(url: String, key: Option<&str>) -> RawMcp {
        RawMcp { client: mcpgate::http_client::client_builder().build().expect("HTTP client"), url, key: key.map(str::to_string), session: None }
    }

    pub async fn post_with(&self, body: Value, extra: &[(&str, &str)]) -> RawReply {
        self.try_post_with(body, extra).await.expect("gateway answers")
    }

    /// `None` when the gateway does not answer at all (it is gone).
    pub async fn try_post_with(&self, body: Value, extra: &[(&str, &str)]) -> Option<RawReply> {
        let mut request = self
            .client
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body);
        if let Some(key) = &self.key {
            request = request.header("x-subscription-key", key);
        }
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let response = request.send().await.ok()?;
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let text = response.text().await.ok()?;
        Some(RawReply { status, headers, messages: messages_of(&content_type, &text) })
    }

    pub async fn post(&self, body: Value) -> RawReply {
        self.post_with(body, &[]).await
    }

    /// initialize + notifications/initialized; keeps the session id.
    pub async fn initialize(&mut self) -> RawReply {
        self.initialize_with(&[]).await
    }

    pub async fn initialize_with(&mut self, extra: &[(&str, &str)]) -> RawReply {
        let reply = self
            .post_with(
                json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "raw-test", "version": "0.1" } } }),
                extra,
            )
            .await;
        self.session = reply.header("mcp-session-id");
        if self.session.is_some() {
            self.post(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" })).await;
        }
        reply
    }

    pub async fn try_call(&self, id: u64, tool: &str, arguments: Value) -> Option<RawReply> {
        self.try_post_with(json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": { "name": tool, "arguments": arguments } }), &[])
            .await
    }

    pub async fn call(&self, id: u64, tool: &str, arguments: Value) -> RawReply {
        self.post(json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": { "name": tool, "arguments": arguments } })).await
    }
}
