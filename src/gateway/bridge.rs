//! 2026-07-28 clients of a version whose backend speaks only an earlier
//! revision, on `/mcp/{server}`. Whether a backend speaks 2026-07-28 is
//! asked once (`server/discover`) and remembered per backend URL. When it
//! does not, the gateway answers `server/discover` from what the backend's
//! `initialize` said, and holds one upstream session per caller and version
//! in the store (beside product endpoints' member sessions, so every replica
//! uses the same one); each request goes into it without the 2026-07-28
//! envelope, and each result comes back with the `resultType` (and a list's
//! caching fields) the client requires.
//!
//! The other way round, a 2025-11-25 client of a backend that speaks only
//! 2026-07-28: the gateway answers `initialize` from the backend's
//! `server/discover` and issues a session of its own (`stateless-…`, no
//! upstream session behind it); each request in it goes to the backend
//! statelessly, with the envelope and the routing headers 2026-07-28 wants.

use super::federation::{members_of, open_upstream_session, reopen};
use super::sessions::Session;
use super::{Federated, Gateway, Routed};
use crate::mcp::jsonrpc::Message;
use crate::mcp::{jsonrpc, revision};
use crate::store::MemberSession;
use crate::upstream::{ClientInfo, Conversation, UpstreamError};
use arc_swap::ArcSwap;
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::IntoResponse;
use hashbrown::HashMap;
use serde_json::{json, Value};
use std::sync::Arc;

/// Which revisions a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spoken {
    /// Only revisions before 2026-07-28 (`server/discover` unknown to it).
    Earlier,
    /// 2026-07-28 and earlier ones.
    Both,
    /// 2026-07-28 alone: no `initialize`, no sessions.
    StatelessOnly,
}

/// What the gateway's own session ids for clients of a stateless-only
/// backend hold where an upstream session id would be.
const STATELESS_SESSION: &str = "stateless-";

/// Which backends (by URL) speak which revisions, as far as asked.
#[derive(Default)]
pub(super) struct Revisions(ArcSwap<HashMap<String, Spoken>>);

impl Revisions {
    fn get(&self, url: &str) -> Option<Spoken> {
        self.0.load().get(url).copied()
    }

    fn learn(&self, url: &str, stateless: Spoken) {
        self.0.rcu(|known| {
            let mut next = HashMap::clone(known);
            next.insert(url.to_string(), stateless);
            next
        });
    }
}

/// What a request on a server endpoint becomes between revisions.
pub(super) enum Bridged {
    /// The backend speaks the client's revision (or nothing can be bridged): as it came.
    Through,
    /// Rewritten in place (and its headers in `parts`): into the caller's
    /// bridge session, or into a stateless 2026-07-28 request.
    Into,
    /// Answered by the gateway (`server/discover`, `initialize`, `ping`, notifications).
    Answered(axum::response::Response),
}

/// Sets up `routed` for a 2026-07-28 `message` that carries no session.
pub(super) async fn prepare(gateway: &Gateway, routed: &mut Routed, message: &mut Message) -> Result<Bridged, String> {
    let Some(config) = routed.snapshot.servers.get(routed.server()).and_then(|s| s.versions.get(routed.version())).cloned() else {
        return Ok(Bridged::Through);
    };
    if config.rest().is_some() || spoken(gateway, &config.spec).await != Spoken::Earlier {
        return Ok(Bridged::Through);
    }
    let client = client_of(routed, message);
    let key = session_key(routed);
    let members = members_of(gateway, &key).await.map_err(|e| e.to_string())?;
    let stored = match members.get(routed.server()).filter(|m| m.version == routed.version()) {
        Some(stored) => stored.clone(),
        None => open_upstream_session(gateway, &key, routed.server(), routed.version(), &config, &client).await.map_err(|e| e.to_string())?,
    };
    if jsonrpc::method(message) == Some("server/discover") {
        return Ok(Bridged::Answered(json_reply(discover(gateway, routed, message), None)));
    }
    revision::strip_envelope(message);
    routed.session = Some(Arc::new(Session { upstream: stored.upstream.clone(), protocol_version: Some(stored.protocol.clone()), ..client }));
    routed.federated = Some(Federated {
        session_header: None,
        protocol: HeaderValue::from_str(&stored.protocol).ok().filter(|_| !stored.protocol.is_empty()),
        name: None,
        bridged: true,
    });
    Ok(Bridged::Into)
}

