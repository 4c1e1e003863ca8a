//! `mcp_authorization_server`: an OAuth 2.1 authorization server (OIDC
//! issuer) whose access tokens products accept.

use super::dynamic::{Type, Value};
use super::resource::{validate_spec, ListDef, ResourceDef};
use super::schema::{Attribute, Identity, Schema};
use crate::model::authorization_server::DEFAULT_SUBJECT_CLAIM;
use crate::model::AuthorizationServerSpec;

pub fn attributes() -> Vec<Attribute> {
    vec![
        Attribute::required("name", Type::String, "Unique name (slug) products refer to. Changing it replaces the authorization server.").replace(),
        Attribute::optional_computed("display_name", Type::String, "Human-friendly name; defaults to `name`."),
        Attribute::required(
            "issuer",
            Type::String,
            "The issuer identifier, e.g. `https://login.microsoftonline.com/<tenant>/v2.0`: tokens' `iss` must equal it, and MCP clients discover the server's metadata under it.",
        ),
        Attribute::optional(
            "jwks_url",
            Type::String,
            "Where the signing keys are published. Unset: `jwks_uri` from the issuer's metadata (OpenID Connect discovery, then RFC 8414).",
        ),
        Attribute::optional_computed(
            "subject_claim",
            Type::String,
            "The token claim that names the caller, matched against subscriptions' `token_subjects` (default `sub`; e.g. `oid` for Entra ID object ids).",
        )
        .default(Value::string(DEFAULT_SUBJECT_CLAIM)),
        Attribute::computed("created_at", Type::String, "When the authorization server was created (RFC 3339)."),
        Attribute::computed("updated_at", Type::String, "When the authorization server last changed (RFC 3339).").volatile(),
    ]
}

pub fn definition() -> ResourceDef {
    ResourceDef {
        type_name: "mcp_authorization_server",
        schema: Schema::new(
            "An OAuth 2.1 authorization server (Entra ID, Okta, Keycloak, any OIDC issuer) whose access tokens products accept: the gateway validates them as a resource server.",
            attributes(),
        ),
        identity: Identity { version: 0, attributes: vec![("name", "The authorization server's name.")] },
        path: "authorization-servers/{name}",
        validate: |body| validate_spec::<AuthorizationServerSpec>(body, &["name"], AuthorizationServerSpec::validate),
        map_attributes: &[],
        plan_hook: None,
        state_hook: None,
        body_hook: None,
        read_check: None,
        plan_check: None,
        list: Some(ListDef {
            schema: Schema::new("Lists every authorization server.", Vec::new()),
            collection: |_| Ok("authorization-servers".to_string()),
            filter: |_, _| true,
        }),
    }
}
