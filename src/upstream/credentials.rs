//! Access tokens for backends that authenticate mcpgate with the OAuth 2.0
//! client-credentials grant (RFC 6749 §4.4). A token is fetched on first
//! use, kept until shortly before it expires, and fetched again by one
//! request while concurrent ones wait for it. The client secret is sent
//! only to the token endpoint (HTTP Basic), never logged or traced.

use crate::model::version::ClientCredentials;
use arc_swap::ArcSwap;
use reqwest::header::HeaderValue;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(60);
/// Lifetime assumed when the token endpoint does not say (`expires_in`).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, thiserror::Error)]
pub enum CredentialsError {
    #[error("the token endpoint {url} is unreachable: {message}")]
    Unreachable { url: String, message: String },
    #[error("the token endpoint {url} answered HTTP {status}")]
    Refused { url: String, status: u16 },
    #[error("the token endpoint {url} answered without an access token")]
    Malformed { url: String },
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

struct Cached {
    /// `Bearer …`, marked sensitive.
    header: HeaderValue,
    renew_at: Instant,
}

#[derive(Default)]
struct Slot {
    token: ArcSwap<Option<Cached>>,
    fetching: tokio::sync::Mutex<()>,
}

/// Tokens by the credentials they were granted for (a changed secret or
/// scope list is another entry).
pub struct UpstreamTokens {
    client: reqwest::Client,
    slots: ArcSwap<HashMap<ClientCredentials, Arc<Slot>>>,
}

impl UpstreamTokens {
    pub fn new(client: reqwest::Client) -> UpstreamTokens {
        UpstreamTokens { client, slots: ArcSwap::default() }
    }

    /// The `Authorization` value to send with `credentials`.
    pub async fn authorization(&self, credentials: &ClientCredentials) -> Result<HeaderValue, CredentialsError> {
        let slot = self.slot(credentials);
        if let Some(header) = fresh(&slot) {
            return Ok(header);
        }
        let _fetching = slot.fetching.lock().await;
        if let Some(header) = fresh(&slot) {
            return Ok(header);
        }
        let cached = fetch(&self.client, credentials).await?;
        let header = cached.header.clone();
        slot.token.store(Arc::new(Some(cached)));
        Ok(header)
    }

    /// The slot of `credentials`, added copy-on-write (`rcu`), as
    /// `ToolCatalog` does. Adding one drops the slots whose token has
    /// expired (credentials no version uses any more); a slot still waiting
    /// for its first token stays.
    fn slot(&self, credentials: &ClientCredentials) -> Arc<Slot> {
        if let Some(slot) = self.slots.load().get(credentials) {
            return slot.clone();
        }
        let fresh = Arc::new(Slot::default());
        let mut chosen = fresh.clone();
        self.slots.rcu(|all| {
            if let Some(slot) = all.get(credentials) {
                chosen = slot.clone();
                return HashMap::clone(all);
            }
            let now = Instant::now();
            let mut next: HashMap<ClientCredentials, Arc<Slot>> = all
                .iter()
                .filter(|(_, s)| s.token.load().as_ref().as_ref().is_none_or(|c| c.renew_at > now))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            next.insert(credentials.clone(), fresh.clone());
            chosen = fresh.clone();
            next
        });
        chosen
    }
}

fn fresh(slot: &Slot) -> Option<HeaderValue> {
    let token = slot.token.load();
    token.as_ref().as_ref().filter(|c| Instant::now() < c.renew_at).map(|c| c.header.clone())
}

async fn fetch(client: &reqwest::Client, credentials: &ClientCredentials) -> Result<Cached, CredentialsError> {
    let url = credentials.token_url.clone();
    let form = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if !credentials.scopes.is_empty() {
            form.append_pair("scope", &credentials.scopes.join(" "));
        }
        form.finish()
    };
    let started = Instant::now();
    let response = client
        .post(&url)
        .basic_auth(&credentials.client_id, Some(&credentials.client_secret))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|e| CredentialsError::Unreachable { url: url.clone(), message: e.to_string() })?;
    if !response.status().is_success() {
        return Err(CredentialsError::Refused { url, status: response.status().as_u16() });
    }
    let token: TokenResponse = response.json().await.map_err(|_| CredentialsError::Malformed { url: url.clone() })?;
    let mut header =
        HeaderValue::from_str(&format!("Bearer {}", token.access_token)).map_err(|_| CredentialsError::Malformed { url: url.clone() })?;
    header.set_sensitive(true);
    let lifetime = token.expires_in.map(Duration::from_secs).unwrap_or(DEFAULT_LIFETIME);
    // Renew a minute early, or at half-life for short-lived tokens.
    let renew_after = lifetime.checked_sub(RENEW_BEFORE).filter(|d| *d >= lifetime / 2).unwrap_or(lifetime / 2);
    tracing::debug!(token_url = %url, client_id = %credentials.client_id, lifetime_s = lifetime.as_secs(), "fetched an upstream access token");
    Ok(Cached { header, renew_at: started + renew_after })
}
