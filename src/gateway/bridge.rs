//! 2026-07-28 clients of a version whose backend speaks only an earlier
//! revision, on `/mcp/{server}`. Whether a backend speaks 2026-07-28 is
//! asked once (`server/discover`) and remembered per backend URL. When it
//! does not, the gateway answers `server/discover` from what the backend's
//! `initialize` said, and holds one upstream session per caller and version
//! in the store (beside product endpoints' member sessions, so every replica
//! uses the same one); each request goes into it without the 2026-07-28
//! envelope, and each result comes back with the `resultType` (and a list's
//! caching fields) the client requires.

use super::federation::{members_of, open_upstream_session};
use super::sessions::Session;
use super::{Federated, Gateway, Routed};
use crate::mcp::{jsonrpc, revision};
use crate::upstream::{ClientInfo, Conversation, UpstreamError};
use arc_swap::ArcSwap;
use axum::http::HeaderValue;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Which backends (by URL) speak 2026-07-28, as far as asked.
#[derive(Default)]
pub(super) struct Revisions(ArcSwap<HashMap<String, bool>>);

impl Revisions {
    fn get(&self, url: &str) -> Option<bool> {
        self.0.load().get(url).copied()
    }

    fn learn(&self, url: &str, stateless: bool) {
        self.0.rcu(|known| {
            let mut next = HashMap::clone(known);
            next.insert(url.to_string(), stateless);
            next
        });
    }
}

/// What a 2026-07-28 request on a server endpoint becomes.
pub(super) enum Bridged {
    /// The backend speaks 2026-07-28 (or nothing can be bridged): as it came.
    Through,
    /// Into the caller's bridge session, rewritten in place.
    Into,
    /// Answered by the gateway (`server/discover`).
    Answered(Value),
}

/// Sets up `routed` for a 2026-07-28 `message` that carries no session.
pub(super) async fn prepare(gateway: &Gateway, routed: &mut Routed, message: &mut Value) -> Result<Bridged, String> {
    let Some(config) = routed.snapshot.servers.get(&routed.server).and_then(|s| s.versions.get(&routed.version)).cloned() else {
        return Ok(Bridged::Through);
    };
    if config.rest().is_some() || speaks_stateless(gateway, &config.spec).await {
        return Ok(Bridged::Through);
    }
    let client = client_of(routed, message);
    let key = session_key(routed);
    let members = members_of(gateway, &key).await.map_err(|e| e.to_string())?;
    let stored = match members.get(&routed.server).filter(|m| m.version == routed.version) {
        Some(stored) => stored.clone(),
        None => open_upstream_session(gateway, &key, &routed.server, &routed.version, &config, &client).await.map_err(|e| e.to_string())?,
    };
    if jsonrpc::method(message) == Some("server/discover") {
        return Ok(Bridged::Answered(discover(gateway, routed, message)));
    }
    revision::strip_envelope(message);
    routed.session = Some(Session { upstream: stored.upstream.clone(), protocol_version: Some(stored.protocol.clone()), ..client });
    routed.federated = Some(Federated {
        session_header: None,
        protocol: HeaderValue::from_str(&stored.protocol).ok().filter(|_| !stored.protocol.is_empty()),
        name: None,
        bridged: true,
    });
    Ok(Bridged::Into)
}

/// Whether `spec`'s backend answers `server/discover` with 2026-07-28
/// among its revisions. Asked once per backend URL; a backend that cannot
/// be reached is asked again next time.
async fn speaks_stateless(gateway: &Gateway, spec: &crate::model::version::VersionSpec) -> bool {
    let Some(url) = spec.backend_url.as_deref() else { return false };
    if let Some(known) = gateway.revisions.get(url) {
        return known;
    }
    let timeout = std::time::Duration::from_secs(spec.timeout_seconds.clamp(1, 10).unsigned_abs());
    let asked = match Conversation::open(&gateway.upstream, spec, timeout, None).await {
        Ok(mut conversation) => conversation.discover(&ClientInfo::default()).await,
        Err(err) => Err(err),
    };
    let stateless = match asked {
        Ok(result) => result.get("supportedVersions").and_then(Value::as_array).is_some_and(|v| v.iter().any(|v| v == revision::STATELESS)),
        Err(UpstreamError::Unreachable(_) | UpstreamError::Timeout) => return false,
        Err(_) => false,
    };
    gateway.revisions.learn(url, stateless);
    stateless
}

/// The gateway's session key for `routed`'s caller on its version.
fn session_key(routed: &Routed) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, format!("{}\n{}\n{}", routed.caller, routed.server, routed.version).as_bytes());
    format!("bridge-{}", hex::encode(&digest.as_ref()[..16]))
}

/// The client the bridge session speaks for (from the request's envelope),
/// on the newest earlier revision.
fn client_of(routed: &Routed, message: &Value) -> Session {
    let (client_name, client_version) = revision::envelope_client(message);
    Session {
        server: routed.server.clone(),
        version: routed.version.clone(),
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
fn discover(gateway: &Gateway, routed: &Routed, message: &Value) -> Value {
    let info = gateway.server_infos.get(&routed.server, &routed.version);
    let mut versions = vec![revision::STATELESS];
    versions.extend_from_slice(crate::mcp::PROTOCOL_VERSIONS);
    let mut result = json!({
        "supportedVersions": versions,
        "capabilities": info.as_ref().and_then(|i| i.capabilities.clone()).unwrap_or_else(|| json!({})),
        "ttlMs": 0,
        "cacheScope": "private",
        "resultType": "complete",
    });
    if let Some(instructions) = info.as_ref().and_then(|i| i.instructions.clone()) {
        result["instructions"] = json!(instructions);
    }
    if let Some(name) = info.as_ref().and_then(|i| i.name.clone()) {
        let version = info.as_ref().and_then(|i| i.version.clone()).unwrap_or_default();
        result["_meta"] = json!({ "io.modelcontextprotocol/serverInfo": { "name": name, "version": version } });
    }
    json!({ "jsonrpc": "2.0", "id": jsonrpc::id(message), "result": result })
}
