//! Spans in the MCP semantic conventions, from finished observations. What
//! a span says is written once, here (`span_name`, `attributes`,
//! `backend_attributes`), for the two ways spans leave: OTLP/HTTP, written
//! straight from the observation into the wire format where the call is
//! recorded and exported by the span thread (`otlp_http`), and gRPC,
//! through the SDK's spans, built on the span thread, and its exporter
//! (`SdkSpans`, batched by `span_batch`).
//!
//! Sampling is the caller's: a request whose `traceparent` is not sampled
//! gets no span, every other request does. It is the decision the gateway
//! propagates upstream, so both protocols make it the same way.

use super::observation::{BackendCall, Observation, TraceIds};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{IdGenerator, Sampler, SdkTracer, SdkTracerProvider, SpanExporter};
use opentelemetry_sdk::Resource;
use std::cell::Cell;

/// A span's attribute value as the walks hand it out, borrowed from the observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum AttributeValue<'a> {
    Text(&'a str),
    Int(i64),
}

impl From<AttributeValue<'_>> for opentelemetry::Value {
    fn from(value: AttributeValue<'_>) -> opentelemetry::Value {
        match value {
            AttributeValue::Text(text) => opentelemetry::Value::from(text.to_string()),
            AttributeValue::Int(number) => opentelemetry::Value::I64(number),
        }
    }
}

/// `{mcp.method.name} {target}` with the tool or prompt as the target, in
/// its parts (`method`, then the target with the space before it).
pub(crate) fn span_name_parts(observation: &Observation) -> (&str, Option<&str>) {
    (&observation.method, observation.tool.as_deref().or(observation.prompt.as_deref()))
}

pub(crate) fn span_name(observation: &Observation) -> String {
    match span_name_parts(observation) {
        (method, Some(target)) => format!("{method} {target}"),
        (method, None) => method.to_string(),
    }
}

/// The span's attributes, in the order they are written.
pub(crate) fn attributes(observation: &Observation, mut add: impl FnMut(&'static str, AttributeValue<'_>)) {
    use AttributeValue::{Int, Text};
    let ctx = &*observation.context;
    add("mcp.method.name", Text(&observation.method));
    add("network.transport", Text("tcp"));
    add("network.protocol.name", Text("http"));
    add("network.protocol.version", Text(ctx.http_version));
    add("mcpgate.server", Text(&ctx.server));
    add("mcpgate.version", Text(&ctx.version));
    add("mcpgate.product", Text(&ctx.product));
    add("mcpgate.auth.type", Text(ctx.auth_type));
    let mut optional = |key: &'static str, value: Option<&str>| {
        if let Some(value) = value {
            add(key, Text(value));
        }
    };
    optional("jsonrpc.request.id", observation.request_id.as_deref());
    optional("gen_ai.tool.name", observation.tool.as_deref());
    optional("gen_ai.prompt.name", observation.prompt.as_deref());
    optional("mcp.resource.uri", observation.resource_uri.as_deref());
    optional("mcp.session.id", ctx.session_id.as_deref());
    optional("gen_ai.conversation.id", ctx.session_id.as_deref());
    optional("mcp.protocol.version", ctx.protocol_version.as_deref());
    optional("mcpgate.subscription", ctx.subscription.as_deref());
    optional("user.id", ctx.user.as_deref());
    optional("mcp.client.name", ctx.client_name.as_deref());
    optional("mcp.client.version", ctx.client_version.as_deref());
    optional("mcp.server.name", ctx.server_name.as_deref());
    optional("mcp.server.version", ctx.server_version.as_deref());
    optional("client.address", ctx.client_address.map(super::observation::address_text).as_deref());
    optional("server.address", ctx.server_address.as_deref());
    optional("gen_ai.tool.call.arguments", observation.arguments.as_deref());
    optional("gen_ai.tool.call.result", observation.result.as_deref());
    optional("mcpgate.tools.unapproved", observation.unapproved_tools.as_deref());
    optional("mcpgate.endpoint", ctx.endpoint.as_deref());
    if let Some(port) = ctx.client_port {
        add("client.port", Int(i64::from(port)));
    }
    if let Some(port) = ctx.server_port {
        add("server.port", Int(i64::from(port)));
    }
    if observation.tool.is_some() {
        add("gen_ai.operation.name", Text("execute_tool"));
    }
    if let Some(error) = &observation.error {
        if error.error_type.starts_with('-') {
            add("rpc.response.status_code", Text(&error.error_type));
        }
        add("error.type", Text(&error.error_type));
    }
}

/// The span's error description, when the request failed.
pub(crate) fn error_status(observation: &Observation) -> Option<&str> {
    observation.error.as_ref().map(|error| error.message.as_str())
}

/// The attributes of a REST API request's HTTP client span, a child of its
/// call's span (the HTTP semantic conventions'; the URL without its query).
pub(crate) fn backend_attributes(call: &BackendCall, mut add: impl FnMut(&'static str, AttributeValue<'_>)) {
    use AttributeValue::{Int, Text};
    add("http.request.method", Text(&call.method));
    add("url.full", Text(&format!("{}{}", call.url.origin().ascii_serialization(), call.url.path())));
    add("server.address", Text(call.url.host_str().unwrap_or_default()));
    if let Some(port) = call.url.port_or_known_default() {
        add("server.port", Int(i64::from(port)));
    }
    if let Some(status) = call.status {
        add("http.response.status_code", Int(i64::from(status)));
    }
    if let Some(failure) = BackendFailure::of(call) {
        add("error.type", Text(&failure.error_type()));
    }
}

