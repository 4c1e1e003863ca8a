//! Who is calling and through which product: subscription keys, OAuth
//! access tokens mapped to subscriptions by their subject, product state,
//! and whether the product contains the server.

use super::config::{Association, ProductConfig, Snapshot, SubscriptionConfig};
use super::oauth::{Claims, TokenError, TokenVerifier};
use crate::model::subscription::KeyHash;
use crate::model::SubscriptionState;
use axum::http::StatusCode;
use std::sync::{Arc, Mutex};

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    None,
    SubscriptionKey,
    OAuthToken,
}

impl AuthType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::None => "none",
            AuthType::SubscriptionKey => "subscription_key",
            AuthType::OAuthToken => "oauth_token",
        }
    }
}

/// What a caller asks to reach: one server's endpoint (`/mcp/{server}`) or
/// a product's (`/products/{product}/mcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    Server(&'a str),
    Product(&'a str),
}

impl Resource<'_> {
    /// The endpoint's path on the gateway listener.
    pub fn path(self) -> String {
        match self {
            Resource::Server(server) => format!("/mcp/{server}"),
            Resource::Product(product) => format!("/products/{product}/mcp"),
        }
    }

    /// The published products that accept access tokens for it.
    fn token_products(self, snapshot: &Snapshot) -> Option<Vec<Arc<ProductConfig>>> {
        match self {
            Resource::Server(server) => snapshot.token_products.get(server).cloned(),
            Resource::Product(name) => {
                let product = snapshot.products.get(name).filter(|p| p.published() && p.spec.accepts_tokens())?;
                Some(vec![product.clone()])
            }
        }
    }
}

/// What the caller presented.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    None,
    Key(&'a str),
    /// An access token from `Authorization: Bearer`.
    Token(&'a str),
}

/// An admitted caller.
#[derive(Debug, Clone)]
pub struct Grant {
    pub subscription: Option<Arc<SubscriptionConfig>>,
    pub product: Arc<ProductConfig>,
    pub auth: AuthType,
    /// Token callers: the subject claim.
    pub subject: Option<String>,
    /// Token callers: every claim of the token (what policies read).
    pub claims: Option<Arc<serde_json::Map<String, serde_json::Value>>>,
}

impl Grant {
    pub fn association(&self, server: &str) -> Option<&Arc<Association>> {
        self.product.servers.get(server)
    }

    /// The name limits and stickiness are kept under.
    pub fn caller(&self, client_address: std::net::IpAddr) -> String {
        match &self.subscription {
            Some(s) => s.name.clone(),
            None => format!("anonymous:{}:{client_address}", self.product.name),
        }
    }

    pub fn auth_type(&self) -> &'static str {
        self.auth.as_str()
    }
}

/// What a `WWW-Authenticate: Bearer` challenge says (RFC 6750 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `invalid_token`, `invalid_request`, `insufficient_scope`; none when no token was sent.
    pub error: Option<&'static str>,
    /// The scopes the resource needs.
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
    /// Present when the caller may retry with an access token.
    pub challenge: Option<Challenge>,
}

fn deny(status: StatusCode, reason: &'static str, message: String) -> Denial {
    Denial { status, reason, message, challenge: None }
}

/// The scopes a client needs for `resource`: those every token product of it requires.
pub fn scopes_for(snapshot: &Snapshot, resource: Resource<'_>) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for product in resource.token_products(snapshot).into_iter().flatten() {
        for scope in &product.spec.required_scopes {
            if !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
    }
    scopes
}

fn challenge(snapshot: &Snapshot, resource: Resource<'_>, error: Option<&'static str>) -> Option<Challenge> {
    resource.token_products(snapshot).map(|_| Challenge { error, scopes: scopes_for(snapshot, resource) })
}

/// Decides whether a caller presenting `credential` may reach `resource`;
/// tokens are validated for `audience`, its resource URI.
pub(crate) async fn authorize(
    snapshot: &Snapshot,
    verifier: &TokenVerifier,
    resource: Resource<'_>,
    credential: Credential<'_>,
    audience: &str,
    last_key: &LastKey,
) -> Result<Grant, Denial> {
    match credential {
        Credential::None => anonymous(snapshot, resource),
        Credential::Key(key) => by_key(snapshot, resource, &last_key.hash(key)),
        // Boxed, as rarer branches of a request are (`gateway::handle`).
        Credential::Token(token) => Box::pin(by_token(snapshot, verifier, resource, token, audience)).await,
    }
}

