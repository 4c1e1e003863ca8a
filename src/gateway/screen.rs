//! What a body's tool calls go through before anything is forwarded, in
//! order: a string tool name, the product's allow-list, the version's
//! approved manifest, then the product's and the association's policies
//! (deny, argument validation, redaction). Each refused request gets its
//! JSON-RPC reply here and is recorded; what passes carries the policies'
//! verdict (limits to charge, headers, timeout, what to log) on to the
//! upstream leg.

use super::config::{Association, VersionConfig};
use super::observe::Exchanges;
use super::policy::{self, CallFacts, PolicyChain, PolicyRefusal, Verdict};
use super::{Gateway, Routed};
use crate::mcp::jsonrpc::Message;
use crate::mcp::jsonrpc::{self, CalledTool};
use crate::model::policy::RedactIn;
use axum::http::HeaderMap;
use serde_json::{json, Value};
use std::sync::Arc;

/// The `error.data.reason` (and call-log error type) of a call refused
/// because the tool's definition is not the approved one.
pub(crate) const TOOL_NOT_APPROVED: &str = "tool_not_approved";
/// A policy rule's `deny`.
pub(crate) const POLICY_DENIED: &str = "policy_denied";
/// Arguments that fail the tool's inputSchema (a `validate_arguments` rule).
pub(crate) const INVALID_ARGUMENTS: &str = "invalid_arguments";
/// A policy's rate limit or quota.
pub(crate) const RATE_LIMITED: &str = "rate_limited";

/// What screening decided for a body.
#[derive(Default)]
pub(crate) struct Screened {
    /// The messages that stay at the gateway, by index (none, and no
    /// allocation, on a call's usual path).
    pub refused: Vec<usize>,
    /// The replies to refused requests.
    pub replies: Vec<Value>,
    /// The policies' verdict on each forwarded call, by id key.
    pub verdicts: Vec<(jsonrpc::IdKey, Verdict)>,
    /// Whether a forwarded message was rewritten (its arguments redacted).
    pub rewritten: bool,
}

impl Screened {
    /// Whether the message at `index` stays at the gateway.
    pub fn is_refused(&self, index: usize) -> bool {
        self.refused.contains(&index)
    }

    /// The policy limits the forwarded calls are charged against.
    pub fn charges(&self) -> Vec<policy::PolicyCharge> {
        self.verdicts.iter().flat_map(|(_, v)| v.charges.iter().cloned()).collect()
    }
}

/// Where a body goes and who sends it: what the checks read.
pub(crate) struct Screen<'a> {
    pub gateway: &'a Gateway,
    pub routed: &'a Routed,
    pub version: &'a Arc<VersionConfig>,
    pub association: Option<&'a Arc<Association>>,
    pub headers: &'a HeaderMap,
}

/// A refusal of one request: its reply, the call log's error type, the rule.
struct Refused {
    reply: Value,
    error_type: Option<&'static str>,
    rule: Option<Arc<str>>,
}

