//! MCP sessions through the gateway. The session id a client holds is one
//! the gateway issued: a signed token carrying what routing needs (server,
//! version, the upstream's own session id), whom the session belongs to,
//! and what `initialize` said about the client. Every replica holding the
//! same secret key verifies it, so a session survives restarts and moves
//! between replicas without sticky load balancing, and a token presented by
//! anyone but its owner is refused before anything reaches the upstream.

use crate::secrets::SecretKey;
use crate::telemetry::observation::CallContext;
use arc_swap::ArcSwap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hashbrown::HashMap;
use ring::hmac;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

const PREFIX: &str = "mcps1.";
/// Longest client-supplied value kept in a token (client name, version, protocol).
const MAX_FIELD: usize = 64;
/// Longest session id accepted from a client.
pub const MAX_SESSION_ID: usize = 1024;

/// What a session id carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "s")]
    pub server: String,
    #[serde(rename = "v")]
    pub version: String,
    /// The caller it belongs to (subscription, or anonymous caller).
    #[serde(rename = "o")]
    pub owner: String,
    /// The upstream's session id (or the gateway's bridge id for legacy backends).
    #[serde(rename = "u")]
    pub upstream: String,
    /// Unix seconds when it started.
    #[serde(rename = "t")]
    pub started: i64,
    #[serde(rename = "cn", default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(rename = "cv", default, skip_serializing_if = "Option::is_none")]
    pub client_version: Option<String>,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
}

fn capped(value: &Option<String>) -> Option<String> {
    value.as_ref().map(|v| v.chars().take(MAX_FIELD).collect())
}

impl Session {
    /// A new session of `context`'s server and version, owned by `owner`.
    pub fn start(context: &CallContext, owner: &str, upstream: &str) -> Session {
        Session {
            server: context.server.clone(),
            version: context.version.clone(),
            owner: owner.to_string(),
            upstream: upstream.to_string(),
            started: chrono::Utc::now().timestamp(),
            client_name: capped(&context.client_name),
            client_version: capped(&context.client_version),
            protocol_version: capped(&context.protocol_version),
        }
    }

    /// Fills what the context does not know yet.
    pub fn fill(&self, context: &mut CallContext) {
        let fill = |slot: &mut Option<String>, known: &Option<String>| {
            if slot.is_none() {
                slot.clone_from(known);
            }
        };
        fill(&mut context.client_name, &self.client_name);
        fill(&mut context.client_version, &self.client_version);
        fill(&mut context.protocol_version, &self.protocol_version);
    }
}

/// Why a presented session id is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Not a session this gateway (or a replica with its key) issued.
    Unknown,
    /// Issued to another caller, or for another server.
    Foreign,
}

/// Issues and verifies session ids.
pub struct SessionKeys {
    key: hmac::Key,
    verified: Verified,
}

/// Session ids verified lately, with what they carry: a session sends
/// many requests, and verifying its id costs an HMAC, two base64 decodes
/// and a JSON parse on each (about a sixth of the gateway's own work per
/// call, measured). Sharded by the id's last characters (its random HMAC
/// tag), so concurrent requests seldom meet on a lock; a full shard forgets
/// everything. Only genuine ids are kept, so a client cannot fill it with
/// forgeries.
struct Verified {
    shards: Vec<Mutex<HashMap<Box<str>, Arc<Session>>>>,
}

const VERIFIED_SHARDS: usize = 32;
const VERIFIED_PER_SHARD: usize = 256;

impl Verified {
    fn new() -> Verified {
        Verified { shards: (0..VERIFIED_SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }

    fn shard(&self, id: &str) -> &Mutex<HashMap<Box<str>, Arc<Session>>> {
        let tail = id.as_bytes().iter().rev().take(2).fold(0usize, |sum, b| sum * 31 + usize::from(*b));
        &self.shards[tail % VERIFIED_SHARDS]
    }

    fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.shard(id).lock().ok()?.get(id).cloned()
    }

    fn keep(&self, id: &str, session: &Arc<Session>) {
        let Ok(mut shard) = self.shard(id).lock() else { return };
        if shard.len() >= VERIFIED_PER_SHARD {
            shard.clear();
        }
        shard.insert(id.into(), session.clone());
    }
}

impl SessionKeys {
    pub fn new(secrets: &SecretKey) -> SessionKeys {
        SessionKeys { key: hmac::Key::new(hmac::HMAC_SHA256, &secrets.derive("mcpgate session ids")), verified: Verified::new() }
    }

