//! RFC 9457 problem details: every management API error is one of these.

use crate::model::{FieldErrorBody, Key, Reason, ValidationErrors};
use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";
const TYPE_BASE: &str = "https://mcpgate.dev/problems/";
/// When a client should try again after a 503: the store is usually back
/// within seconds (a restart, a failover).
const RETRY_AFTER_SECONDS: &str = "2";

/// What went wrong, as a machine-readable `type` and its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    Validation,
    MalformedJson,
    UnsupportedMediaType,
    Unauthorized,
    NotFound,
    AlreadyExists,
    PreconditionFailed,
    StillReferenced,
    SubscriptionsLimit,
    InvalidState,
    MethodNotAllowed,
    PayloadTooLarge,
    BadRequest,
    /// A valid document that conflicts with what is stored: a reference to
    /// something missing, a transition the current state forbids, a change
    /// to a field fixed at creation. The fields are named as for validation.
    Conflict,
    /// The resource's upstream MCP server could not be asked.
    UpstreamUnavailable,
    /// The store is out of reach for now: retry after `Retry-After`.
    Unavailable,
    /// Well-formed fields whose content does not compile (an expression, a
    /// pattern, a template, an API description); the fields are named as
    /// for validation.
    Unprocessable,
    Internal,
}

impl ProblemType {
    fn slug(self) -> &'static str {
        match self {
            ProblemType::Validation => "validation-error",
            ProblemType::MalformedJson => "malformed-json",
            ProblemType::UnsupportedMediaType => "unsupported-media-type",
            ProblemType::Unauthorized => "unauthorized",
            ProblemType::NotFound => "not-found",
            ProblemType::AlreadyExists => "already-exists",
            ProblemType::PreconditionFailed => "precondition-failed",
            ProblemType::StillReferenced => "still-referenced",
            ProblemType::SubscriptionsLimit => "subscriptions-limit",
            ProblemType::InvalidState => "invalid-state",
            ProblemType::MethodNotAllowed => "method-not-allowed",
            ProblemType::PayloadTooLarge => "payload-too-large",
            ProblemType::BadRequest => "bad-request",
            ProblemType::Conflict => "conflict",
            ProblemType::UpstreamUnavailable => "upstream-unavailable",
            ProblemType::Unavailable => "unavailable",
            ProblemType::Unprocessable => "unprocessable",
            ProblemType::Internal => "internal",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ProblemType::Validation | ProblemType::MalformedJson | ProblemType::BadRequest => StatusCode::BAD_REQUEST,
            ProblemType::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemType::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemType::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemType::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemType::NotFound => StatusCode::NOT_FOUND,
            ProblemType::AlreadyExists
            | ProblemType::StillReferenced
            | ProblemType::SubscriptionsLimit
            | ProblemType::InvalidState
            | ProblemType::Conflict => StatusCode::CONFLICT,
            ProblemType::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ProblemType::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            ProblemType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemType::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(self) -> &'static str {
        match self {
            ProblemType::Validation => "The request has invalid fields",
            ProblemType::MalformedJson => "The request body is not valid JSON",
            ProblemType::UnsupportedMediaType => "The request body must be JSON",
            ProblemType::Unauthorized => "A valid bearer token is required",
            ProblemType::NotFound => "The resource does not exist",
            ProblemType::AlreadyExists => "The resource exists already",
            ProblemType::PreconditionFailed => "The resource has changed",
            ProblemType::StillReferenced => "Other resources still refer to this one",
            ProblemType::SubscriptionsLimit => "The product has no subscriptions left",
            ProblemType::InvalidState => "The resource is not in a state that allows this",
            ProblemType::MethodNotAllowed => "The resource does not support this method",
            ProblemType::PayloadTooLarge => "The request body is too large",
            ProblemType::BadRequest => "The request is malformed",
            ProblemType::Conflict => "The request conflicts with what is stored",
            ProblemType::UpstreamUnavailable => "The MCP server behind the resource did not answer",
            ProblemType::Unavailable => "The store is unavailable for now",
            ProblemType::Unprocessable => "A field does not compile",
            ProblemType::Internal => "Internal error",
        }
    }
}

/// The problem document (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation errors: every refused field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldErrorBody>,
    /// For still-referenced conflicts: the paths of the referring resources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub referenced_by: Vec<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub kind: ProblemType,
    pub detail: String,
    pub errors: ValidationErrors,
    pub referenced_by: Vec<String>,
}

impl ApiError {
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> ApiError {
        ApiError { kind, detail: detail.into(), errors: ValidationErrors::default(), referenced_by: Vec::new() }
    }

