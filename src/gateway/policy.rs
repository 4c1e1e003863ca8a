//! Policies as the gateway runs them: each product's and association's
//! rules compiled once per configuration (CEL programs, globs, patterns,
//! templates), and, per tool call, what they decide ([`Verdict`]). The
//! proxy applies the verdict: a refusal, limits to charge, arguments to
//! check or redact, headers to set, a timeout, what to log and charge.

use super::limits::LimitKind;
pub(crate) use crate::model::cel::{CallFacts, Expression, Scope};
use crate::model::policy::{self, Action, LimitKey, PolicyRule, RedactIn, TemplatePart};
use crate::model::{CallLimit, ToolFilter};
use axum::http::{HeaderName, HeaderValue};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// What a header template becomes for one call.
fn fill(facts: &CallFacts<'_>, template: &[Piece]) -> String {
    let mut filled = String::new();
    for part in template {
        match part {
            Piece::Text(text) => filled.push_str(text),
            Piece::Value(name) => filled.push_str(match name.as_str() {
                "subscription" => facts.subscription.unwrap_or_default(),
                "product" => facts.product,
                "server" => facts.server,
                "version" => facts.version,
                "tool" => facts.tool,
                "client" => facts.client.unwrap_or_default(),
                _ => "",
            }),
            Piece::Claim(claim) => match facts.claims.and_then(|c| c.get(claim)) {
                Some(Value::String(s)) => filled.push_str(s),
                Some(Value::Null) | None => {}
                Some(other) => filled.push_str(&other.to_string()),
            },
        }
    }
    filled
}

/// Whose calls a policy limit counts together.
enum BucketOf {
    Subscription,
    Client,
    Expression(Expression),
}

/// A `set_headers` entry: the header, and its template (owned pieces, so
/// the compiled rule outlives the spec it came from).
struct HeaderTemplate {
    name: HeaderName,
    parts: Vec<Piece>,
}

enum Compiled {
    Deny(Arc<str>),
    Limit { kind: LimitKind, limit: CallLimit, bucket: BucketOf },
    ValidateArguments,
    SetHeaders(Vec<HeaderTemplate>),
    Redact { pattern: Arc<regex::Regex>, target: RedactIn },
    Timeout(Duration),
    LogPayload(bool),
    Cost(f64),
}

struct CompiledRule {
    name: Arc<str>,
    tools: ToolFilter,
    when: Option<Expression>,
    action: Compiled,
}

/// The rules of one product or association, compiled.
#[derive(Default)]
pub(crate) struct PolicyChain {
    rules: Vec<CompiledRule>,
    /// Where the rules live, for limit buckets: `product` or `product/server`.
    scope: String,
}

impl std::fmt::Debug for PolicyChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyChain").field("scope", &self.scope).field("rules", &self.rules.len()).finish()
    }
}

/// A template's pieces, owned (the rule's spec is not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Value(String),
    Claim(String),
}

fn owned_template(template: &str) -> Option<Vec<Piece>> {
    let parts = policy::parse_template(template).ok()?;
    Some(
        parts
            .into_iter()
            .map(|part| match part {
                TemplatePart::Text(t) => Piece::Text(t.to_string()),
                TemplatePart::Value(v) => Piece::Value(v.to_string()),
                TemplatePart::Claim(c) => Piece::Claim(c.to_string()),
            })
            .collect(),
    )
}

