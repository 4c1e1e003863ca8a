//! Test support: an in-process admin API on an ephemeral port, and a small
//! client that returns status, headers and JSON.
#![allow(dead_code)]

pub mod browser;
pub mod cluster;
pub mod docs;
pub mod engines;
pub mod kb;
pub mod oauth;
pub mod otlp;
pub mod rest;
pub mod scenario;
pub mod stack;
pub mod terraform;
pub mod tool_upstream;
pub mod upstream;

use mcpgate::api::{admin_router, AppState};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const TOKEN: &str = "test-admin-token";

/// What a test needs beyond cargo: tools and engines `./scripts/test.sh`
/// installs and starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Node.js with the npm test tools (server-everything, the OAuth issuer).
    Node,
    /// The Python venv with the PyPI `mcp` client.
    Python,
    /// Terraform 1.14 or later.
    Terraform,
    /// A PostgreSQL server (MCPGATE_TEST_POSTGRES).
    Postgres,
    /// A Redis server (MCPGATE_TEST_REDIS).
    Redis,
    /// Chromium and ChromeDriver.
    Chromium,
}

impl Need {
    fn missing(self) -> Option<&'static str> {
        let present = match self {
            Need::Node => upstream::entry_point().exists() && std::process::Command::new("node").arg("--version").output().is_ok(),
            Need::Python => std::env::var("MCPGATE_PYTHON").map(std::path::PathBuf::from).unwrap_or_else(|_| default_python()).exists(),
            Need::Terraform => terraform::terraform_binary().exists(),
            Need::Postgres => std::env::var("MCPGATE_TEST_POSTGRES").is_ok(),
            Need::Redis => std::env::var("MCPGATE_TEST_REDIS").is_ok(),
            Need::Chromium => std::env::var("MCPGATE_CHROMEDRIVER").is_ok(),
        };
        let what = match self {
            Need::Node => "Node.js and the npm test tools (server-everything)",
            Need::Python => "the Python venv with the PyPI mcp client",
            Need::Terraform => "Terraform 1.14+",
            Need::Postgres => "a PostgreSQL server (MCPGATE_TEST_POSTGRES)",
            Need::Redis => "a Redis server (MCPGATE_TEST_REDIS)",
            Need::Chromium => "Chromium and ChromeDriver (MCPGATE_CHROMEDRIVER)",
        };
        (!present).then_some(what)
    }
}

/// Whether what a test needs is here. When something is missing, the test
/// says so in one line and is skipped (it returns at once); under
/// `./scripts/test.sh`, which installs and starts everything and sets
/// MCPGATE_REQUIRE_TOOLS=1, a missing tool fails the test instead.
pub fn available(needs: &[Need]) -> bool {
    let missing: Vec<&str> = needs.iter().filter_map(|need| need.missing()).collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!("needs {}: ./scripts/test.sh installs and starts it", missing.join(", "));
    assert!(std::env::var("MCPGATE_REQUIRE_TOOLS").is_err(), "{message}");
    // Straight to stderr: the harness captures eprintln! of passing tests.
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    let _ = writeln!(std::io::stderr(), "skipped {test}: {message}");
    false
}

fn default_python() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/venv/bin/python")
}

/// The Python with the PyPI `mcp` client that scripts/test.sh installed (override: MCPGATE_PYTHON).
pub fn python() -> std::path::PathBuf {
    let python = match std::env::var("MCPGATE_PYTHON") {
        Ok(path) => path.into(),
        Err(_) => default_python(),
    };
    assert!(python.exists(), "{} is missing: run ./scripts/test.sh once to install the test tools", python.display());
    python
}

/// A real MCP client (rmcp, Streamable HTTP) with a subscription key.
pub async fn rmcp_client(url: &str, key: &str) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::ServiceExt;
    let mut headers = std::collections::HashMap::new();
    headers.insert(http::HeaderName::from_static("x-subscription-key"), http::HeaderValue::from_str(key).expect("key"));
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string()).custom_headers(headers);
    ().serve(rmcp::transport::StreamableHttpClientTransport::from_config(config)).await.expect("MCP session through the gateway")
}

pub struct Api {
    pub base: String,
    pub state: AppState,
    client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn etag(&self) -> String {
        self.headers.get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    }

    /// The `(field, code)` pairs of a validation problem.
    pub fn field_errors(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| (e["field"].as_str().unwrap_or_default().to_string(), e["code"].as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Api {
    pub async fn start(database: &str) -> Api {
        let store = mcpgate::store::open(database).await.expect("store opens");
        Api::serve(AppState::new(store, Some(TOKEN))).await
    }

    /// Serves the admin API over `state`.
    pub async fn serve(state: AppState) -> Api {
        state.set_ready();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let router = admin_router(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Api { base, state, client: mcpgate::http_client::client_builder().build().expect("HTTP client"), task }
    }

    pub async fn memory() -> Api {
        Api::start("sqlite::memory:").await
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Reply {
        let url = format!("{}/api/v1/{}", self.base, path.trim_start_matches('/'));
        let mut request = self.client.request(method, url).bearer_auth(TOKEN);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request is sent");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("JSON body") };
        Reply { status, headers, body }
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(body), &[]).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body), &[("content-type", "application/merge-patch+json")]).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// Puts and insists on success.
    pub async fn create(&self, path: &str, body: Value) -> Reply {
        let reply = self.put(path, body).await;
        assert!(reply.status.is_success(), "PUT {path}: {} {}", reply.status, reply.body);
        reply
    }

    pub fn raw(&self) -> &reqwest::Client {
        &self.client
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.task.abort();
    }
}
