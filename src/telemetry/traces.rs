//! Spans in the MCP semantic conventions, built off the hot path by one
//! worker thread from finished observations, and exported in batches by
//! that thread over OTLP (`span_batch`).

use super::observation::{CallContext, Observation};
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{IdGenerator, SdkTracer};
use std::cell::Cell;
use std::sync::Arc;

thread_local! {
    /// The ids the next span built on this thread must carry (the worker
    /// sets them just before building): they were chosen, and propagated
    /// upstream, when the request arrived.
    static PRESET_IDS: Cell<Option<([u8; 16], [u8; 8])>> = const { Cell::new(None) };
}

/// Hands out the preset ids, or random ones when none are set.
#[derive(Debug, Default)]
pub struct PresetIdGenerator;

impl IdGenerator for PresetIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        PRESET_IDS.with(|ids| ids.get()).map_or_else(|| TraceId::from_bytes(super::observation::random_id()), |(trace, _)| TraceId::from_bytes(trace))
    }

    fn new_span_id(&self) -> SpanId {
        PRESET_IDS.with(|ids| ids.get()).map_or_else(|| SpanId::from_bytes(super::observation::random_id()), |(_, span)| SpanId::from_bytes(span))
    }
}

/// `{mcp.method.name} {target}` with the tool or prompt as the target.
pub fn span_name(observation: &Observation) -> String {
    let Some(target) = observation.tool.as_ref().or(observation.prompt.as_ref()) else { return observation.method.clone() };
    let mut name = String::with_capacity(observation.method.len() + 1 + target.len());
    name.push_str(&observation.method);
    name.push(' ');
    name.push_str(target);
    name
}

/// The span's attributes. The observation's strings move into them, and
/// so do its context's when the observation holds the last reference to
/// that context (as it does once the call record is written): copying a
/// dozen strings a span was a fifth of building it.
pub fn attributes(observation: Observation) -> Vec<KeyValue> {
    let ctx = Arc::try_unwrap(observation.context).unwrap_or_else(|shared| CallContext::clone(&shared));
    let mut attributes = Vec::with_capacity(32);
    attributes.extend([
        KeyValue::new("mcp.method.name", observation.method),
        KeyValue::new("network.transport", "tcp"),
        KeyValue::new("network.protocol.name", "http"),
        KeyValue::new("network.protocol.version", ctx.http_version),
        KeyValue::new("mcpgate.server", ctx.server),
        KeyValue::new("mcpgate.version", ctx.version),
        KeyValue::new("mcpgate.product", ctx.product),
        KeyValue::new("mcpgate.auth.type", ctx.auth_type),
    ]);
    let mut optional = |key: &'static str, value: Option<String>| {
        if let Some(value) = value {
            attributes.push(KeyValue::new(key, value));
        }
    };
    let is_tool_call = observation.tool.is_some();
    optional("jsonrpc.request.id", observation.request_id);
    optional("gen_ai.tool.name", observation.tool);
    optional("gen_ai.prompt.name", observation.prompt);
    optional("mcp.resource.uri", observation.resource_uri);
    optional("mcp.session.id", ctx.session_id.clone());
    optional("gen_ai.conversation.id", ctx.session_id);
    optional("mcp.protocol.version", ctx.protocol_version);
    optional("mcpgate.subscription", ctx.subscription);
    optional("user.id", ctx.user);
    optional("mcp.client.name", ctx.client_name);
    optional("mcp.client.version", ctx.client_version);
    optional("mcp.server.name", ctx.server_name);
    optional("mcp.server.version", ctx.server_version);
    optional("client.address", ctx.client_address.map(super::observation::address_text));
    optional("server.address", ctx.server_address);
    optional("gen_ai.tool.call.arguments", observation.arguments);
    optional("gen_ai.tool.call.result", observation.result);
    optional("mcpgate.tools.unapproved", observation.unapproved_tools);
    if let Some(endpoint) = ctx.endpoint {
        attributes.push(KeyValue::new("mcpgate.endpoint", opentelemetry::StringValue::from(endpoint)));
    }
    if let Some(port) = ctx.client_port {
        attributes.push(KeyValue::new("client.port", i64::from(port)));
    }
    if let Some(port) = ctx.server_port {
        attributes.push(KeyValue::new("server.port", i64::from(port)));
    }
    if is_tool_call {
        attributes.push(KeyValue::new("gen_ai.operation.name", "execute_tool"));
    }
    if let Some(error) = observation.error {
        if error.error_type.starts_with('-') {
            attributes.push(KeyValue::new("rpc.response.status_code", error.error_type.clone()));
        }
        attributes.push(KeyValue::new("error.type", error.error_type));
    }
    attributes
}