/// The client span's error description, when the request failed.
pub(crate) fn backend_error_status(call: &BackendCall) -> Option<String> {
    BackendFailure::of(call).map(|failure| failure.description())
}

/// Why a REST API request failed, when it did: the one rule behind the
/// client span's `error.type` and its status.
enum BackendFailure<'a> {
    /// No response came (a timeout, a refused connection).
    NoResponse(&'a str),
    /// The API answered with a 5xx.
    Status(u16),
}

impl BackendFailure<'_> {
    fn of(call: &BackendCall) -> Option<BackendFailure<'_>> {
        match (&call.error, call.status) {
            (Some(error), _) => Some(BackendFailure::NoResponse(error)),
            (None, Some(status)) if status >= 500 => Some(BackendFailure::Status(status)),
            _ => None,
        }
    }

    fn error_type(&self) -> std::borrow::Cow<'_, str> {
        match self {
            BackendFailure::NoResponse(error) => (*error).into(),
            BackendFailure::Status(status) => status.to_string().into(),
        }
    }

    fn description(&self) -> String {
        match self {
            BackendFailure::NoResponse(error) => error.to_string(),
            BackendFailure::Status(status) => format!("HTTP {status}"),
        }
    }
}

thread_local! {
    /// The ids the next span built on this thread must carry (the worker
    /// sets them just before building): they were chosen, and propagated
    /// upstream, when the request arrived.
    static PRESET_IDS: Cell<Option<([u8; 16], [u8; 8])>> = const { Cell::new(None) };
}

/// Hands out the preset ids, or random ones when none are set.
#[derive(Debug, Default)]
struct PresetIdGenerator;

impl IdGenerator for PresetIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        PRESET_IDS.with(|ids| ids.get()).map_or_else(|| TraceId::from_bytes(super::observation::random_id()), |(trace, _)| TraceId::from_bytes(trace))
    }

    fn new_span_id(&self) -> SpanId {
        PRESET_IDS.with(|ids| ids.get()).map_or_else(|| SpanId::from_bytes(super::observation::random_id()), |(_, span)| SpanId::from_bytes(span))
    }
}

/// Spans through the SDK: built with its tracer and ended into the
/// provider's processor (`span_batch::SpanBatch` over the gRPC exporter).
pub(crate) struct SdkSpans {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl SdkSpans {
    /// The provider exports through `exporter` in batches of `max_batch`
    /// (`SpanBatch`); its sampler makes the decision the gateway propagated.
    pub(crate) fn new<E: SpanExporter + 'static>(exporter: E, resource: Resource, max_batch: usize) -> SdkSpans {
        let provider = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_id_generator(PresetIdGenerator)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
            .with_span_processor(super::span_batch::SpanBatch::new(exporter, max_batch))
            .build();
        let tracer = provider.tracer("mcpgate");
        SdkSpans { provider, tracer }
    }
}

impl super::SpanSink for SdkSpans {
    type Span = Box<Observation>;

    fn take(&mut self, observation: Box<Observation>) {
        emit(&self.tracer, &observation);
    }

    fn export(&mut self) {
        // A failed export was logged where it failed.
        let _ = self.provider.force_flush();
    }
}

fn flags(ids: TraceIds) -> TraceFlags {
    if ids.sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    }
}

fn key_values(walk: impl FnOnce(&mut dyn FnMut(&'static str, AttributeValue<'_>))) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(32);
    walk(&mut |key, value| attributes.push(KeyValue::new(key, value)));
    attributes
}

/// Builds and ends the span of one observation, with its preset ids and times.
pub(crate) fn emit(tracer: &SdkTracer, observation: &Observation) {
    let ids = observation.trace;
    let parent = match ids.parent_span_id {
        Some(parent) => {
            let remote = SpanContext::new(TraceId::from_bytes(ids.trace_id), SpanId::from_bytes(parent), flags(ids), true, TraceState::default());
            Context::new().with_remote_span_context(remote)
        }
        None => Context::new(),
    };
    PRESET_IDS.with(|preset| preset.set(Some((ids.trace_id, ids.span_id))));
    let mut span = tracer
        .span_builder(span_name(observation))
        .with_kind(SpanKind::Server)
        .with_start_time(observation.start)
        .with_attributes(key_values(|add| attributes(observation, add)))
        .start_with_context(tracer, &parent);
    PRESET_IDS.with(|preset| preset.set(None));
    if let Some(message) = error_status(observation) {
        opentelemetry::trace::Span::set_status(&mut span, Status::error(message.to_string()));
    }
    opentelemetry::trace::Span::end_with_timestamp(&mut span, observation.start + observation.duration);
    if let Some(call) = &observation.backend_call {
        emit_backend_call(tracer, ids, call);
    }
}

fn emit_backend_call(tracer: &SdkTracer, ids: TraceIds, call: &BackendCall) {
    let own = SpanContext::new(TraceId::from_bytes(ids.trace_id), SpanId::from_bytes(ids.span_id), flags(ids), false, TraceState::default());
    let parent = Context::new().with_remote_span_context(own);
    let mut span = tracer
        .span_builder(call.method.clone())
        .with_kind(SpanKind::Client)
        .with_start_time(call.start)
        .with_attributes(key_values(|add| backend_attributes(call, add)))
        .start_with_context(tracer, &parent);
    if let Some(message) = backend_error_status(call) {
        opentelemetry::trace::Span::set_status(&mut span, Status::error(message));
    }
    opentelemetry::trace::Span::end_with_timestamp(&mut span, call.start + call.duration);
}
