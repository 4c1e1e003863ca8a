//! Who is signed in: a cookie signed with a key derived from the store's
//! secret key (so every admin replica accepts it), CSRF tokens bound to it,
//! and the sign-in rate limit.

use axum::http::{header, HeaderMap, HeaderValue};
use ring::hmac;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) const SESSION_COOKIE: &str = "mcpgate_session";
/// Double-submit token of the sign-in form (there is no session yet).
pub(crate) const SIGN_IN_COOKIE: &str = "mcpgate_sign_in";
const SESSION_SECONDS: i64 = 8 * 3600;

/// Failed sign-ins allowed per user name within [`FAILURE_WINDOW`].
const MAX_FAILURES: u32 = 5;
/// Failed sign-ins allowed per client address within [`FAILURE_WINDOW`],
/// whatever names it tries.
const MAX_FAILURES_PER_ADDRESS: u32 = 30;
const FAILURE_WINDOW: Duration = Duration::from_secs(300);
/// Most names and addresses whose failures are remembered; past it the
/// stale ones, then the oldest, are forgotten.
const MAX_TRACKED: usize = 10_000;

/// Whose failed sign-ins a count is of. Keys stay small whatever a client
/// posts: a name that can be no user's counts as [`Who::NoUser`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Who {
    User(String),
    NoUser,
    Address(IpAddr),
}

impl Who {
    fn user(name: &str) -> Who {
        match crate::model::rules::name(name) {
            Ok(()) => Who::User(name.to_string()),
            Err(_) => Who::NoUser,
        }
    }

    fn limit(&self) -> u32 {
        match self {
            Who::User(_) | Who::NoUser => MAX_FAILURES,
            Who::Address(_) => MAX_FAILURES_PER_ADDRESS,
        }
    }
}

pub(crate) struct Sessions {
    signing: hmac::Key,
    csrf: hmac::Key,
    failures: Mutex<HashMap<Who, (u32, Instant)>>,
}

/// A verified session cookie: who, when it was issued (Unix milliseconds:
/// a sign-out ends every session issued before it), and the fingerprint of
/// the password hash it was issued for (a new password ends every older
/// session).
pub(crate) struct SessionClaims {
    pub user: String,
    pub issued_ms: i64,
    pub password_fingerprint: String,
}

/// What identifies a password hash in a session without revealing it.
pub(crate) fn password_fingerprint(password_hash: &str) -> String {
    hex::encode(&Sha256::digest(password_hash.as_bytes())[..8])
}

