//! Typed validation errors shared by the API, the gateway and the provider.
//!
//! A rule is written once, as a [`Reason`]; every surface renders the same
//! `{field, reason}` pair (the API as RFC 9457 `errors`, the provider as an
//! attribute-path diagnostic).

use serde::Serialize;
use utoipa::ToSchema;

/// Why a field's value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("is required")]
    Required,
    /// One of two fields that are alternatives: neither is set.
    #[error("is required (or {other} instead)")]
    RequiredOr { other: &'static str },
    /// One of two fields that are alternatives: both are set.
    #[error("cannot be set together with {other}")]
    ConflictsWith { other: &'static str },
    #[error("must be 1-63 characters of lowercase letters, digits and '-', and must not start or end with '-'")]
    BadName,
    #[error("must be between {min} and {max}")]
    OutOfRange { min: i64, max: i64 },
    #[error("must be at most {max} characters long")]
    TooLong { max: usize },
    #[error("must have at most {max} entries")]
    TooMany { max: usize },
    #[error("must not be empty")]
    Empty,
    #[error("must be an absolute http or https URL to a DNS name or IPv4 address (optional port, path and query)")]
    BadUrl,
    #[error("is not a valid HTTP header name")]
    BadHeaderName,
    #[error("is not a valid HTTP header value")]
    BadHeaderValue,
    #[error("is managed by the gateway and cannot be set")]
    ReservedHeader,
    #[error("is not a valid glob pattern: use 1-128 letters, digits, '_', '.', ':', '/', '-' and the wildcards '*' and '?'")]
    BadPattern,
    #[error("must be 1-128 letters, digits, '_', '.', ':', '/' or '-'")]
    BadToolName,
    #[error("must be a finite number of at least 0")]
    BadCost,
    #[error("must be 1-128 letters, digits, '_', ':', '.' or '-' (a JWT claim name)")]
    BadClaim,
    #[error("must be 1-256 visible ASCII characters other than '\"' and '\\' (an OAuth scope token)")]
    BadScope,
    #[error("must be {min} to {max} characters long")]
    Length { min: usize, max: usize },
    #[error("must not repeat {value:?}")]
    Duplicate { value: String },
    /// Two entries of a list of objects (or two values of a map) that must
    /// differ by a field: well-formed, which JSON Schema cannot tell (422).
    #[error("must not repeat {value:?}: another entry has it")]
    NotUnique { value: String },
    #[error("must be {expected:?}, the name in the URL")]
    NameMismatch { expected: String },
    #[error("cannot be changed after creation")]
    Immutable,
    #[error("cannot change from {from} to {to}")]
    BadTransition { from: String, to: String },
    #[error("requires {other} to be {value}")]
    Requires { other: &'static str, value: &'static str },
    #[error("names version {version:?}, which server {server:?} does not have")]
    UnknownVersion { server: String, version: String },
    #[error("is not a known field")]
    UnknownField,
    #[error("{message}")]
    Malformed { message: String },
    /// An expression, pattern, template or document in a well-formed field
    /// that does not compile (the API answers 422 for these alone).
    #[error("{message}")]
    BadExpression { message: String },
}

impl Reason {
    /// A stable machine-readable code for the reason.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Required | Reason::RequiredOr { .. } => "required",
            Reason::ConflictsWith { .. } => "conflicts",
            Reason::BadName => "bad_name",
            Reason::OutOfRange { .. } => "out_of_range",
            Reason::TooLong { .. } => "too_long",
            Reason::TooMany { .. } => "too_many",
            Reason::Empty => "empty",
            Reason::BadUrl => "bad_url",
            Reason::BadHeaderName => "bad_header_name",
            Reason::BadHeaderValue => "bad_header_value",
            Reason::ReservedHeader => "reserved_header",
            Reason::BadPattern => "bad_pattern",
            Reason::BadToolName => "bad_tool_name",
            Reason::BadClaim => "bad_claim",
            Reason::BadScope => "bad_scope",
            Reason::BadCost => "bad_cost",
            Reason::Length { .. } => "bad_length",
            Reason::Duplicate { .. } | Reason::NotUnique { .. } => "duplicate",
            Reason::NameMismatch { .. } => "name_mismatch",
            Reason::Immutable => "immutable",
            Reason::BadTransition { .. } => "bad_transition",
            Reason::Requires { .. } => "requires",
            Reason::UnknownVersion { .. } => "unknown_version",
            Reason::UnknownField => "unknown_field",
            Reason::Malformed { .. } => "malformed",
            Reason::BadExpression { .. } => "bad_expression",
        }
    }
}

/// One refused field: a dotted path (`rate_limit.period_seconds`,
/// `tools[2]`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: Reason,
}

/// The wire form of a [`FieldError`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldErrorBody {
    /// Dotted path of the refused field, e.g. `rate_limit.period_seconds`.
    pub field: String,
    /// Human-readable reason.
    pub reason: String,
    /// Machine-readable reason code, e.g. `out_of_range`.
    pub code: String,
}

impl From<&FieldError> for FieldErrorBody {
    fn from(e: &FieldError) -> Self {
        FieldErrorBody { field: e.field.clone(), reason: e.reason.to_string(), code: e.reason.code().to_string() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Every problem found in one document; never empty when returned as an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn single(field: impl Into<String>, reason: Reason) -> Self {
        ValidationErrors(vec![FieldError { field: field.into(), reason }])
    }

    pub fn add(&mut self, field: impl Into<String>, reason: Reason) {
        self.0.push(FieldError { field: field.into(), reason });
    }

    /// Records `check`'s failure, if any, against `field`.
    pub fn check(&mut self, field: impl Into<String>, check: Result<(), Reason>) {
        if let Err(reason) = check {
            self.add(field, reason);
        }
    }

    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}