/// Sends a request rewritten into the caller's bridge session; when the
/// backend forgot that session, opens a new one in its place and sends the
/// request again, once.
pub(super) async fn forward(
    gateway: &Gateway,
    routed: Routed,
    parts: Parts,
    message: jsonrpc::Body,
    bytes: axum::body::Bytes,
) -> axum::response::Response {
    let again = (routed.clone(), super::proxy::copy_parts(&parts), bytes.clone());
    let response = super::proxy::forward_messages(gateway, routed, parts, message, bytes).await;
    if !super::proxy::forgot_session(&response) {
        return response;
    }
    let (mut routed, parts, bytes) = again;
    let Ok(message) = jsonrpc::Body::parse(&bytes) else { return response };
    let (Some(session), Some(config)) =
        (routed.session.clone(), routed.snapshot.servers.get(routed.server()).and_then(|s| s.versions.get(routed.version())).cloned())
    else {
        return response;
    };
    let stale = MemberSession {
        session: session_key(&routed),
        server: routed.server().to_string(),
        version: routed.version().to_string(),
        upstream: session.upstream.clone(),
        protocol: session.protocol_version.clone().unwrap_or_default(),
        created_at: chrono::Utc::now(),
    };
    match reopen(gateway, &stale, &config, &session).await {
        Ok(fresh) => {
            routed.session = Some(Arc::new(Session { upstream: fresh.upstream, ..Session::clone(&session) }));
            super::proxy::forward_messages(gateway, routed, parts, message, bytes).await
        }
        Err(err) => {
            let text = format!("the MCP server forgot this {} client's session, and a new one cannot be opened: {err}", revision::STATELESS);
            super::refusal::Refusal::new(axum::http::StatusCode::BAD_GATEWAY, "upstream_unavailable", text)
                .respond(&super::refusal::RequestIds::of(&message))
        }
    }
}

/// Which revisions `spec`'s backend speaks, from its answer to
/// `server/discover` (an error: only earlier ones). Asked once per backend
/// URL; a backend that cannot be reached is asked again next time.
async fn spoken(gateway: &Gateway, spec: &crate::model::version::VersionSpec) -> Spoken {
    let Some(url) = spec.backend_url.as_deref() else { return Spoken::Earlier };
    if let Some(known) = gateway.revisions.get(url) {
        return known;
    }
    let timeout = std::time::Duration::from_secs(spec.timeout_seconds.clamp(1, 10).unsigned_abs());
    let asked = match Conversation::open(&gateway.upstream, spec, timeout, None).await {
        Ok(mut conversation) => conversation.discover(&ClientInfo::default()).await,
        Err(err) => Err(err),
    };
    let spoken = match asked {
        Ok(result) => {
            let versions: Vec<&str> =
                result.get("supportedVersions").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
            let earlier = versions.iter().any(|v| crate::mcp::PROTOCOL_VERSIONS.contains(v));
            match (versions.contains(&revision::STATELESS), earlier) {
                (true, true) => Spoken::Both,
                // SDKs list only the revisions discover belongs to, and
                // still answer initialize: ask.
                (true, false) => initializes(gateway, spec, timeout).await,
                (false, _) => Spoken::Earlier,
            }
        }
        Err(UpstreamError::Unreachable(_) | UpstreamError::Timeout) => return Spoken::Earlier,
        Err(_) => Spoken::Earlier,
    };
    gateway.revisions.learn(url, spoken);
    spoken
}

/// Whether a backend that speaks 2026-07-28 also answers `initialize`.
async fn initializes(gateway: &Gateway, spec: &crate::model::version::VersionSpec, timeout: std::time::Duration) -> Spoken {
    let Ok(mut conversation) = Conversation::open(&gateway.upstream, spec, timeout, None).await else { return Spoken::Both };
    match conversation.initialize(&ClientInfo { protocol_version: crate::mcp::PROTOCOL_VERSIONS[0].into(), ..ClientInfo::default() }).await {
        Ok(_) => {
            conversation.end().await;
            Spoken::Both
        }
        Err(UpstreamError::Unreachable(_) | UpstreamError::Timeout) => Spoken::Both,
        Err(_) => Spoken::StatelessOnly,
    }
}

