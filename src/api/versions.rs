//! `servers/{server}/versions/{version}`

use super::problem::{ApiError, ProblemType};
use super::resource::{self, ApiResource, Revealed};
use super::AppState;
use crate::model::version::{ClientCredentialsView, OpenApiSpec};
use crate::model::{rules, Key, Kind, Reason, ValidationErrors, Version, VersionSpec};
use crate::store::{ListQuery, Precondition, Put, Record, StoreError};
use axum::body::Bytes;
use axum::extract::{RawPathParams, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;
use std::collections::BTreeMap;
use utoipa::ToSchema;

pub struct Versions;

#[async_trait::async_trait]
impl ApiResource for Versions {
    const KIND: Kind = Kind::Version;
    const COLLECTION: &'static str = "/servers/{server}/versions";
    const ITEM: &'static str = "/servers/{server}/versions/{version}";
    const READ_ONLY: &'static [&'static str] = &["created_at", "updated_at", "backend_header_names"];
    // A version may carry a REST API's whole OpenAPI document.
    const BODY_LIMIT: Option<usize> = Some(crate::model::version::MAX_SPEC_BYTES + 1024 * 1024);
    type Spec = VersionSpec;
    type View = Version;

    fn validate(spec: &VersionSpec) -> Result<(), ValidationErrors> {
        spec.validate()
    }

    fn minimal() -> serde_json::Value {
        serde_json::json!({ "backend_url": "http://mcp.invalid/mcp" })
    }

    fn identity(key: &Key) -> Vec<(&'static str, String)> {
        vec![("server", key.parent.clone()), ("name", key.name.clone())]
    }

    /// A REST API's document: fetched from `spec_url` when it names one,
    /// hashed, and imported (a document that does not import is refused,
    /// every problem located, and nothing is stored).
    async fn prepare(state: &AppState, _key: &Key, _current: Option<&VersionSpec>, spec: &mut VersionSpec) -> Result<resource::Prepared, ApiError> {
        let Some(openapi) = spec.openapi.as_mut() else { return Ok(resource::Prepared::default()) };
        if let Some(url) = openapi.spec_url.clone() {
            openapi.spec = Some(fetch_spec(state, &url).await?);
        }
        let text = openapi.spec.as_deref().unwrap_or_default();
        openapi.spec_sha256 = Some(hex::encode(sha2::Sha256::digest(text.as_bytes())));
        if let Err(problems) = openapi.import() {
            let mut errors = ValidationErrors::default();
            for problem in problems.iter().take(20) {
                errors.add("openapi.spec", Reason::BadExpression { message: problem.to_string() });
            }
            return Err(errors.into());
        }
        Ok(resource::Prepared::default())
    }

    fn view(record: &Record, spec: VersionSpec, _: Revealed) -> Version {
        Version {
            server: record.key.parent.clone(),
            name: record.key.name.clone(),
            backend_url: spec.backend_url,
            // A document fetched from spec_url is not returned: the URL says where it is.
            openapi: spec.openapi.map(|openapi| OpenApiSpec { spec: openapi.spec.filter(|_| openapi.spec_url.is_none()), ..openapi }),
            transport: spec.transport,
            status: spec.status,
            traffic_weight: spec.traffic_weight,
            timeout_seconds: spec.timeout_seconds,
            payload_logging: spec.payload_logging,
            sunset_at: spec.sunset_at,
            backend_header_names: spec.backend_headers.into_keys().collect(),
            tool_costs: spec.tool_costs,
            approved_tools: spec.approved_tools,
            client_credentials: spec.client_credentials.map(|c| ClientCredentialsView {
                token_url: c.token_url,
                client_id: c.client_id,
                scopes: c.scopes,
            }),
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

/// Fetches an OpenAPI document (at most `MAX_SPEC_BYTES`, within 30 s).
async fn fetch_spec(state: &AppState, url: &str) -> Result<String, ApiError> {
    use futures::StreamExt;
    let refused = |why: String| ApiError::from(ValidationErrors::single("openapi.spec_url", Reason::BadExpression { message: why }));
    let request = state.upstream().http.get(url).timeout(std::time::Duration::from_secs(30));
    let response = request.send().await.map_err(|e| refused(format!("cannot be fetched: {e}")))?;
    if !response.status().is_success() {
        return Err(refused(format!("answered HTTP {}", response.status())));
    }
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        body.extend_from_slice(&chunk.map_err(|e| refused(format!("cannot be read: {e}")))?);
        if body.len() > crate::model::version::MAX_SPEC_BYTES {
            return Err(refused(format!("serves more than {} bytes", crate::model::version::MAX_SPEC_BYTES)));
        }
    }
    String::from_utf8(body).map_err(|_| refused("does not serve UTF-8 text".into()))
}

/// What `promote` takes: when the versions it deprecates go away.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Promote {
    /// Set as the deprecated versions' `sunset_at` (RFC 3339).
    #[serde(default)]
    pub sunset_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerVersions {
    /// Every version of the server after the change.
    pub items: Vec<Version>,
}

async fn versions_of(state: &AppState, server: &str) -> Result<Vec<Record>, ApiError> {
    let server_key = Key::top(Kind::Server, server);
    if state.store.get(&server_key).await?.is_none() {
        return Err(ApiError::not_found(&server_key));
    }
    let query = ListQuery { kind: Kind::Version, parent: server.to_string(), after: None, limit: resource::MAX_PAGE_SIZE, product: None };
    Ok(state.store.list(&query).await?)
}

/// `POST …/versions/{version}/promote`: the version gets all the traffic and
/// the previously active ones are deprecated, in one transaction (the
/// gateway switches in one step).
pub async fn promote(State(state): State<AppState>, params: RawPathParams, body: Bytes) -> Result<Json<ServerVersions>, ApiError> {
    let key = resource::key_from_path(Kind::Version, &params)?;
    let request: Promote = if body.iter().all(u8::is_ascii_whitespace) {
        Promote::default()
    } else {
        let doc = serde_json::from_slice(&body).map_err(|e| ApiError::new(ProblemType::MalformedJson, e.to_string()))?;
        rules::decode(doc)?
    };
    for attempt in 0..5u32 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5 << attempt)).await;
        }
        let records = versions_of(&state, &key.parent).await?;
        let mut specs = BTreeMap::new();
        for record in &records {
            specs.insert(record.key.name.clone(), resource::stored_spec::<Versions>(record)?);
        }
        if !specs.contains_key(&key.name) {
            return Err(ApiError::not_found(&key));
        }
        let changed = crate::model::version::promote(&mut specs, &key.name, request.sunset_at)
            .map_err(|reason| ApiError::conflict(ValidationErrors::single("status", reason)))?;
        let puts = records
            .iter()
            .filter(|r| changed.contains(&r.key.name))
            .map(|r| {
                let body = serde_json::to_value(&specs[&r.key.name]).map_err(ApiError::internal)?;
                Ok(Put { key: r.key.clone(), body, precondition: Precondition::matches(r.etag.clone()), keys: None })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        match state.store.put_all(puts).await {
            Ok(written) => {
                state.served(written.iter().filter_map(|w| w.change).max()).await;
                let items = versions_of(&state, &key.parent)
                    .await?
                    .iter()
                    .map(|r| Ok(Versions::view(r, resource::stored_spec::<Versions>(r)?, Revealed::default())))
                    .collect::<Result<_, ApiError>>()?;
                return Ok(Json(ServerVersions { items }));
            }
            Err(StoreError::PreconditionFailed { .. }) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::new(ProblemType::PreconditionFailed, format!("the versions of {} kept changing while being promoted; try again", key.parent)))
}

/// One tool a version's upstream offers now.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveTool {
    pub name: String,
    pub description: Option<String>,
    /// The tool's input schema, as the upstream states it.
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// SHA-256 of the whole definition: what `approved_tools` pins.
    pub hash: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LiveTools {
    pub items: Vec<LiveTool>,
}

/// `GET …/versions/{version}/tools`: what the version's upstream offers right
/// now, asked of it directly (the manifest an operator approves).
pub async fn tools(State(state): State<AppState>, params: RawPathParams) -> Result<Json<LiveTools>, ApiError> {
    let key = resource::key_from_path(Kind::Version, &params)?;
    let record = state.store.get(&key).await?.ok_or_else(|| ApiError::not_found(&key))?;
    let spec = resource::stored_spec::<Versions>(&record)?;
    let timeout = std::time::Duration::from_secs(u64::try_from(spec.timeout_seconds).unwrap_or(30).min(30));
    let tools = crate::upstream::list_tools(state.upstream(), &spec, timeout)
        .await
        .map_err(|e| ApiError::new(ProblemType::UpstreamUnavailable, format!("cannot list the tools of {key}: {e}")))?;
    let items = tools
        .iter()
        .filter_map(|tool| {
            let name = tool.get("name")?.as_str()?.to_string();
            Some(LiveTool {
                name,
                description: tool.get("description").and_then(Value::as_str).map(str::to_string),
                input_schema: tool.get("inputSchema").cloned().unwrap_or(Value::Null),
                hash: crate::model::tools::definition_hash(tool),
            })
        })
        .collect();
    Ok(Json(LiveTools { items }))
}