/// The last subscription key a connection presented, and its hash. A
/// client sends one key on every call of a connection, and hashing it
/// (SHA-256) was the largest single step of admitting a call. Only the
/// hash is looked up, in the current snapshot, so a revoked or rotated
/// key is refused on its next call as before. Keys are compared in
/// constant time: a trusted proxy in front may carry several clients'
/// calls on one connection.
#[derive(Default)]
pub(crate) struct LastKey(Mutex<Option<(Box<str>, KeyHash)>>);

impl LastKey {
    pub(crate) fn hash(&self, key: &str) -> KeyHash {
        // Only this connection's calls lock it, one at a time unless pipelined.
        let mut last = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, hash)) = last.as_ref().filter(|(kept, _)| same_key(kept, key)) {
            return *hash;
        }
        let hash = KeyHash::of(key);
        *last = Some((key.into(), hash));
        hash
    }
}

/// Whether two keys are the same, in time that depends on their length only.
fn same_key(kept: &str, presented: &str) -> bool {
    kept.len() == presented.len() && kept.bytes().zip(presented.bytes()).fold(0u8, |differs, (a, b)| differs | (a ^ b)) == 0
}

/// The published product that admits callers without a key, if any.
fn open_product(snapshot: &Snapshot, resource: Resource<'_>) -> Option<Arc<ProductConfig>> {
    match resource {
        Resource::Server(server) => snapshot.open_products.get(server).and_then(|products| products.first()).cloned(),
        Resource::Product(name) => snapshot.products.get(name).filter(|p| p.published() && !p.spec.subscription_required).cloned(),
    }
}

fn anonymous(snapshot: &Snapshot, resource: Resource<'_>) -> Result<Grant, Denial> {
    if let Some(product) = open_product(snapshot, resource) {
        return Ok(Grant { subscription: None, product, auth: AuthType::None, subject: None, claims: None });
    }
    let (message, challenge) = match challenge(snapshot, resource, None) {
        Some(challenge) => ("send an OAuth access token (Authorization: Bearer) or a subscription key (X-Subscription-Key)", Some(challenge)),
        None => ("send a subscription key in the X-Subscription-Key header", None),
    };
    Err(Denial { challenge, ..deny(StatusCode::UNAUTHORIZED, "unauthorized", message.into()) })
}

fn by_key(snapshot: &Snapshot, resource: Resource<'_>, key: &KeyHash) -> Result<Grant, Denial> {
    let Some(subscription) = snapshot.subscriptions_by_key.get(key.as_str()) else {
        return Err(deny(StatusCode::UNAUTHORIZED, "unauthorized", "the subscription key is not valid".into()));
    };
    let product = admit(snapshot, resource, subscription)?;
    if !product.spec.accept_keys {
        let message = format!("product {} accepts only OAuth access tokens (Authorization: Bearer)", product.name);
        return Err(Denial { challenge: challenge(snapshot, resource, None), ..deny(StatusCode::UNAUTHORIZED, "keys_not_accepted", message) });
    }
    Ok(Grant { subscription: Some(subscription.clone()), product, auth: AuthType::SubscriptionKey, subject: None, claims: None })
}

/// The subscription's product, when the subscription is active and the
/// product published and what `resource` names (containing the server, or
/// the product itself).
fn admit(snapshot: &Snapshot, resource: Resource<'_>, subscription: &SubscriptionConfig) -> Result<Arc<ProductConfig>, Denial> {
    if subscription.state != SubscriptionState::Active {
        let message = format!("subscription {} is {}", subscription.name, subscription.state);
        return Err(deny(StatusCode::FORBIDDEN, "subscription_inactive", message));
    }
    let Some(product) = snapshot.products.get(&subscription.product) else {
        return Err(deny(StatusCode::FORBIDDEN, "forbidden", format!("product {} does not exist", subscription.product)));
    };
    if !product.published() {
        return Err(deny(StatusCode::FORBIDDEN, "product_not_published", format!("product {} is not published", product.name)));
    }
    match resource {
        Resource::Server(server) if !product.servers.contains_key(server) => {
            let message = format!("product {} does not include server {server}", product.name);
            Err(deny(StatusCode::FORBIDDEN, "server_not_in_product", message))
        }
        Resource::Product(name) if product.name != name => {
            let message = format!("subscription {} is to product {}, not to {name}", subscription.name, product.name);
            Err(deny(StatusCode::FORBIDDEN, "not_subscribed", message))
        }
        _ => Ok(product.clone()),
    }
}

