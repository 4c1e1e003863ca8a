//! Policies: ordered rules per tool on a product (and on a product–server
//! association, applied after the product's). Each rule names the tools it
//! covers (globs; all when absent), an optional CEL condition, and exactly
//! one action. This file is the rules' shape and every check a write makes
//! (expressions compile, patterns compile, templates name known values);
//! the gateway compiles them once per configuration (`gateway::policy`).

use super::error::{Reason, ValidationErrors};
use super::product::MAX_PERIOD_SECONDS;
use super::rules;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Most rules on one product or association.
pub const MAX_RULES: usize = 50;
/// Longest CEL expression (`when`, a limit's `key`).
pub const MAX_EXPRESSION_LEN: usize = 1024;
/// Longest `redact` pattern.
pub const MAX_PATTERN_LEN: usize = 512;
/// Most headers one `set_headers` rule sets.
pub const MAX_SET_HEADERS: usize = 16;
/// Longest `timeout`.
pub const MAX_TIMEOUT_MS: i64 = 3_600_000;
/// The variables a CEL expression may name.
pub const CEL_VARIABLES: &[&str] = &["mcp", "subscription", "product", "server", "version", "client", "token", "request"];
/// The values a `set_headers` template may name (besides `{token.claims.NAME}`).
pub const TEMPLATE_VALUES: &[&str] = &["subscription", "product", "server", "version", "tool", "client"];

/// One rule. In the API each rule is one object with exactly one action
/// key, e.g. `{"name": "echo-limit", "tools": ["echo"], "rate_limit": {"calls": 2, "period_seconds": 3600}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    /// Names the rule in refusals, metrics and the call log (a slug, unique in its list).
    pub name: String,
    /// The tools it covers, as globs (`refund*`); absent: every tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// A CEL expression over the call: the rule applies only when it is true
    /// (e.g. `mcp.tool.arguments.amount > 100`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Refuse the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<Deny>,
    /// A sliding-window limit on the calls it covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<PolicyLimit>,
    /// A fixed-window quota on the calls it covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<PolicyLimit>,
    /// Check the arguments against the tool's `inputSchema` before the upstream sees them (takes `{}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_arguments: Option<ValidateArguments>,
    /// Headers set on the upstream request, by name; values are templates
    /// such as `{subscription}` or `{token.claims.sub}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_headers: Option<BTreeMap<String, String>>,
    /// Replace what a regular expression matches in the string values of the
    /// arguments (as forwarded), the result (as returned), or the log only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redact: Option<Redact>,
    /// How long the upstream may take for the calls it covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Timeout>,
    /// Record (or not) the covered calls' arguments and results, whatever the version says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_payload: Option<LogPayload>,
    /// What each covered call costs, instead of the version's `tool_costs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deny {
    /// What the client is told.
    pub message: String,
}

/// `calls` per `period_seconds`, counted per `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyLimit {
    #[serde(deserialize_with = "rules::integral")]
    pub calls: i64,
    #[serde(deserialize_with = "rules::integral")]
    pub period_seconds: i64,
    /// Whose calls share a count: `subscription` (the default), `client`
    /// (the subscription's calls from one MCP client), or a CEL expression
    /// whose value names the bucket (e.g. `token.claims.sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Whose calls a policy limit counts together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitKey<'a> {
    Subscription,
    Client,
    Expression(&'a str),
}

