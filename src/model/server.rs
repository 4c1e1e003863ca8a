//! An MCP server as a governed API: the stable identity its versions share.

use super::error::ValidationErrors;
use super::rules;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The writable fields of a server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// Human-friendly name; defaults to the server's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: String,
    /// Team or person accountable for the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Free-form labels, e.g. `team = "payments"`.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl ServerSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let Some(display_name) = &self.display_name {
            errors.check("display_name", rules::max_len(display_name, rules::MAX_LABEL_LEN));
        }
        errors.check("description", rules::max_len(&self.description, rules::MAX_TEXT_LEN));
        if let Some(owner) = &self.owner {
            errors.check("owner", rules::max_len(owner, rules::MAX_LABEL_LEN));
        }
        errors.check("tags", rules::max_entries(self.tags.len(), rules::MAX_TAGS));
        for (key, value) in self.tags.iter().take(rules::MAX_TAGS) {
            let field = format!("tags.{key}");
            if key.is_empty() {
                errors.add(field.clone(), super::Reason::Empty);
            }
            errors.check(field.clone(), rules::max_len(key, rules::MAX_NAME_LEN));
            errors.check(field, rules::max_len(value, rules::MAX_LABEL_LEN));
        }
        errors.into_result()
    }
}

/// A server as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Server {
    pub name: String,
    pub display_name: String,
    pub description: String,
    #[serde(default)]
    pub owner: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}
