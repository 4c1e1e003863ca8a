//! The association that puts a server into a product, with what of it the
//! product's consumers may reach.

use super::error::{Reason, ValidationErrors};
use super::federation::{self, Naming};
use super::rules;
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// On the product's endpoint, this server's tools and prompts are
    /// `{tool_prefix}__{name}`; absent = the server's name, `""` = no prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_prefix: Option<String>,
    /// Upstream name → the name the product's endpoint shows (before the
    /// prefix), for names clients would reject or that read badly.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tool_aliases: BTreeMap<String, String>,
    /// How long the product's endpoint waits for this server's lists before
    /// answering without them (milliseconds; absent = 3000).
    #[serde(default, deserialize_with = "rules::integral_opt", skip_serializing_if = "Option::is_none")]
    pub list_timeout_ms: Option<i64>,
}

impl ProductServerSpec {
    /// How this server's names appear on the product's endpoint.
    pub fn naming(&self, server: &str) -> Naming {
        Naming { prefix: self.tool_prefix.clone().unwrap_or_else(|| server.to_string()), aliases: self.tool_aliases.clone() }
    }

    pub fn list_timeout_ms(&self) -> i64 {
        self.list_timeout_ms.unwrap_or(federation::DEFAULT_LIST_TIMEOUT_MS)
    }

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
        if let Some(prefix) = &self.tool_prefix {
            errors.check("tool_prefix", federation::prefix(prefix));
        }
        errors.check("tool_aliases", rules::max_entries(self.tool_aliases.len(), federation::MAX_ALIASES));
        for (upstream, exposed) in self.tool_aliases.iter().take(federation::MAX_ALIASES) {
            errors.check(format!("tool_aliases.{upstream}"), rules::tool_name(upstream).and_then(|()| federation::alias(exposed)));
        }
        let mut seen = std::collections::HashSet::new();
        for (upstream, exposed) in &self.tool_aliases {
            if !seen.insert(exposed) {
                errors.add(format!("tool_aliases.{upstream}"), Reason::NotUnique { value: exposed.clone() });
            }
        }
        if let Some(timeout) = self.list_timeout_ms {
            errors.check("list_timeout_ms", rules::range(timeout, federation::MIN_LIST_TIMEOUT_MS, federation::MAX_LIST_TIMEOUT_MS));
        }
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
    /// The prefix in effect (the server's name unless set).
    pub tool_prefix: String,
    #[serde(default)]
    pub tool_aliases: BTreeMap<String, String>,
    /// The timeout in effect.
    pub list_timeout_ms: i64,
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
