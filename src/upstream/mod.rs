//! What mcpgate asks an upstream MCP server on its own behalf: the tools a
//! version offers right now (its manifest). The gateway uses it to know
//! which tools exist (metric labels, approved manifests); the management API
//! to show the live manifest (the Terraform data source `mcp_server_tools`).
//! One short session: initialize, initialized, `tools/list` page by page,
//! DELETE; over Streamable HTTP, or over a legacy HTTP+SSE bridge. A
//! [`Conversation`] is that client at the message level, which a product's
//! endpoint also uses to speak to its member servers. `credentials.rs`: the tokens the gateway presents
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
pub enum UpstreamError {
    #[error("the MCP server is unreachable: {0}")]
    Unreachable(String),
    #[error("the MCP server did not answer in time")]
    Timeout,
    #[error("the MCP server answered HTTP {0}")]
    Status(u16),
    #[error("the MCP server does not know the session")]
    UnknownSession,
    #[error("the MCP server's answer is not what MCP says: {0}")]
    Protocol(String),
    #[error("the MCP server answered with an error: {0}")]
    Rpc(String),
    #[error("over the legacy HTTP+SSE transport: {0}")]
    Legacy(#[from] legacy_sse::BridgeError),
    #[error("cannot authenticate to the MCP server: {0}")]
    Credentials(#[from] credentials::CredentialsError),
}

impl UpstreamError {
    /// The call log's and metrics' word for it.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Timeout => "timeout",
            UpstreamError::Legacy(err) => err.error_type(),
            _ => "upstream_unavailable",
        }
    }
}

/// The JSON-RPC message answering request `id` in a JSON or SSE body.
fn answer(content_type: &str, body: &str, id: &Value) -> Option<Value> {
    let candidates: Vec<Value> = if content_type.starts_with("text/event-stream") {
        crate::mcp::sse::events(body.as_bytes()).iter().filter_map(|event| serde_json::from_str(&event.data).ok()).collect()
    } else {
        match serde_json::from_str(body) {
            Ok(Value::Array(items)) => items,
            Ok(value) => vec![value],
            Err(_) => Vec::new(),
        }
    };
    candidates.into_iter().find(|m| m.get("id") == Some(id))
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

/// What mcpgate says of itself, or of the client it speaks for, in `initialize`.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub protocol_version: String,
    pub name: String,
    pub version: String,
}

impl Default for ClientInfo {
    fn default() -> Self {
        ClientInfo { protocol_version: PROTOCOL_VERSION.into(), name: "mcpgate".into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

/// One conversation with a version's MCP server over Streamable HTTP (or a
/// legacy bridge): JSON-RPC messages out, their answers back, the session
/// id the server gave kept for the messages after.
pub struct Conversation<'a> {
    client: &'a reqwest::Client,
    url: String,
    headers: HeaderMap,
    timeout: Duration,
    /// Legacy HTTP+SSE backends: the bridge the session's messages go over.
    bridge: Option<legacy_sse::Bridge>,
    next_id: u64,
    /// Speaking 2026-07-28 (no session): the envelope each request carries.
    envelope: Option<serde_json::Map<String, Value>>,
}

/// The result of a JSON-RPC answer, or its error.
fn result_of(reply: Value) -> Result<Option<Value>, UpstreamError> {
    if let Some(error) = reply.get("error") {
        return Err(UpstreamError::Rpc(error.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_string()));
    }
    Ok(reply.get("result").cloned())
}

impl<'a> Conversation<'a> {
    /// A conversation with `version`'s server, in the session `session`
    /// when one is given (a legacy backend opens a bridge of its own).
    pub async fn open(
        upstream: &'a UpstreamClient,
        version: &VersionSpec,
        timeout: Duration,
        session: Option<&str>,
    ) -> Result<Conversation<'a>, UpstreamError> {
        let client = &upstream.http;
        let url = version.backend_url.clone().unwrap_or_default();
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
        if let Some(value) = session.filter(|s| !s.is_empty()).and_then(|s| HeaderValue::from_str(s).ok()) {
            headers.insert(SESSION_HEADER, value);
        }
        let bridge = match version.transport {
            crate::model::Transport::Sse => Some(legacy_sse::Bridge::open(client, &url, headers.clone(), timeout).await?),
            crate::model::Transport::StreamableHttp => None,
        };
        Ok(Conversation { client, url, headers, timeout, bridge, next_id: 1, envelope: None })
    }

    /// The session the server gave, if it keeps sessions.
    pub fn session_id(&self) -> Option<&str> {
        self.headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok())
    }

    /// Sets the protocol revision later requests announce.
    pub fn use_protocol(&mut self, protocol: &str) {
        if let Ok(value) = HeaderValue::from_str(protocol) {
            self.headers.insert("mcp-protocol-version", value);
        }
    }

