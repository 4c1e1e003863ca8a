//! An OAuth 2.1 authorization server (an OIDC issuer such as Entra ID, Okta
//! or Keycloak) whose access tokens products accept: the gateway validates
//! them as a resource server.

use super::error::{Reason, ValidationErrors};
use super::rules;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const DEFAULT_SUBJECT_CLAIM: &str = "sub";
/// A JWT claim name: the claims mcpgate reads are top-level strings.
pub const CLAIM_PATTERN: &str = "^[A-Za-z0-9_:.-]{1,128}$";
/// An OAuth scope token (RFC 6749 §3.3: visible ASCII except `"` and `\`).
pub const SCOPE_PATTERN: &str = "^[!#-\\[\\]-~]{1,256}$";
pub const MAX_SCOPES: usize = 64;

fn default_subject_claim() -> String {
    DEFAULT_SUBJECT_CLAIM.to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationServerSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The issuer identifier: tokens' `iss` must equal it, and clients find
    /// the server's metadata under it.
    pub issuer: String,
    /// Where its signing keys are published. Absent: `jwks_uri` from the
    /// issuer's metadata (`/.well-known/openid-configuration`, then
    /// `/.well-known/oauth-authorization-server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// The claim naming the caller, matched against subscriptions' `token_subjects`.
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
}

impl AuthorizationServerSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let Some(display_name) = &self.display_name {
            errors.check("display_name", rules::max_len(display_name, rules::MAX_LABEL_LEN));
        }
        errors.check("issuer", rules::http_url(&self.issuer).map(drop));
        if let Some(jwks_url) = &self.jwks_url {
            errors.check("jwks_url", rules::http_url(jwks_url).map(drop));
        }
        errors.check("subject_claim", claim(&self.subject_claim));
        errors.into_result()
    }
}

pub fn claim(value: &str) -> Result<(), Reason> {
    let ok = (1..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_:.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Reason::BadClaim)
    }
}

pub fn scope(value: &str) -> Result<(), Reason> {
    let ok = (1..=256).contains(&value.len()) && value.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\');
    if ok {
        Ok(())
    } else {
        Err(Reason::BadScope)
    }
}

/// Checks a list of scopes at `field`: each a scope token, none repeated.
pub fn check_scopes(field: &str, scopes: &[String], errors: &mut ValidationErrors) {
    errors.check(field, rules::max_entries(scopes.len(), MAX_SCOPES));
    for (i, value) in scopes.iter().enumerate().take(MAX_SCOPES) {
        errors.check(format!("{field}[{i}]"), scope(value));
        if scopes[..i].contains(value) {
            errors.add(format!("{field}[{i}]"), Reason::Duplicate { value: value.clone() });
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuthorizationServer {
    pub name: String,
    pub display_name: String,
    pub issuer: String,
    #[serde(default)]
    pub jwks_url: Option<String>,
    pub subject_claim: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(issuer: &str) -> AuthorizationServerSpec {
        AuthorizationServerSpec { display_name: None, issuer: issuer.into(), jwks_url: None, subject_claim: "sub".into() }
    }

    #[test]
    fn names_the_field_refused() {
        let mut bad = spec("ftp://idp");
        bad.subject_claim = "a b".into();
        let errors = bad.validate().unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["issuer", "subject_claim"]);
        assert!(spec("https://login.example.com/tenant/v2.0").validate().is_ok());
    }

    #[test]
    fn scopes_are_tokens_without_repeats() {
        let mut errors = ValidationErrors::default();
        check_scopes("required_scopes", &["mcp:tools".into(), "a b".into(), "mcp:tools".into()], &mut errors);
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["required_scopes[1]", "required_scopes[2]"]);
    }
}
