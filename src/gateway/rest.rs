//! Versions backed by a REST API: the gateway is their MCP server. It
//! answers `initialize`, `ping` and `tools/list` itself (the tools are the
//! operations of the version's OpenAPI document), and turns each
//! `tools/call` into one HTTP request: arguments checked against the tool's
//! input schema first, path parameters escaped, query parameters encoded as
//! the document's `style` and `explode` say, the version's backend headers
//! and client-credentials token applied, its timeout kept. Sessions, limits,
//! policies and telemetry are the same as for an MCP backend.

use super::config::{RestBackend, Target, VersionConfig};
use super::observe::Exchanges;
use super::proxy::{self, UpstreamEffects};
use super::refusal::{Refusal, RequestIds};
use super::screen::{Screen, INVALID_ARGUMENTS};
use super::sessions::Session;
use super::{Gateway, Routed, SESSION_HEADER};
use crate::mcp::jsonrpc::Message;
use crate::mcp::{jsonrpc, revision};
use crate::model::openapi::{In, Operation, Parameter, Style};
use crate::telemetry::observation::BackendCall;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// The largest response body read from the REST API.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// The largest text a tool result carries; longer text is cut with a note.
const MAX_TEXT_BYTES: usize = 64 * 1024;
/// How much of a failed response's body the error shows.
const MAX_EXCERPT_BYTES: usize = 2 * 1024;

/// POST: the messages of one body, answered by the gateway.
pub async fn serve(gateway: &Gateway, routed: Routed, parts: Parts, mut body: jsonrpc::Body) -> Response {
    let requests = RequestIds::of(&body);
    let Some(version) = proxy::version_of(&routed).cloned() else {
        return Refusal::new(StatusCode::NOT_FOUND, "unknown_version", "the version vanished").respond(&requests);
    };
    let Some(rest) = version.rest().cloned() else {
        return Refusal::new(StatusCode::NOT_FOUND, "unknown_version", "not a REST API").respond(&requests);
    };
    let association = routed.grant.association(routed.server()).cloned();
    let mut exchanges = Exchanges::new(gateway, routed.context.clone(), version.clone(), association.clone());
    let traceparent = parts.headers.get(&super::proxy::TRACEPARENT).and_then(|v| v.to_str().ok()).map(str::to_string);
    exchanges.begin(body.messages_mut(), traceparent.as_deref());
    let screen = Screen { gateway, routed: &routed, version: &version, association: association.as_ref(), headers: &parts.headers };
    let screened = screen.run(&mut body, &mut exchanges).await;
    let batch = body.is_batch();
    let forwarded = body.retain(|i| !screened.is_refused(i));
    let calls = forwarded.as_ref().map_or(0, |b| b.messages().iter().filter(jsonrpc::is_request).count() as u64);
    let charged = match super::admit(gateway, &routed, calls, screened.charges()).await {
        Ok(charged) => charged,
        Err(refused) => {
            exchanges.fail_all_by(&refused.error_type, &refused.message, refused.rule.as_ref());
            return refused.response(&requests);
        }
    };
    let effects = UpstreamEffects::of(&screened.verdicts);
    let mut replies = screened.replies;
    let mut session = None;
    let mut served = Server { gateway, routed: &routed, version: &version, rest: &rest, parts: &parts, effects: &effects, exchanges: &mut exchanges };
    for message in forwarded.iter().flat_map(|b| b.messages()) {
        let Some(id) = jsonrpc::id(message).filter(|_| jsonrpc::is_request(message)) else { continue };
        let reply = match jsonrpc::method(message).unwrap_or_default() {
            "initialize" => {
                session = Some(served.start_session());
                served.initialize(id, message)
            }
            "server/discover" => served.discover(id),
            "ping" => json!({ "jsonrpc": "2.0", "id": id, "result": {} }),
            "tools/list" => served.list(id),
            "tools/call" => served.call(id, message).await,
            method => jsonrpc::error(Some(id), jsonrpc::METHOD_NOT_FOUND, &format!("Method not found: {method}"), None),
        };
        let mut reply = reply;
        if revision::is_stateless(&parts.headers, message) {
            stateless_result(&mut reply);
        }
        redact_result(&mut reply, &effects);
        served.exchanges.complete(&reply);
        replies.push(reply);
    }
    exchanges.stored().await;
    let mut response = proxy::local_only(replies, batch, &routed, &version, &charged.standings);
    if let Some(value) = session.and_then(|s| HeaderValue::from_str(&gateway.sessions.issue(&s)).ok()) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    if let Some(value) = routed.federated.as_ref().and_then(|f| f.session_header.clone()) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    response
}