    pub fn issue(&self, session: &Session) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(session).unwrap_or_default());
        let tag = hmac::sign(&self.key, payload.as_bytes());
        format!("{PREFIX}{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The session behind `id`, if it is genuine and belongs to `caller` on
    /// `server`, for a call on a connection whose last session is `last`: a
    /// client's calls on one connection name one session, and finding it
    /// among all sessions takes a shard's lock, which calls on every
    /// connection thread take (the profile's costliest lookup per
    /// instruction: the lock's cache line moves between cores).
    pub(crate) fn verify(&self, last: &LastSession, id: &str, caller: &str, server: &str) -> Result<Arc<Session>, Rejected> {
        let session = match last.get(id) {
            Some(session) => session,
            None => {
                let session = self.genuine(id)?;
                last.keep(id, &session);
                session
            }
        };
        if session.owner != caller || session.server != server {
            return Err(Rejected::Foreign);
        }
        Ok(session)
    }

    /// The session `id` carries, if it is genuine (the verified ones kept).
    fn genuine(&self, id: &str) -> Result<Arc<Session>, Rejected> {
        if let Some(session) = self.verified.get(id) {
            return Ok(session);
        }
        let session = Arc::new(self.open(id).ok_or(Rejected::Unknown)?);
        self.verified.keep(id, &session);
        Ok(session)
    }

    fn open(&self, id: &str) -> Option<Session> {
        if id.len() > MAX_SESSION_ID {
            return None;
        }
        let (payload, tag) = id.strip_prefix(PREFIX)?.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, payload.as_bytes(), &tag).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }
}

/// The last genuine session a connection's calls named, with its id. Only
/// that connection's calls lock it, one at a time unless pipelined; what is
/// kept was verified, and whom it belongs to is checked on every call.
#[derive(Default)]
pub(crate) struct LastSession(Mutex<Option<(Box<str>, Arc<Session>)>>);

impl LastSession {
    fn get(&self, id: &str) -> Option<Arc<Session>> {
        let last = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        last.as_ref().filter(|(kept, _)| **kept == *id).map(|(_, session)| session.clone())
    }

    fn keep(&self, id: &str, session: &Arc<Session>) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((id.into(), session.clone()));
    }
}

/// What an upstream's `initialize` result said about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerInfo {
    pub name: Option<String>,
    pub version: Option<String>,
    /// Its `capabilities` (a product's endpoint offers the union of its members').
    pub capabilities: Option<serde_json::Value>,
    /// Its `instructions`, bounded (a product's endpoint joins its members').
    pub instructions: Option<String>,
}

/// The longest `instructions` kept per server.
const MAX_INSTRUCTIONS: usize = 8 * 1024;

impl ServerInfo {
    /// What an initialize `result` says.
    pub fn of(result: &serde_json::Value) -> ServerInfo {
        let text = |pointer: &str, max: usize| result.pointer(pointer).and_then(|v| v.as_str()).map(|s| s.chars().take(max).collect::<String>());
        ServerInfo {
            name: text("/serverInfo/name", 256),
            version: text("/serverInfo/version", 256),
            capabilities: result.get("capabilities").filter(|c| c.is_object()).cloned(),
            instructions: text("/instructions", MAX_INSTRUCTIONS),
        }
    }
}

/// Server info per server, then version, learned from initialize results
/// and read by every request for telemetry; replaced whole on the rare
/// change. Nested so a lookup borrows its `&str`s (a `(String, String)` key
/// allocated both per call).
#[derive(Default)]
pub struct ServerInfos(ArcSwap<HashMap<String, HashMap<String, Arc<ServerInfo>>>>);

impl ServerInfos {
    pub fn get(&self, server: &str, version: &str) -> Option<Arc<ServerInfo>> {
        self.0.load().get(server)?.get(version).cloned()
    }