/// Sets up a request of an earlier revision: `initialize` for a backend
/// that speaks only 2026-07-28 is answered here with a session of the
/// gateway's; requests in such a session go to the backend statelessly.
pub(super) async fn earlier(gateway: &Gateway, routed: &mut Routed, parts: &mut Parts, message: &mut Message) -> Result<Bridged, String> {
    if !in_gateway_session(routed) {
        if jsonrpc::method(message) != Some("initialize") || routed.session.is_some() {
            return Ok(Bridged::Through);
        }
        let Some(config) = routed.snapshot.servers.get(routed.server()).and_then(|s| s.versions.get(routed.version())).cloned() else {
            return Ok(Bridged::Through);
        };
        if config.rest().is_some() || spoken(gateway, &config.spec).await != Spoken::StatelessOnly {
            return Ok(Bridged::Through);
        }
        return initialize(gateway, routed, &config.spec, message).await.map(Bridged::Answered);
    }
    let method = jsonrpc::method(message).unwrap_or_default().to_string();
    let client_session = parts.headers.get(super::SESSION_HEADER).cloned();
    let Some(id) = jsonrpc::id(message).cloned().filter(|_| jsonrpc::is_request(message)) else {
        // Notifications (initialized, cancelled) have no stateless counterpart.
        return Ok(Bridged::Answered(axum::http::StatusCode::ACCEPTED.into_response()));
    };
    if method == "ping" {
        return Ok(Bridged::Answered(json_reply(json!({ "jsonrpc": "2.0", "id": id, "result": {} }), client_session)));
    }
    let session = routed.session.take().unwrap_or_else(|| Arc::new(client_of(routed, message)));
    into_stateless(gateway, routed.server(), routed.version(), &mut parts.headers, message, &session);
    routed.federated = Some(Federated { session_header: client_session, protocol: None, name: None, bridged: false });
    Ok(Bridged::Into)
}

/// Rewrites a request of an earlier revision from `session`'s client into
/// the stateless 2026-07-28 request a backend that keeps no sessions takes:
/// the envelope, `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, and the
/// `Mcp-Param-*` headers `server`'s `version` tool schema mirrors.
pub(super) fn into_stateless(
    gateway: &Gateway,
    server: &str,
    version: &str,
    headers: &mut axum::http::HeaderMap,
    message: &mut Message,
    session: &Session,
) {
    let method = jsonrpc::method(message).unwrap_or_default().to_string();
    stamp(message, session);
    let value = |text: &str| HeaderValue::from_str(&revision::encode(text)).ok();
    headers.insert(revision::PROTOCOL_HEADER, HeaderValue::from_static(revision::STATELESS));
    if let Some(value) = value(&method) {
        headers.insert(revision::METHOD_HEADER, value);
    }
    let named = revision::named_field(&method).and_then(|field| message.get("params").and_then(|p| p.get(field))).and_then(Value::as_str);
    if let Some(value) = named.and_then(value) {
        headers.insert(revision::NAME_HEADER, value);
    }
    // The arguments the tool's schema mirrors into headers, as a 2026-07-28 client sends them.
    let offered = named.filter(|_| method == "tools/call").and_then(|tool| gateway.tools.tool(server, version, tool));
    let arguments = jsonrpc::at(message, &["params", "arguments"]).cloned().unwrap_or(Value::Null);
    for (name, text) in offered.map(|t| revision::param_header_values(&t.param_headers, &arguments)).unwrap_or_default() {
        if let (Ok(name), Some(value)) = (axum::http::HeaderName::from_bytes(name.as_bytes()), value(&text)) {
            headers.insert(name, value);
        }
    }
}

/// Whether `routed` is in a session of the gateway's own, with no upstream
/// session behind it (a client of a stateless-only backend).
fn in_gateway_session(routed: &Routed) -> bool {
    routed.session.as_ref().is_some_and(|s| s.upstream.starts_with(STATELESS_SESSION))
}

/// GET and DELETE in a session of the gateway's for a stateless-only
/// backend: it sends nothing of its own, and there is nothing upstream to end.
pub(super) fn without_upstream_session(routed: &Routed, method: &axum::http::Method) -> Option<axum::response::Response> {
    if !in_gateway_session(routed) {
        return None;
    }
    if *method == axum::http::Method::DELETE {
        return Some(axum::http::StatusCode::NO_CONTENT.into_response());
    }
    let mut response = axum::http::StatusCode::METHOD_NOT_ALLOWED.into_response();
    response.headers_mut().insert(axum::http::header::ALLOW, HeaderValue::from_static("POST, DELETE"));
    Some(response)
}

/// Adds the 2026-07-28 envelope to a request of a client of an earlier revision.
fn stamp(message: &mut Message, session: &Session) {
    let envelope = revision::envelope(session.client_name.as_deref().unwrap_or("mcp-client"), session.client_version.as_deref().unwrap_or_default());
    let Some(params) = message.params_object_mut() else { return };
    if let Some(meta) = params.entry("_meta").or_insert_with(|| json!({})).as_object_mut() {
        meta.extend(envelope);
    }
}

