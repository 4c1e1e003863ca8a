//! The five verbs every resource shares (PUT, GET, PATCH, DELETE, list),
//! written once over [`ApiResource`]; each resource file says only what is
//! particular to it.

use super::problem::{ApiError, ProblemType};
use super::AppState;
use crate::model::{rules, Key, Kind, Reason, ValidationErrors};
use crate::store::{KeyChange, ListQuery, Precondition, Put, Record, StoreError, Written};
use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{Query, RawPathParams, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use utoipa::ToSchema;

/// Subscription keys shown once, in the response that created them.
#[derive(Debug, Clone, Default)]
pub struct Revealed {
    pub primary: Option<String>,
    pub secondary: Option<String>,
}

/// What a resource's own write rules add to the stored write.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub keys: Option<KeyChange>,
    pub revealed: Revealed,
}

#[async_trait]
pub trait ApiResource: Send + Sync + 'static {
    const KIND: Kind;
    /// Route of the collection below `/api/v1`, e.g. `/servers/{server}/versions`.
    const COLLECTION: &'static str;
    /// Route of one resource below `/api/v1`.
    const ITEM: &'static str;
    /// Representation fields a write may carry (a GET sent back) but not set.
    const READ_ONLY: &'static [&'static str] = &["created_at", "updated_at"];
    /// Query parameters, besides paging, that filter the collection.
    const FILTERS: &'static [&'static str] = &[];
    /// The largest request body a write may carry, when larger than the
    /// HTTP layer's default (2 MiB).
    const BODY_LIMIT: Option<usize> = None;
    type Spec: Serialize + DeserializeOwned + Clone + Send + Sync + ToSchema;
    type View: Serialize + ToSchema;

    fn validate(spec: &Self::Spec) -> Result<(), ValidationErrors>;

    fn view(record: &Record, spec: Self::Spec, revealed: Revealed) -> Self::View;

    /// The smallest valid document of this kind (what a patch is checked on alone).
    fn minimal() -> Value {
        Value::Object(Default::default())
    }

    /// Body fields that name the resource; when present they must match the path.
    fn identity(key: &Key) -> Vec<(&'static str, String)> {
        vec![("name", key.name.clone())]
    }

    /// Rules that depend on the stored resource or others, run before each write.
    async fn prepare(_state: &AppState, _key: &Key, _current: Option<&Self::Spec>, _spec: &mut Self::Spec) -> Result<Prepared, ApiError> {
        Ok(Prepared::default())
    }
}

/// How often a write without a client precondition retries after losing a race.
const WRITE_ATTEMPTS: usize = 5;
pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Builds the key from the matched path, checking every name in it.
pub fn key_from_path(kind: Kind, params: &RawPathParams) -> Result<Key, ApiError> {
    let values: Vec<(&str, &str)> = params.iter().collect();
    let mut errors = ValidationErrors::default();
    for (i, (param, value)) in values.iter().enumerate() {
        let field = if i + 1 == values.len() { "name" } else { param };
        errors.check(field, rules::name(value));
    }
    errors.into_result()?;
    Ok(match values.as_slice() {
        [(_, name)] => Key::top(kind, *name),
        [(_, parent), (_, name)] => Key::child(kind, *parent, *name),
        _ => return Err(ApiError::internal(format!("route for {kind:?} has {} path parameters", values.len()))),
    })
}

/// The parent named by a nested collection's path.
fn parent_from_path(kind: Kind, params: &RawPathParams) -> Result<(String, Option<Key>), ApiError> {
    let Some((param, value)) = params.iter().next() else { return Ok((String::new(), None)) };
    if rules::name(value).is_err() {
        return Err(ApiError::field(param, Reason::BadName));
    }
    let parent_kind = match kind {
        Kind::Version => Kind::Server,
        _ => Kind::Product,
    };
    Ok((value.to_string(), Some(Key::top(parent_kind, value))))
}