    pub fn learn(&self, server: &str, version: &str, info: ServerInfo) {
        if self.get(server, version).is_some_and(|known| *known == info) {
            return;
        }
        self.0.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.entry(server.to_string()).or_default().insert(version.to_string(), Arc::new(info.clone()));
            next
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            server: "everything".into(),
            version: "v1".into(),
            owner: "alice".into(),
            upstream: "5d2c".into(),
            started: 1,
            client_name: Some("x".repeat(500)),
            client_version: None,
            protocol_version: Some("2025-06-18".into()),
        }
    }

    #[test]
    fn issued_ids_verify_for_their_owner_only() {
        let keys = SessionKeys::new(&SecretKey::generate().0);
        let id = keys.issue(&session());
        assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)), "visible ASCII, as Mcp-Session-Id requires");
        assert_eq!(keys.verify(&LastSession::default(), &id, "alice", "everything").unwrap().upstream, "5d2c");
        assert_eq!(keys.verify(&LastSession::default(), &id, "mallory", "everything"), Err(Rejected::Foreign));
        assert_eq!(keys.verify(&LastSession::default(), &id, "alice", "other"), Err(Rejected::Foreign));
    }

    #[test]
    fn a_connections_last_session_is_reused_and_still_checked() {
        let keys = SessionKeys::new(&SecretKey::generate().0);
        let last = LastSession::default();
        let id = keys.issue(&session());
        let first = keys.verify(&last, &id, "alice", "everything").unwrap();
        assert!(Arc::ptr_eq(&first, &keys.verify(&last, &id, "alice", "everything").unwrap()), "kept");
        // Kept, it still belongs to its owner on its server only.
        assert_eq!(keys.verify(&last, &id, "mallory", "everything"), Err(Rejected::Foreign));
        assert_eq!(keys.verify(&last, &id, "alice", "other"), Err(Rejected::Foreign));
        // Another id is verified on its own, forged or genuine.
        let (_, tag) = id.rsplit_once('.').unwrap();
        let mut forged = session();
        forged.owner = "mallory".into();
        let forged_id = format!("{PREFIX}{}.{tag}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap()));
        assert_eq!(keys.verify(&last, &forged_id, "mallory", "everything"), Err(Rejected::Unknown));
        let other = keys.issue(&Session { upstream: "77".into(), ..session() });
        assert_eq!(keys.verify(&last, &other, "alice", "everything").unwrap().upstream, "77");
        assert_eq!(keys.verify(&last, &id, "alice", "everything").unwrap().upstream, "5d2c");
    }

    #[test]
    fn forged_tampered_and_foreign_key_ids_are_unknown() {
        let keys = SessionKeys::new(&SecretKey::generate().0);
        let id = keys.issue(&session());
        let (payload, tag) = id.rsplit_once('.').unwrap();
        let mut forged = session();
        forged.owner = "mallory".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(keys.verify(&LastSession::default(), &format!("{PREFIX}{forged_payload}.{tag}"), "mallory", "everything"), Err(Rejected::Unknown));
        assert_eq!(keys.verify(&LastSession::default(), &format!("{payload}.AAAA"), "alice", "everything"), Err(Rejected::Unknown));
        assert_eq!(keys.verify(&LastSession::default(), "5d2c", "alice", "everything"), Err(Rejected::Unknown), "a raw upstream id");
        let other = SessionKeys::new(&SecretKey::generate().0);
        assert_eq!(other.verify(&LastSession::default(), &id, "alice", "everything"), Err(Rejected::Unknown));
        assert_eq!(keys.verify(&LastSession::default(), &"x".repeat(MAX_SESSION_ID + 1), "alice", "everything"), Err(Rejected::Unknown));
    }

    #[test]
    fn client_supplied_fields_are_capped() {
        let s = Session::start(
            &CallContext { server: "a".into(), version: "v1".into(), client_name: Some("n".repeat(1000)), ..CallContext::default() },
            "alice",
            "up",
        );
        assert_eq!(s.client_name.unwrap().len(), MAX_FIELD);
        assert_eq!(session().client_name.map(|n| capped(&Some(n)).unwrap().len()), Some(MAX_FIELD));
    }
}