    /// `initialize` and `notifications/initialized`: the server's initialize result.
    pub async fn initialize(&mut self, client: &ClientInfo) -> Result<Value, UpstreamError> {
        let params = json!({ "protocolVersion": client.protocol_version, "capabilities": {},
                             "clientInfo": { "name": client.name, "version": client.version } });
        // Servers refuse a header that disagrees with the body's revision.
        self.use_protocol(&client.protocol_version);
        let result = self.request("initialize", params).await?;
        if let Some(protocol) = result.get("protocolVersion").and_then(Value::as_str).map(str::to_string) {
            self.use_protocol(&protocol);
        }
        self.notify("notifications/initialized").await?;
        Ok(result)
    }

    /// Speaks 2026-07-28 from now on, as `client`: each request carries the
    /// envelope (what its params' `_meta` already holds is kept) and the
    /// routing headers; there is no session.
    pub fn go_stateless(&mut self, client: &ClientInfo) {
        self.use_protocol(crate::mcp::revision::STATELESS);
        self.envelope = Some(crate::mcp::revision::envelope(&client.name, &client.version));
    }

    /// Starts the conversation the way the server speaks: `initialize`, or
    /// for a server that speaks only 2026-07-28 (it refuses `initialize` and
    /// answers `server/discover`) the discover result, said as an initialize
    /// result, and 2026-07-28 from then on. A client of 2026-07-28 asks
    /// `server/discover` first, and speaks it to a server that does.
    pub async fn begin(&mut self, client: &ClientInfo) -> Result<Value, UpstreamError> {
        use crate::mcp::revision::STATELESS;
        let earlier = ClientInfo { protocol_version: crate::mcp::PROTOCOL_VERSIONS[0].into(), ..client.clone() };
        if client.protocol_version == STATELESS {
            if let Ok(Some(result)) = self.discover(client).await.map(stateless_result) {
                self.go_stateless(client);
                return Ok(result);
            }
            return self.initialize(&earlier).await;
        }
        match self.initialize(client).await {
            Err(refused @ (UpstreamError::Rpc(_) | UpstreamError::Status(_))) => match self.discover(&earlier).await.map(stateless_result) {
                Ok(Some(result)) => {
                    self.go_stateless(client);
                    Ok(result)
                }
                _ => Err(refused),
            },
            answered => answered,
        }
    }

    /// `server/discover` as a 2026-07-28 client sends it (the routing
    /// headers, the per-request envelope): the server's result, or why not.
    pub async fn discover(&mut self, client: &ClientInfo) -> Result<Value, UpstreamError> {
        use crate::mcp::revision;
        self.use_protocol(revision::STATELESS);
        self.headers.insert(revision::METHOD_HEADER, HeaderValue::from_static("server/discover"));
        let params = json!({ "_meta": revision::envelope(&client.name, &client.version) });
        let result = self.request("server/discover", params).await;
        self.headers.remove(revision::METHOD_HEADER);
        result
    }

    /// A request: its result, or the error the server answered.
    pub async fn request(&mut self, method: &str, params: Value) -> Result<Value, UpstreamError> {
        let reply = self.exchange(method, params).await?;
        result_of(reply)?.ok_or_else(|| UpstreamError::Protocol(format!("{method} has no result")))
    }

    /// A request: the server's whole answer (result or error).
    pub async fn exchange(&mut self, method: &str, mut params: Value) -> Result<Value, UpstreamError> {
        let id = json!(self.next_id);
        self.next_id += 1;
        let routing = self.envelope.as_ref().map(|envelope| stamp(&mut params, method, envelope));
        let saved = routing.map(|routing| {
            let mut sent = self.headers.clone();
            sent.extend(routing);
            std::mem::replace(&mut self.headers, sent)
        });
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let answered = self.post(message, Some(&id)).await;
        if let Some(headers) = saved {
            self.headers = headers;
        }
        answered?.ok_or_else(|| UpstreamError::Protocol(format!("no answer to {method}")))
    }

    pub async fn notify(&mut self, method: &str) -> Result<(), UpstreamError> {
        self.post(json!({ "jsonrpc": "2.0", "method": method }), None).await.map(drop)
    }

    async fn post(&mut self, message: Value, id: Option<&Value>) -> Result<Option<Value>, UpstreamError> {
        if let Some(bridge) = &self.bridge {
            let replies = bridge.exchange(self.client, self.headers.clone(), std::slice::from_ref(&message), self.timeout).await?;
            return Ok(replies.into_iter().next());
        }
        let request = self.client.post(&self.url).headers(self.headers.clone()).timeout(self.timeout).json(&message);
        let response =
            request.send().await.map_err(|e| if e.is_timeout() { UpstreamError::Timeout } else { UpstreamError::Unreachable(e.to_string()) })?;
        if !response.status().is_success() {
            let status = response.status();
            let in_session = self.headers.contains_key(SESSION_HEADER);
            let body = if in_session { response.bytes().await.unwrap_or_default() } else { Default::default() };
            return Err(if in_session && forgets_session(status, &body) {
                UpstreamError::UnknownSession
            } else {
                UpstreamError::Status(status.as_u16())
            });
        }
        if let Some(session) = response.headers().get(SESSION_HEADER).cloned() {
            self.headers.insert(SESSION_HEADER, session);
        }
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
        let body =
            response.text().await.map_err(|e| if e.is_timeout() { UpstreamError::Timeout } else { UpstreamError::Unreachable(e.to_string()) })?;
        let Some(id) = id else { return Ok(None) };
        answer(&content_type, &body, id).map(Some).ok_or_else(|| UpstreamError::Protocol(format!("no answer to request {id}")))
    }