    pub fn not_found(key: &Key) -> ApiError {
        ApiError::new(ProblemType::NotFound, format!("{} does not exist", key.path()))
    }

    pub fn field(field: impl Into<String>, reason: Reason) -> ApiError {
        ValidationErrors::single(field, reason).into()
    }

    /// Fields that are valid on their own but conflict with what is stored (409).
    pub fn conflict(errors: ValidationErrors) -> ApiError {
        ApiError { kind: ProblemType::Conflict, detail: errors.to_string(), errors, referenced_by: Vec::new() }
    }

    pub fn internal(err: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %err, "internal error");
        ApiError::new(ProblemType::Internal, "the request failed inside mcpgate; the log has details")
    }
}

impl From<ValidationErrors> for ApiError {
    /// 400, or 422 when every field is well-formed but holds something that
    /// does not compile (an expression, a pattern, a template, a document)
    /// or repeats what another entry holds (a rule's name).
    fn from(errors: ValidationErrors) -> ApiError {
        let unprocessable = errors.0.iter().all(|e| matches!(e.reason, Reason::BadExpression { .. } | Reason::NotUnique { .. }));
        let kind = if unprocessable { ProblemType::Unprocessable } else { ProblemType::Validation };
        ApiError { kind, detail: errors.to_string(), errors, referenced_by: Vec::new() }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        let detail = err.to_string();
        match err {
            StoreError::NotFound(key) => ApiError::not_found(&key),
            StoreError::AlreadyExists { .. } => ApiError::new(ProblemType::AlreadyExists, detail),
            StoreError::PreconditionFailed { .. } => ApiError::new(ProblemType::PreconditionFailed, detail),
            StoreError::StillReferenced { by, .. } => ApiError {
                referenced_by: by,
                ..ApiError::new(ProblemType::StillReferenced, format!("{detail}; delete them first or pass ?cascade=true"))
            },
            StoreError::MissingReference { missing, in_path: true, .. } => ApiError::not_found(&missing),
            StoreError::MissingReference { field, missing, in_path: false } => {
                ApiError::conflict(ValidationErrors::single(field, Reason::Malformed { message: format!("{} does not exist", missing.path()) }))
            }
            StoreError::Invalid { field, reason } => ApiError::conflict(ValidationErrors::single(field, reason)),
            StoreError::SubscriptionsLimit { .. } => ApiError::new(ProblemType::SubscriptionsLimit, detail),
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %detail, "the store is unavailable");
                ApiError::new(ProblemType::Unavailable, format!("{detail}; try again shortly"))
            }
            StoreError::Corrupt(_) | StoreError::Database(_) | StoreError::Migration(_) | StoreError::Secret(_) | StoreError::UnsupportedUrl(_) => {
                ApiError::internal(detail)
            }
        }
    }
}

impl ApiError {
    /// The response, with the status given (normally the type's own).
    fn respond(self, status: StatusCode) -> Response {
        let problem = Problem {
            type_uri: format!("{TYPE_BASE}{}", self.kind.slug()),
            title: self.kind.title().to_string(),
            status: status.as_u16(),
            detail: self.detail,
            errors: self.errors.0.iter().map(FieldErrorBody::from).collect(),
            referenced_by: self.referenced_by,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"mcpgate\""));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        self.respond(status)
    }
}

impl ProblemType {
    /// The type an error status from outside the handlers stands for.
    fn of_status(status: StatusCode) -> ProblemType {
        match status {
            StatusCode::NOT_FOUND => ProblemType::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ProblemType::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ProblemType::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ProblemType::UnsupportedMediaType,
            StatusCode::UNAUTHORIZED => ProblemType::Unauthorized,
            s if s.is_client_error() => ProblemType::BadRequest,
            _ => ProblemType::Internal,
        }
    }
}

/// Turns error responses made outside the handlers (the router's 405, a
/// body over the size limit's 413, an extractor's 400) into problem
/// documents, so every error the API returns has one shape.
pub async fn normalize(response: Response) -> Response {
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.as_bytes()).unwrap_or_default();
    let is_problem = content_type.starts_with(PROBLEM_JSON.as_bytes()) || content_type.starts_with(super::HEALTH_JSON.as_bytes());
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap_or_default();
    let detail = String::from_utf8_lossy(&body).trim().to_string();
    let kind = ProblemType::of_status(status);
    let detail = if detail.is_empty() { kind.title().to_string() } else { detail };
    let mut problem = ApiError::new(kind, detail).respond(status);
    if let Some(allow) = allow {
        problem.headers_mut().insert(header::ALLOW, allow);
    }
    problem
}
