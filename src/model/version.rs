//! One deployable revision of a server: where the gateway sends traffic and how.

use super::error::{Reason, ValidationErrors};
use super::rules;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// MCP Streamable HTTP (protocol 2025-03-26 and later).
    #[default]
    StreamableHttp,
    /// The legacy HTTP+SSE transport (protocol 2024-11-05).
    Sse,
}

/// Lifecycle of a version. Only `active` versions share weighted traffic;
/// `preview` ones are reachable through products that list them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    Preview,
    #[default]
    Active,
    Deprecated,
    Retired,
}

/// Values of a version that are secrets: sealed at rest, never returned.
pub const SECRET_FIELDS: &[super::SecretField] =
    &[super::SecretField::MapValues("backend_headers"), super::SecretField::Path(&["client_credentials", "client_secret"])];

/// How the gateway authenticates to a backend with the OAuth 2.0
/// client-credentials grant (RFC 6749 §4.4): it fetches a token from
/// `token_url`, caches it until shortly before it expires, and sends it as
/// `Authorization: Bearer` (in place of any static `Authorization` in
/// `backend_headers`). The client's own credentials never go upstream.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentials {
    pub token_url: String,
    pub client_id: String,
    /// Write-only: stored sealed, never returned.
    pub client_secret: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// Debug output never shows the secret.
impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl ClientCredentials {
    fn validate(&self, errors: &mut ValidationErrors) {
        errors.check("client_credentials.token_url", rules::http_url(&self.token_url).map(drop));
        if self.client_id.is_empty() {
            errors.add("client_credentials.client_id", Reason::Empty);
        }
        errors.check("client_credentials.client_id", rules::max_len(&self.client_id, rules::MAX_LABEL_LEN));
        if self.client_secret.is_empty() {
            errors.add("client_credentials.client_secret", Reason::Empty);
        }
        errors.check("client_credentials.client_secret", rules::max_len(&self.client_secret, rules::MAX_HEADER_VALUE_LEN));
        super::authorization_server::check_scopes("client_credentials.scopes", &self.scopes, errors);
    }
}

/// What the API returns of [`ClientCredentials`]: everything but the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClientCredentialsView {
    pub token_url: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

pub const DEFAULT_TIMEOUT_SECONDS: i64 = 30;
pub const MAX_TIMEOUT_SECONDS: i64 = 3600;
pub const DEFAULT_TRAFFIC_WEIGHT: i64 = 100;
/// The `tool_costs` key that prices every tool without its own entry.
pub const DEFAULT_COST_KEY: &str = "default";

fn default_timeout() -> i64 {
    DEFAULT_TIMEOUT_SECONDS
}

fn default_weight() -> i64 {
    DEFAULT_TRAFFIC_WEIGHT
}

/// The writable fields of a version. `backend_headers` holds secret values:
/// they are stored, sent upstream, and never returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionSpec {
    /// Upstream MCP endpoint, e.g. `https://tools.internal/mcp`. Exactly one
    /// of `backend_url` and `openapi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_url: Option<String>,
    /// A REST API served as MCP tools, one per operation of its OpenAPI
    /// document. Exactly one of `backend_url` and `openapi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<OpenApiSpec>,
    #[serde(default)]
    pub transport: Transport,
    #[serde(default)]
    pub status: VersionStatus,
    /// Share of traffic among `active` versions (0-100).
    #[serde(default = "default_weight", deserialize_with = "rules::integral")]
    pub traffic_weight: i64,
    /// Upstream response timeout (1-3600 s).
    #[serde(default = "default_timeout", deserialize_with = "rules::integral")]
    pub timeout_seconds: i64,
    /// Record tool arguments and results in traces and the call log.
    #[serde(default)]
    pub payload_logging: bool,
    /// When the version goes away; sent as the `Sunset` header once deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunset_at: Option<DateTime<Utc>>,
    /// Headers added to upstream requests (write-only secrets).
    #[serde(default)]
    pub backend_headers: BTreeMap<String, String>,
    /// Cost per call by tool name; the `default` entry prices the rest.
    #[serde(default)]
    pub tool_costs: BTreeMap<String, f64>,
    /// The tools clients may see and call, by name, each pinned to the hash
    /// of its definition (`mcp_server_tools` shows the live ones). When set,
    /// a tool that appears or changes upstream is hidden and refused until
    /// it is approved. Absent: every tool, as the upstream offers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_tools: Option<BTreeMap<String, String>>,
    /// Authenticate to the backend with the client-credentials grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_credentials: Option<ClientCredentials>,
}

