//! A person who signs in to the web UI: consumers to the developer portal,
//! operators to the console. The password is write-only: the store keeps a
//! PBKDF2 hash, and no answer ever carries either.

use super::error::{Reason, ValidationErrors};
use super::rules;
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;
use utoipa::ToSchema;

pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 256;

/// What a portal user may do in the web UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PortalRole {
    /// Browses published products, subscribes, sees their own keys and usage.
    #[default]
    Consumer,
    /// Also uses the console: approvals, adoption, errors, the call log.
    Operator,
}

impl PortalRole {
    pub fn as_str(self) -> &'static str {
        match self {
            PortalRole::Consumer => "consumer",
            PortalRole::Operator => "operator",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalUserSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub role: PortalRole,
    /// Write-only: required on creation, optional afterwards (absent keeps
    /// the current one). 12 to 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// What the store keeps instead of the password; set by the control
    /// plane only (whatever a client sends here is replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub password_hash: Option<String>,
    /// Web sessions issued at or before this moment (Unix milliseconds)
    /// are over: signing out sets it, on every admin replica at once. Set by
    /// the control plane only; a write never moves it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub sessions_revoked_at: Option<i64>,
}

impl PortalUserSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let Some(display_name) = &self.display_name {
            errors.check("display_name", rules::max_len(display_name, rules::MAX_LABEL_LEN));
        }
        if let Some(password) = &self.password {
            let length = password.chars().count();
            if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&length) {
                errors.add("password", Reason::Length { min: MIN_PASSWORD_LEN, max: MAX_PASSWORD_LEN });
            }
        }
        errors.into_result()
    }

    /// Whether a web session issued at `issued_ms` (Unix milliseconds) was
    /// ended by a sign-out since.
    pub fn session_revoked(&self, issued_ms: i64) -> bool {
        self.sessions_revoked_at.is_some_and(|revoked| issued_ms <= revoked)
    }

    /// Replaces a new password by its hash, or keeps the stored hash; keeps
    /// the latest session revocation. CPU-heavy by design when a password
    /// is given (run it off the async workers).
    pub fn seal_password(&mut self, current: Option<&PortalUserSpec>) -> Result<(), ValidationErrors> {
        self.sessions_revoked_at = self.sessions_revoked_at.max(current.and_then(|c| c.sessions_revoked_at));
        match self.password.take() {
            Some(password) => self.password_hash = Some(hash_password(&password)),
            None => match current.and_then(|c| c.password_hash.clone()) {
                Some(hash) => self.password_hash = Some(hash),
                None => return Err(ValidationErrors::single("password", Reason::Required)),
            },
        }
        Ok(())
    }
}

/// The representation: never the password or its hash.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PortalUser {
    pub name: String,
    pub display_name: String,
    pub role: PortalRole,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// OWASP's figure for PBKDF2-HMAC-SHA256 (2023).
const PBKDF2_ITERATIONS: u32 = 600_000;
const SCHEME: &str = "pbkdf2-sha256";

/// `pbkdf2-sha256$<iterations>$<salt>$<hash>`, salt and hash base64url.
pub fn hash_password(password: &str) -> String {
    use base64::Engine;
    let salt: [u8; 16] = rand::random();
    let iterations = NonZeroU32::new(PBKDF2_ITERATIONS).unwrap_or(NonZeroU32::MIN);
    let mut hash = [0u8; 32];
    ring::pbkdf2::derive(ring::pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, password.as_bytes(), &mut hash);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("{SCHEME}${PBKDF2_ITERATIONS}${}${}", b64.encode(salt), b64.encode(hash))
}

/// Whether `password` is the one `stored` was made from (in constant time).
pub fn verify_password(password: &str, stored: &str) -> bool {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = stored.split('$');
    let (Some(SCHEME), Some(iterations), Some(salt), Some(hash), None) = (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Some(iterations), Ok(salt), Ok(hash)) = (iterations.parse::<u32>().ok().and_then(NonZeroU32::new), b64.decode(salt), b64.decode(hash))
    else {
        return false;
    };
    ring::pbkdf2::verify(ring::pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, password.as_bytes(), &hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_only() {
        let hash = hash_password("correct horse battery");
        assert!(hash.starts_with("pbkdf2-sha256$600000$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterz", &hash));
        assert!(!verify_password("correct horse battery", "pbkdf2-sha256$1$AA$AA"));
        assert!(!verify_password("correct horse battery", "garbage"));
        assert_ne!(hash, hash_password("correct horse battery"), "every hash has its own salt");
    }

    #[test]
    fn passwords_are_write_only_and_required_once() {
        let mut spec =
            PortalUserSpec { display_name: None, role: PortalRole::Consumer, password: None, password_hash: None, sessions_revoked_at: Some(5) };
        let errors = spec.clone().seal_password(None).unwrap_err();
        assert_eq!(errors.to_string(), "password: is required");
        spec.password = Some("short".into());
        assert_eq!(spec.validate().unwrap_err().to_string(), "password: must be 12 to 256 characters long");
        spec.password = Some("long enough password".into());
        spec.seal_password(None).unwrap();
        assert!(spec.password.is_none() && spec.password_hash.is_some());
        let mut update = PortalUserSpec { password_hash: Some("forged".into()), ..spec.clone() };
        update.seal_password(Some(&spec)).unwrap();
        assert_eq!(update.password_hash, spec.password_hash, "a client-sent hash is replaced by the stored one");
        let mut update = PortalUserSpec { sessions_revoked_at: None, ..spec.clone() };
        update.seal_password(Some(&spec)).unwrap();
        assert_eq!(update.sessions_revoked_at, Some(5), "a write never brings ended sessions back");
        assert!(update.session_revoked(5) && !update.session_revoked(6));
    }
}