/// A result as a 2026-07-28 client reads it: `resultType`, and a list (shaped
/// by the product's allow-list) private and never fresh.
fn stateless_result(reply: &mut Value) {
    if let Some(result) = reply.get_mut("result").and_then(Value::as_object_mut) {
        let is_list = result.contains_key("tools");
        revision::complete_result(result, is_list);
    }
}

/// GET and DELETE: there is no server stream to open; DELETE ends the session.
pub fn stream(gateway: &Gateway, routed: &Routed, method: &Method) -> Response {
    if *method != Method::DELETE {
        let refusal = Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "a REST API sends no messages of its own: use POST");
        return refusal.with_header(header::ALLOW, HeaderValue::from_static("POST, DELETE")).respond(&RequestIds::default());
    }
    match &routed.session {
        Some(session) => {
            proxy::end_session(gateway, session);
            StatusCode::NO_CONTENT.into_response()
        }
        None => Refusal::new(StatusCode::BAD_REQUEST, "missing_session", "send the Mcp-Session-Id header").respond(&RequestIds::default()),
    }
}

/// Patterns `redact … in: result` asks for, on a reply the client receives.
fn redact_result(reply: &mut Value, effects: &UpstreamEffects) {
    let Some(key) = jsonrpc::id(reply).map(jsonrpc::id_key) else { return };
    let Some((_, patterns)) = effects.redact_results.iter().find(|(id, _)| *id == key) else { return };
    if let Some(result) = reply.get_mut("result") {
        for pattern in patterns {
            super::policy::redact(result, pattern);
        }
    }
}

/// What answering one body needs.
struct Server<'a> {
    gateway: &'a Gateway,
    routed: &'a Routed,
    version: &'a Arc<VersionConfig>,
    rest: &'a RestBackend,
    parts: &'a Parts,
    effects: &'a UpstreamEffects,
    exchanges: &'a mut Exchanges,
}