/// The entity tags of an `If-Match` or `If-None-Match` list (RFC 9110
/// §8.8.3); `None` when the value is not one. `W/` marks weak tags.
fn entity_tags(value: &str) -> Option<Vec<(bool, String)>> {
    let mut tags = Vec::new();
    let mut rest = value.trim();
    while !rest.is_empty() {
        let (weak, after) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let after = after.strip_prefix('"')?;
        let end = after.find('"')?;
        let tag = &after[..end];
        if tag.bytes().any(|b| b == b'"' || b < 0x21 || b == 0x7f) {
            return None;
        }
        tags.push((weak, tag.to_string()));
        rest = after[end + 1..].trim_start();
        match rest.strip_prefix(',') {
            Some(next) => rest = next.trim_start(),
            None if rest.is_empty() => {}
            None => return None,
        }
    }
    (!tags.is_empty()).then_some(tags)
}

fn malformed_condition(header: &'static str) -> ApiError {
    ApiError::field(header, Reason::Malformed { message: "must be * or a comma-separated list of quoted entity tags, e.g. \"3f2a9c\"".into() })
}

/// The request's precondition (RFC 9110 §13.1): `If-Match` compares
/// strongly, so a weak tag never matches; `If-None-Match` compares weakly.
pub fn precondition(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    // An empty field is an empty list: no condition.
    let value = |name: &'static str| -> Result<Option<&str>, ApiError> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v.to_str().map(|v| Some(v.trim()).filter(|v| !v.is_empty())).map_err(|_| malformed_condition(name)),
        }
    };
    let if_match = match value("if-match")? {
        None => None,
        Some("*") => Some(Precondition::Exists),
        Some(list) => {
            let tags = entity_tags(list).ok_or_else(|| malformed_condition("If-Match"))?;
            Some(Precondition::Matches(tags.into_iter().filter(|(weak, _)| !weak).map(|(_, tag)| tag).collect()))
        }
    };
    let if_none_match = match value("if-none-match")? {
        None => None,
        Some("*") => Some(Precondition::Absent),
        Some(list) => {
            let tags = entity_tags(list).ok_or_else(|| malformed_condition("If-None-Match"))?;
            Some(Precondition::NoneMatch(tags.into_iter().map(|(_, tag)| tag).collect()))
        }
    };
    // RFC 9110 §13.2.2: If-Match first, then If-None-Match.
    Ok(match (if_match, if_none_match) {
        (Some(a), Some(b)) => Precondition::All(vec![a, b]),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => Precondition::None,
    })
}

pub fn etag_header(etag: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{etag}\"")).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

pub fn stored_spec<R: ApiResource>(record: &Record) -> Result<R::Spec, ApiError> {
    serde_json::from_value(record.body.clone()).map_err(|e| ApiError::internal(format!("{}: {e}", record.key)))
}

pub fn respond<R: ApiResource>(status: StatusCode, record: &Record, revealed: Revealed) -> Result<Response, ApiError> {
    let view = R::view(record, stored_spec::<R>(record)?, revealed);
    let mut response = (status, axum::Json(view)).into_response();
    response.headers_mut().insert(header::ETAG, etag_header(&record.etag));
    if status == StatusCode::CREATED {
        if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/{}", record.key.path())) {
            response.headers_mut().insert(header::LOCATION, location);
        }
    }
    Ok(response)
}

fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| ApiError::new(ProblemType::MalformedJson, e.to_string()))?;
    if !doc.is_object() {
        return Err(ApiError::field("body", Reason::Malformed { message: "must be a JSON object".into() }));
    }
    Ok(doc)
}

fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::new(ProblemType::UnsupportedMediaType, format!("Content-Type {content_type:?} is not JSON")))
    }
}

/// Removes the identity and read-only fields of a document, checking that
/// identity fields agree with the path.
fn strip_non_spec<R: ApiResource>(key: &Key, doc: &mut Value) -> Result<(), ApiError> {
    let Some(object) = doc.as_object_mut() else { return Ok(()) };
    let mut errors = ValidationErrors::default();
    for (field, expected) in R::identity(key) {
        match object.remove(field) {
            Some(Value::String(given)) if given != expected => errors.add(field, Reason::NameMismatch { expected }),
            Some(Value::String(_)) | None => {}
            Some(_) => errors.add(field, Reason::NameMismatch { expected }),
        }
    }
    for field in R::READ_ONLY {
        object.remove(*field);
    }
    errors.into_result().map_err(ApiError::from)
}

fn decode_spec<R: ApiResource>(doc: Value) -> Result<R::Spec, ApiError> {
    let spec = rules::decode::<R::Spec>(doc)?;
    R::validate(&spec)?;
    Ok(spec)
}