impl CompiledRule {
    /// `None` for a rule the model refused at write time (it is skipped and logged).
    fn compile(rule: &PolicyRule) -> Option<CompiledRule> {
        let when = match &rule.when {
            Some(source) => Some(Expression::compile(source)?),
            None => None,
        };
        let limit = |kind: LimitKind, spec: &policy::PolicyLimit| -> Option<Compiled> {
            let bucket = match spec.key() {
                LimitKey::Subscription => BucketOf::Subscription,
                LimitKey::Client => BucketOf::Client,
                LimitKey::Expression(source) => BucketOf::Expression(Expression::compile(source)?),
            };
            Some(Compiled::Limit { kind, limit: spec.limit(), bucket })
        };
        let action = match rule.action()? {
            Action::Deny(deny) => Compiled::Deny(Arc::from(deny.message.as_str())),
            Action::RateLimit(spec) => limit(LimitKind::RateLimit, spec)?,
            Action::Quota(spec) => limit(LimitKind::Quota, spec)?,
            Action::ValidateArguments => Compiled::ValidateArguments,
            Action::SetHeaders(headers) => Compiled::SetHeaders(
                headers
                    .iter()
                    .map(|(name, template)| {
                        Some(HeaderTemplate { name: HeaderName::from_bytes(name.as_bytes()).ok()?, parts: owned_template(template)? })
                    })
                    .collect::<Option<Vec<_>>>()?,
            ),
            Action::Redact(redact) => Compiled::Redact { pattern: Arc::new(policy::compile_pattern(&redact.pattern).ok()?), target: redact.target },
            Action::Timeout(timeout) => Compiled::Timeout(Duration::from_millis(u64::try_from(timeout.ms).ok()?)),
            Action::LogPayload(log) => Compiled::LogPayload(log.enabled),
            Action::Cost(cost) => Compiled::Cost(cost.per_call),
        };
        Some(CompiledRule { name: Arc::from(rule.name.as_str()), tools: ToolFilter::new(rule.tools.as_deref()), when, action })
    }
}

impl PolicyChain {
    pub(crate) fn compile(scope: String, rules: &[PolicyRule]) -> PolicyChain {
        let compiled = rules
            .iter()
            .filter_map(|rule| {
                let compiled = CompiledRule::compile(rule);
                if compiled.is_none() {
                    tracing::warn!(scope, rule = rule.name, "a stored policy rule does not compile; it is skipped");
                }
                compiled
            })
            .collect();
        PolicyChain { rules: compiled, scope }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// A call the policies refuse.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PolicyRefusal {
    Denied { rule: Arc<str>, message: Arc<str> },
}

/// A limit a call is charged against: the bucket (rule and key), and the limit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PolicyCharge {
    pub rule: Arc<str>,
    pub bucket: String,
    pub kind: LimitKind,
    pub limit: CallLimit,
}

impl PolicyCharge {
    /// The limit as the limiter takes it.
    pub fn limits(&self) -> super::limits::Limits {
        match self.kind {
            LimitKind::RateLimit => super::limits::Limits { rate: Some(self.limit), quota: None },
            LimitKind::Quota => super::limits::Limits { rate: None, quota: Some(self.limit) },
        }
    }
}

/// What the matching rules decided for one call.
#[derive(Debug, Clone, Default)]
pub(crate) struct Verdict {
    pub refusal: Option<PolicyRefusal>,
    pub charges: Vec<PolicyCharge>,
    /// The rule asking for argument validation, when one does.
    pub validate: Option<Arc<str>>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub redact: Vec<(Arc<regex::Regex>, RedactIn)>,
    pub timeout: Option<Duration>,
    pub log_payload: Option<bool>,
    pub cost: Option<f64>,
    /// Rules whose condition or key failed to evaluate (counted, treated as not matching).
    pub failed: Vec<Arc<str>>,
}

impl Verdict {
    pub fn redacts(&self, target: RedactIn) -> bool {
        self.redact.iter().any(|(_, t)| *t == target)
    }

    /// The patterns that apply to what is recorded: every one (what is
    /// forwarded and returned is recorded too).
    pub fn log_patterns(&self) -> Vec<Arc<regex::Regex>> {
        self.redact.iter().map(|(p, _)| p.clone()).collect()
    }
}

