//! A consumer's subscription to a product, holding the keys it calls with.

use super::error::{Reason, ValidationErrors};
use super::product::ProductSpec;
use super::rules;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    Submitted,
    Active,
    Suspended,
    Cancelled,
    Rejected,
}

impl SubscriptionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::Submitted => "submitted",
            SubscriptionState::Active => "active",
            SubscriptionState::Suspended => "suspended",
            SubscriptionState::Cancelled => "cancelled",
            SubscriptionState::Rejected => "rejected",
        }
    }

    /// Live subscriptions count against a product's `subscriptions_limit`.
    pub fn is_live(self) -> bool {
        !matches!(self, SubscriptionState::Cancelled | SubscriptionState::Rejected)
    }

    /// The lifecycle: submitted → active | rejected; active ⇄ suspended;
    /// anything live → cancelled; cancelled and rejected are final.
    pub fn transition(self, to: SubscriptionState) -> Result<(), Reason> {
        use SubscriptionState::*;
        let allowed = self == to
            || matches!((self, to), (Submitted, Active | Rejected | Cancelled) | (Active, Suspended | Cancelled) | (Suspended, Active | Cancelled));
        if allowed {
            Ok(())
        } else {
            Err(Reason::BadTransition { from: self.as_str().into(), to: to.as_str().into() })
        }
    }

    /// The state a new subscription starts in when the request names none.
    pub fn initial(product: &ProductSpec) -> SubscriptionState {
        if product.approval_required {
            SubscriptionState::Submitted
        } else {
            SubscriptionState::Active
        }
    }
}

impl std::fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSpec {
    /// The product subscribed to; fixed at creation.
    pub product: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Defaults on creation to `submitted` when the product requires approval, else `active`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SubscriptionState>,
    /// Values of the token's subject claim (the authorization server's
    /// `subject_claim`) that call as this subscription.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_subjects: Vec<String>,
}

pub const MAX_TOKEN_SUBJECTS: usize = 64;

impl SubscriptionSpec {
    /// The state, `active` when none was ever set (subscriptions stored
    /// before states existed).
    pub fn current_state(&self) -> SubscriptionState {
        self.state.unwrap_or(SubscriptionState::Active)
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        errors.check("product", rules::name(&self.product));
        if let Some(display_name) = &self.display_name {
            errors.check("display_name", rules::max_len(display_name, rules::MAX_LABEL_LEN));
        }
        if let Some(owner) = &self.owner {
            errors.check("owner", rules::max_len(owner, rules::MAX_LABEL_LEN));
        }
        errors.check("token_subjects", rules::max_entries(self.token_subjects.len(), MAX_TOKEN_SUBJECTS));
        for (i, subject) in self.token_subjects.iter().enumerate().take(MAX_TOKEN_SUBJECTS) {
            let field = format!("token_subjects[{i}]");
            if subject.is_empty() {
                errors.add(field.clone(), Reason::Empty);
            }
            errors.check(field.clone(), rules::max_len(subject, rules::MAX_LABEL_LEN));
            if self.token_subjects[..i].contains(subject) {
                errors.add(field, Reason::Duplicate { value: subject.clone() });
            }
        }
        errors.into_result()
    }

    /// Checks a replacement against the stored subscription and fills in the state.
    pub fn check_update(&mut self, current: &SubscriptionSpec) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if self.product != current.product {
            errors.add("product", Reason::Immutable);
        }
        let from = current.current_state();
        let to = *self.state.get_or_insert(from);
        errors.check("state", from.transition(to));
        errors.into_result()
    }

    /// Checks a new subscription's requested state and fills in the default.
    pub fn check_create(&mut self, product: &ProductSpec) -> Result<(), ValidationErrors> {
        let state = *self.state.get_or_insert(SubscriptionState::initial(product));
        if state.is_live() {
            Ok(())
        } else {
            Err(ValidationErrors::single("state", Reason::BadTransition { from: "new".into(), to: state.as_str().into() }))
        }
    }
}

/// Which of a subscription's two keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeySlot {
    Primary,
    Secondary,
}

/// A new subscription key: 256 random bits, URL-safe, with a recognisable prefix.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("mcpk_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Keys are stored only as this hash. A fast hash is enough: keys carry
/// 256 bits of randomness, so there is nothing to brute-force.
pub fn hash_key(key: &str) -> String {
    KeyHash::of(key).as_str().to_string()
}

/// A key's hash as hex on the stack: what the gateway looks keys up by on
/// every call, without an allocation.
#[derive(Clone, Copy)]
pub struct KeyHash([u8; 64]);

impl KeyHash {
    pub fn of(key: &str) -> KeyHash {
        let mut text = [0u8; 64];
        let _ = hex::encode_to_slice(Sha256::digest(key.as_bytes()), &mut text);
        KeyHash(text)
    }

    pub fn as_str(&self) -> &str {
        // Hex digits only, so always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Subscription {
    pub name: String,
    pub product: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    pub state: SubscriptionState,
    #[serde(default)]
    pub token_subjects: Vec<String>,
    /// Present only in the create and regenerate-key responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<String>,
    /// Present only in the create and regenerate-key responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_key: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use SubscriptionState::*;

    #[test]
    fn lifecycle() {
        assert!(Submitted.transition(Active).is_ok());
        assert!(Submitted.transition(Rejected).is_ok());
        assert!(Active.transition(Suspended).is_ok());
        assert!(Suspended.transition(Active).is_ok());
        assert!(Active.transition(Cancelled).is_ok());
        assert!(Cancelled.transition(Active).is_err());
        assert!(Rejected.transition(Active).is_err());
        assert!(Active.transition(Submitted).is_err());
    }

    #[test]
    fn keys_are_random_and_hashed() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert!(a.len() >= 5 + 43);
        assert_eq!(hash_key(&a).len(), 64);
        assert_eq!(hash_key(&a), hex::encode(Sha256::digest(a.as_bytes())));
        assert_ne!(hash_key(&a), a);
    }
}