/// A compare-and-set write: reads, builds the new spec from what it read,
/// and stores it only if nothing changed in between. Without a client
/// precondition a lost race is retried; with one it is reported.
pub async fn write<R: ApiResource>(
    state: &AppState,
    key: &Key,
    client: &Precondition,
    build: impl Fn(Option<&Record>) -> Result<R::Spec, ApiError>,
) -> Result<(Written, Revealed), ApiError> {
    let _guard = state.lock_for_write(key).await;
    for attempt in 0..WRITE_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5 << attempt)).await;
        }
        let current = state.store.get(key).await?;
        client.check(key, current.as_ref())?;
        let current_spec = current.as_ref().map(stored_spec::<R>).transpose()?;
        let mut spec = build(current.as_ref())?;
        let prepared = R::prepare(state, key, current_spec.as_ref(), &mut spec).await?;
        let precondition = match &current {
            Some(record) => Precondition::matches(record.etag.clone()),
            None => Precondition::Absent,
        };
        let body = serde_json::to_value(&spec).map_err(ApiError::internal)?;
        let put = Put { key: key.clone(), body, precondition, keys: prepared.keys };
        match state.store.put(put).await {
            Ok(written) => {
                state.served(written.change).await;
                return Ok((written, prepared.revealed));
            }
            Err(StoreError::PreconditionFailed { .. } | StoreError::AlreadyExists { .. }) if *client == Precondition::None => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::new(ProblemType::PreconditionFailed, format!("{key} kept changing while being written; try again")))
}

pub async fn put<R: ApiResource>(
    State(state): State<AppState>,
    params: RawPathParams,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = key_from_path(R::KIND, &params)?;
    require_json(&headers)?;
    let mut doc = parse_json(&body)?;
    strip_non_spec::<R>(&key, &mut doc)?;
    let spec = decode_spec::<R>(doc)?;
    let (written, revealed) = write::<R>(&state, &key, &precondition(&headers)?, |_| Ok(spec.clone())).await?;
    let status = if written.created { StatusCode::CREATED } else { StatusCode::OK };
    respond::<R>(status, &written.record, revealed)
}

/// A patch names only the resource's writable fields, even to remove one
/// (`null` on an unknown field would otherwise pass as a no-op).
fn check_patch_fields<R: ApiResource>(patch: &Value) -> Result<(), ApiError> {
    let schema = serde_json::to_value(<R::Spec as utoipa::PartialSchema>::schema()).map_err(ApiError::internal)?;
    let known = schema.get("properties").and_then(Value::as_object);
    let mut errors = ValidationErrors::default();
    for field in patch.as_object().into_iter().flat_map(|o| o.keys()) {
        if !known.is_some_and(|k| k.contains_key(field)) {
            errors.add(if field.is_empty() { "\"\"".to_string() } else { field.clone() }, Reason::UnknownField);
        }
    }
    errors.into_result().map_err(ApiError::from)
}

pub async fn patch<R: ApiResource>(
    State(state): State<AppState>,
    params: RawPathParams,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = key_from_path(R::KIND, &params)?;
    require_json(&headers)?;
    let mut merge_patch = parse_json(&body)?;
    strip_non_spec::<R>(&key, &mut merge_patch)?;
    // The patch itself must be valid (400): what it sets, on the smallest
    // valid document of its kind. What it makes of the stored resource may
    // still not be (incomplete together, a forbidden transition): 409.
    check_patch_fields::<R>(&merge_patch)?;
    let mut alone = R::minimal();
    json_patch::merge(&mut alone, &merge_patch);
    let spec = rules::decode::<R::Spec>(alone)?;
    if let Err(mut errors) = R::validate(&spec) {
        // A rule between fields may hold once the stored fields join in.
        use crate::model::Reason;
        errors.0.retain(|e| !matches!(e.reason, Reason::Requires { .. } | Reason::RequiredOr { .. } | Reason::ConflictsWith { .. }));
        errors.into_result()?;
    }
    let build = |current: Option<&Record>| {
        let current = current.ok_or_else(|| ApiError::not_found(&key))?;
        let mut doc = current.body.clone();
        json_patch::merge(&mut doc, &merge_patch);
        decode_spec::<R>(doc).map_err(|e| if e.kind == ProblemType::Validation { ApiError::conflict(e.errors) } else { e })
    };
    let client = precondition(&headers)?;
    let (written, revealed) = write::<R>(&state, &key, &client, build).await?;
    respond::<R>(StatusCode::OK, &written.record, revealed)
}