impl VersionSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let Some(url) = &self.backend_url {
            errors.check("backend_url", rules::http_url(url).map(drop));
        }
        if let Some(openapi) = &self.openapi {
            openapi.validate(&mut errors);
            if self.transport != Transport::StreamableHttp {
                errors.add("transport", Reason::ConflictsWith { other: "openapi (a REST API has no MCP transport)" });
            }
        }
        match (&self.backend_url, &self.openapi) {
            (Some(_), Some(_)) => errors.add("openapi", Reason::ConflictsWith { other: "backend_url" }),
            (None, None) => errors.add("backend_url", Reason::RequiredOr { other: "openapi, for a REST API" }),
            _ => {}
        }
        errors.check("traffic_weight", rules::range(self.traffic_weight, 0, 100));
        errors.check("timeout_seconds", rules::range(self.timeout_seconds, 1, MAX_TIMEOUT_SECONDS));
        errors.check("backend_headers", rules::max_entries(self.backend_headers.len(), rules::MAX_BACKEND_HEADERS));
        errors.check("tool_costs", rules::max_entries(self.tool_costs.len(), rules::MAX_TOOL_COSTS));
        for (name, value) in self.backend_headers.iter().take(rules::MAX_BACKEND_HEADERS) {
            errors.check(format!("backend_headers.{name}"), rules::backend_header(name, value));
        }
        if let Some(approved) = &self.approved_tools {
            errors.check("approved_tools", rules::max_entries(approved.len(), rules::MAX_TOOL_COSTS));
            for (tool, hash) in approved.iter().take(rules::MAX_TOOL_COSTS) {
                errors.check(format!("approved_tools.{tool}"), rules::tool_name(tool));
                errors.check(format!("approved_tools.{tool}"), rules::definition_hash(hash));
            }
        }
        if let Some(credentials) = &self.client_credentials {
            credentials.validate(&mut errors);
        }
        for (tool, cost) in self.tool_costs.iter().take(rules::MAX_TOOL_COSTS) {
            errors.check(format!("tool_costs.{tool}"), rules::tool_name(tool));
            if !cost.is_finite() || *cost < 0.0 {
                errors.add(format!("tool_costs.{tool}"), Reason::BadCost);
            }
        }
        errors.into_result()
    }
}

/// Largest OpenAPI document a version holds (GitHub's REST description,
/// about 1,200 operations, is 13 MB).
pub const MAX_SPEC_BYTES: usize = 32 * 1024 * 1024;

/// A REST API exposed as MCP tools: its OpenAPI 3.0 or 3.1 document (JSON
/// or YAML) and where to send the requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenApiSpec {
    /// The document's text. Given inline, or fetched once from `spec_url`
    /// when the version is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    /// Where the document is fetched from when the version is written (once; write the version again to fetch anew).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_url: Option<String>,
    /// SHA-256 of the stored document; set by the control plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_sha256: Option<String>,
    /// Where requests go: the operations' paths are appended to it.
    pub base_url: String,
    /// Globs on the operationId or tool name: only these operations become tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_operations: Option<Vec<String>>,
    /// Globs on the operationId or tool name: these operations do not become tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_operations: Option<Vec<String>>,
}

