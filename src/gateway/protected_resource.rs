//! OAuth 2.0 Protected Resource Metadata (RFC 9728): how an MCP client
//! finds the authorization server for a server it was refused by, and the
//! `WWW-Authenticate: Bearer` challenges (RFC 6750) that point to it.

use super::access::{Challenge, Resource};
use super::{Gateway, Snapshot};
use axum::extract::{RawPathParams, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::sync::Arc;

pub const ROOT: &str = "/.well-known/oauth-protected-resource";
pub const SERVER: &str = "/.well-known/oauth-protected-resource/mcp/{server}";
pub const SERVER_VERSION: &str = "/.well-known/oauth-protected-resource/mcp/{server}/{version}";
pub const PRODUCT: &str = "/.well-known/oauth-protected-resource/products/{product}/mcp";

/// An endpoint's canonical resource URI (RFC 8707), which tokens' `aud` must equal.
pub fn resource_uri(public_url: &str, resource: Resource<'_>) -> String {
    format!("{public_url}{}", resource.path())
}

/// Where an endpoint's metadata is: the path-specific location clients try first.
pub fn metadata_url(public_url: &str, resource: Resource<'_>) -> String {
    format!("{public_url}{ROOT}{}", resource.path())
}

/// Quotes a challenge parameter's value: no `"` or `\`, no control characters.
fn quoted(value: &str) -> String {
    let clean: String = value.chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).take(300).collect();
    format!("\"{clean}\"")
}

pub fn www_authenticate(metadata_url: &str, challenge: &Challenge, description: &str) -> String {
    let mut params = Vec::new();
    if let Some(error) = challenge.error {
        params.push(format!("error={}", quoted(error)));
        params.push(format!("error_description={}", quoted(description)));
    }
    params.push(format!("resource_metadata={}", quoted(metadata_url)));
    if !challenge.scopes.is_empty() {
        params.push(format!("scope={}", quoted(&challenge.scopes.join(" "))));
    }
    format!("Bearer {}", params.join(", "))
}

/// The issuers of the authorization servers the token products of
/// `resource` (of every server, when `None`) trust, sorted, without repeats.
fn issuers(snapshot: &Snapshot, resource: Option<Resource<'_>>) -> Vec<String> {
    let mut issuers: Vec<String> = Vec::new();
    let products: Vec<&Arc<super::config::ProductConfig>> = match resource {
        Some(Resource::Product(name)) => snapshot.products.get(name).filter(|p| p.published() && p.spec.accepts_tokens()).into_iter().collect(),
        Some(Resource::Server(server)) => snapshot.token_products.get(server).into_iter().flatten().collect(),
        None => snapshot.token_products.values().flatten().collect(),
    };
    for product in products {
        let spec = product.spec.authorization_server.as_deref().and_then(|name| snapshot.authorization_servers.get(name));
        if let Some(spec) = spec.filter(|spec| !issuers.contains(&spec.issuer)) {
            issuers.push(spec.issuer.clone());
        }
    }
    issuers.sort();
    issuers
}

fn not_found(message: String) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": "not_found", "error_description": message }))).into_response()
}

/// `GET /.well-known/oauth-protected-resource/mcp/{server}[/{version}]`.
pub async fn server(State(gateway): State<Arc<Gateway>>, params: RawPathParams, headers: HeaderMap) -> Response {
    let server = params.iter().next().map(|(_, v)| v.to_string()).unwrap_or_default();
    let snapshot = gateway.config.current();
    let shown: String = server.chars().take(64).collect();
    if !snapshot.servers.contains_key(&server) {
        return not_found(format!("no MCP server named {shown:?}"));
    }
    metadata(&gateway, &snapshot, &headers, Resource::Server(&server), &shown)
}

/// `GET /.well-known/oauth-protected-resource/products/{product}/mcp`.
pub async fn product(State(gateway): State<Arc<Gateway>>, params: RawPathParams, headers: HeaderMap) -> Response {
    let product = params.iter().next().map(|(_, v)| v.to_string()).unwrap_or_default();
    let snapshot = gateway.config.current();
    let shown: String = product.chars().take(64).collect();
    if !snapshot.products.get(&product).is_some_and(|p| p.published()) {
        return not_found(format!("no published product named {shown:?}"));
    }
    metadata(&gateway, &snapshot, &headers, Resource::Product(&product), &shown)
}

fn metadata(gateway: &Gateway, snapshot: &Snapshot, headers: &HeaderMap, resource: Resource<'_>, shown: &str) -> Response {
    let authorization_servers = issuers(snapshot, Some(resource));
    if authorization_servers.is_empty() {
        return not_found(format!("{} accepts no OAuth access tokens", resource.path()));
    }
    let public_url = gateway.public_url(super::header(headers, axum::http::header::HOST));
    Json(json!({
        "resource": resource_uri(&public_url, resource),
        "authorization_servers": authorization_servers,
        "scopes_supported": super::access::scopes_for(snapshot, resource),
        "bearer_methods_supported": ["header"],
        "resource_name": shown,
    }))
    .into_response()
}

/// `GET /.well-known/oauth-protected-resource`: the gateway as a whole.
pub async fn root(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let snapshot = gateway.config.current();
    let authorization_servers = issuers(&snapshot, None);
    if authorization_servers.is_empty() {
        return not_found("no server of this gateway accepts OAuth access tokens".into());
    }
    let mut scopes: Vec<String> =
        snapshot.token_products.keys().flat_map(|server| super::access::scopes_for(&snapshot, Resource::Server(server))).collect();
    scopes.sort();
    scopes.dedup();
    Json(json!({
        "resource": gateway.public_url(super::header(&headers, axum::http::header::HOST)),
        "authorization_servers": authorization_servers,
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_quote_safely_and_name_the_metadata() {
        let challenge = Challenge { error: Some("invalid_token"), scopes: vec!["mcp:tools".into(), "mcp:read".into()] };
        let header = www_authenticate("http://gw/.well-known/oauth-protected-resource/mcp/a", &challenge, "bad \"token\"\n");
        assert_eq!(
            header,
            r#"Bearer error="invalid_token", error_description="bad token", resource_metadata="http://gw/.well-known/oauth-protected-resource/mcp/a", scope="mcp:tools mcp:read""#
        );
        let missing = Challenge { error: None, scopes: Vec::new() };
        assert_eq!(www_authenticate("http://m", &missing, "ignored"), r#"Bearer resource_metadata="http://m""#);
    }
}