/// GET, with conditional requests: `If-None-Match` answers 304 when the
/// resource has not changed, `If-Match` 412 when it has.
pub async fn get_one<R: ApiResource>(State(state): State<AppState>, params: RawPathParams, headers: HeaderMap) -> Result<Response, ApiError> {
    let key = key_from_path(R::KIND, &params)?;
    let condition = precondition(&headers)?;
    let record = state.store.get(&key).await?.ok_or_else(|| ApiError::not_found(&key))?;
    let (if_match, if_none_match) = match condition {
        Precondition::All(both) => (both.first().cloned(), both.get(1).cloned()),
        none @ (Precondition::NoneMatch(_) | Precondition::Absent) => (None, Some(none)),
        other => (Some(other), None),
    };
    if let Some(if_match) = if_match {
        if_match.check(&key, Some(&record))?;
    }
    // A GET whose If-None-Match fails is "not modified", not a failure.
    if if_none_match.is_some_and(|c| c.check(&key, Some(&record)).is_err()) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, etag_header(&record.etag));
        return Ok(response);
    }
    respond::<R>(StatusCode::OK, &record, Revealed::default())
}

pub async fn delete<R: ApiResource>(
    State(state): State<AppState>,
    params: RawPathParams,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let key = key_from_path(R::KIND, &params)?;
    let cascade = match query.get("cascade").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::field("cascade", Reason::Malformed { message: "must be true or false".into() })),
    };
    let change = state.store.delete(&key, &precondition(&headers)?, cascade).await?;
    state.served(Some(change)).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: Option<String>,
}

pub async fn list<R: ApiResource>(
    State(state): State<AppState>,
    params: RawPathParams,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (parent, parent_key) = parent_from_path(R::KIND, &params)?;
    let mut errors = ValidationErrors::default();
    for name in query.keys() {
        if !["limit", "page_token"].contains(&name.as_str()) && !R::FILTERS.contains(&name.as_str()) {
            errors.add(name.clone(), Reason::UnknownField);
        }
    }
    let limit = match query.get("limit").map(|l| l.parse::<i64>()) {
        None => i64::from(DEFAULT_PAGE_SIZE),
        Some(Ok(n)) => n,
        Some(Err(_)) => -1,
    };
    errors.check("limit", rules::range(limit, 1, MAX_PAGE_SIZE.into()));
    for filter in R::FILTERS {
        if let Some(value) = query.get(*filter) {
            errors.check(*filter, rules::name(value));
        }
    }
    let after = match query.get("page_token") {
        Some(token) => match decode_page_token(token) {
            Some(name) => Some(name),
            None => {
                errors.add("page_token", Reason::Malformed { message: "is not a token this API issued".into() });
                None
            }
        },
        None => None,
    };
    errors.into_result()?;
    if let Some(parent_key) = &parent_key {
        if state.store.get(parent_key).await?.is_none() {
            return Err(ApiError::not_found(parent_key));
        }
    }
    let limit = u32::try_from(limit).unwrap_or(DEFAULT_PAGE_SIZE);
    let list_query = ListQuery { kind: R::KIND, parent, after, limit: limit + 1, product: query.get("product").cloned() };
    let mut records = state.store.list(&list_query).await?;
    let next_page_token = if records.len() > limit as usize {
        records.truncate(limit as usize);
        records.last().map(|r| encode_page_token(&r.key.name))
    } else {
        None
    };
    let items = records.iter().map(|r| Ok(R::view(r, stored_spec::<R>(r)?, Revealed::default()))).collect::<Result<Vec<_>, ApiError>>()?;
    Ok(axum::Json(Page { items, next_page_token }).into_response())
}

/// A page token is the name of the last item of the previous page: valid
/// names are valid tokens, which the OpenAPI document can say exactly.
fn encode_page_token(last: &str) -> String {
    last.to_string()
}

fn decode_page_token(token: &str) -> Option<String> {
    rules::name(token).ok().map(|_| token.to_string())
}