impl Screen<'_> {
    fn chains(&self) -> Vec<&PolicyChain> {
        let product = &*self.routed.grant.product.policies;
        let association = self.association.map(|a| &a.policies);
        [Some(product), association].into_iter().flatten().filter(|chain| !chain.is_empty()).collect()
    }

    fn facts<'m>(&'m self, message: &'m Message, tool: &'m str) -> CallFacts<'m> {
        let context = &self.routed.context;
        CallFacts {
            method: "tools/call",
            tool,
            arguments: jsonrpc::at(message, &["params", "arguments"]),
            subscription: context.subscription.as_deref(),
            product: &context.product,
            server: self.routed.server(),
            version: self.routed.version(),
            client: context.client_name.as_deref(),
            claims: self.routed.grant.claims.as_deref(),
            headers: self.headers,
        }
    }

    /// Screens every tool call of `body`, recording each refusal.
    pub async fn run(&self, body: &mut jsonrpc::Body, exchanges: &mut Exchanges) -> Screened {
        let gateway = self.gateway;
        let (server, version) = (self.routed.server(), self.routed.version());
        let chains = self.chains();
        let approved = self.version.spec.approved_tools.as_ref();
        if approved.is_some() {
            gateway.tools.refresh_if_stale(&gateway.upstream, server, version, self.version, gateway.settings.tool_refresh);
        }
        // The policies first (no I/O), so the manifest is fetched once, and
        // only when a check needs it. Without policies or a manifest, a
        // message's tool is read once, by `check`.
        // Without policies no message has a verdict, and none is allocated.
        let verdicts: Vec<Option<Verdict>> = if chains.is_empty() {
            Vec::new()
        } else {
            let verdict = |message: &Message| {
                let CalledTool::Named(tool) = CalledTool::of(message) else { return None };
                Some(policy::evaluate(&chains, &self.facts(message, tool), &self.routed.caller))
            };
            body.messages().iter().map(verdict).collect()
        };
        let manifest_checks = approved.is_some() && body.messages().iter().any(|m| CalledTool::of(m).is_call());
        let validates_unknown = body.messages().iter().zip(&verdicts).any(|(message, verdict)| {
            verdict.as_ref().is_some_and(|v| v.validate.is_some())
                && jsonrpc::tool_name(message).is_some_and(|tool| gateway.tools.tool(server, version, tool).is_none())
        });
        if manifest_checks || validates_unknown {
            // Boxed: a fetch's state (2 KB) would otherwise sit in every
            // call's future, and most calls never fetch (docs/benchmarks.md).
            Box::pin(gateway.tools.ensure_fetched(&gateway.upstream, server, version, self.version)).await;
        }

        let mut screened = Screened::default();
        let mut verdicts = verdicts.into_iter();
        for (index, message) in body.messages_mut().iter_mut().enumerate() {
            let verdict = verdicts.next().flatten();
            let refusal = self.check(message, verdict.as_ref());
            if let Some(verdict) = &verdict {
                for rule in &verdict.failed {
                    gateway.telemetry.metrics.record_policy("unevaluable", &self.routed.grant.product.name, rule);
                }
            }
            match refusal {
                Some(refused) => {
                    if jsonrpc::is_request(message) {
                        exchanges.refused(&refused.reply, refused.error_type, refused.rule);
                        screened.replies.push(refused.reply);
                    }
                    screened.refused.push(index);
                }
                None => {
                    if let Some(verdict) = verdict {
                        screened.rewritten |= redact_arguments(message, &verdict);
                        exchanges.apply_verdict(message, &verdict);
                        if let Some(id) = jsonrpc::id(message) {
                            screened.verdicts.push((jsonrpc::id_key(id), verdict));
                        }
                    }
                }
            }
        }
        screened
    }

    /// Why one message stays at the gateway, if it does.
    fn check(&self, message: &Message, verdict: Option<&Verdict>) -> Option<Refused> {
        let id = jsonrpc::id(message);
        let tool = match CalledTool::of(message) {
            CalledTool::NotACall => return None,
            CalledTool::Invalid => {
                return Some(Refused { reply: jsonrpc::invalid_tool_name(id), error_type: Some(jsonrpc::INVALID_TOOL_NAME), rule: None });
            }
            CalledTool::Named(tool) => tool,
        };
        let gateway = self.gateway;
        let (server, version) = (self.routed.server(), self.routed.version());
        if self.association.is_some_and(|a| a.restricts_tools && !a.tools.allows(tool)) {
            return Some(Refused { reply: jsonrpc::unknown_tool(id, tool), error_type: None, rule: None });
        }
        if let Some(approved) = self.version.spec.approved_tools.as_ref() {
            if let Err(why) = gateway.tools.check_call(server, version, approved, tool) {
                gateway.telemetry.metrics.record_unapproved("refused", 1, server, version);
                let data = json!({ "reason": TOOL_NOT_APPROVED });
                let reply = jsonrpc::error(id, jsonrpc::INVALID_PARAMS, &why.explain(tool), Some(data));
                return Some(Refused { reply, error_type: Some(TOOL_NOT_APPROVED), rule: None });
            }
        }
        let verdict = verdict?;
        let product = &self.routed.grant.product.name;
        if let Some(PolicyRefusal::Denied { rule, message: text }) = &verdict.refusal {
            gateway.telemetry.metrics.record_policy(POLICY_DENIED, product, rule);
            let data = json!({ "reason": POLICY_DENIED, "rule": &**rule });
            let reply = jsonrpc::error(id, jsonrpc::INVALID_PARAMS, text, Some(data));
            return Some(Refused { reply, error_type: Some(POLICY_DENIED), rule: Some(rule.clone()) });
        }
        let rule = verdict.validate.as_ref()?;
        let validator = gateway.tools.tool(server, version, tool).and_then(|t| t.validator())?;
        let arguments = jsonrpc::at(message, &["params", "arguments"]).cloned().unwrap_or_else(|| json!({}));
        let error = validator.validate(&arguments).err()?;
        gateway.telemetry.metrics.record_policy(INVALID_ARGUMENTS, product, rule);
        let (path, schema_path) = (error.instance_path().to_string(), error.schema_path().to_string());
        let text = format!("the arguments of {tool} do not match its inputSchema at {}: {error}", if path.is_empty() { "/" } else { &path });
        let data = json!({ "reason": INVALID_ARGUMENTS, "rule": &**rule, "path": path, "schemaPath": schema_path });
        Some(Refused {
            reply: jsonrpc::error(id, jsonrpc::INVALID_PARAMS, &text, Some(data)),
            error_type: Some(INVALID_ARGUMENTS),
            rule: Some(rule.clone()),
        })
    }
}

/// Applies a verdict's `redact … in: arguments` to what is forwarded.
fn redact_arguments(message: &mut Message, verdict: &Verdict) -> bool {
    if !verdict.redacts(RedactIn::Arguments) {
        return false;
    }
    let Some(arguments) = message.params.as_mut().and_then(|p| p.get_mut("arguments")) else { return false };
    verdict
        .redact
        .iter()
        .filter(|(_, target)| *target == RedactIn::Arguments)
        .fold(false, |changed, (pattern, _)| policy::redact(arguments, pattern) | changed)
}