impl OpenApiSpec {
    fn validate(&self, errors: &mut ValidationErrors) {
        errors.check("openapi.base_url", rules::http_url(&self.base_url).map(drop));
        if let Some(url) = &self.spec_url {
            errors.check("openapi.spec_url", rules::http_url(url).map(drop));
        }
        for (field, globs) in [("openapi.include_operations", &self.include_operations), ("openapi.exclude_operations", &self.exclude_operations)] {
            for (i, glob) in globs.iter().flatten().enumerate() {
                errors.check(format!("{field}[{i}]"), super::product_server::tool_pattern(glob).map(drop));
            }
        }
        match &self.spec {
            Some(spec) if spec.len() > MAX_SPEC_BYTES => errors.add("openapi.spec", Reason::TooLong { max: MAX_SPEC_BYTES }),
            Some(_) => {
                if let Err(problems) = self.import() {
                    for problem in problems.iter().take(20) {
                        errors.add("openapi.spec", Reason::BadExpression { message: problem.to_string() });
                    }
                }
            }
            // Fetched from spec_url when the version is written, and checked then.
            None if self.spec_url.is_some() => {}
            None => errors.add("openapi.spec", Reason::RequiredOr { other: "spec_url, where the document is fetched from" }),
        }
    }

    /// The document's operations as tools, as the version's `include`/`exclude` select them.
    pub fn import(&self) -> Result<super::openapi::RestApi, Vec<super::openapi::SpecError>> {
        let selection = super::openapi::Selection { include: self.include_operations.as_deref(), exclude: self.exclude_operations.as_deref() };
        super::openapi::import(self.spec.as_deref().unwrap_or_default(), &selection)
    }
}

/// What one call of `tool` costs under a version's `tool_costs`: its own
/// price, else the `default` one, else nothing.
pub fn tool_cost(tool_costs: &BTreeMap<String, f64>, tool: &str) -> f64 {
    tool_costs.get(tool).or_else(|| tool_costs.get(DEFAULT_COST_KEY)).copied().unwrap_or(0.0)
}

/// Makes `target` the version with all the traffic, in one step: active,
/// weight 100; every other active version deprecated with weight 0 (and
/// `sunset_at`, when given). Returns the names of the versions it changed.
pub fn promote(versions: &mut BTreeMap<String, VersionSpec>, target: &str, sunset_at: Option<DateTime<Utc>>) -> Result<Vec<String>, Reason> {
    let spec = versions.get_mut(target).ok_or_else(|| Reason::Malformed { message: format!("version {target:?} does not exist") })?;
    if spec.status == VersionStatus::Retired {
        return Err(Reason::BadTransition { from: "retired".into(), to: "active".into() });
    }
    let mut changed = Vec::new();
    if spec.status != VersionStatus::Active || spec.traffic_weight != 100 {
        spec.status = VersionStatus::Active;
        spec.traffic_weight = 100;
        changed.push(target.to_string());
    }
    for (name, other) in versions.iter_mut().filter(|(name, _)| name.as_str() != target) {
        if other.status == VersionStatus::Active {
            other.status = VersionStatus::Deprecated;
            other.traffic_weight = 0;
            if sunset_at.is_some() {
                other.sunset_at = sunset_at;
            }
            changed.push(name.clone());
        }
    }
    Ok(changed)
}

/// A version as the API returns it: header values are replaced by their names.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Version {
    pub server: String,
    pub name: String,
    #[serde(default)]
    pub backend_url: Option<String>,
    #[serde(default)]
    pub openapi: Option<OpenApiSpec>,
    pub transport: Transport,
    pub status: VersionStatus,
    pub traffic_weight: i64,
    pub timeout_seconds: i64,
    pub payload_logging: bool,
    #[serde(default)]
    pub sunset_at: Option<DateTime<Utc>>,
    /// Names of the configured backend headers; values are never returned.
    pub backend_header_names: Vec<String>,
    pub tool_costs: BTreeMap<String, f64>,
    #[serde(default)]
    pub approved_tools: Option<BTreeMap<String, String>>,
    /// The client-credentials grant, without its secret.
    #[serde(default)]
    pub client_credentials: Option<ClientCredentialsView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
