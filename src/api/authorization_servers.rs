//! `authorization-servers/{authorization_server}`

use super::resource::{ApiResource, Revealed};
use crate::model::{AuthorizationServer, AuthorizationServerSpec, Kind, ValidationErrors};
use crate::store::Record;

pub struct AuthorizationServers;

impl ApiResource for AuthorizationServers {
    const KIND: Kind = Kind::AuthorizationServer;
    const COLLECTION: &'static str = "/authorization-servers";
    const ITEM: &'static str = "/authorization-servers/{authorization_server}";
    type Spec = AuthorizationServerSpec;
    type View = AuthorizationServer;

    fn validate(spec: &AuthorizationServerSpec) -> Result<(), ValidationErrors> {
        spec.validate()
    }

    fn minimal() -> serde_json::Value {
        serde_json::json!({ "issuer": "https://idp.invalid" })
    }

    fn view(record: &Record, spec: AuthorizationServerSpec, _: Revealed) -> AuthorizationServer {
        AuthorizationServer {
            display_name: spec.display_name.unwrap_or_else(|| record.key.name.clone()),
            name: record.key.name.clone(),
            issuer: spec.issuer,
            jwks_url: spec.jwks_url,
            subject_claim: spec.subject_claim,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}
