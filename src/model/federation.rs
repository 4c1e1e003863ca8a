//! A product as one MCP endpoint (`/products/{product}/mcp`): how the tools
//! and prompts of its member servers are named there, and how a name the
//! client sends finds its member again.
//!
//! A member's names are `{tool_prefix}__{name}` (`tool_aliases` renames a
//! name first). A prefix never contains `__` nor ends with `_`, so the first
//! `__` of an exposed name ends the prefix; a member whose prefix is empty
//! takes the names no prefix claims.

use super::error::Reason;
use std::collections::BTreeMap;

/// What separates a member's prefix from its tool's name.
pub const SEPARATOR: &str = "__";
/// The names clients accept (Claude, OpenAI-compatible clients and others):
/// a name outside it is left out of the product endpoint's lists.
pub const CLIENT_NAME_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";
pub const MAX_PREFIX_LEN: usize = 32;
pub const MAX_ALIASES: usize = 256;
/// How long a product endpoint waits for a member's list, by default.
pub const DEFAULT_LIST_TIMEOUT_MS: i64 = 3000;
pub const MIN_LIST_TIMEOUT_MS: i64 = 50;
pub const MAX_LIST_TIMEOUT_MS: i64 = 60_000;

/// Whether clients accept `name` as a tool or prompt name.
pub fn client_accepts(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A prefix: letters, digits, `_` and `-`, at most 32, without `__` and
/// not ending in `_` (either would make the first `__` ambiguous). Empty
/// is a prefix too.
pub fn prefix(value: &str) -> Result<(), Reason> {
    let allowed = value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !allowed || value.len() > MAX_PREFIX_LEN {
        return Err(Reason::Malformed { message: format!("must be at most {MAX_PREFIX_LEN} letters, digits, '_' or '-'") });
    }
    if value.contains(SEPARATOR) || value.ends_with('_') {
        return Err(Reason::Malformed { message: "must not contain \"__\" or end with '_' (\"__\" ends the prefix in a tool's name)".into() });
    }
    Ok(())
}

/// An alias: a name clients accept.
pub fn alias(value: &str) -> Result<(), Reason> {
    if client_accepts(value) {
        return Ok(());
    }
    Err(Reason::Malformed { message: "must be 1-64 letters, digits, '_' or '-' (a name every MCP client accepts)".into() })
}

/// How one member's names appear on the product endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Naming {
    pub prefix: String,
    /// Upstream name → exposed name (before the prefix).
    pub aliases: BTreeMap<String, String>,
}

/// A member's name as the product endpoint shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exposed {
    Name(String),
    /// A name clients would reject: left out, with the name it would have had.
    Rejected(String),
}

impl Naming {
    pub fn expose(&self, upstream: &str) -> Exposed {
        let base = self.aliases.get(upstream).map_or(upstream, String::as_str);
        let name = if self.prefix.is_empty() { base.to_string() } else { format!("{}{SEPARATOR}{base}", self.prefix) };
        if client_accepts(&name) {
            Exposed::Name(name)
        } else {
            Exposed::Rejected(name)
        }
    }

    /// The upstream name behind `base` (an exposed name without its prefix).
    pub fn upstream<'a>(&'a self, base: &'a str) -> &'a str {
        self.aliases.iter().find(|(_, exposed)| exposed.as_str() == base).map_or(base, |(upstream, _)| upstream.as_str())
    }
}

/// Finds the member an exposed name belongs to: the member whose prefix
/// ends at the name's first `__`, else the member without a prefix.
pub fn route<'a, M>(members: &'a [(M, Naming)], exposed: &'a str) -> Option<(&'a M, &'a str)> {
    if let Some((prefix, base)) = exposed.split_once(SEPARATOR) {
        if let Some((member, naming)) = members.iter().find(|(_, naming)| !naming.prefix.is_empty() && naming.prefix == prefix) {
            return Some((member, naming.upstream(base)));
        }
    }
    let (member, naming) = members.iter().find(|(_, naming)| naming.prefix.is_empty())?;
    Some((member, naming.upstream(exposed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naming(prefix: &str, aliases: &[(&str, &str)]) -> Naming {
        Naming { prefix: prefix.into(), aliases: aliases.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect() }
    }

    #[test]
    fn prefixes_that_keep_the_first_separator_unambiguous() {
        assert!(prefix("").is_ok());
        assert!(prefix("crm-v2").is_ok());
        assert!(prefix("a_b").is_ok());
        assert!(prefix("a__b").is_err());
        assert!(prefix("a_").is_err());
        assert!(prefix("a.b").is_err());
        assert!(prefix(&"a".repeat(33)).is_err());
    }

    #[test]
    fn names_are_prefixed_aliased_and_checked() {
        let crm = naming("crm", &[("lookup.customer", "lookup_customer")]);
        assert_eq!(crm.expose("search"), Exposed::Name("crm__search".into()));
        assert_eq!(crm.expose("lookup.customer"), Exposed::Name("crm__lookup_customer".into()));
        assert_eq!(crm.expose("get.order"), Exposed::Rejected("crm__get.order".into()));
        assert!(matches!(crm.expose(&"x".repeat(62)), Exposed::Rejected(_)), "longer than 64 with its prefix");
        assert_eq!(naming("", &[]).expose("echo"), Exposed::Name("echo".into()));
    }

    #[test]
    fn exposed_names_route_back_to_their_member() {
        let members = vec![("crm", naming("crm", &[("lookup.customer", "lookup_customer")])), ("kb", naming("", &[])), ("a", naming("a", &[]))];
        assert_eq!(route(&members, "crm__search"), Some((&"crm", "search")));
        assert_eq!(route(&members, "crm__lookup_customer"), Some((&"crm", "lookup.customer")));
        assert_eq!(route(&members, "a___private"), Some((&"a", "_private")));
        assert_eq!(route(&members, "echo"), Some((&"kb", "echo")), "no prefix claims it: the unprefixed member");
        assert_eq!(route(&members, "zz__echo"), Some((&"kb", "zz__echo")));
        assert_eq!(route(&members[..1], "echo"), None);
    }
}
