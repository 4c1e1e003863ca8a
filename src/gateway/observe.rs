//! Follows every JSON-RPC request of one HTTP exchange from arrival to its
//! answer (from the upstream or the gateway itself) and reports each to
//! telemetry: spans, metrics, and the call log.

use super::config::Association;
use super::config::VersionConfig;
use super::policy::Verdict;
use super::sessions::{ServerInfo, ServerInfos};
use super::tools::ToolCatalog;
use crate::mcp::jsonrpc;
use crate::mcp::jsonrpc::{IdKey, Message};
use crate::telemetry::observation::{prefix_chars, CallContext, InputRound, Observation, ObservedError, TraceIds};
use crate::telemetry::Telemetry;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

struct Pending {
    method: Cow<'static, str>,
    request_id: String,
    tool: Option<String>,
    prompt: Option<String>,
    resource_uri: Option<String>,
    start: SystemTime,
    started: Instant,
    trace: TraceIds,
    arguments: Option<String>,
    forwarded: bool,
    /// The gateway answered it with a refusal of the call.
    refused: bool,
    /// The policy rule that refused or throttled it.
    rule: Option<Arc<str>>,
    /// Whether its payloads are recorded (the version's setting, or a policy's).
    log_payload: bool,
    /// What recorded payloads have replaced (policies' `redact`).
    redact: Vec<Arc<regex::Regex>>,
    /// A policy's price for the call, instead of the version's.
    cost: Option<f64>,
    /// The REST API request the call made.
    backend_call: Option<crate::telemetry::observation::BackendCall>,
    unapproved_tools: Option<String>,
    /// The key of the `requestState` the request sent back (2026-07-28).
    continues: Option<String>,
}

pub struct Exchanges {
    telemetry: Arc<Telemetry>,
    /// Shared with every observation; copied only when initialize teaches it something.
    pub context: Arc<CallContext>,
    /// Requests awaiting their answer, by id key: a body holds one request
    /// or a batch of at most `max_batch` (100), so a list beats a map.
    pending: Vec<(IdKey, Pending)>,
    version: Arc<VersionConfig>,
    /// Where what an initialize result says about the server is kept.
    server_infos: Arc<ServerInfos>,
    /// What the version offers, and what the product names: which tool
    /// names may be metric labels.
    tools: Arc<ToolCatalog>,
    association: Option<Arc<Association>>,
    /// Call records not yet stored (before-response mode).
    unstored: Vec<tokio::sync::oneshot::Receiver<()>>,
}

fn id_text(id: &Value) -> String {
    match id.as_str() {
        Some(text) => prefix_chars(text, MAX_ATTRIBUTE_CHARS).to_string(),
        None => {
            // Capped in place: a number's text is written once, not copied.
            let mut text = jsonrpc::id_key(id).into_text();
            text.truncate(prefix_chars(&text, MAX_ATTRIBUTE_CHARS).len());
            text
        }
    }
}

/// A request's method for its observation: MCP's own names as they are
/// (static), any other copied and capped.
fn method_name(message: &Message) -> Cow<'static, str> {
    match &message.method {
        Some(Cow::Borrowed(name)) => Cow::Borrowed(name),
        other => Cow::Owned(capped(other.as_deref()).unwrap_or_default()),
    }
}

/// A string of a message, capped: values from the other side of a hop go
/// into spans and the call log.
fn param(message: &Value, path: &[&str]) -> Option<String> {
    capped(jsonrpc::at(message, path).and_then(Value::as_str))
}

/// The error type of a tool result with `isError: true`.
const TOOL_ERROR: &str = "tool_error";

/// Values from the other side of a hop go into spans and the call log: bounded.
const MAX_ATTRIBUTE_CHARS: usize = 256;

/// Error messages from an upstream go into spans and the call log: bounded.
fn capped_message(message: &str) -> String {
    const MAX_MESSAGE_CHARS: usize = 1024;
    prefix_chars(message, MAX_MESSAGE_CHARS).to_string()
}

fn capped(value: Option<&str>) -> Option<String> {
    value.map(|v| prefix_chars(v, MAX_ATTRIBUTE_CHARS).to_string())
}

impl Exchanges {
    pub fn new(gateway: &super::Gateway, context: Arc<CallContext>, version: Arc<VersionConfig>, association: Option<Arc<Association>>) -> Exchanges {
        Exchanges {
            telemetry: gateway.telemetry.clone(),
            context,
            pending: Vec::new(),
            version,
            server_infos: gateway.server_infos.clone(),
            tools: gateway.tools.clone(),
            association,
            unstored: Vec::new(),
        }
    }

    fn tool_known(&self, tool: &str) -> bool {
        self.association.as_ref().is_some_and(|a| a.literal_tools.contains(tool))
            || self.tools.offers(&self.context.server, &self.context.version, tool)
    }