/// Builds and ends the span of one observation, with its preset ids and times.
pub fn emit(tracer: &SdkTracer, mut observation: Observation) {
    let ids = observation.trace;
    let name = span_name(&observation);
    let (start, end) = (observation.start, observation.start + observation.duration);
    let status = observation.error.as_ref().map(|error| Status::error(error.message.clone()));
    let backend_call = observation.backend_call.take();
    let parent = match ids.parent_span_id {
        Some(parent) => {
            let flags = if ids.sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
            let remote = SpanContext::new(TraceId::from_bytes(ids.trace_id), SpanId::from_bytes(parent), flags, true, TraceState::default());
            Context::new().with_remote_span_context(remote)
        }
        None => Context::new(),
    };
    PRESET_IDS.with(|preset| preset.set(Some((ids.trace_id, ids.span_id))));
    let mut span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_start_time(start)
        .with_attributes(attributes(observation))
        .start_with_context(tracer, &parent);
    PRESET_IDS.with(|preset| preset.set(None));
    if let Some(status) = status {
        opentelemetry::trace::Span::set_status(&mut span, status);
    }
    opentelemetry::trace::Span::end_with_timestamp(&mut span, end);
    if let Some(call) = &backend_call {
        emit_backend_call(tracer, ids, call);
    }
}

/// The HTTP client span of a REST API request, a child of its call's span
/// (the HTTP semantic conventions' attributes; the URL without its query).
fn emit_backend_call(tracer: &SdkTracer, ids: super::observation::TraceIds, call: &super::observation::BackendCall) {
    let flags = if ids.sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
    let own = SpanContext::new(TraceId::from_bytes(ids.trace_id), SpanId::from_bytes(ids.span_id), flags, false, TraceState::default());
    let parent = Context::new().with_remote_span_context(own);
    let mut attributes = vec![
        KeyValue::new("http.request.method", call.method.clone()),
        KeyValue::new("url.full", format!("{}{}", call.url.origin().ascii_serialization(), call.url.path())),
        KeyValue::new("server.address", call.url.host_str().unwrap_or_default().to_string()),
    ];
    if let Some(port) = call.url.port_or_known_default() {
        attributes.push(KeyValue::new("server.port", i64::from(port)));
    }
    if let Some(status) = call.status {
        attributes.push(KeyValue::new("http.response.status_code", i64::from(status)));
    }
    let mut span = tracer
        .span_builder(call.method.clone())
        .with_kind(SpanKind::Client)
        .with_start_time(call.start)
        .with_attributes(attributes)
        .start_with_context(tracer, &parent);
    match (&call.error, call.status) {
        (Some(error), _) => {
            opentelemetry::trace::Span::set_attribute(&mut span, KeyValue::new("error.type", error.clone()));
            opentelemetry::trace::Span::set_status(&mut span, Status::error(error.clone()));
        }
        (None, Some(status)) if status >= 500 => {
            opentelemetry::trace::Span::set_attribute(&mut span, KeyValue::new("error.type", status.to_string()));
            opentelemetry::trace::Span::set_status(&mut span, Status::error(format!("HTTP {status}")));
        }
        _ => {}
    }
    opentelemetry::trace::Span::end_with_timestamp(&mut span, call.start + call.duration);
}
