//! mcpgate as an OAuth 2.1 resource server: validates bearer access tokens
//! (JWTs) against the authorization servers products trust, with each
//! server's signing keys (JWKS) fetched once and cached. An unknown `kid`
//! fetches the keys again at most once per [`KEYS_REFETCH_INTERVAL`], never
//! once per request.

use crate::model::AuthorizationServerSpec;
use arc_swap::ArcSwap;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The signature algorithms accepted; `none` and HMAC (a shared secret a
/// resource server must not hold) never are.
pub const ACCEPTED_ALGORITHMS: [Algorithm; 8] =
    [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512, Algorithm::ES256, Algorithm::EdDSA];

/// Least time between two fetches of one server's keys.
pub const KEYS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;

/// Why a token was refused; each says what a client (or its operator) needs to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is not a well-formed JWT")]
    Malformed,
    #[error("the access token is signed with {0}, which is not accepted (accepted: RS256, RS384, RS512, PS256, PS384, PS512, ES256, EdDSA)")]
    Algorithm(String),
    #[error("the access token is signed with a key the authorization server does not publish")]
    UnknownKey,
    #[error("the access token's signature does not verify")]
    BadSignature,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid yet")]
    NotYetValid,
    #[error("the access token was not issued by {expected}")]
    WrongIssuer { expected: String },
    #[error("the access token's audience is not {expected}")]
    WrongAudience { expected: String },
    #[error("the access token has no {claim} claim")]
    MissingClaim { claim: String },
    #[error("the authorization server's signing keys cannot be fetched: {0}")]
    KeysUnavailable(String),
}

/// What a valid token says about its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub subject: String,
    pub scopes: Vec<String>,
    /// `client_id` (or `azp`), when the token names the OAuth client.
    pub client_id: Option<String>,
    /// Every claim of the token (what policies read as `token.claims`).
    pub all: Arc<Map<String, Value>>,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, (DecodingKey, Option<Algorithm>)>,
    /// Keys published without a `kid`, tried in turn.
    unnamed: Vec<(DecodingKey, Option<Algorithm>)>,
}

impl KeySet {
    fn from_jwks(jwks: &JwkSet) -> KeySet {
        let mut set = KeySet::default();
        for jwk in &jwks.keys {
            let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
            let algorithm = jwk.common.key_algorithm.and_then(|a| a.to_string().parse::<Algorithm>().ok());
            match &jwk.common.key_id {
                Some(kid) => {
                    set.by_kid.insert(kid.clone(), (key, algorithm));
                }
                None => set.unnamed.push((key, algorithm)),
            }
        }
        set
    }
}

/// One authorization server's keys.
struct Issuer {
    spec: AuthorizationServerSpec,
    keys: ArcSwap<KeySet>,
    /// When the keys were last fetched; held while fetching, so concurrent
    /// requests with an unknown `kid` cause one fetch.
    fetched: tokio::sync::Mutex<Option<Instant>>,
}

/// Validates tokens for every authorization server, keeping their keys.
pub struct TokenVerifier {
    client: reqwest::Client,
    issuers: ArcSwap<HashMap<String, Arc<Issuer>>>,
}

impl TokenVerifier {
    pub fn new(client: reqwest::Client) -> TokenVerifier {
        TokenVerifier { client, issuers: ArcSwap::default() }
    }

    /// Validates `token` as issued by `server` (named `name`) for `audience`.
    pub async fn verify(&self, name: &str, server: &AuthorizationServerSpec, token: &str, audience: &str) -> Result<Claims, TokenError> {
        // A header that parses but names an algorithm jsonwebtoken does not
        // know (`none`, say) is an algorithm refusal; anything else is malformed.
        let header = jsonwebtoken::decode_header(token).map_err(|_| match algorithm_named(token) {
            Some(alg) => TokenError::Algorithm(alg),
            None => TokenError::Malformed,
        })?;
        if !ACCEPTED_ALGORITHMS.contains(&header.alg) {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
        }
        let issuer = self.issuer(name, server);
        let candidates = self.keys_for(&issuer, header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&server.issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let mut last = TokenError::UnknownKey;
        for (key, algorithm) in candidates.iter() {
            if algorithm.is_some_and(|a| a != header.alg) {
                last = TokenError::Algorithm(format!("{:?} (the key is for {:?})", header.alg, algorithm.unwrap_or(header.alg)));
                continue;
            }
            match jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation) {
                Ok(data) => return claims(data.claims, &server.subject_claim),
                Err(err) => last = refusal(err.kind(), server, audience),
            }
        }
        Err(last)
    }

