//! MCP sessions seen through the gateway: which version each started on (a
//! session never moves), and who owns it.

use super::lock;
use crate::telemetry::observation::CallContext;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the initialize exchange said about both ends.
#[derive(Debug, Clone, Default)]
pub struct SessionInfo {
    pub client_name: Option<String>,
    pub client_version: Option<String>,
    pub server_name: Option<String>,
    pub server_version: Option<String>,
    pub protocol_version: Option<String>,
}

impl SessionInfo {
    pub fn of(context: &CallContext) -> SessionInfo {
        SessionInfo {
            client_name: context.client_name.clone(),
            client_version: context.client_version.clone(),
            server_name: context.server_name.clone(),
            server_version: context.server_version.clone(),
            protocol_version: context.protocol_version.clone(),
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
        fill(&mut context.server_name, &self.server_name);
        fill(&mut context.server_version, &self.server_version);
        fill(&mut context.protocol_version, &self.protocol_version);
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub version: String,
    /// The caller that started it; nobody else may use it.
    pub caller: String,
    pub started: Instant,
    pub info: SessionInfo,
    last_seen: Instant,
}

/// Sessions idle this long are forgotten.
const IDLE_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// Bound on remembered sessions; past it the idlest go first.
const MAX_SESSIONS: usize = 100_000;

#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<(String, String), Session>>,
}

impl Sessions {
    pub fn get(&self, server: &str, id: &str) -> Option<Session> {
        let mut sessions = lock(&self.by_id);
        let session = sessions.get_mut(&(server.to_string(), id.to_string()))?;
        session.last_seen = Instant::now();
        Some(session.clone())
    }

    pub fn pin(&self, server: &str, id: &str, version: &str, caller: &str, info: SessionInfo) {
        let now = Instant::now();
        let mut sessions = lock(&self.by_id);
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| now.duration_since(s.last_seen) < IDLE_LIMIT);
        }
        if sessions.len() >= MAX_SESSIONS {
            if let Some(idlest) = sessions.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| k.clone()) {
                sessions.remove(&idlest);
            }
        }
        sessions.entry((server.to_string(), id.to_string())).or_insert_with(|| Session {
            version: version.to_string(),
            caller: caller.to_string(),
            started: now,
            info,
            last_seen: now,
        });
    }

    /// Records what the initialize result said about the server.
    pub fn describe(&self, server: &str, id: &str, context: &CallContext) {
        let mut sessions = lock(&self.by_id);
        if let Some(session) = sessions.get_mut(&(server.to_string(), id.to_string())) {
            session.info = SessionInfo::of(context);
        }
    }

    pub fn end(&self, server: &str, id: &str) -> Option<Session> {
        lock(&self.by_id).remove(&(server.to_string(), id.to_string()))
    }
}