/// Runs `chains` (the product's, then the association's) for one call.
/// The first matching `deny` refuses and ends evaluation; every matching
/// limit is charged; for timeouts, payload logging and cost the last
/// matching rule wins (so an association's rule overrides its product's).
pub(crate) fn evaluate(chains: &[&PolicyChain], facts: &CallFacts<'_>, caller: &str) -> Verdict {
    let mut verdict = Verdict::default();
    let scope = Scope::new(facts);
    for chain in chains {
        for rule in &chain.rules {
            if !rule.tools.allows(facts.tool) {
                continue;
            }
            if let Some(when) = &rule.when {
                match when.evaluate(&scope) {
                    Some(cel::Value::Bool(true)) => {}
                    Some(cel::Value::Bool(false)) => continue,
                    _ => {
                        verdict.failed.push(rule.name.clone());
                        continue;
                    }
                }
            }
            match &rule.action {
                Compiled::Deny(message) => {
                    verdict.refusal = Some(PolicyRefusal::Denied { rule: rule.name.clone(), message: message.clone() });
                    return verdict;
                }
                Compiled::Limit { kind, limit, bucket } => {
                    let key = match bucket {
                        BucketOf::Subscription => caller.to_string(),
                        BucketOf::Client => format!("{caller}/{}", facts.client.unwrap_or_default()),
                        BucketOf::Expression(expression) => match expression.evaluate(&scope) {
                            Some(value) => bucket_name(&value),
                            None => {
                                verdict.failed.push(rule.name.clone());
                                String::from("(unevaluable)")
                            }
                        },
                    };
                    let bucket = format!("policy:{}:{}:{key}", chain.scope, rule.name);
                    verdict.charges.push(PolicyCharge { rule: rule.name.clone(), bucket, kind: *kind, limit: *limit });
                }
                Compiled::ValidateArguments => verdict.validate = Some(rule.name.clone()),
                Compiled::SetHeaders(headers) => {
                    for header in headers {
                        match HeaderValue::try_from(fill(facts, &header.parts)) {
                            Ok(value) => {
                                verdict.headers.retain(|(name, _)| *name != header.name);
                                verdict.headers.push((header.name.clone(), value));
                            }
                            Err(_) => verdict.failed.push(rule.name.clone()),
                        }
                    }
                }
                Compiled::Redact { pattern, target } => verdict.redact.push((pattern.clone(), *target)),
                Compiled::Timeout(timeout) => verdict.timeout = Some(*timeout),
                Compiled::LogPayload(enabled) => verdict.log_payload = Some(*enabled),
                Compiled::Cost(cost) => verdict.cost = Some(*cost),
            }
        }
    }
    verdict
}

/// A limit bucket named by an expression's value: strings as they are,
/// anything else as JSON-ish text; bounded, since it becomes a counter key.
fn bucket_name(value: &cel::Value) -> String {
    let text = match value {
        cel::Value::String(s) => s.to_string(),
        cel::Value::Int(i) => i.to_string(),
        cel::Value::UInt(u) => u.to_string(),
        cel::Value::Bool(b) => b.to_string(),
        cel::Value::Null => "null".to_string(),
        other => format!("{other:?}"),
    };
    text.chars().take(128).collect()
}