    /// The server's own stream of messages (`GET`), in this conversation's
    /// session; no timeout, for it lasts as long as the session is followed.
    pub async fn listen(&self) -> Result<reqwest::Response, UpstreamError> {
        let mut headers = self.headers.clone();
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let response = self.client.get(&self.url).headers(headers).send().await.map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(UpstreamError::Status(response.status().as_u16()));
        }
        Ok(response)
    }

    /// Ends the session, as a courtesy: a legacy bridge ends when dropped,
    /// and a server that keeps no sessions has nothing to end.
    pub async fn end(self) {
        if self.bridge.is_none() && self.headers.contains_key(SESSION_HEADER) {
            let _ = self.client.delete(&self.url).headers(self.headers.clone()).timeout(self.timeout).send().await;
        }
    }
}

/// Whether a server's refusal of a request in a session says it does not
/// know the session: 404, as the specification has it, or a 400 that names
/// the session (what some servers, server-everything among them, answer).
pub fn forgets_session(status: reqwest::StatusCode, body: &[u8]) -> bool {
    status == reqwest::StatusCode::NOT_FOUND
        || (status == reqwest::StatusCode::BAD_REQUEST && body.windows(7).any(|w| w.eq_ignore_ascii_case(b"session")))
}

/// A 2026-07-28 request's parts the conversation adds: the envelope in
/// `params._meta` (keys already there kept), and the headers with
/// `Mcp-Method` and `Mcp-Name` for it (returned, to send beside the rest).
fn stamp(params: &mut Value, method: &str, envelope: &serde_json::Map<String, Value>) -> HeaderMap {
    use crate::mcp::revision;
    if !params.is_object() {
        *params = json!({});
    }
    if let Some(meta) = params.as_object_mut().and_then(|p| p.entry("_meta").or_insert_with(|| json!({})).as_object_mut()) {
        for (key, value) in envelope {
            meta.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&revision::encode(method)) {
        headers.insert(revision::METHOD_HEADER, value);
    }
    let named = revision::named_field(method).and_then(|field| params.get(field)).and_then(Value::as_str);
    if let Some(value) = named.and_then(|name| HeaderValue::from_str(&revision::encode(name)).ok()) {
        headers.insert(revision::NAME_HEADER, value);
    }
    headers
}

/// A `server/discover` result of a server that speaks 2026-07-28, said as
/// an initialize result; `None` when it does not speak it.
fn stateless_result(discovered: Value) -> Option<Value> {
    use crate::mcp::revision::STATELESS;
    let versions = discovered.get("supportedVersions").and_then(Value::as_array)?;
    if !versions.iter().any(|v| v.as_str() == Some(STATELESS)) {
        return None;
    }
    let mut result = json!({
        "protocolVersion": STATELESS,
        "capabilities": discovered.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "serverInfo": discovered.pointer("/_meta/io.modelcontextprotocol~1serverInfo").cloned().unwrap_or_else(|| json!({})),
    });
    if let Some(instructions) = discovered.get("instructions").filter(|i| i.is_string()) {
        result["instructions"] = instructions.clone();
    }
    Some(result)
}

/// The tools `version`'s upstream offers now, every page of them.
pub async fn list_tools(upstream: &UpstreamClient, version: &VersionSpec, timeout: Duration) -> Result<Vec<Value>, UpstreamError> {
    if let Some(openapi) = &version.openapi {
        // A REST API's tools are its document's operations: nothing to ask.
        return openapi
            .import()
            .map(|api| api.tools())
            .map_err(|problems| UpstreamError::Protocol(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")));
    }
    let mut conversation = Conversation::open(upstream, version, timeout, None).await?;
    conversation.begin(&ClientInfo::default()).await?;
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = match &cursor {
            Some(cursor) => json!({ "cursor": cursor }),
            None => json!({}),
        };
        let result = conversation.request("tools/list", params).await?;
        tools.extend(result.get("tools").and_then(Value::as_array).cloned().unwrap_or_default());
        cursor = result.get("nextCursor").and_then(Value::as_str).map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    conversation.end().await;
    Ok(tools)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_found_in_json_and_sse_bodies() {
        let sse = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[]}}\n\n";
        assert_eq!(answer("text/event-stream", sse, &json!(2)).unwrap()["result"], json!({ "tools": [] }));
        assert_eq!(answer("application/json", r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, &json!(1)).unwrap()["id"], 1);
        assert!(answer("application/json", "not json", &json!(1)).is_none());
    }
}
