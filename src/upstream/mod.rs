//! What mcpgate asks an upstream MCP server on its own behalf: the tools a
//! version offers right now (its manifest). The gateway uses it to know
//! which tools exist (metric labels, approved manifests); the management API
//! to show the live manifest (the Terraform data source `mcp_server_tools`).
//! One short session: initialize, initialized, `tools/list` page by page,
//! DELETE; over Streamable HTTP, or over a legacy HTTP+SSE bridge. `credentials.rs`: the tokens the gateway presents
//! to backends that use the OAuth client-credentials grant.

pub mod credentials;
pub mod legacy_sse;

use crate::model::VersionSpec;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use serde_json::{json, Value};
use std::time::Duration;

const PROTOCOL_VERSION: &str = "2025-06-18";
/// A manifest of more pages than this is cut off (a loop, or a hostile upstream).
const MAX_PAGES: usize = 50;
const SESSION_HEADER: &str = "mcp-session-id";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the MCP server is unreachable: {0}")]
    Unreachable(String),
    #[error("the MCP server answered HTTP {0}")]
    Status(u16),
    #[error("the MCP server's answer is not what MCP says: {0}")]
    Protocol(String),
    #[error("the MCP server answered with an error: {0}")]
    Rpc(String),
    #[error("over the legacy HTTP+SSE transport: {0}")]
    Legacy(#[from] legacy_sse::BridgeError),
    #[error("cannot authenticate to the MCP server: {0}")]
    Credentials(#[from] credentials::CredentialsError),
}

/// The JSON-RPC message answering request `id` in a JSON or SSE body.
fn answer(content_type: &str, body: &str, id: u64) -> Option<Value> {
    let candidates: Vec<Value> = if content_type.starts_with("text/event-stream") {
        crate::mcp::sse::events(body.as_bytes()).iter().filter_map(|event| serde_json::from_str(&event.data).ok()).collect()
    } else {
        match serde_json::from_str(body) {
            Ok(Value::Array(items)) => items,
            Ok(value) => vec![value],
            Err(_) => Vec::new(),
        }
    };
    candidates.into_iter().find(|m| m.get("id") == Some(&json!(id)))
}

/// How mcpgate reaches upstreams on its own behalf: the HTTP client for
/// MCP servers and the client-credentials tokens it presents.
#[derive(Clone)]
pub struct UpstreamClient {
    pub http: reqwest::Client,
    pub tokens: std::sync::Arc<credentials::UpstreamTokens>,
}

impl UpstreamClient {
    /// `http` reaches MCP servers; `token_http` their token endpoints (the
    /// gateway keeps idle connections to each for a different time).
    pub fn new(http: reqwest::Client, token_http: reqwest::Client) -> UpstreamClient {
        UpstreamClient { tokens: std::sync::Arc::new(credentials::UpstreamTokens::new(token_http)), http }
    }
}

struct Session<'a> {
    client: &'a reqwest::Client,
    url: &'a str,
    headers: HeaderMap,
    timeout: Duration,
    /// Legacy HTTP+SSE backends: the bridge the session's messages go over.
    bridge: Option<legacy_sse::Bridge>,
}

/// The result of a JSON-RPC answer, or its error.
fn result_of(reply: Value) -> Result<Option<Value>, ManifestError> {
    if let Some(error) = reply.get("error") {
        return Err(ManifestError::Rpc(error.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_string()));
    }
    Ok(reply.get("result").cloned())
}

impl Session<'_> {
    async fn post(&mut self, message: Value) -> Result<Option<Value>, ManifestError> {
        if let Some(bridge) = &self.bridge {
            let replies = bridge.exchange(self.client, self.headers.clone(), std::slice::from_ref(&message), self.timeout).await?;
            return match replies.into_iter().next() {
                Some(reply) => result_of(reply),
                None => Ok(None),
            };
        }
        let id = message.get("id").and_then(Value::as_u64);
        let request = self.client.post(self.url).headers(self.headers.clone()).timeout(self.timeout).json(&message);
        let response = request.send().await.map_err(|e| ManifestError::Unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(ManifestError::Status(response.status().as_u16()));
        }
        if let Some(session) = response.headers().get(SESSION_HEADER).cloned() {
            self.headers.insert(SESSION_HEADER, session);
        }
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
        let body = response.text().await.map_err(|e| ManifestError::Unreachable(e.to_string()))?;
        let Some(id) = id else { return Ok(None) };
        let reply = answer(&content_type, &body, id).ok_or_else(|| ManifestError::Protocol(format!("no answer to request {id}")))?;
        result_of(reply)
    }
}

/// The tools `version`'s upstream offers now, every page of them.
pub async fn list_tools(upstream: &UpstreamClient, version: &VersionSpec, timeout: Duration) -> Result<Vec<Value>, ManifestError> {
    if let Some(openapi) = &version.openapi {
        // A REST API's tools are its document's operations: nothing to ask.
        return openapi
            .import()
            .map(|api| api.tools())
            .map_err(|problems| ManifestError::Protocol(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")));
    }
    let client = &upstream.http;
    let url = version.backend_url.as_deref().unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
    headers.insert("mcp-protocol-version", HeaderValue::from_static(PROTOCOL_VERSION));
    for (name, value) in &version.backend_headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            headers.insert(name, value);
        }
    }
    if let Some(credentials) = &version.client_credentials {
        headers.insert(reqwest::header::AUTHORIZATION, upstream.tokens.authorization(credentials).await?);
    }
    let bridge = match version.transport {
        crate::model::Transport::Sse => Some(legacy_sse::Bridge::open(client, url, headers.clone(), timeout).await?),
        crate::model::Transport::StreamableHttp => None,
    };
    let mut session = Session { client, url, headers, timeout, bridge };
    let initialize = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": { "name": "mcpgate", "version": env!("CARGO_PKG_VERSION") } } });
    session.post(initialize).await?;
    session.post(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" })).await?;
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0..MAX_PAGES {
        let params = match &cursor {
            Some(cursor) => json!({ "cursor": cursor }),
            None => json!({}),
        };
        let result = session.post(json!({ "jsonrpc": "2.0", "id": 2 + page as u64, "method": "tools/list", "params": params })).await?;
        let result = result.ok_or_else(|| ManifestError::Protocol("tools/list has no result".into()))?;
        tools.extend(result.get("tools").and_then(Value::as_array).cloned().unwrap_or_default());
        cursor = result.get("nextCursor").and_then(Value::as_str).map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    // Ending the session is a courtesy: the manifest is known either way
    // (a legacy bridge ends when it is dropped).
    if session.bridge.is_none() && session.headers.contains_key(SESSION_HEADER) {
        let _ = client.delete(url).headers(session.headers.clone()).timeout(timeout).send().await;
    }
    Ok(tools)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_found_in_json_and_sse_bodies() {
        let sse = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[]}}\n\n";
        assert_eq!(answer("text/event-stream", sse, 2).unwrap()["result"], json!({ "tools": [] }));
        assert_eq!(answer("application/json", r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, 1).unwrap()["id"], 1);
        assert!(answer("application/json", "not json", 1).is_none());
    }
}