impl Sessions {
    pub(crate) fn new(secret: &crate::secrets::SecretKey) -> Sessions {
        Sessions {
            signing: hmac::Key::new(hmac::HMAC_SHA256, &secret.derive("web-session")),
            csrf: hmac::Key::new(hmac::HMAC_SHA256, &secret.derive("web-csrf")),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `user.issued_ms.fingerprint.signature`; user names are slugs, so the
    /// dots are unambiguous. `now_ms`: Unix milliseconds.
    pub(crate) fn issue(&self, user: &str, password_hash: &str, now_ms: i64) -> String {
        let payload = format!("{user}.{now_ms}.{}", password_fingerprint(password_hash));
        let signature = hmac::sign(&self.signing, payload.as_bytes());
        format!("{payload}.{}", hex::encode(signature.as_ref()))
    }

    pub(crate) fn verify(&self, token: &str, now_ms: i64) -> Option<SessionClaims> {
        let (payload, signature) = token.rsplit_once('.')?;
        hmac::verify(&self.signing, payload.as_bytes(), &hex::decode(signature).ok()?).ok()?;
        let mut parts = payload.split('.');
        let (user, issued, fingerprint) = (parts.next()?, parts.next()?, parts.next()?);
        let issued_ms = issued.parse::<i64>().ok()?;
        if parts.next().is_some() || issued_ms + SESSION_SECONDS * 1000 <= now_ms {
            return None;
        }
        Some(SessionClaims { user: user.to_string(), issued_ms, password_fingerprint: fingerprint.to_string() })
    }

    /// The token every form of a session carries.
    pub(crate) fn csrf_token(&self, session: &str) -> String {
        hex::encode(hmac::sign(&self.csrf, session.as_bytes()).as_ref())
    }

    pub(crate) fn csrf_matches(&self, session: &str, presented: &str) -> bool {
        hex::decode(presented).is_ok_and(|tag| hmac::verify(&self.csrf, session.as_bytes(), &tag).is_ok())
    }

    /// A panic elsewhere leaves the counts as they were: still usable.
    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<Who, (u32, Instant)>> {
        crate::lock(&self.failures)
    }

    /// `Some(seconds to wait)` when `user`, or the client at `address`,
    /// failed too often lately.
    pub(crate) fn locked_out(&self, user: &str, address: Option<IpAddr>) -> Option<u64> {
        let failures = self.failures();
        let wait = |who: &Who| {
            let (count, since) = failures.get(who)?;
            let elapsed = since.elapsed();
            (*count >= who.limit() && elapsed < FAILURE_WINDOW).then(|| (FAILURE_WINDOW - elapsed).as_secs().max(1))
        };
        let by_address = address.and_then(|a| wait(&Who::Address(a)));
        wait(&Who::user(user)).max(by_address)
    }

    pub(crate) fn record_failure(&self, user: &str, address: Option<IpAddr>) {
        let mut failures = self.failures();
        for who in std::iter::once(Who::user(user)).chain(address.map(Who::Address)) {
            if !failures.contains_key(&who) && failures.len() >= MAX_TRACKED {
                make_room(&mut failures);
            }
            let entry = failures.entry(who).or_insert((0, Instant::now()));
            if entry.1.elapsed() >= FAILURE_WINDOW {
                *entry = (0, Instant::now());
            }
            entry.0 += 1;
        }
    }

    pub(crate) fn record_success(&self, user: &str) {
        self.failures().remove(&Who::user(user));
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.failures().len()
    }
}

/// Forgets stale counts, and when none are stale, the oldest one: the map
/// never holds more than [`MAX_TRACKED`] entries.
fn make_room(failures: &mut HashMap<Who, (u32, Instant)>) {
    failures.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
    if failures.len() < MAX_TRACKED {
        return;
    }
    if let Some(oldest) = failures.iter().min_by_key(|(_, (_, since))| *since).map(|(who, _)| who.clone()) {
        failures.remove(&oldest);
    }
}

/// The value of one cookie of the request.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Cookies are `Secure` when the admin listener is reached over TLS (a
/// TLS-terminating proxy in front says so in `X-Forwarded-Proto`).
fn over_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value: script-proof, never sent cross-site.
pub(crate) fn set_cookie(request: &HeaderMap, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if over_tls(request) { "; Secure" } else { "" };
    let cookie = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

pub(crate) fn session_cookie(request: &HeaderMap, token: &str) -> HeaderValue {
    set_cookie(request, SESSION_COOKIE, token, SESSION_SECONDS)
}

/// Whether a form post comes from our own pages: browsers send `Origin`
/// on every POST; when present it must name this host.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    origin.split_once("://").is_some_and(|(_, authority)| authority == host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(&crate::secrets::SecretKey::generate().0)
    }

    #[test]
    fn a_session_verifies_until_it_expires_and_not_after_tampering() {
        let sessions = sessions();
        let token = sessions.issue("alice", "hash", 1_000);
        let claims = sessions.verify(&token, 1_001).expect("valid");
        assert_eq!((claims.user.as_str(), claims.issued_ms, claims.password_fingerprint), ("alice", 1_000, password_fingerprint("hash")));
        assert!(sessions.verify(&token, 1_000 + SESSION_SECONDS * 1000).is_none(), "expired");
        assert!(sessions.verify(&token.replacen("alice", "mallory", 1), 1_001).is_none(), "another user");
        assert!(self::sessions().verify(&token, 1_001).is_none(), "another secret key");
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let sessions = sessions();
        let (a, b) = (sessions.issue("alice", "h", 0), sessions.issue("bob", "h", 0));
        assert!(sessions.csrf_matches(&a, &sessions.csrf_token(&a)));
        assert!(!sessions.csrf_matches(&a, &sessions.csrf_token(&b)));
        assert!(!sessions.csrf_matches(&a, "not hex"));
    }

    #[test]
    fn sign_in_locks_out_after_repeated_failures() {
        let sessions = sessions();
        for _ in 0..MAX_FAILURES - 1 {
            sessions.record_failure("alice", None);
        }
        assert!(sessions.locked_out("alice", None).is_none());
        sessions.record_failure("alice", None);
        assert!(sessions.locked_out("alice", None).is_some_and(|s| s <= 300));
        assert!(sessions.locked_out("bob", None).is_none());
    }

    /// Names of any length and number cannot grow the map: names that can
    /// be no user's share one count, and the map holds at most
    /// `MAX_TRACKED` entries; the client's address is limited too.
    #[test]
    fn failed_sign_ins_are_counted_in_bounded_memory() {
        let sessions = sessions();
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        let huge = "x".repeat(1024 * 1024);
        for _ in 0..MAX_FAILURES {
            sessions.record_failure(&huge, None);
        }
        assert_eq!(sessions.tracked(), 1);
        assert!(sessions.locked_out(&format!("{huge}y"), None).is_some(), "every name that is no user's shares one count");
        for i in 0..MAX_TRACKED + 100 {
            sessions.record_failure(&format!("user-{i}"), None);
        }
        assert_eq!(sessions.tracked(), MAX_TRACKED);
        for i in 0..MAX_FAILURES_PER_ADDRESS {
            assert!(sessions.locked_out(&format!("guess-{i}"), Some(address)).is_none());
            sessions.record_failure(&format!("guess-{i}"), Some(address));
        }
        assert!(sessions.locked_out("carol", Some(address)).is_some(), "the address tried too many names");
        assert!(sessions.locked_out("carol", Some("192.0.2.8".parse().unwrap())).is_none());
    }

    #[test]
    fn cross_origin_posts_are_told_apart() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9000"));
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:9000"));
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(!same_origin(&headers));
    }
}