    pub fn context_mut(&mut self) -> &mut CallContext {
        Arc::make_mut(&mut self.context)
    }

    fn payload_logging(&self) -> bool {
        self.version.spec.payload_logging
    }

    /// Starts following the requests among `messages`. With trace export on,
    /// each request's `params._meta.traceparent` names its gateway span, and
    /// the returned value is the `traceparent` header for the upstream.
    pub fn begin(&mut self, messages: &mut [Message], header_traceparent: Option<&str>) -> Option<String> {
        let tracing = self.telemetry.tracing();
        let mut upstream_header = None;
        for message in messages.iter_mut() {
            let Some((key, pending)) = self.pending_of(message, header_traceparent) else { continue };
            if tracing {
                let traceparent = pending.trace.traceparent();
                inject(message, &traceparent);
                upstream_header.get_or_insert(traceparent);
            }
            // A repeated id replaces the earlier request, as a map would.
            self.pending.retain(|(k, _)| *k != key);
            self.pending.push((key, pending));
        }
        upstream_header
    }

    /// What is followed of a request, by its id key (none for other
    /// messages): its fields read through one lookup of `params`, where each
    /// read from the top walked the message again.
    fn pending_of(&mut self, message: &Message, header_traceparent: Option<&str>) -> Option<(IdKey, Pending)> {
        let (Some(method), Some(id)) = (jsonrpc::method(message), jsonrpc::id(message)) else { return None };
        let params = message.params.as_ref();
        let param = |path: &[&str]| capped(params.and_then(|p| jsonrpc::at(p, path)).and_then(Value::as_str));
        let incoming = param(&["_meta", "traceparent"]);
        let trace = TraceIds::continuing(incoming.as_deref().or(header_traceparent));
        if method == "initialize" {
            let context = self.context_mut();
            context.client_name = param(&["clientInfo", "name"]).or(context.client_name.take());
            context.client_version = param(&["clientInfo", "version"]).or(context.client_version.take());
            context.protocol_version = param(&["protocolVersion"]).or(context.protocol_version.take());
        }
        let tool = capped(jsonrpc::CalledTool::read(Some(method), params).name());
        let log_payload = self.payload_logging() && tool.is_some();
        let arguments = log_payload.then(|| params.and_then(|p| p.get("arguments")).map(|a| self.telemetry.payload.render(a))).flatten();
        let state = params.and_then(|p| p.get("requestState")).and_then(Value::as_str);
        let pending = Pending {
            prompt: (method == "prompts/get").then(|| param(&["name"])).flatten(),
            resource_uri: method.starts_with("resources/").then(|| param(&["uri"])).flatten(),
            method: method_name(message),
            request_id: id_text(id),
            tool,
            start: SystemTime::now(),
            started: Instant::now(),
            trace,
            arguments,
            forwarded: false,
            refused: false,
            rule: None,
            log_payload,
            redact: Vec::new(),
            cost: None,
            backend_call: None,
            unapproved_tools: None,
            continues: state.map(|state| self.input_key_of(state)),
        };
        Some((jsonrpc::id_key(id), pending))
    }

    /// The key of the `requestState` at `path` in `message`, for this caller.
    fn input_key(&self, message: &Value, path: &[&str]) -> Option<String> {
        jsonrpc::at(message, path).and_then(Value::as_str).map(|state| self.input_key_of(state))
    }

    /// The key of `state`, a `requestState`, for this caller.
    fn input_key_of(&self, state: &str) -> String {
        let who = self.context.subscription.as_deref().unwrap_or(&self.context.product);
        InputRound::key(who, state)
    }

    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// What the policies decided for the call `message`: whether and how
    /// its payloads are recorded, and its price.
    pub fn apply_verdict(&mut self, message: &Message, verdict: &Verdict) {
        let Some(key) = jsonrpc::id(message).map(jsonrpc::id_key) else { return };
        let Some(at) = self.pending.iter().position(|(k, _)| *k == key) else { return };
        let log_payload = verdict.log_payload.unwrap_or(self.pending[at].1.log_payload);
        let redact = verdict.log_patterns();
        let arguments = log_payload.then(|| jsonrpc::at(message, &["params", "arguments"]).map(|a| self.render(a, &redact))).flatten();
        let pending = &mut self.pending[at].1;
        pending.log_payload = log_payload;
        pending.arguments = arguments;
        pending.redact = redact;
        pending.cost = verdict.cost;
    }

    /// A payload as recorded: the policies' patterns replaced, then the
    /// payload policy's redaction and truncation.
    fn render(&self, payload: &Value, redact: &[Arc<regex::Regex>]) -> String {
        if redact.is_empty() {
            return self.telemetry.payload.render(payload);
        }
        let mut payload = payload.clone();
        for pattern in redact {
            super::policy::redact(&mut payload, pattern);
        }
        self.telemetry.payload.render(&payload)
    }