/// A token admits its caller through the first product of `resource` whose
/// authorization server validates it and that has a subscription bound to
/// the token's subject.
async fn by_token(snapshot: &Snapshot, verifier: &TokenVerifier, resource: Resource<'_>, token: &str, audience: &str) -> Result<Grant, Denial> {
    let Some(products) = resource.token_products(snapshot) else {
        let message = format!("{} accepts no OAuth access tokens; send a subscription key in the X-Subscription-Key header", resource.path());
        return Err(deny(StatusCode::UNAUTHORIZED, "tokens_not_accepted", message));
    };
    let products = &products;
    let mut validated: Vec<(&str, Result<Claims, TokenError>)> = Vec::new();
    let mut refusal: Option<Denial> = None;
    for product in products {
        let Some(name) = product.spec.authorization_server.as_deref() else { continue };
        let Some(authorization_server) = snapshot.authorization_servers.get(name) else { continue };
        if !validated.iter().any(|(n, _)| *n == name) {
            validated.push((name, verifier.verify(name, authorization_server, token, audience).await));
        }
        let Some((_, Ok(claims))) = validated.iter().find(|(n, _)| *n == name) else { continue };
        let Some(subscription) = snapshot.subscriptions_by_subject.get(&(product.name.clone(), claims.subject.clone())) else { continue };
        let missing: Vec<&String> = product.spec.required_scopes.iter().filter(|s| !claims.scopes.contains(s)).collect();
        if !missing.is_empty() {
            let message = format!("the access token lacks the scopes {} that product {} requires", join(&missing), product.name);
            let challenge = Challenge { error: Some("insufficient_scope"), scopes: product.spec.required_scopes.clone() };
            refusal.get_or_insert(Denial { challenge: Some(challenge), ..deny(StatusCode::FORBIDDEN, "insufficient_scope", message) });
            continue;
        }
        let product = admit(snapshot, resource, subscription)?;
        return Ok(Grant {
            subscription: Some(subscription.clone()),
            product,
            auth: AuthType::OAuthToken,
            subject: Some(claims.subject.clone()),
            claims: Some(claims.all.clone()),
        });
    }
    if let Some(refusal) = refusal {
        return Err(refusal);
    }
    if let Some((_, Ok(claims))) = validated.iter().find(|(_, r)| r.is_ok()) {
        let shown: String = claims.subject.chars().take(128).collect();
        let message = format!("no subscription to a product of {} is bound to the token's subject {shown:?}", resource.path());
        return Err(deny(StatusCode::FORBIDDEN, "subject_not_subscribed", message));
    }
    let error = validated.into_iter().find_map(|(_, r)| r.err());
    let (status, reason, message) = match error {
        Some(TokenError::KeysUnavailable(detail)) => {
            tracing::warn!(%detail, "cannot fetch an authorization server's keys");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "authorization_server_unavailable",
                "the authorization server's signing keys cannot be fetched right now".into(),
            )
        }
        Some(err) => (StatusCode::UNAUTHORIZED, "invalid_token", err.to_string()),
        None => (StatusCode::UNAUTHORIZED, "invalid_token", "no authorization server of this server's products is configured".into()),
    };
    let challenge = (status == StatusCode::UNAUTHORIZED).then(|| Challenge { error: Some("invalid_token"), scopes: scopes_for(snapshot, resource) });
    Err(Denial { challenge, ..deny(status, reason, message) })
}

fn join(scopes: &[&String]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_key_hash_serves_only_the_same_key() {
        let last = LastKey::default();
        let (alice, bob) = ("mcpk_alice_0123456789", "mcpk_bobby_0123456789");
        assert_eq!(last.hash(alice).as_str(), KeyHash::of(alice).as_str());
        assert_eq!(last.hash(alice).as_str(), KeyHash::of(alice).as_str(), "kept");
        assert_eq!(last.hash(bob).as_str(), KeyHash::of(bob).as_str(), "another key of the same length is hashed, not given the kept hash");
        assert_eq!(last.hash("mcpk_alice").as_str(), KeyHash::of("mcpk_alice").as_str(), "a prefix of the kept key is another key");
        assert_eq!(last.hash(alice).as_str(), KeyHash::of(alice).as_str());
        assert!(same_key(alice, alice) && !same_key(alice, bob) && !same_key(alice, "") && !same_key("", alice));
    }
}
