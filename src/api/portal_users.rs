//! `portal-users/{portal_user}`: who may sign in to the portal and console.

use super::problem::ApiError;
use super::resource::{ApiResource, Prepared, Revealed};
use super::AppState;
use crate::model::{Key, Kind, PortalUser, PortalUserSpec, ValidationErrors};
use crate::store::Record;
use async_trait::async_trait;

pub struct PortalUsers;

#[async_trait]
impl ApiResource for PortalUsers {
    const KIND: Kind = Kind::PortalUser;
    const COLLECTION: &'static str = "/portal-users";
    const ITEM: &'static str = "/portal-users/{portal_user}";
    type Spec = PortalUserSpec;
    type View = PortalUser;

    fn validate(spec: &PortalUserSpec) -> Result<(), ValidationErrors> {
        spec.validate()
    }

    fn minimal() -> serde_json::Value {
        serde_json::json!({ "password": "a password of length" })
    }

    fn view(record: &Record, spec: PortalUserSpec, _: Revealed) -> PortalUser {
        PortalUser {
            display_name: spec.display_name.unwrap_or_else(|| record.key.name.clone()),
            name: record.key.name.clone(),
            role: spec.role,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }

    /// Hashes a new password (off the async workers: it takes a while on
    /// purpose) or keeps the stored hash. A new user without a password is
    /// a conflict (409), not a malformed document: the same document is
    /// valid for a user that exists.
    async fn prepare(_state: &AppState, _key: &Key, current: Option<&PortalUserSpec>, spec: &mut PortalUserSpec) -> Result<Prepared, ApiError> {
        let (current, mut owned) = (current.cloned(), spec.clone());
        let sealed = tokio::task::spawn_blocking(move || owned.seal_password(current.as_ref()).map(|()| owned)).await.map_err(ApiError::internal)?;
        *spec = sealed.map_err(ApiError::conflict)?;
        Ok(Prepared::default())
    }
}
