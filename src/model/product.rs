//! A product bundles servers for consumers and carries their access policy.

use super::error::{Reason, ValidationErrors};
use super::rules;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductState {
    Published,
    #[default]
    NotPublished,
}

/// What the gateway does when the shared limit counters (Redis) cannot be
/// reached: refuse calls (`closed`, the default: no limit is ever
/// exceeded) or admit them uncounted (`open`: availability first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitFailureMode {
    #[default]
    Closed,
    Open,
}

/// `calls` JSON-RPC requests per `period_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallLimit {
    #[serde(deserialize_with = "rules::integral")]
    pub calls: i64,
    #[serde(deserialize_with = "rules::integral")]
    pub period_seconds: i64,
}

/// Longest limit period: one year.
pub const MAX_PERIOD_SECONDS: i64 = 366 * 24 * 3600;

impl CallLimit {
    /// The Unix second the fixed window holding `unix` starts at: quota
    /// windows are aligned to the epoch, so every process agrees on them.
    pub fn window_start(&self, unix: i64) -> i64 {
        unix - unix.rem_euclid(self.period_seconds.max(1))
    }

    fn validate(&self, field: &str, errors: &mut ValidationErrors) {
        errors.check(format!("{field}.calls"), rules::range(self.calls, 1, MAX_CALLS));
        errors.check(format!("{field}.period_seconds"), rules::range(self.period_seconds, 1, MAX_PERIOD_SECONDS));
    }
}

pub const MAX_CALLS: i64 = 1_000_000_000;

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub state: ProductState,
    /// Whether consumers must present a subscription key.
    #[serde(default = "yes")]
    pub subscription_required: bool,
    /// Whether new subscriptions wait in `submitted` for an approval.
    #[serde(default)]
    pub approval_required: bool,
    /// Most live (not cancelled or rejected) subscriptions; null = unlimited.
    #[serde(default, deserialize_with = "rules::integral_opt", skip_serializing_if = "Option::is_none")]
    pub subscriptions_limit: Option<i64>,
    /// Sliding-window limit per subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<CallLimit>,
    /// Fixed-window quota per subscription, persisted across restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<CallLimit>,
    #[serde(default)]
    pub terms: String,
    /// When the limit counters are unreachable: `closed` refuses, `open` admits.
    #[serde(default)]
    pub limit_failure_mode: LimitFailureMode,
    /// The authorization server whose access tokens callers may present
    /// (`Authorization: Bearer`); absent: tokens are not accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_server: Option<String>,
    /// Scopes every token must carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_scopes: Vec<String>,
    /// Whether callers may present subscription keys (default true); a
    /// product with an `authorization_server` may accept tokens only.
    #[serde(default = "yes")]
    pub accept_keys: bool,
    /// Rules per tool, in order, for every server of the product (each
    /// association's own rules apply after these).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<super::policy::PolicyRule>,
}

impl Default for ProductSpec {
    fn default() -> Self {
        ProductSpec {
            display_name: None,
            description: String::new(),
            state: ProductState::default(),
            subscription_required: true,
            approval_required: false,
            subscriptions_limit: None,
            rate_limit: None,
            quota: None,
            terms: String::new(),
            limit_failure_mode: LimitFailureMode::Closed,
            authorization_server: None,
            required_scopes: Vec::new(),
            accept_keys: true,
            policies: Vec::new(),
        }
    }
}

impl ProductSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let Some(display_name) = &self.display_name {
            errors.check("display_name", rules::max_len(display_name, rules::MAX_LABEL_LEN));
        }
        errors.check("description", rules::max_len(&self.description, rules::MAX_TEXT_LEN));
        errors.check("terms", rules::max_len(&self.terms, 8 * rules::MAX_TEXT_LEN));
        if self.approval_required && !self.subscription_required {
            errors.add("approval_required", Reason::Requires { other: "subscription_required", value: "true" });
        }
        if let Some(limit) = self.subscriptions_limit {
            errors.check("subscriptions_limit", rules::range(limit, 0, MAX_CALLS));
        }
        if let Some(limit) = &self.rate_limit {
            limit.validate("rate_limit", &mut errors);
        }
        if let Some(quota) = &self.quota {
            quota.validate("quota", &mut errors);
        }
        self.validate_tokens(&mut errors);
        super::policy::validate_rules(&self.policies, &mut errors);
        errors.into_result()
    }

    fn validate_tokens(&self, errors: &mut ValidationErrors) {
        match &self.authorization_server {
            Some(name) => {
                errors.check("authorization_server", rules::name(name));
                if !self.subscription_required {
                    // A token is mapped to a subscription by its subject.
                    errors.add("authorization_server", Reason::Requires { other: "subscription_required", value: "true" });
                }
            }
            None => {
                if !self.required_scopes.is_empty() {
                    errors.add("required_scopes", Reason::Requires { other: "authorization_server", value: "set" });
                }
                if !self.accept_keys {
                    errors.add("accept_keys", Reason::Requires { other: "authorization_server", value: "set (else no caller is accepted)" });
                }
            }
        }
        super::authorization_server::check_scopes("required_scopes", &self.required_scopes, errors);
    }

    /// Whether callers may present access tokens.
    pub fn accepts_tokens(&self) -> bool {
        self.authorization_server.is_some()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub state: ProductState,
    pub subscription_required: bool,
    pub approval_required: bool,
    #[serde(default)]
    pub subscriptions_limit: Option<i64>,
    #[serde(default)]
    pub rate_limit: Option<CallLimit>,
    #[serde(default)]
    pub quota: Option<CallLimit>,
    pub terms: String,
    pub limit_failure_mode: LimitFailureMode,
    #[serde(default)]
    pub authorization_server: Option<String>,
    #[serde(default)]
    pub required_scopes: Vec<String>,
    pub accept_keys: bool,
    #[serde(default)]
    pub policies: Vec<super::policy::PolicyRule>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}