impl PolicyLimit {
    pub fn key(&self) -> LimitKey<'_> {
        match self.key.as_deref() {
            None | Some("subscription") => LimitKey::Subscription,
            Some("client") => LimitKey::Client,
            Some(expression) => LimitKey::Expression(expression),
        }
    }

    pub fn limit(&self) -> super::CallLimit {
        super::CallLimit { calls: self.calls, period_seconds: self.period_seconds }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateArguments {}

/// Where a `redact` rule replaces what its pattern matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedactIn {
    /// In the arguments the upstream receives (and the log).
    Arguments,
    /// In the result the client receives (and the log).
    Result,
    /// Only in what the call log and spans record.
    Log,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Redact {
    /// A regular expression (Rust `regex` syntax); each match is replaced by `[REDACTED]`.
    pub pattern: String,
    #[serde(rename = "in")]
    pub target: RedactIn,
}

/// What a redacted match becomes.
pub const REDACTED: &str = "[REDACTED]";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeout {
    #[serde(deserialize_with = "rules::integral")]
    pub ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogPayload {
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cost {
    pub per_call: f64,
}

/// A rule's one action, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action<'a> {
    Deny(&'a Deny),
    RateLimit(&'a PolicyLimit),
    Quota(&'a PolicyLimit),
    ValidateArguments,
    SetHeaders(&'a BTreeMap<String, String>),
    Redact(&'a Redact),
    Timeout(&'a Timeout),
    LogPayload(&'a LogPayload),
    Cost(&'a Cost),
}

/// The action keys, as the API spells them.
pub const ACTION_KEYS: &[&str] = &["deny", "rate_limit", "quota", "validate_arguments", "set_headers", "redact", "timeout", "log_payload", "cost"];

impl PolicyRule {
    /// The actions it carries (exactly one in a valid rule).
    fn actions(&self) -> Vec<Action<'_>> {
        let mut actions = Vec::new();
        actions.extend(self.deny.as_ref().map(Action::Deny));
        actions.extend(self.rate_limit.as_ref().map(Action::RateLimit));
        actions.extend(self.quota.as_ref().map(Action::Quota));
        actions.extend(self.validate_arguments.as_ref().map(|_| Action::ValidateArguments));
        actions.extend(self.set_headers.as_ref().map(Action::SetHeaders));
        actions.extend(self.redact.as_ref().map(Action::Redact));
        actions.extend(self.timeout.as_ref().map(Action::Timeout));
        actions.extend(self.log_payload.as_ref().map(Action::LogPayload));
        actions.extend(self.cost.as_ref().map(Action::Cost));
        actions
    }

    /// The rule's action; `None` only for a rule `validate` refuses.
    pub fn action(&self) -> Option<Action<'_>> {
        match self.actions().as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    fn validate(&self, field: &str, errors: &mut ValidationErrors) {
        errors.check(format!("{field}.name"), rules::name(&self.name));
        if let Some(tools) = &self.tools {
            errors.check(format!("{field}.tools"), rules::max_entries(tools.len(), rules::MAX_TOOL_PATTERNS));
            for (i, pattern) in tools.iter().enumerate().take(rules::MAX_TOOL_PATTERNS) {
                errors.check(format!("{field}.tools[{i}]"), super::product_server::tool_pattern(pattern).map(drop));
            }
        }
        if let Some(when) = &self.when {
            errors.check(format!("{field}.when"), check_expression(when));
        }
        let actions = self.actions();
        if actions.len() != 1 {
            let message = format!("a rule takes exactly one action ({}); this one has {}", ACTION_KEYS.join(", "), actions.len());
            errors.add(field.to_string(), Reason::Malformed { message });
        }
        for action in actions {
            validate_action(action, field, errors);
        }
    }
}

fn validate_action(action: Action<'_>, field: &str, errors: &mut ValidationErrors) {
    match action {
        Action::Deny(deny) => {
            let message = format!("{field}.deny.message");
            if deny.message.trim().is_empty() {
                errors.add(message, Reason::Empty);
            } else {
                errors.check(message, rules::max_len(&deny.message, rules::MAX_LABEL_LEN));
            }
        }
        Action::RateLimit(limit) => validate_limit(limit, &format!("{field}.rate_limit"), errors),
        Action::Quota(limit) => validate_limit(limit, &format!("{field}.quota"), errors),
        Action::ValidateArguments | Action::LogPayload(_) => {}
        Action::SetHeaders(headers) => {
            errors.check(format!("{field}.set_headers"), rules::max_entries(headers.len(), MAX_SET_HEADERS));
            if headers.is_empty() {
                errors.add(format!("{field}.set_headers"), Reason::Empty);
            }
            for (name, template) in headers.iter().take(MAX_SET_HEADERS) {
                let at = format!("{field}.set_headers.{name}");
                errors.check(at.clone(), policy_header(name, template));
                errors.check(at, check_template(template));
            }
        }
        Action::Redact(redact) => errors.check(format!("{field}.redact.pattern"), check_pattern(&redact.pattern)),
        Action::Timeout(timeout) => errors.check(format!("{field}.timeout.ms"), rules::range(timeout.ms, 1, MAX_TIMEOUT_MS)),
        Action::Cost(cost) => {
            if !cost.per_call.is_finite() || cost.per_call < 0.0 {
                errors.add(format!("{field}.cost.per_call"), Reason::BadCost);
            }
        }
    }
}

fn validate_limit(limit: &PolicyLimit, field: &str, errors: &mut ValidationErrors) {
    errors.check(format!("{field}.calls"), rules::range(limit.calls, 1, super::product::MAX_CALLS));
    errors.check(format!("{field}.period_seconds"), rules::range(limit.period_seconds, 1, MAX_PERIOD_SECONDS));
    if let LimitKey::Expression(expression) = limit.key() {
        errors.check(format!("{field}.key"), check_expression(expression));
    }
}

/// Checks a list of rules (a product's or an association's `policies`).
pub fn validate_rules(policies: &[PolicyRule], errors: &mut ValidationErrors) {
    errors.check("policies", rules::max_entries(policies.len(), MAX_RULES));
    for (i, rule) in policies.iter().enumerate().take(MAX_RULES) {
        rule.validate(&format!("policies[{i}]"), errors);
    }
    let names: Vec<&String> = policies.iter().map(|r| &r.name).collect();
    let mut seen = std::collections::BTreeSet::new();
    for (i, name) in names.into_iter().enumerate() {
        if !seen.insert(name) {
            errors.add(format!("policies[{i}].name"), Reason::NotUnique { value: name.clone() });
        }
    }
}

/// A header a policy may set: any valid name but those the gateway owns on
/// the upstream leg (the version's own rules), and a template that is a
/// header value once filled.
fn policy_header(name: &str, template: &str) -> Result<(), Reason> {
    rules::backend_header(name, template)?;
    if name.eq_ignore_ascii_case("authorization") {
        // Credentials to the backend are the version's (backend_headers, client_credentials).
        return Err(Reason::ReservedHeader);
    }
    Ok(())
}

/// A CEL expression compiles, and names only the variables policies offer.
/// The reason says where (line and column) and what.
pub fn check_expression(expression: &str) -> Result<(), Reason> {
    if expression.trim().is_empty() {
        return Err(Reason::Empty);
    }
    rules::max_len(expression, MAX_EXPRESSION_LEN)?;
    let program = cel::Program::compile(expression).map_err(|errors| {
        let first = errors.errors.first();
        let message = match first {
            Some(error) => format!("does not compile at line {}, column {}: {}", error.pos.0, error.pos.1 + 1, error.msg),
            None => "does not compile".to_string(),
        };
        Reason::BadExpression { message }
    })?;
    let references = program.references();
    let unknown: Vec<&str> = references.variables().into_iter().filter(|v| !CEL_VARIABLES.contains(v)).collect();
    if let Some(variable) = unknown.first() {
        let message = format!("names {variable:?}, which is not a variable policies offer ({})", CEL_VARIABLES.join(", "));
        return Err(Reason::BadExpression { message });
    }
    Ok(())
}

fn check_pattern(pattern: &str) -> Result<(), Reason> {
    if pattern.is_empty() {
        return Err(Reason::Empty);
    }
    rules::max_len(pattern, MAX_PATTERN_LEN)?;
    compile_pattern(pattern).map(drop).map_err(|e| Reason::BadExpression { message: format!("is not a regular expression: {e}") })
}

/// A `redact` pattern, compiled with bounded size (no pattern can make the
/// gateway build a huge automaton).
pub fn compile_pattern(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern).size_limit(1 << 20).dfa_size_limit(1 << 20).build()
}

/// One piece of a `set_headers` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart<'a> {
    Text(&'a str),
    /// `{subscription}`, `{product}`, ...
    Value(&'a str),
    /// `{token.claims.NAME}`
    Claim(&'a str),
}

/// Splits a template into text and placeholders; the reason names the first
/// placeholder it cannot fill, by its position.
pub fn parse_template(template: &str) -> Result<Vec<TemplatePart<'_>>, Reason> {
    let mut parts = Vec::new();
    let mut rest = template;
    let mut offset = 0;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            let message = format!("has a '}}' at character {} that closes no placeholder", offset + open + 1);
            return Err(Reason::BadExpression { message });
        }
        if open > 0 {
            parts.push(TemplatePart::Text(&rest[..open]));
        }
        let Some(close) = rest[open..].find('}') else {
            return Err(Reason::BadExpression { message: format!("has a '{{' at character {} that is never closed", offset + open + 1) });
        };
        let name = &rest[open + 1..open + close];
        let part = match name.strip_prefix("token.claims.") {
            Some(claim) if super::authorization_server::claim(claim).is_ok() => TemplatePart::Claim(claim),
            _ if TEMPLATE_VALUES.contains(&name) => TemplatePart::Value(name),
            _ => {
                let message = format!(
                    "names {{{name}}} at character {}; a template may name {} and {{token.claims.NAME}}",
                    offset + open + 1,
                    TEMPLATE_VALUES.iter().map(|v| format!("{{{v}}}")).collect::<Vec<_>>().join(", ")
                );
                return Err(Reason::BadExpression { message });
            }
        };
        parts.push(part);
        offset += open + close + 1;
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Text(rest));
    }
    Ok(parts)
}

fn check_template(template: &str) -> Result<(), Reason> {
    parse_template(template).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(value: serde_json::Value) -> PolicyRule {
        serde_json::from_value(value).unwrap()
    }

    fn errors_of(rules: &[PolicyRule]) -> Vec<String> {
        let mut errors = ValidationErrors::default();
        validate_rules(rules, &mut errors);
        errors.0.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_rule_has_exactly_one_action() {
        let denied = rule(
            json!({ "name": "no-big-refunds", "tools": ["refund*"], "when": "mcp.tool.arguments.amount > 100", "deny": { "message": "refunds over 100 need a human" } }),
        );
        assert!(errors_of(std::slice::from_ref(&denied)).is_empty());
        assert!(matches!(denied.action(), Some(Action::Deny(_))));
        let none = rule(json!({ "name": "nothing" }));
        assert_eq!(errors_of(&[none]), vec!["policies[0]: a rule takes exactly one action (deny, rate_limit, quota, validate_arguments, set_headers, redact, timeout, log_payload, cost); this one has 0"]);
        let two = rule(json!({ "name": "two", "validate_arguments": {}, "timeout": { "ms": 5 } }));
        assert!(errors_of(&[two])[0].ends_with("this one has 2"));
        assert!(serde_json::from_value::<PolicyRule>(json!({ "name": "x", "allow": {} })).is_err(), "unknown keys are refused");
    }

    #[test]
    fn expressions_patterns_and_templates_are_checked_with_their_position() {
        let rules = [
            rule(json!({ "name": "bad-when", "when": "mcp.tool.arguments.amount >", "deny": { "message": "no" } })),
            rule(json!({ "name": "bad-var", "when": "tool.name == 'x'", "deny": { "message": "no" } })),
            rule(json!({ "name": "bad-key", "quota": { "calls": 1, "period_seconds": 60, "key": "token.claims[" } })),
            rule(json!({ "name": "bad-regex", "redact": { "pattern": "(unclosed", "in": "result" } })),
            rule(json!({ "name": "bad-template", "set_headers": { "X-Who": "{subscripton}" } })),
            rule(json!({ "name": "bad-header", "set_headers": { "Authorization": "{subscription}" } })),
            rule(json!({ "name": "bad-name", "timeout": { "ms": 0 } })),
        ];
        let errors = errors_of(&rules);
        assert!(errors[0].starts_with("policies[0].when: does not compile at line 1, column"), "{errors:?}");
        assert!(errors[1].contains("policies[1].when: names \"tool\""), "{errors:?}");
        assert!(errors[2].starts_with("policies[2].quota.key: does not compile"), "{errors:?}");
        assert!(errors[3].starts_with("policies[3].redact.pattern: is not a regular expression"), "{errors:?}");
        assert!(errors[4].contains("policies[4].set_headers.X-Who: names {subscripton} at character 1"), "{errors:?}");
        assert!(errors[5].starts_with("policies[5].set_headers.Authorization: is managed by the gateway"), "{errors:?}");
        assert!(errors[6].starts_with("policies[6].timeout.ms: must be between 1"), "{errors:?}");
        let duplicate = [rule(json!({ "name": "a", "timeout": { "ms": 5 } })), rule(json!({ "name": "a", "timeout": { "ms": 6 } }))];
        assert_eq!(errors_of(&duplicate), vec!["policies[1].name: must not repeat \"a\": another entry has it"]);
    }

    #[test]
    fn templates_split_into_text_values_and_claims() {
        assert_eq!(
            parse_template("sub={subscription};user={token.claims.sub}").unwrap(),
            vec![TemplatePart::Text("sub="), TemplatePart::Value("subscription"), TemplatePart::Text(";user="), TemplatePart::Claim("sub")]
        );
        assert!(parse_template("{unclosed").is_err());
        assert!(parse_template("a}b").is_err());
    }

    #[test]
    fn limit_keys() {
        let limit = |key: Option<&str>| PolicyLimit { calls: 1, period_seconds: 1, key: key.map(str::to_string) };
        assert_eq!(limit(None).key(), LimitKey::Subscription);
        assert_eq!(limit(Some("client")).key(), LimitKey::Client);
        assert_eq!(limit(Some("token.claims.sub")).key(), LimitKey::Expression("token.claims.sub"));
    }
}