    /// The keys of authorization server `name` as configured now; a changed
    /// spec starts afresh. Added copy-on-write (`rcu`), as `ToolCatalog` does.
    fn issuer(&self, name: &str, spec: &AuthorizationServerSpec) -> Arc<Issuer> {
        let current = |all: &HashMap<String, Arc<Issuer>>| all.get(name).filter(|i| i.spec == *spec).cloned();
        if let Some(issuer) = current(&self.issuers.load()) {
            return issuer;
        }
        let fresh = Arc::new(Issuer { spec: spec.clone(), keys: ArcSwap::default(), fetched: tokio::sync::Mutex::new(None) });
        let mut chosen = fresh.clone();
        self.issuers.rcu(|all| {
            let mut next = HashMap::clone(all);
            chosen = current(all).unwrap_or_else(|| {
                next.insert(name.to_string(), fresh.clone());
                fresh.clone()
            });
            next
        });
        chosen
    }

    /// The keys a token naming `kid` may be signed with, fetching the
    /// server's keys when they were never fetched, or when `kid` is unknown
    /// and the last fetch is older than the interval.
    async fn keys_for(&self, issuer: &Issuer, kid: Option<&str>) -> Result<Vec<(DecodingKey, Option<Algorithm>)>, TokenError> {
        if let Some(found) = lookup(&issuer.keys.load(), kid) {
            return Ok(found);
        }
        let mut fetched = issuer.fetched.lock().await;
        if let Some(found) = lookup(&issuer.keys.load(), kid) {
            return Ok(found);
        }
        let due = fetched.is_none_or(|at| at.elapsed() >= KEYS_REFETCH_INTERVAL);
        if !due {
            return Err(TokenError::UnknownKey);
        }
        let jwks = self.fetch_keys(&issuer.spec).await;
        *fetched = Some(Instant::now());
        issuer.keys.store(Arc::new(KeySet::from_jwks(&jwks?)));
        lookup(&issuer.keys.load(), kid).ok_or(TokenError::UnknownKey)
    }

    async fn fetch_keys(&self, spec: &AuthorizationServerSpec) -> Result<JwkSet, TokenError> {
        let jwks_url = match &spec.jwks_url {
            Some(url) => url.clone(),
            None => self.discover_jwks_url(&spec.issuer).await?,
        };
        tracing::info!(jwks_url = %jwks_url, "fetching the authorization server's signing keys");
        self.get_json::<JwkSet>(&jwks_url).await
    }

    /// `jwks_uri` from the issuer's metadata: OpenID Connect discovery, then
    /// RFC 8414 (`/.well-known/oauth-authorization-server` before the path).
    async fn discover_jwks_url(&self, issuer: &str) -> Result<String, TokenError> {
        let mut last = TokenError::KeysUnavailable(format!("{issuer} publishes no metadata"));
        for url in metadata_urls(issuer) {
            match self.get_json::<Value>(&url).await {
                Ok(metadata) => match metadata.get("jwks_uri").and_then(Value::as_str) {
                    Some(jwks_uri) => return Ok(jwks_uri.to_string()),
                    None => last = TokenError::KeysUnavailable(format!("{url} has no jwks_uri")),
                },
                Err(err) => last = err,
            }
        }
        Err(last)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, TokenError> {
        let unavailable = |e: String| TokenError::KeysUnavailable(format!("{url}: {e}"));
        let response = self.client.get(url).timeout(Duration::from_secs(10)).send().await.map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("HTTP {}", response.status())));
        }
        response.json::<T>().await.map_err(|e| unavailable(e.to_string()))
    }
}

fn lookup(keys: &KeySet, kid: Option<&str>) -> Option<Vec<(DecodingKey, Option<Algorithm>)>> {
    match kid {
        Some(kid) => keys.by_kid.get(kid).map(|k| vec![k.clone()]),
        None if !keys.unnamed.is_empty() => Some(keys.unnamed.clone()),
        None if keys.by_kid.len() == 1 => Some(keys.by_kid.values().cloned().collect()),
        None => None,
    }
}

