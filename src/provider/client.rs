//! The management API client the provider uses: bearer token, JSON, retries
//! with backoff on 429, 503 and connection failures, and typed errors.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: String,
    pub retry: RetryPolicy,
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 6, first_delay: Duration::from_millis(200), max_delay: Duration::from_secs(10) }
    }
}

/// A field the API refused, as the problem document names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub reason: String,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("invalid request: {detail}")]
    Invalid { detail: String, fields: Vec<FieldProblem> },
    #[error("the management API refused the token: {0}")]
    Unauthorized(String),
    #[error("the management API answered HTTP {status}: {detail}")]
    Server { status: u16, detail: String },
    #[error("cannot reach the management API at {endpoint}: {message}")]
    Transport { endpoint: String, message: String },
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub body: Value,
    pub etag: Option<String>,
}

impl ApiClient {
    pub fn new(endpoint: &str, token: &str) -> Result<ApiClient, String> {
        let parsed = url::Url::parse(endpoint).map_err(|e| format!("{endpoint:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("{endpoint:?} must be an http or https URL"));
        }
        let http = crate::http_client::client_builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("terraform-provider-mcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        let base = format!("{}/api/v1", endpoint.trim_end_matches('/'));
        Ok(ApiClient { http, base, token: token.to_string(), retry: RetryPolicy::default() })
    }

    pub async fn get(&self, path: &str) -> Result<Reply, ApiError> {
        self.send(Method::GET, path, None, &[]).await
    }

    /// `None` when the resource does not exist.
    pub async fn get_optional(&self, path: &str) -> Result<Option<Reply>, ApiError> {
        match self.get(path).await {
            Ok(reply) => Ok(Some(reply)),
            Err(ApiError::NotFound(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }

    pub async fn put(&self, path: &str, body: &Value, precondition: Option<(&str, &str)>) -> Result<Reply, ApiError> {
        let headers: Vec<(&str, &str)> = precondition.into_iter().collect();
        self.send(Method::PUT, path, Some(body), &headers).await
    }

    /// POST with a JSON body (actions: promote, regenerate-key, approve, list-secrets).
    pub async fn post(&self, path: &str, body: &Value) -> Result<Reply, ApiError> {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str, if_match: Option<&str>) -> Result<(), ApiError> {
        let headers: Vec<(&str, &str)> = if_match.map(|etag| ("if-match", etag)).into_iter().collect();
        match self.send(Method::DELETE, path, None, &headers).await {
            Ok(_) | Err(ApiError::NotFound(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Every item of a paginated collection.
    pub async fn list_all(&self, path: &str) -> Result<Vec<Value>, ApiError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let separator = if path.contains('?') { '&' } else { '?' };
            let page_path = match &token {
                Some(t) => format!("{path}{separator}limit=1000&page_token={t}"),
                None => format!("{path}{separator}limit=1000"),
            };
            let page = self.get(&page_path).await?.body;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_page_token"].as_str() {
                Some(next) => token = Some(next.to_string()),
                None => return Ok(items),
            }
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> Result<Reply, ApiError> {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let mut delay = self.retry.first_delay;
        for attempt in 1..=self.retry.attempts {
            let mut request = self.http.request(method.clone(), &url).bearer_auth(&self.token);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let last = attempt == self.retry.attempts;
            let response = match request.send().await {
                Ok(response) => response,
                Err(err) if !last && (err.is_connect() || err.is_timeout()) => {
                    tracing::debug!(%url, attempt, error = %err, "retrying after a connection failure");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.retry.max_delay);
                    continue;
                }
                Err(err) => return Err(ApiError::Transport { endpoint: self.base.clone(), message: root_cause(&err) }),
            };
            let status = response.status();
            if !last && (status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE) {
                let wait = retry_after(&response).unwrap_or(delay).min(self.retry.max_delay);
                tracing::debug!(%url, attempt, %status, "retrying after {wait:?}");
                tokio::time::sleep(wait).await;
                delay = (delay * 2).min(self.retry.max_delay);
                continue;
            }
            return read_reply(response).await;
        }
        Err(ApiError::Transport { endpoint: self.base.clone(), message: "no attempt was made".into() })
    }
}

/// Why a configured endpoint and token cannot be used: what the provider
/// reports once, when Terraform configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointProblem {
    /// Nothing answered (refused, no route, name not found, timed out).
    Unreachable(String),
    /// Something answered, but the TLS handshake failed.
    Tls(String),
    /// mcpgate answered, and refused the token.
    WrongToken,
    /// Something answered that is not mcpgate's management API.
    NotMcpgate(String),
}

/// Whether a failed request failed in TLS: rustls' error somewhere in its
/// chain of causes, also wrapped in I/O errors (which hide what they wrap
/// from `source()`).
fn is_tls(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(current) = cause {
        if current.is::<rustls::Error>() {
            return true;
        }
        cause = match current.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(wrapped) => Some(wrapped as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    false
}

impl ApiClient {
    /// One cheap authenticated request (`GET /api/v1/info`, no retries):
    /// is this mcpgate, and does it take the token?
    pub async fn check_endpoint(&self) -> Result<(), EndpointProblem> {
        let request = self.http.get(format!("{}/info", self.base)).bearer_auth(&self.token).timeout(Duration::from_secs(10));
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) if is_tls(&err) => return Err(EndpointProblem::Tls(root_cause(&err))),
            Err(err) => return Err(EndpointProblem::Unreachable(root_cause(&err))),
        };
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let is_mcpgate = body["service"] == crate::api::SERVICE_NAME;
        match status {
            StatusCode::OK if is_mcpgate => Ok(()),
            // mcpgate's 401 is a problem document of its own type.
            StatusCode::UNAUTHORIZED if body["type"].as_str().is_some_and(|t| t.ends_with("/unauthorized")) => Err(EndpointProblem::WrongToken),
            _ => Err(EndpointProblem::NotMcpgate(format!("GET /api/v1/info answered HTTP {status} without mcpgate's service description"))),
        }
    }
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut cause = err.source();
    while let Some(next) = cause {
        message = format!("{message}: {next}");
        cause = next.source();
    }
    message
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds: u64 = response.headers().get("retry-after")?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// The refused fields of a problem document.
fn field_problems(body: &Value) -> Vec<FieldProblem> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| FieldProblem {
                    field: e["field"].as_str().unwrap_or_default().to_string(),
                    reason: e["reason"].as_str().unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn read_reply(response: reqwest::Response) -> Result<Reply, ApiError> {
    let status = response.status();
    let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = response.bytes().await.map_err(|e| ApiError::Server { status: status.as_u16(), detail: e.to_string() })?;
    let body: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    if status.is_success() {
        return Ok(Reply { body, etag });
    }
    let detail = body["detail"].as_str().map(str::to_string).unwrap_or_else(|| body.to_string());
    Err(match status {
        StatusCode::NOT_FOUND => ApiError::NotFound(detail),
        // A conflict naming fields (a missing reference, a forbidden
        // transition) points at attributes, as validation errors do.
        StatusCode::CONFLICT if body["errors"].is_array() => ApiError::Invalid { detail, fields: field_problems(&body) },
        StatusCode::CONFLICT => ApiError::Conflict(detail),
        StatusCode::PRECONDITION_FAILED => ApiError::PreconditionFailed(detail),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ApiError::Unauthorized(detail),
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            let fields = field_problems(&body);
            ApiError::Invalid { detail, fields }
        }
        other => ApiError::Server { status: other.as_u16(), detail },
    })
}
