//! `subscriptions/{subscription}`, with approve, reject and regenerate-key.

use super::problem::{ApiError, ProblemType};
use super::resource::{self, ApiResource, Prepared, Revealed};
use super::AppState;
use crate::model::subscription::generate_key;
use crate::model::{Key, KeySlot, Kind, ProductSpec, Reason, Subscription, SubscriptionSpec, SubscriptionState, ValidationErrors};
use crate::store::{KeyChange, Precondition, Put, Record, Written};
use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{RawPathParams, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub struct Subscriptions;

#[async_trait]
impl ApiResource for Subscriptions {
    const KIND: Kind = Kind::Subscription;
    const COLLECTION: &'static str = "/subscriptions";
    const ITEM: &'static str = "/subscriptions/{subscription}";
    const READ_ONLY: &'static [&'static str] = &["created_at", "updated_at", "primary_key", "secondary_key"];
    const FILTERS: &'static [&'static str] = &["product"];
    type Spec = SubscriptionSpec;
    type View = Subscription;

    fn validate(spec: &SubscriptionSpec) -> Result<(), ValidationErrors> {
        spec.validate()
    }

    fn minimal() -> serde_json::Value {
        serde_json::json!({ "product": "any" })
    }

    fn view(record: &Record, spec: SubscriptionSpec, revealed: Revealed) -> Subscription {
        Subscription {
            state: spec.current_state(),
            name: record.key.name.clone(),
            product: spec.product,
            display_name: spec.display_name,
            owner: spec.owner,
            token_subjects: spec.token_subjects,
            primary_key: revealed.primary,
            secondary_key: revealed.secondary,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }

    /// New subscriptions get their state from the product and a fresh key
    /// pair; existing ones may only move along the lifecycle.
    async fn prepare(state: &AppState, _key: &Key, current: Option<&SubscriptionSpec>, spec: &mut SubscriptionSpec) -> Result<Prepared, ApiError> {
        if let Some(current) = current {
            spec.check_update(current).map_err(ApiError::conflict)?;
            return Ok(Prepared::default());
        }
        let product_key = Key::top(Kind::Product, &spec.product);
        let Some(product) = state.store.get(&product_key).await? else {
            let reason = Reason::Malformed { message: format!("{} does not exist", product_key.path()) };
            return Err(ApiError::conflict(ValidationErrors::single("product", reason)));
        };
        let product: ProductSpec = serde_json::from_value(product.body).map_err(ApiError::internal)?;
        spec.check_create(&product).map_err(ApiError::conflict)?;
        let (primary, secondary) = (generate_key(), generate_key());
        Ok(Prepared {
            keys: Some(KeyChange::Both { primary: primary.clone(), secondary: secondary.clone() }),
            revealed: Revealed { primary: Some(primary), secondary: Some(secondary) },
        })
    }
}

/// Moves a submitted subscription to `to` (the API's approve and reject,
/// and the console's).
pub async fn decide(state: &AppState, key: &Key, to: SubscriptionState) -> Result<Written, ApiError> {
    let build = |current: Option<&Record>| {
        let current = current.ok_or_else(|| ApiError::not_found(key))?;
        let mut spec = resource::stored_spec::<Subscriptions>(current)?;
        let from = spec.current_state();
        if from != SubscriptionState::Submitted {
            return Err(ApiError::new(ProblemType::InvalidState, format!("{key} is {from}; only submitted subscriptions can be decided")));
        }
        spec.state = Some(to);
        Ok(spec)
    };
    let (written, _) = resource::write::<Subscriptions>(state, key, &Precondition::None, build).await?;
    Ok(written)
}

async fn decide_and_respond(state: &AppState, params: &RawPathParams, to: SubscriptionState) -> Result<Response, ApiError> {
    let key = resource::key_from_path(Kind::Subscription, params)?;
    let written = decide(state, &key, to).await?;
    resource::respond::<Subscriptions>(StatusCode::OK, &written.record, Revealed::default())
}

pub async fn approve(State(state): State<AppState>, params: RawPathParams) -> Result<Response, ApiError> {
    decide_and_respond(&state, &params, SubscriptionState::Active).await
}

pub async fn reject(State(state): State<AppState>, params: RawPathParams) -> Result<Response, ApiError> {
    decide_and_respond(&state, &params, SubscriptionState::Rejected).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegenerateKey {
    /// Which key to replace.
    pub key: KeySlot,
}

/// Replaces one key; the other keeps working, so consumers can roll keys
/// without downtime.
pub async fn regenerate_key(State(state): State<AppState>, params: RawPathParams, body: Bytes) -> Result<Response, ApiError> {
    let key = resource::key_from_path(Kind::Subscription, &params)?;
    let doc = serde_json::from_slice(&body).map_err(|e| ApiError::new(ProblemType::MalformedJson, e.to_string()))?;
    let request: RegenerateKey = crate::model::rules::decode(doc)?;
    let (written, new_key) = replace_key(&state, &key, request.key).await?;
    let revealed = match request.key {
        KeySlot::Primary => Revealed { primary: Some(new_key), secondary: None },
        KeySlot::Secondary => Revealed { primary: None, secondary: Some(new_key) },
    };
    resource::respond::<Subscriptions>(StatusCode::OK, &written.record, revealed)
}

/// Puts a fresh key in `slot`; the old one stops working once the write is
/// served. Returns the new key, in clear, to show once.
pub async fn replace_key(state: &AppState, key: &Key, slot: KeySlot) -> Result<(Written, String), ApiError> {
    let guard = state.lock_for_write(key).await;
    let current = state.store.get(key).await?.ok_or_else(|| ApiError::not_found(key))?;
    let new_key = generate_key();
    let keys = KeyChange::One { slot, key: new_key.clone() };
    let put = Put { key: key.clone(), body: current.body, precondition: Precondition::matches(current.etag), keys: Some(keys) };
    let written = state.store.put(put).await?;
    drop(guard);
    state.served(written.change).await;
    Ok((written, new_key))
}

/// Both keys of a subscription, in clear.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionSecrets {
    pub primary_key: String,
    pub secondary_key: String,
}

/// `list-secrets`: the subscription's current keys, for automation that
/// must hand them on (the Terraform ephemeral resource). Every call is
/// recorded in the audit log.
pub async fn list_secrets(State(state): State<AppState>, params: RawPathParams) -> Result<Json<SubscriptionSecrets>, ApiError> {
    let key = resource::key_from_path(Kind::Subscription, &params)?;
    let (primary_key, secondary_key) = state.store.reveal_keys(&key.name).await?.ok_or_else(|| ApiError::not_found(&key))?;
    state.store.append_audit("admin", "list-secrets", &key.path()).await?;
    Ok(Json(SubscriptionSecrets { primary_key, secondary_key }))
}