/// Where an issuer's metadata may be, in the order tried.
pub fn metadata_urls(issuer: &str) -> Vec<String> {
    let trimmed = issuer.trim_end_matches('/');
    let mut urls = vec![format!("{trimmed}/.well-known/openid-configuration")];
    if let Ok(url) = url::Url::parse(trimmed) {
        let path = url.path().trim_end_matches('/');
        let origin = url.origin().ascii_serialization();
        urls.push(format!("{origin}/.well-known/oauth-authorization-server{path}"));
    }
    urls
}

/// The `alg` a token's header names, when it can be read.
fn algorithm_named(token: &str) -> Option<String> {
    use base64::Engine;
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get("alg").and_then(Value::as_str).map(|a| a.chars().take(32).collect())
}

fn refusal(kind: &jsonwebtoken::errors::ErrorKind, server: &AuthorizationServerSpec, audience: &str) -> TokenError {
    use jsonwebtoken::errors::ErrorKind as Kind;
    match kind {
        Kind::InvalidSignature | Kind::InvalidEcdsaKey | Kind::InvalidRsaKey(_) | Kind::InvalidKeyFormat => TokenError::BadSignature,
        Kind::ExpiredSignature => TokenError::Expired,
        Kind::ImmatureSignature => TokenError::NotYetValid,
        Kind::InvalidIssuer => TokenError::WrongIssuer { expected: server.issuer.clone() },
        Kind::InvalidAudience => TokenError::WrongAudience { expected: audience.to_string() },
        Kind::MissingRequiredClaim(claim) => TokenError::MissingClaim { claim: claim.clone() },
        Kind::InvalidAlgorithm | Kind::InvalidAlgorithmName | Kind::MissingAlgorithm => {
            TokenError::Algorithm("an algorithm that does not match the key".into())
        }
        _ => TokenError::Malformed,
    }
}

/// The caller's subject and scopes: `scope` (RFC 9068, space-separated) or
/// `scp` (Entra ID and Okta: a string or a list).
fn claims(claims: Map<String, Value>, subject_claim: &str) -> Result<Claims, TokenError> {
    let subject = match claims.get(subject_claim) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(TokenError::MissingClaim { claim: subject_claim.to_string() }),
    };
    let scopes = match claims.get("scope").or_else(|| claims.get("scp")).cloned() {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(list)) => list.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    let client_id = ["client_id", "azp"].iter().find_map(|c| claims.get(*c).and_then(Value::as_str)).map(|c| c.chars().take(256).collect());
    Ok(Claims { subject, scopes, client_id, all: Arc::new(claims) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_looked_for_where_oidc_and_rfc_8414_put_it() {
        assert_eq!(
            metadata_urls("https://login.example.com/tenant/v2.0"),
            [
                "https://login.example.com/tenant/v2.0/.well-known/openid-configuration",
                "https://login.example.com/.well-known/oauth-authorization-server/tenant/v2.0"
            ]
        );
    }

    #[test]
    fn scopes_come_from_scope_or_scp() {
        let from = |v: Value| claims(v.as_object().cloned().unwrap_or_default(), "sub");
        let c = from(serde_json::json!({ "sub": "alice", "scope": "mcp:tools mcp:read" })).unwrap();
        assert_eq!(c.scopes, ["mcp:tools", "mcp:read"]);
        let c = from(serde_json::json!({ "sub": "alice", "scp": ["a", "b"], "azp": "vscode" })).unwrap();
        assert_eq!((c.scopes.as_slice(), c.client_id.as_deref()), (["a".to_string(), "b".to_string()].as_slice(), Some("vscode")));
        assert_eq!(from(serde_json::json!({ "scope": "a" })), Err(TokenError::MissingClaim { claim: "sub".into() }));
    }

    #[test]
    fn unsigned_tokens_name_their_algorithm() {
        use base64::Engine;
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let token = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(r#"{"sub":"alice"}"#));
        assert_eq!(algorithm_named(&token).as_deref(), Some("none"));
    }
}