impl Server<'_> {
    /// A session of the gateway's own (there is no upstream session).
    fn start_session(&mut self) -> Session {
        let id = format!("rest-{}", hex::encode(rand::random::<[u8; 12]>()));
        self.exchanges.context_mut().session_id = Some(id.clone());
        Session::start(&self.exchanges.context, &self.routed.caller, &id)
    }

    /// `server/discover` (2026-07-28): the revisions spoken here and the tools capability.
    fn discover(&self, id: &Value) -> Value {
        let server_info = json!({ "name": self.routed.server(), "version": self.routed.version() });
        let result = revision::discover_result(json!({ "tools": { "listChanged": false } }), None, Some(server_info));
        json!({ "jsonrpc": "2.0", "id": id, "result": result })
    }

    fn initialize(&self, id: &Value, message: &Message) -> Value {
        let asked = jsonrpc::at(message, &["params", "protocolVersion"]).and_then(Value::as_str);
        let protocol = crate::mcp::negotiate(asked);
        json!({ "jsonrpc": "2.0", "id": id, "result": {
            "protocolVersion": protocol,
            "capabilities": { "tools": { "listChanged": false } },
            "serverInfo": { "name": self.routed.server(), "version": self.routed.version() },
        } })
    }

    fn list(&mut self, id: &Value) -> Value {
        let mut tools = self.rest.api.tools();
        let approved = self.version.spec.approved_tools.as_ref();
        let association = self.routed.grant.association(self.routed.server()).cloned();
        proxy::filter_listed(&self.gateway.tools, self.exchanges, id, &mut tools, approved, association.as_deref());
        json!({ "jsonrpc": "2.0", "id": id, "result": { "tools": tools } })
    }

    async fn call(&mut self, id: &Value, message: &Message) -> Value {
        let tool = jsonrpc::tool_name(message).unwrap_or_default();
        let Some((operation, validator)) = self.rest.operation(tool) else { return jsonrpc::unknown_tool(Some(id), tool) };
        let arguments = jsonrpc::at(message, &["params", "arguments"]).cloned().unwrap_or_else(|| json!({}));
        if let Some(refusal) = validator.and_then(|validator| check_arguments(operation, &validator, &arguments, id)) {
            self.exchanges.refused(&refusal, Some(INVALID_ARGUMENTS), None);
            return refusal;
        }
        let request = match self.request(operation, &arguments).await {
            Ok(request) => request,
            Err(reply) => return error_reply(id, reply),
        };
        let started = (SystemTime::now(), Instant::now());
        let timeout = self.effects.timeout.map_or(proxy::timeout_of(self.version), |t| t.min(proxy::timeout_of(self.version)));
        let sent = tokio::time::timeout(timeout, self.send(request.clone())).await;
        let mut call = BackendCall {
            method: operation.method.clone(),
            url: request.target.url.clone(),
            status: None,
            start: started.0,
            duration: started.1.elapsed(),
            error: None,
        };
        let reply = match sent {
            Err(_) => {
                call.error = Some("timeout".into());
                error_reply(id, Refusal::new(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", "the REST API did not answer in time"))
            }
            Ok(Err(err)) => {
                call.error = Some(err.clone());
                error_reply(id, Refusal::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", format!("the REST API is unreachable: {err}")))
            }
            Ok(Ok((status, content_type, body))) => {
                call.status = Some(status.as_u16());
                json!({ "jsonrpc": "2.0", "id": id, "result": tool_result(status, &content_type, &body) })
            }
        };
        call.duration = started.1.elapsed();
        self.exchanges.note_backend(id, call);
        reply
    }

    /// The HTTP request a call makes.
    async fn request(&self, operation: &Operation, arguments: &Value) -> Result<RestRequest, Refusal> {
        let mut url = self.rest.base_url.clone();
        let base_path = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base_path}{}", path_with(operation, arguments)));
        let query: Vec<(String, String)> =
            operation.parameters.iter().filter(|p| p.location == In::Query).flat_map(|p| query_pairs(p, arguments.get(&p.argument))).collect();
        url.set_query(None);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let target = Target::parse(url.as_str())
            .map_err(|e| Refusal::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", format!("the request URL is not valid: {e}")))?;
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json, */*;q=0.5"));
        for parameter in operation.parameters.iter().filter(|p| p.location == In::Header) {
            let Some(value) = arguments.get(&parameter.argument).filter(|v| !v.is_null()) else { continue };
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(parameter.name.as_bytes()), HeaderValue::from_str(&simple(value, parameter.explode)))
            {
                headers.insert(name, value);
            }
        }
        let body = match (operation.body, arguments.get("body")) {
            (Some(_), Some(body)) => {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                bytes::Bytes::from(body.to_string())
            }
            _ => bytes::Bytes::new(),
        };
        proxy::with_policy_headers(&mut headers, self.effects.headers.clone(), self.version);
        for (name, value) in &self.version.spec.backend_headers {
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                headers.insert(name, value);
            }
        }
        proxy::authenticate_upstream(self.gateway, self.version, &mut headers).await?;
        if self.gateway.telemetry.tracing() {
            if let Some(value) = self.parts.headers.get(&super::proxy::TRACEPARENT) {
                headers.insert(super::proxy::TRACEPARENT, value.clone());
            }
        }
        let method = Method::from_bytes(operation.method.as_bytes()).unwrap_or(Method::GET);
        Ok(RestRequest { target, method, headers, body })
    }

    /// Sends the request; the status, content type and (bounded) body.
    async fn send(&self, request: RestRequest) -> Result<(StatusCode, String, Vec<u8>), String> {
        use http_body_util::BodyExt;
        let response = self.gateway.backends.send(&request.target, request.method, request.headers, request.body).await.map_err(|e| e.cause)?;
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
        let mut body = response.into_body();
        let mut read = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            if let Some(data) = frame.data_ref() {
                let room = MAX_RESPONSE_BYTES.saturating_sub(read.len());
                read.extend_from_slice(&data[..data.len().min(room)]);
                if room < data.len() {
                    break;
                }
            }
        }
        Ok((status, content_type, read))
    }
}

#[derive(Clone)]
struct RestRequest {
    target: Target,
    method: Method,
    headers: HeaderMap,
    body: bytes::Bytes,
}

fn error_reply(id: &Value, refusal: Refusal) -> Value {
    refusal.error_for(Some(id))
}

/// The refusal of arguments that do not match the tool's input schema.
fn check_arguments(operation: &Operation, validator: &jsonschema::Validator, arguments: &Value, id: &Value) -> Option<Value> {
    let error = validator.validate(arguments).err()?;
    let path = error.instance_path().to_string();
    let text = format!("the arguments of {} do not match its inputSchema at {}: {error}", operation.tool, if path.is_empty() { "/" } else { &path });
    let data = json!({ "reason": INVALID_ARGUMENTS, "path": path, "schemaPath": error.schema_path().to_string() });
    Some(jsonrpc::error(Some(id), jsonrpc::INVALID_PARAMS, &text, Some(data)))
}

/// The path with its parameters filled in, each value percent-encoded as
/// one segment.
fn path_with(operation: &Operation, arguments: &Value) -> String {
    let mut path = operation.path.clone();
    for parameter in operation.parameters.iter().filter(|p| p.location == In::Path) {
        let value = arguments.get(&parameter.argument).map(|v| simple(v, parameter.explode)).unwrap_or_default();
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>().replace('+', "%20");
        path = path.replace(&format!("{{{}}}", parameter.name), &encoded);
    }
    path
}

/// A scalar as text (strings without quotes).
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `simple` style: arrays and objects comma-separated (objects as
/// `k,v,k,v`, or `k=v,k=v` exploded).
fn simple(value: &Value, explode: bool) -> String {
    match value {
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        Value::Object(fields) if explode => fields.iter().map(|(k, v)| format!("{k}={}", text(v))).collect::<Vec<_>>().join(","),
        Value::Object(fields) => fields.iter().flat_map(|(k, v)| [k.clone(), text(v)]).collect::<Vec<_>>().join(","),
        scalar => text(scalar),
    }
}

/// A query parameter's pairs, as its style and explode say.
fn query_pairs(parameter: &Parameter, value: Option<&Value>) -> Vec<(String, String)> {
    let Some(value) = value.filter(|v| !v.is_null()) else { return Vec::new() };
    let name = parameter.name.clone();
    let joined = |separator: &str, items: &[Value]| items.iter().map(text).collect::<Vec<_>>().join(separator);
    match (parameter.style, value) {
        (Style::DeepObject, Value::Object(fields)) => fields.iter().map(|(k, v)| (format!("{name}[{k}]"), text(v))).collect(),
        (Style::Form, Value::Array(items)) if parameter.explode => items.iter().map(|item| (name.clone(), text(item))).collect(),
        (Style::Form, Value::Object(fields)) if parameter.explode => fields.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        (Style::SpaceDelimited, Value::Array(items)) => vec![(name, joined(" ", items))],
        (Style::PipeDelimited, Value::Array(items)) => vec![(name, joined("|", items))],
        (_, value) => vec![(name, simple(value, false))],
    }
}

/// A response as a tool result: 2xx JSON as structured content and the
/// same JSON as text; other content as text, cut past a size; a failure
/// status as an error result with an excerpt of its body.
fn tool_result(status: StatusCode, content_type: &str, body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    if !status.is_success() {
        let excerpt: String = text.chars().take(MAX_EXCERPT_BYTES).collect();
        let message = format!("HTTP {status}: {excerpt}");
        return json!({ "isError": true, "content": [{ "type": "text", "text": message }] });
    }
    let json_body = (content_type.starts_with("application/json") || content_type.contains("+json"))
        .then(|| serde_json::from_slice::<Value>(body).ok())
        .flatten();
    match json_body {
        Some(parsed) => {
            let mut result = json!({ "content": [{ "type": "text", "text": cut(&parsed.to_string()) }] });
            if parsed.is_object() {
                result["structuredContent"] = parsed;
            }
            result
        }
        None => json!({ "content": [{ "type": "text", "text": cut(&text) }] }),
    }
}

/// Text a result carries, cut (with a note) past `MAX_TEXT_BYTES`.
fn cut(text: &str) -> String {
    if text.len() <= MAX_TEXT_BYTES {
        return text.to_string();
    }
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n…[truncated: {} of {} bytes shown]", &text[..end], end, text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parameter(name: &str, location: In, style: Style, explode: bool) -> Parameter {
        Parameter { name: name.into(), argument: name.into(), location, style, explode, required: false }
    }

    #[test]
    fn query_styles() {
        let tags = json!(["a", "b c"]);
        assert_eq!(
            query_pairs(&parameter("tag", In::Query, Style::Form, true), Some(&tags)),
            vec![("tag".into(), "a".into()), ("tag".into(), "b c".into())]
        );
        assert_eq!(query_pairs(&parameter("tag", In::Query, Style::Form, false), Some(&tags)), vec![("tag".into(), "a,b c".into())]);
        assert_eq!(query_pairs(&parameter("tag", In::Query, Style::PipeDelimited, false), Some(&tags)), vec![("tag".into(), "a|b c".into())]);
        let filter = json!({ "color": "red", "size": 3 });
        assert_eq!(
            query_pairs(&parameter("f", In::Query, Style::DeepObject, true), Some(&filter)),
            vec![("f[color]".into(), "red".into()), ("f[size]".into(), "3".into())]
        );
        assert!(query_pairs(&parameter("x", In::Query, Style::Form, true), Some(&Value::Null)).is_empty());
    }

    #[test]
    fn paths_are_escaped_and_results_shaped() {
        let operation = Operation {
            tool: "get".into(),
            method: "GET".into(),
            path: "/files/{name}/v/{n}".into(),
            parameters: vec![parameter("name", In::Path, Style::Simple, false), parameter("n", In::Path, Style::Simple, false)],
            body: None,
            definition: json!({}),
        };
        assert_eq!(path_with(&operation, &json!({ "name": "a b/c?d", "n": 7 })), "/files/a%20b%2Fc%3Fd/v/7");
        let ok = tool_result(StatusCode::OK, "application/json", br#"{"id":1}"#);
        assert_eq!(ok["structuredContent"], json!({ "id": 1 }));
        assert_eq!(ok["content"][0]["text"], r#"{"id":1}"#);
        let failed = tool_result(StatusCode::NOT_FOUND, "application/json", br#"{"detail":"no pet"}"#);
        assert_eq!(failed["isError"], true);
        assert!(failed["content"][0]["text"].as_str().unwrap().starts_with("HTTP 404 Not Found: {\"detail\""));
        let long = "x".repeat(MAX_TEXT_BYTES + 10);
        let cut_text = tool_result(StatusCode::OK, "text/plain", long.as_bytes())["content"][0]["text"].as_str().unwrap().to_string();
        assert!(cut_text.ends_with(&format!("[truncated: {MAX_TEXT_BYTES} of {} bytes shown]", MAX_TEXT_BYTES + 10)));
    }
}
