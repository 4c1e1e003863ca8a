//! The association that puts a server into a product, with what of it the
//! product's consumers may reach.

use super::error::{Reason, ValidationErrors};
use super::rules;
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductServerSpec {
    /// Tool allow-list of glob patterns (`get_*`); absent = every tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// Versions this product reaches, preview ones included; absent = the active ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<String>>,
    /// Rules per tool for this server in this product, in order, applied
    /// after the product's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<super::policy::PolicyRule>,
}

impl ProductServerSpec {
    /// Checks the document alone; that listed versions exist is checked by
    /// the store in the writing transaction.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let Some(tools) = &self.tools {
            errors.check("tools", rules::max_entries(tools.len(), rules::MAX_TOOL_PATTERNS));
            for (i, pattern) in tools.iter().enumerate().take(rules::MAX_TOOL_PATTERNS) {
                errors.check(format!("tools[{i}]"), tool_pattern(pattern).map(drop));
            }
            rules::unique(&mut errors, "tools", tools);
        }
        if let Some(versions) = &self.versions {
            errors.check("versions", rules::max_entries(versions.len(), rules::MAX_LISTED_VERSIONS));
            for (i, version) in versions.iter().enumerate().take(rules::MAX_LISTED_VERSIONS) {
                errors.check(format!("versions[{i}]"), rules::name(version));
            }
            rules::unique(&mut errors, "versions", versions);
        }
        super::policy::validate_rules(&self.policies, &mut errors);
        errors.into_result()
    }

    pub fn tool_filter(&self) -> ToolFilter {
        ToolFilter::new(self.tools.as_deref())
    }
}

pub(crate) fn tool_pattern(pattern: &str) -> Result<Glob, Reason> {
    rules::tool_glob(pattern)?;
    Glob::new(pattern).map_err(|_| Reason::BadPattern)
}

/// The compiled tool allow-list of an association.
#[derive(Debug, Clone)]
pub struct ToolFilter(Option<GlobSet>);

impl ToolFilter {
    /// Patterns that fail to compile match nothing: they were refused at write time.
    pub fn new(patterns: Option<&[String]>) -> Self {
        let Some(patterns) = patterns else { return ToolFilter(None) };
        let mut builder = GlobSetBuilder::new();
        for glob in patterns.iter().filter_map(|p| tool_pattern(p).ok()) {
            builder.add(glob);
        }
        ToolFilter(Some(builder.build().unwrap_or_else(|_| GlobSet::empty())))
    }

    pub fn allows(&self, tool: &str) -> bool {
        self.0.as_ref().is_none_or(|set| set.is_match(tool))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProductServer {
    pub product: String,
    pub server: String,
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    #[serde(default)]
    pub versions: Option<Vec<String>>,
    #[serde(default)]
    pub policies: Vec<super::policy::PolicyRule>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_globs() {
        let filter = ToolFilter::new(Some(&["echo".to_string(), "get-*".to_string()]));
        assert!(filter.allows("echo"));
        assert!(filter.allows("get-sum"));
        assert!(!filter.allows("echoes"));
        assert!(!filter.allows("trigger-long-running-operation"));
        assert!(ToolFilter::new(None).allows("anything"));
        assert!(!ToolFilter::new(Some(&[])).allows("echo"));
    }
}
