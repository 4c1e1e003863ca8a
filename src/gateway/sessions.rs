//! MCP sessions seen through the gateway: which version each started on (a
//! session never moves), and who owns it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Session {
    pub version: String,
    /// The caller that started it; nobody else may use it.
    pub caller: String,
    pub started: Instant,
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
        let mut sessions = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let session = sessions.get_mut(&(server.to_string(), id.to_string()))?;
        session.last_seen = Instant::now();
        Some(session.clone())
    }

    pub fn pin(&self, server: &str, id: &str, version: &str, caller: &str) {
        let now = Instant::now();
        let mut sessions = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| now.duration_since(s.last_seen) < IDLE_LIMIT);
        }
        if sessions.len() >= MAX_SESSIONS {
            if let Some(idlest) = sessions.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| k.clone()) {
                sessions.remove(&idlest);
            }
        }
        sessions
            .entry((server.to_string(), id.to_string()))
            .or_insert_with(|| Session { version: version.to_string(), caller: caller.to_string(), started: now, last_seen: now });
    }

    pub fn end(&self, server: &str, id: &str) -> Option<Session> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner()).remove(&(server.to_string(), id.to_string()))
    }
}