/// Replaces every match of `pattern` in the string values of `value`
/// (keys stay); whether anything changed.
pub(crate) fn redact(value: &mut Value, pattern: &regex::Regex) -> bool {
    match value {
        Value::String(s) => match pattern.replace_all(s, policy::REDACTED) {
            std::borrow::Cow::Owned(replaced) => {
                *s = replaced;
                true
            }
            std::borrow::Cow::Borrowed(_) => false,
        },
        Value::Array(items) => items.iter_mut().fold(false, |changed, item| redact(item, pattern) | changed),
        Value::Object(fields) => fields.values_mut().fold(false, |changed, item| redact(item, pattern) | changed),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;
    use serde_json::json;

    fn chain(rules: Value) -> PolicyChain {
        PolicyChain::compile("gold".into(), &serde_json::from_value::<Vec<PolicyRule>>(rules).unwrap())
    }

    fn facts<'a>(tool: &'a str, arguments: &'a Value, headers: &'a HeaderMap, claims: &'a serde_json::Map<String, Value>) -> CallFacts<'a> {
        CallFacts {
            method: "tools/call",
            tool,
            arguments: Some(arguments),
            subscription: Some("alice"),
            product: "gold",
            server: "shop",
            version: "v1",
            client: Some("copilot"),
            claims: Some(claims),
            headers,
        }
    }

    #[test]
    fn conditions_deny_limits_and_overrides() {
        let rules = chain(json!([
            { "name": "no-big-refunds", "tools": ["refund*"], "when": "mcp.tool.arguments.amount > 100", "deny": { "message": "refunds over 100 need a human" } },
            { "name": "refund-limit", "tools": ["refund"], "rate_limit": { "calls": 2, "period_seconds": 3600 } },
            { "name": "per-user", "quota": { "calls": 5, "period_seconds": 60, "key": "token.claims.sub" } },
            { "name": "slow", "timeout": { "ms": 500 } },
            { "name": "stamp", "set_headers": { "X-Caller": "{subscription}/{token.claims.sub}" } },
        ]));
        let (headers, claims) = (HeaderMap::new(), json!({ "sub": "u-7" }).as_object().cloned().unwrap());
        let big = json!({ "amount": 150 });
        let verdict = evaluate(&[&rules], &facts("refund", &big, &headers, &claims), "alice");
        assert_eq!(verdict.refusal, Some(PolicyRefusal::Denied { rule: "no-big-refunds".into(), message: "refunds over 100 need a human".into() }));
        let small = json!({ "amount": 50 });
        let verdict = evaluate(&[&rules], &facts("refund", &small, &headers, &claims), "alice");
        assert!(verdict.refusal.is_none());
        let buckets: Vec<&str> = verdict.charges.iter().map(|c| c.bucket.as_str()).collect();
        assert_eq!(buckets, vec!["policy:gold:refund-limit:alice", "policy:gold:per-user:u-7"]);
        assert_eq!(verdict.timeout, Some(Duration::from_millis(500)));
        assert_eq!(verdict.headers, vec![(HeaderName::from_static("x-caller"), HeaderValue::from_static("alice/u-7"))]);
        let other = json!({});
        let verdict = evaluate(&[&rules], &facts("echo", &other, &headers, &claims), "alice");
        assert_eq!(verdict.charges.len(), 1, "only the rule for every tool: {verdict:?}");
    }

    #[test]
    fn a_condition_that_cannot_be_evaluated_does_not_match() {
        let rules = chain(json!([{ "name": "big", "when": "mcp.tool.arguments.amount > 100", "deny": { "message": "no" } }]));
        let (headers, claims, none) = (HeaderMap::new(), serde_json::Map::new(), json!({}));
        let verdict = evaluate(&[&rules], &facts("refund", &none, &headers, &claims), "alice");
        assert!(verdict.refusal.is_none());
        assert_eq!(verdict.failed, vec![Arc::<str>::from("big")]);
    }

    #[test]
    fn the_association_overrides_its_product() {
        let product = chain(json!([{ "name": "a", "cost": { "per_call": 1.0 } }, { "name": "b", "log_payload": { "enabled": false } }]));
        let association = chain(json!([{ "name": "c", "cost": { "per_call": 2.5 } }]));
        let (headers, claims, none) = (HeaderMap::new(), serde_json::Map::new(), json!({}));
        let verdict = evaluate(&[&product, &association], &facts("echo", &none, &headers, &claims), "alice");
        assert_eq!((verdict.cost, verdict.log_payload), (Some(2.5), Some(false)));
    }

    #[test]
    fn redaction_replaces_in_string_values_only() {
        let pattern = regex::Regex::new(r"\d{4}-\d{4}").unwrap();
        let mut value = json!({ "card": "1234-5678", "note": ["ok", "x 9999-0000 y"], "1234-5678": 3 });
        assert!(redact(&mut value, &pattern));
        assert_eq!(value, json!({ "card": "[REDACTED]", "note": ["ok", "x [REDACTED] y"], "1234-5678": 3 }));
        assert!(!redact(&mut value, &pattern));
    }
}