/// `initialize` for a backend that speaks only 2026-07-28: its
/// `server/discover`, said as an initialize result, and a session of the
/// gateway's own.
async fn initialize(
    gateway: &Gateway,
    routed: &Routed,
    spec: &crate::model::version::VersionSpec,
    message: &Message,
) -> Result<axum::response::Response, String> {
    let asked = jsonrpc::at(message, &["params", "protocolVersion"]).and_then(Value::as_str);
    let text = |field: &str| jsonrpc::at(message, &["params", "clientInfo", field]).and_then(Value::as_str).map(str::to_string);
    let client = ClientInfo {
        protocol_version: revision::STATELESS.to_string(),
        name: text("name").unwrap_or_else(|| "mcp-client".into()),
        version: text("version").unwrap_or_default(),
    };
    let timeout = std::time::Duration::from_secs(spec.timeout_seconds.clamp(1, 60).unsigned_abs());
    let mut conversation = Conversation::open(&gateway.upstream, spec, timeout, None).await.map_err(|e| e.to_string())?;
    let discovered = conversation.discover(&client).await.map_err(|e| e.to_string())?;
    let server_info = discovered
        .pointer("/_meta/io.modelcontextprotocol~1serverInfo")
        .cloned()
        .unwrap_or_else(|| json!({ "name": routed.server(), "version": routed.version() }));
    let protocol = crate::mcp::negotiate(asked);
    let mut result = json!({
        "protocolVersion": protocol,
        "capabilities": discovered.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "serverInfo": server_info,
    });
    if let Some(instructions) = discovered.get("instructions").filter(|i| i.is_string()) {
        result["instructions"] = instructions.clone();
    }
    let mut context = (*routed.context).clone();
    context.client_name = text("name");
    context.client_version = text("version");
    context.protocol_version = Some(protocol.to_string());
    let upstream = format!("{STATELESS_SESSION}{}", hex::encode(rand::random::<[u8; 16]>()));
    let session = Session::start(&context, &routed.caller, &upstream);
    let header = HeaderValue::from_str(&gateway.sessions.issue(&session)).ok();
    Ok(json_reply(json!({ "jsonrpc": "2.0", "id": jsonrpc::id(message), "result": result }), header))
}

fn json_reply(body: Value, session: Option<HeaderValue>) -> axum::response::Response {
    let mut response = (axum::http::StatusCode::OK, axum::Json(body)).into_response();
    if let Some(value) = session {
        response.headers_mut().insert(super::SESSION_HEADER, value);
    }
    response
}

/// The gateway's session key for `routed`'s caller on its version.
fn session_key(routed: &Routed) -> String {
    held_session_key("bridge-", &[&routed.caller, routed.server(), routed.version()])
}

/// The key of a session the gateway holds for a caller (in `member_sessions`):
/// `prefix` and a digest of what it is held for.
pub(super) fn held_session_key(prefix: &str, held_for: &[&str]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, held_for.join("\n").as_bytes());
    format!("{prefix}{}", hex::encode(&digest.as_ref()[..16]))
}

/// The client the bridge session speaks for (from the request's envelope),
/// on the newest earlier revision.
fn client_of(routed: &Routed, message: &Message) -> Session {
    let (client_name, client_version) = revision::envelope_client(message);
    Session {
        server: routed.server().to_string(),
        version: routed.version().to_string(),
        owner: routed.caller.clone(),
        upstream: String::new(),
        started: chrono::Utc::now().timestamp(),
        client_name,
        client_version,
        protocol_version: Some(crate::mcp::PROTOCOL_VERSIONS[0].to_string()),
    }
}

/// `server/discover` for a backend that does not answer it: what its
/// `initialize` said, private to the caller's product.
fn discover(gateway: &Gateway, routed: &Routed, message: &Message) -> Value {
    let info = gateway.server_infos.get(routed.server(), routed.version()).map(|i| super::sessions::ServerInfo::clone(&i)).unwrap_or_default();
    let server_info = info.name.map(|name| json!({ "name": name, "version": info.version.unwrap_or_default() }));
    let result = revision::discover_result(info.capabilities.unwrap_or_else(|| json!({})), info.instructions, server_info);
    json!({ "jsonrpc": "2.0", "id": jsonrpc::id(message), "result": result })
}