    /// The REST API request the call `id` made (before its answer is complete).
    pub fn note_backend(&mut self, id: &Value, call: crate::telemetry::observation::BackendCall) {
        let key = jsonrpc::id_key(id);
        if let Some((_, pending)) = self.pending.iter_mut().find(|(k, _)| *k == key) {
            pending.backend_call = Some(call);
        }
    }

    /// Notes on the `tools/list` request `id` which tools its answer hid.
    pub fn note_unapproved(&mut self, id: &Value, hidden: &[String]) {
        let key = jsonrpc::id_key(id);
        if let Some((_, pending)) = self.pending.iter_mut().find(|(k, _)| *k == key) {
            pending.unapproved_tools = capped(Some(&hidden.join(",")));
        }
    }

    /// Whether a request still awaits its answer.
    pub fn awaiting(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether the request `id` still awaits its answer.
    pub fn is_pending(&self, id: &Value) -> bool {
        let key = jsonrpc::id_key(id);
        self.pending.iter().any(|(k, _)| *k == key)
    }

    /// The requests still awaiting an answer went to the upstream.
    pub fn forwarded(&mut self) {
        self.pending.iter_mut().for_each(|(_, p)| p.forwarded = true);
    }

    /// An answer (from upstream or the gateway) to one of the requests.
    pub fn complete(&mut self, message: &Value) {
        self.complete_as(message, None, false);
    }

    /// The gateway's refusal of one of the requests. With an error type
    /// (`tool_not_approved`), recorded under it rather than the JSON-RPC
    /// code, so the call log and analytics tell it apart from an upstream's
    /// invalid params.
    pub fn refused(&mut self, reply: &Value, error_type: Option<&'static str>, rule: Option<Arc<str>>) {
        let Some(at) = jsonrpc::id(reply).map(jsonrpc::id_key).and_then(|key| self.pending.iter().position(|(k, _)| *k == key)) else { return };
        self.pending[at].1.rule = rule;
        self.complete_as(reply, error_type, true);
    }

    fn complete_as(&mut self, message: &Value, error_type: Option<&'static str>, refused: bool) {
        if !jsonrpc::is_response(message) {
            return;
        }
        let Some(mut pending) = jsonrpc::id(message).and_then(|id| self.take_pending(&jsonrpc::id_key(id))) else { return };
        pending.refused = refused;
        if pending.method == "initialize" {
            self.learn_server(message);
        }
        let error = if let Some(error) = message.get("error") {
            let code = || error.get("code").filter(|c| c.is_i64()).map(|c| c.to_string()).unwrap_or_else(|| "_OTHER".into());
            Some(ObservedError {
                error_type: error_type.map_or_else(code, str::to_string),
                message: capped_message(error.get("message").and_then(Value::as_str).unwrap_or_default()),
            })
        } else if jsonrpc::at(message, &["result", "isError"]) == Some(&Value::Bool(true)) {
            let text = message.pointer("/result/content/0/text").and_then(Value::as_str).unwrap_or("the tool reported an error");
            Some(ObservedError { error_type: TOOL_ERROR.into(), message: capped_message(text) })
        } else {
            None
        };
        let result = (pending.log_payload && error.is_none()).then(|| message.get("result").map(|r| self.render(r, &pending.redact))).flatten();
        let awaits = (jsonrpc::at(message, &["result", "resultType"]).and_then(Value::as_str) == Some(jsonrpc::INPUT_REQUIRED))
            .then(|| self.input_key(message, &["result", "requestState"]))
            .flatten();
        self.finish_round(pending, error, result, awaits);
    }

    /// Whether answers must be read whole: to log their payloads, or to
    /// learn what an initialize result says about the server.
    pub fn needs_whole_answers(&self) -> bool {
        self.pending.iter().any(|(_, p)| p.log_payload || p.method == "initialize")
    }

    /// An answer read without its payload (see `needs_whole_answers`).
    pub fn complete_answer(&mut self, answer: &jsonrpc::Answer) {
        let Some(pending) = answer.id_key().and_then(|key| self.take_pending(&key)) else { return };
        let error = match answer.outcome() {
            jsonrpc::Outcome::Succeeded => None,
            jsonrpc::Outcome::Failed { code, message } => {
                Some(ObservedError { error_type: code.unwrap_or("_OTHER").to_string(), message: capped_message(message) })
            }
        };
        self.finish(pending, error, None);
    }

    /// The requests still waiting are sent again elsewhere, which records
    /// them: nothing is recorded here.
    pub fn abandon(&mut self) {
        self.pending.clear();
    }

    /// Every request still waiting ends with this error.
    pub fn fail_all(&mut self, error_type: &str, message: &str) {
        self.fail_all_by(error_type, message, None);
    }

    /// Every request still waiting ends with this error, which `rule` caused.
    pub fn fail_all_by(&mut self, error_type: &str, message: &str, rule: Option<&Arc<str>>) {
        for (_, mut p) in std::mem::take(&mut self.pending) {
            p.rule = rule.cloned();
            self.finish(p, Some(ObservedError { error_type: error_type.to_string(), message: message.to_string() }), None);
        }
    }

    fn take_pending(&mut self, key: &IdKey) -> Option<Pending> {
        let at = self.pending.iter().position(|(k, _)| k == key)?;
        Some(self.pending.swap_remove(at).1)
    }

    fn learn_server(&mut self, message: &Value) {
        let info = message.get("result").map(ServerInfo::of).unwrap_or_default();
        let context = self.context_mut();
        context.server_name.clone_from(&info.name);
        context.server_version.clone_from(&info.version);
        if let Some(protocol) = param(message, &["result", "protocolVersion"]) {
            context.protocol_version = Some(protocol);
        }
        self.server_infos.learn(&self.context.server, &self.context.version, info);
    }

    fn finish(&mut self, pending: Pending, error: Option<ObservedError>, result: Option<String>) {
        self.finish_round(pending, error, result, None);
    }

    /// `awaits`: the key of the `requestState` an `input_required` result handed out.
    fn finish_round(&mut self, pending: Pending, error: Option<ObservedError>, result: Option<String>, awaits: Option<String>) {
        let cost = match (&pending.tool, pending.forwarded) {
            (Some(tool), true) => pending.cost.unwrap_or_else(|| crate::model::version::tool_cost(&self.version.spec.tool_costs, tool)),
            _ => 0.0,
        };
        let tool_known = pending.tool.as_deref().is_some_and(|t| self.tool_known(t));
        // A name a client made up must not become an analytics group: only
        // a tool the version offers, or one that answered with a result
        // (even an `isError` one), is a group.
        let answered_with_result = error.as_ref().is_none_or(|e| e.error_type == TOOL_ERROR);
        let tool_refused = pending.refused || (!tool_known && !answered_with_result);
        let stored = self.telemetry.record(Observation {
            method: pending.method,
            request_id: Some(pending.request_id),
            tool: pending.tool,
            tool_known,
            tool_refused,
            prompt: pending.prompt,
            resource_uri: pending.resource_uri,
            start: pending.start,
            duration: pending.started.elapsed(),
            trace: pending.trace,
            context: self.context.clone(),
            error,
            arguments: pending.arguments,
            result,
            cost,
            policy_rule: pending.rule,
            backend_call: pending.backend_call,
            unapproved_tools: pending.unapproved_tools,
            input_round: InputRound { continues: pending.continues, awaits },
        });
        self.unstored.extend(stored);
    }

    /// Waits until the call records made so far are stored (at once unless
    /// the call log writes before responses). A store that does not answer
    /// within the limit does not hold the response back for ever.
    pub async fn stored(&mut self) {
        const LIMIT: std::time::Duration = std::time::Duration::from_secs(5);
        if self.unstored.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.unstored);
        if tokio::time::timeout(LIMIT, futures::future::join_all(pending)).await.is_err() {
            tracing::warn!("call records were not stored within {LIMIT:?}; answering anyway");
        }
    }
}

impl Drop for Exchanges {
    /// A stream that ended (or a client that left) before every answer.
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.fail_all("_OTHER", "the exchange ended before the MCP server answered");
        }
    }
}

/// Puts `traceparent` into `params._meta` (SEP-414: unprefixed).
fn inject(message: &mut Message, traceparent: &str) {
    let Some(params) = message.params_object_mut() else { return };
    let meta = params.entry("_meta").or_insert_with(|| Value::Object(Default::default()));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert("traceparent".into(), Value::String(traceparent.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_recorded_as_text_and_capped() {
        assert_eq!(id_text(&serde_json::json!(7)), "7");
        assert_eq!(id_text(&serde_json::json!("abc")), "abc");
        let long = "é".repeat(MAX_ATTRIBUTE_CHARS + 10);
        assert_eq!(id_text(&Value::String(long)).chars().count(), MAX_ATTRIBUTE_CHARS);
        // Not a valid id, but a client may send one: its JSON text, capped on a character boundary.
        let array = serde_json::json!(vec!["é"; MAX_ATTRIBUTE_CHARS]);
        let text = id_text(&array);
        assert_eq!(text.chars().count(), MAX_ATTRIBUTE_CHARS);
        assert!(array.to_string().starts_with(&text));
    }
}
