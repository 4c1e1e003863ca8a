//! What MCP 2026-07-28 adds on the wire that an intermediary must check or
//! set: the `Mcp-Method` and `Mcp-Name` routing headers mirrored from the
//! body (a value that does not survive an HTTP field is sent as
//! `=?base64?…?=`), the per-request `_meta` envelope, and the caching
//! fields of list results. The gateway always decides from the body; a
//! header that disagrees with it is refused before anything is charged or
//! forwarded, so a proxy routing on headers and the gateway see one request.

use super::jsonrpc::Envelope;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

/// The stateless revision: no `initialize`, no session, `server/discover`.
pub const STATELESS: &str = "2026-07-28";
/// The header naming a request's method (2026-07-28).
pub const METHOD_HEADER: HeaderName = HeaderName::from_static("mcp-method");
/// The header naming the tool or prompt a request is about, or the resource URI.
pub const NAME_HEADER: HeaderName = HeaderName::from_static("mcp-name");
/// The header naming the request's protocol revision.
pub const PROTOCOL_HEADER: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// Where the per-request envelope names the revision (`params._meta`).
pub const PROTOCOL_META_KEY: &str = "io.modelcontextprotocol/protocolVersion";
/// Where a 2026-07-28 request's envelope holds the client's capabilities.
pub const CAPABILITIES_META_KEY: &str = "io.modelcontextprotocol/clientCapabilities";
/// 2026-07-28: a routing header disagrees with the body.
pub const HEADER_MISMATCH: i64 = -32020;

/// The body field `Mcp-Name` mirrors, for the methods that name something.
pub fn named_field(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// Whether a request speaks 2026-07-28: its `MCP-Protocol-Version` header,
/// else its `_meta` envelope, names it.
pub fn is_stateless<E: Envelope + ?Sized>(headers: &HeaderMap, message: &E) -> bool {
    protocol_header(headers).or_else(|| envelope_version(message)) == Some(STATELESS)
}

fn protocol_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(&PROTOCOL_HEADER).and_then(|v| v.to_str().ok())
}

/// A request's routing headers as read off its map: `MCP-Protocol-Version`'s
/// first value, and `Mcp-Method`'s and `Mcp-Name`'s with whether they
/// repeat. Filled by whoever walks the map ([`RoutingHeaders::see`]), so
/// a gateway reading its own headers in the same pass looks nothing up twice.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoutingHeaders<'a> {
    protocol: Option<&'a HeaderValue>,
    method: Once<'a>,
    name: Once<'a>,
}

/// A header that may appear once: its first value, and whether another came.
#[derive(Debug, Clone, Copy, Default)]
struct Once<'a> {
    first: Option<&'a HeaderValue>,
    repeated: bool,
}

impl<'a> Once<'a> {
    fn see(&mut self, value: &'a HeaderValue) {
        match self.first {
            Some(_) => self.repeated = true,
            None => self.first = Some(value),
        }
    }

    /// Twice is a mismatch: first-copy and last-copy readers would disagree.
    fn single(self, name: impl std::fmt::Display) -> Result<Option<&'a HeaderValue>, Mismatch> {
        if self.repeated {
            return Err(Mismatch(format!("the {name} header appears more than once")));
        }
        Ok(self.first)
    }
}

impl<'a> RoutingHeaders<'a> {
    /// Walks `headers` for the routing headers alone.
    pub fn of(headers: &'a HeaderMap) -> RoutingHeaders<'a> {
        let mut routing = RoutingHeaders::default();
        for (name, value) in headers {
            routing.see(name.as_str(), value);
        }
        routing
    }

    /// Takes `value` when `name` (lowercase, as `HeaderName` keeps it) is a
    /// routing header.
    pub fn see(&mut self, name: &str, value: &'a HeaderValue) {
        match name {
            "mcp-protocol-version" => {
                self.protocol.get_or_insert(value);
            }
            "mcp-method" => self.method.see(value),
            "mcp-name" => self.name.see(value),
            _ => {}
        }
    }

    /// `MCP-Protocol-Version`'s first value.
    pub fn protocol(&self) -> Option<&'a HeaderValue> {
        self.protocol
    }

    /// Whether `Mcp-Method` came at all.
    pub fn has_method(&self) -> bool {
        self.method.first.is_some()
    }
}

/// What a request says of its revision, each read once for the checks
/// below: the `MCP-Protocol-Version` header, the `_meta` envelope and the
/// revision it names.
#[derive(Clone, Copy)]
struct Declared<'a> {
    header: Option<&'a str>,
    meta: Option<&'a Value>,
    envelope: Option<&'a str>,
}

impl<'a> Declared<'a> {
    fn of<E: Envelope + ?Sized>(routing: &RoutingHeaders<'a>, message: &'a E) -> Declared<'a> {
        let meta = meta_of(message);
        Declared { header: routing.protocol.and_then(|v| v.to_str().ok()), meta, envelope: meta.and_then(meta_version) }
    }

    /// The revision the request names: its header's, else its envelope's.
    fn named(self) -> Option<&'a str> {
        self.header.or(self.envelope)
    }

    /// As `is_stateless`.
    fn is_stateless(self) -> bool {
        self.named() == Some(STATELESS)
    }
}

/// A request's `params._meta` (walked key by key: `Value::pointer` allocates
/// a string per segment).
fn meta_of<E: Envelope + ?Sized>(message: &E) -> Option<&Value> {
    super::jsonrpc::at(message, &["params", "_meta"])
}

/// The revision a request's `params._meta` envelope names.
pub fn envelope_version<E: Envelope + ?Sized>(message: &E) -> Option<&str> {
    meta_of(message).and_then(meta_version)
}

/// The revision a `_meta` envelope names.
fn meta_version(meta: &Value) -> Option<&str> {
    meta.get(PROTOCOL_META_KEY).and_then(Value::as_str)
}

/// A routing header that disagrees with the body, said in the words the
/// refusal carries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// Checks a request's `Mcp-Method`, `Mcp-Name` and `MCP-Protocol-Version`
/// headers against its body. A 2026-07-28 request must carry the first two
/// (`Mcp-Name` for the methods that name something); any request that
/// carries them must agree with its body.
fn headers_agree<E: Envelope + ?Sized>(declared: Declared, routing: &RoutingHeaders, message: &E) -> Result<(), Mismatch> {
    let Some(method) = message.method() else {
        // A response or a malformed message: nothing to route on.
        return Ok(());
    };
    let stateless = declared.is_stateless();
    match routing.method.single(&METHOD_HEADER)? {
        Some(value) if value.to_str().ok() != Some(method) => {
            return Err(Mismatch(format!("the Mcp-Method header does not match the body's method {method:?}")));
        }
        None if stateless && message.member("id").is_some() => {
            return Err(Mismatch(format!("a {STATELESS} request must carry the Mcp-Method header ({method:?})")));
        }
        _ => {}
    }
    if let (Some(header), Some(version)) = (declared.header, declared.envelope) {
        if header != version {
            return Err(Mismatch(format!("the MCP-Protocol-Version header {header:?} does not match params._meta's {version:?}")));
        }
    }
    let Some(field) = named_field(method) else { return Ok(()) };
    let Some(body) = message.member("params").and_then(|p| p.get(field)).and_then(Value::as_str) else { return Ok(()) };
    match routing.name.single(&NAME_HEADER)? {
        Some(value) => match value.to_str().ok().and_then(decode) {
            Some(named) if named == body => Ok(()),
            Some(_) => Err(Mismatch(format!("the Mcp-Name header does not match the body's {field} {body:?}"))),
            None => Err(Mismatch("the Mcp-Name header is not a value or a well-formed =?base64?…?= one".to_string())),
        },
        None if stateless => Err(Mismatch(format!("a {STATELESS} {method} request must carry the Mcp-Name header ({body:?})"))),
        None => Ok(()),
    }
}

/// -32022: the request names a revision the gateway does not speak.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// Methods 2026-07-28 removed: a 2026-07-28 request naming one is a method
/// the server does not have.
const REMOVED_METHODS: &[&str] = &["initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"];

/// Every revision spoken on the gateway's endpoints, newest first (what an
/// unsupported-version error lists).
pub fn supported_versions() -> Vec<&'static str> {
    let mut versions = vec![STATELESS];
    versions.extend_from_slice(super::PROTOCOL_VERSIONS);
    versions
}

/// A request the gateway refuses on sight, whatever the backend behind it
/// speaks, so every endpoint answers a 2026-07-28 client alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unservable {
    /// `MCP-Protocol-Version` (or the envelope) names a revision spoken
    /// nowhere here: -32022 with the ones a request of its form can name
    /// (with an envelope, those spoken statelessly; else all of them).
    Version { requested: String, supported: Vec<&'static str> },
    /// A 2026-07-28 request without the envelope's protocol version or
    /// client capabilities: -32602.
    Envelope(String),
    /// A method 2026-07-28 removed, asked in a 2026-07-28 request: -32601.
    Removed(String),
}

/// Checks what a request says of its revision: a known one, and for a
/// 2026-07-28 request the per-request envelope and a method that revision has.
fn servable<E: Envelope + ?Sized>(declared: Declared, message: &E) -> Result<(), Unservable> {
    if let Some(version) = declared.named().filter(|v| !is_known(v)) {
        let supported = if declared.envelope.is_some() { vec![STATELESS] } else { supported_versions() };
        return Err(Unservable::Version { requested: version.chars().take(64).collect(), supported });
    }
    if !declared.is_stateless() || message.member("id").is_none() {
        return Ok(());
    }
    let Some(method) = message.method() else { return Ok(()) };
    if REMOVED_METHODS.contains(&method) {
        return Err(Unservable::Removed(method.to_string()));
    }
    let meta = declared.meta;
    if !meta.is_some_and(Value::is_object) {
        return Err(Unservable::Envelope(format!("a {STATELESS} request carries params._meta with its protocol version and client capabilities")));
    }
    if declared.envelope != Some(STATELESS) {
        return Err(Unservable::Envelope(format!("params._meta lacks {PROTOCOL_META_KEY:?}")));
    }
    if !meta.and_then(|m| m.get(CAPABILITIES_META_KEY)).is_some_and(Value::is_object) {
        return Err(Unservable::Envelope(format!("params._meta lacks {CAPABILITIES_META_KEY:?} (an object)")));
    }
    Ok(())
}

/// Why a request was refused on arrival: a routing header disagrees with its
/// body, or the revision it names cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Mismatch(Mismatch),
    Unservable(Unservable),
}

/// A request checked on arrival: its routing headers against its body
/// (`headers_agree`), then its revision (`servable`), both from one reading
/// of what it declares; `Ok` says whether the request speaks 2026-07-28.
pub fn check_arrival<E: Envelope + ?Sized>(routing: &RoutingHeaders, message: &E) -> Result<bool, Refused> {
    let declared = Declared::of(routing, message);
    headers_agree(declared, routing, message).map_err(Refused::Mismatch)?;
    servable(declared, message).map_err(Refused::Unservable)?;
    Ok(declared.is_stateless())
}

/// A revision some client may name: one spoken here, or 2024-11-05 (whose
/// clients send no header, and are answered with the newest earlier one).
fn is_known(version: &str) -> bool {
    version == STATELESS || version == "2024-11-05" || super::PROTOCOL_VERSIONS.contains(&version)
}

/// A header that may appear once, looked up in `headers` ([`Once::single`]).
fn single(headers: &HeaderMap, name: impl http::header::AsHeaderName + std::fmt::Display + Copy) -> Result<Option<&HeaderValue>, Mismatch> {
    let mut once = Once::default();
    headers.get_all(name).iter().take(2).for_each(|value| once.see(value));
    once.single(name)
}

/// A header value as the body would say it: itself, or what its
/// `=?base64?…?=` form holds (canonical base64 of UTF-8; anything else is
/// `None`, so a corrupt header never matches by accident).
pub fn decode(value: &str) -> Option<String> {
    let Some(payload) = value.strip_prefix("=?base64?").and_then(|rest| rest.strip_suffix("?=")) else {
        return Some(value.to_string());
    };
    let bytes = STANDARD.decode(payload).ok()?;
    if STANDARD.encode(&bytes) != payload {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// A value as a header carries it: itself when it is printable ASCII
/// without edge spaces (and does not look encoded), else `=?base64?…?=`.
pub fn encode(value: &str) -> String {
    let plain =
        value.bytes().all(|b| (0x20..0x7f).contains(&b)) && value.trim() == value && !(value.starts_with("=?base64?") && value.ends_with("?="));
    if plain {
        value.to_string()
    } else {
        format!("=?base64?{}?=", STANDARD.encode(value))
    }
}

/// A tool argument its `inputSchema` mirrors into an `Mcp-Param-{token}`
/// header (`x-mcp-header` on a property reached by `properties` alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamHeader {
    /// The property names from the arguments' root.
    pub path: Vec<String>,
    /// `mcp-param-{token}`, lowercase.
    pub header: String,
    pub integer: bool,
}

/// How deep `properties` are followed looking for `x-mcp-header`.
const MAX_PARAM_DEPTH: usize = 8;

/// The arguments `input_schema` mirrors into headers. A schema whose
/// annotations are not all valid (a token that is not an RFC 9110 token, a
/// type other than string, integer or boolean, a token used twice) mirrors
/// none: conforming clients drop such a tool and send no headers.
pub fn param_headers(input_schema: &Value) -> Vec<ParamHeader> {
    let mut found = Vec::new();
    if collect_params(input_schema, &mut Vec::new(), &mut found).is_err() {
        return Vec::new();
    }
    let mut tokens: Vec<&str> = found.iter().map(|p| p.header.as_str()).collect();
    tokens.sort_unstable();
    if tokens.windows(2).any(|pair| pair[0] == pair[1]) {
        return Vec::new();
    }
    found
}

fn collect_params(schema: &Value, path: &mut Vec<String>, found: &mut Vec<ParamHeader>) -> Result<(), ()> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return Ok(()) };
    if path.len() >= MAX_PARAM_DEPTH {
        return Ok(());
    }
    for (name, property) in properties {
        path.push(name.clone());
        if let Some(token) = property.get("x-mcp-header") {
            let token = token.as_str().filter(|t| is_token(t)).ok_or(())?;
            let kind = property.get("type").and_then(Value::as_str).filter(|t| matches!(*t, "string" | "integer" | "boolean")).ok_or(())?;
            found.push(ParamHeader { path: path.clone(), header: format!("mcp-param-{}", token.to_ascii_lowercase()), integer: kind == "integer" });
        }
        collect_params(property, path, found)?;
        path.pop();
    }
    Ok(())
}

/// An RFC 9110 token: what an HTTP field name may be.
fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Checks a `tools/call`'s `Mcp-Param-*` headers against its arguments:
/// each mirrored argument's header is present exactly when the argument is
/// (`null` counts as absent) and says the same value (after base64
/// decoding; integers compared as numbers).
pub fn check_param_headers(headers: &HeaderMap, params: &[ParamHeader], arguments: &Value) -> Result<(), Mismatch> {
    for param in params {
        let value = param.path.iter().try_fold(arguments, |node, key| node.get(key)).filter(|v| !v.is_null());
        let header = single(headers, param.header.as_str())?;
        let shown = param.path.join(".");
        let (value, header) = match (value, header) {
            (None, None) => continue,
            (None, Some(_)) => return Err(Mismatch(format!("the {} header is present but the argument {shown:?} is not", param.header))),
            (Some(_), None) => return Err(Mismatch(format!("the argument {shown:?} is present but the {} header is not", param.header))),
            (Some(value), Some(header)) => (value, header),
        };
        let decoded = header.to_str().ok().and_then(decode);
        if !decoded.as_deref().is_some_and(|text| same_value(value, text, param.integer)) {
            return Err(Mismatch(format!("the {} header does not match the argument {shown:?}", param.header)));
        }
    }
    Ok(())
}

/// The `Mcp-Param-*` headers (name, value before encoding) a 2026-07-28
/// client sends for `arguments`: one per mirrored argument present.
pub fn param_header_values(params: &[ParamHeader], arguments: &Value) -> Vec<(String, String)> {
    params
        .iter()
        .filter_map(|param| {
            let value = param.path.iter().try_fold(arguments, |node, key| node.get(key))?;
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((param.header.clone(), text))
        })
        .collect()
}

/// Whether header text `text` says argument `value`, as a client renders it.
fn same_value(value: &Value, text: &str, integer: bool) -> bool {
    match value {
        Value::String(s) => s == text,
        Value::Bool(b) => text == if *b { "true" } else { "false" },
        Value::Number(n) if integer => {
            let whole = text.split_once('.').map_or(text, |(w, fraction)| if fraction.bytes().all(|b| b == b'0') { w } else { "" });
            match (n.as_i64(), n.as_f64()) {
                (Some(n), _) => whole.parse::<i64>().is_ok_and(|h| h == n),
                (None, Some(f)) if f.fract() == 0.0 => whole.parse::<f64>().is_ok_and(|h| h == f),
                _ => false,
            }
        }
        Value::Number(n) => n.to_string() == text,
        _ => false,
    }
}

/// What a 2026-07-28 request's `params._meta` envelope holds; a session of
/// an earlier revision has none of it.
const ENVELOPE_KEYS: &[&str] = &[PROTOCOL_META_KEY, CAPABILITIES_META_KEY, "io.modelcontextprotocol/clientInfo"];

/// Removes the 2026-07-28 envelope from a request bridged into a session of
/// an earlier revision (an empty `_meta` goes too).
pub fn strip_envelope(message: &mut super::jsonrpc::Message) {
    let Some(params) = message.params.as_mut().and_then(Value::as_object_mut) else { return };
    let Some(meta) = params.get_mut("_meta").and_then(Value::as_object_mut) else { return };
    for key in ENVELOPE_KEYS {
        meta.remove(*key);
    }
    if meta.is_empty() {
        params.remove("_meta");
    }
}

/// The client's name and version from a 2026-07-28 envelope.
pub fn envelope_client<E: Envelope + ?Sized>(message: &E) -> (Option<String>, Option<String>) {
    let info = meta_of(message).and_then(|meta| meta.get("io.modelcontextprotocol/clientInfo"));
    let text = |field: &str| info.and_then(|i| i.get(field)).and_then(Value::as_str).map(|s| s.chars().take(256).collect());
    (text("name"), text("version"))
}

/// The per-request envelope a 2026-07-28 request carries in `params._meta`,
/// for a client of this name and version (no client capabilities).
pub fn envelope(client_name: &str, client_version: &str) -> serde_json::Map<String, Value> {
    let mut meta = serde_json::Map::new();
    meta.insert(PROTOCOL_META_KEY.into(), Value::from(STATELESS));
    meta.insert(CAPABILITIES_META_KEY.into(), Value::Object(serde_json::Map::new()));
    meta.insert("io.modelcontextprotocol/clientInfo".into(), serde_json::json!({ "name": client_name, "version": client_version }));
    meta
}

/// A `server/discover` result as the gateway gives it where it answers for a
/// server: every revision spoken here, private to the caller, never fresh.
pub fn discover_result(mut capabilities: Value, instructions: Option<String>, server_info: Option<Value>) -> Value {
    without_subscriptions(&mut capabilities);
    let mut result = serde_json::json!({
        "supportedVersions": supported_versions(),
        "capabilities": capabilities,
        "ttlMs": 0,
        "cacheScope": "private",
        "resultType": "complete",
    });
    if let Some(instructions) = instructions {
        result["instructions"] = Value::from(instructions);
    }
    if let Some(info) = server_info {
        result["_meta"] = serde_json::json!({ "io.modelcontextprotocol/serverInfo": info });
    }
    result
}

/// Capabilities as the gateway can honour them for a 2026-07-28 client where
/// it answers for the server: it has no `subscriptions/listen`, so no
/// `listChanged` or `subscribe` to offer.
fn without_subscriptions(capabilities: &mut Value) {
    let Some(capabilities) = capabilities.as_object_mut() else { return };
    for feature in ["tools", "prompts", "resources"] {
        if let Some(feature) = capabilities.get_mut(feature).and_then(Value::as_object_mut) {
            feature.remove("listChanged");
            feature.remove("subscribe");
        }
    }
}

/// Whether a method's 2026-07-28 result carries `ttlMs` and `cacheScope`:
/// the lists, and `resources/read`.
pub fn has_cache_fields(method: &str) -> bool {
    matches!(method, "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" | "resources/read")
}

/// A result as a 2026-07-28 client reads it, when the gateway built it or
/// its upstream speaks an earlier revision: a list (or a read resource)
/// without caching fields becomes private and never fresh (lists through the
/// gateway are shaped per product); anything else gains `resultType:
/// "complete"`. Whether it changed.
pub fn complete_result(result: &mut serde_json::Map<String, Value>, cached: bool) -> bool {
    if cached && !result.contains_key("cacheScope") {
        mark_private(result, None);
        return true;
    }
    if result.contains_key("resultType") {
        return false;
    }
    result.insert("resultType".into(), Value::from("complete"));
    true
}

/// Marks a list result the gateway filtered for this caller (an allow-list,
/// an approved manifest, a product's members) as cacheable only within the
/// caller's authorization context, and no longer than the upstream said.
/// `upstream_ttl_ms`: what the upstream's result allowed (none: 0).
pub fn mark_private(result: &mut serde_json::Map<String, Value>, upstream_ttl_ms: Option<u64>) {
    result.insert("cacheScope".into(), Value::from("private"));
    result.insert("ttlMs".into(), Value::from(upstream_ttl_ms.unwrap_or(0)));
    result.entry("resultType").or_insert_with(|| Value::from("complete"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::jsonrpc::Message;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    /// Each step of `check_arrival` alone, from its own reading of the request.
    fn check_headers(headers: &HeaderMap, message: &Value) -> Result<(), Mismatch> {
        let routing = RoutingHeaders::of(headers);
        headers_agree(Declared::of(&routing, message), &routing, message)
    }

    fn check_request(headers: &HeaderMap, message: &Value) -> Result<(), Unservable> {
        servable(Declared::of(&RoutingHeaders::of(headers), message), message)
    }

    fn call(name: &str) -> Value {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": {},
            "_meta": {PROTOCOL_META_KEY: STATELESS}}})
    }

    #[test]
    fn headers_that_agree_with_the_body_pass_and_any_disagreement_is_named() {
        let ok = headers(&[("mcp-protocol-version", STATELESS), ("mcp-method", "tools/call"), ("mcp-name", "echo")]);
        assert_eq!(check_headers(&ok, &call("echo")), Ok(()));
        let wrong_name = headers(&[("mcp-protocol-version", STATELESS), ("mcp-method", "tools/call"), ("mcp-name", "add")]);
        assert!(check_headers(&wrong_name, &call("echo")).unwrap_err().0.contains("Mcp-Name"));
        let wrong_method = headers(&[("mcp-protocol-version", STATELESS), ("mcp-method", "tools/list"), ("mcp-name", "echo")]);
        assert!(check_headers(&wrong_method, &call("echo")).unwrap_err().0.contains("Mcp-Method"));
        let missing = headers(&[("mcp-protocol-version", STATELESS)]);
        assert!(check_headers(&missing, &call("echo")).unwrap_err().0.contains("must carry the Mcp-Method"));
        let twice = headers(&[("mcp-method", "tools/call"), ("mcp-method", "tools/call")]);
        assert!(check_headers(&twice, &call("echo")).unwrap_err().0.contains("more than once"));
        let other_version = headers(&[("mcp-protocol-version", "2025-11-25"), ("mcp-method", "tools/call"), ("mcp-name", "echo")]);
        assert!(check_headers(&other_version, &call("echo")).unwrap_err().0.contains("params._meta"));
    }

    #[test]
    fn arrival_checks_are_both_checks_from_one_reading() {
        let routed = |version: &str, method: &str, name: &str| {
            let mut pairs = vec![("mcp-protocol-version", version), ("mcp-method", method)];
            pairs.extend((!name.is_empty()).then_some(("mcp-name", name)));
            headers(&pairs)
        };
        let legacy = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}});
        let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"_meta": {PROTOCOL_META_KEY: STATELESS}}});
        let notification = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let servable = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo",
            "_meta": {PROTOCOL_META_KEY: STATELESS, CAPABILITIES_META_KEY: {}}}});
        let cases = [
            (routed(STATELESS, "tools/call", "echo"), servable),
            (routed(STATELESS, "tools/call", "add"), call("echo")),
            (routed(STATELESS, "tools/call", "echo"), legacy.clone()),
            (routed("1999-01-01", "tools/call", "echo"), legacy.clone()),
            (routed(STATELESS, "initialize", ""), initialize),
            (headers(&[("mcp-protocol-version", "2025-11-25")]), legacy.clone()),
            (HeaderMap::new(), legacy),
            (headers(&[("mcp-protocol-version", STATELESS)]), notification),
        ];
        let mut refused = 0;
        for (headers, message) in &cases {
            let apart = check_headers(headers, message)
                .map_err(Refused::Mismatch)
                .and_then(|()| check_request(headers, message).map_err(Refused::Unservable))
                .map(|()| is_stateless(headers, message));
            refused += usize::from(apart.is_err());
            assert_eq!(check_arrival(&RoutingHeaders::of(headers), message), apart, "{headers:?} {message}");
        }
        // Refused: another name, no envelope, an unknown revision, a removed method.
        assert_eq!(refused, 4);
    }

    #[test]
    fn routing_headers_are_known_by_the_names_they_are_sent_under() {
        let value = HeaderValue::from_static("x");
        let mut routing = RoutingHeaders::default();
        routing.see("mcp-session-id", &value);
        assert!(!routing.has_method() && routing.protocol().is_none() && routing.name.first.is_none());
        for name in [&PROTOCOL_HEADER, &METHOD_HEADER, &NAME_HEADER] {
            routing.see(name.as_str(), &value);
        }
        assert!(routing.has_method() && routing.protocol().is_some() && routing.name.first.is_some());
    }

    #[test]
    fn earlier_revisions_without_the_headers_pass() {
        let legacy = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}});
        assert_eq!(check_headers(&headers(&[("mcp-protocol-version", "2025-11-25")]), &legacy), Ok(()));
        assert_eq!(check_headers(&HeaderMap::new(), &legacy), Ok(()));
        let notification = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(check_headers(&headers(&[("mcp-protocol-version", STATELESS)]), &notification), Ok(()));
    }

    #[test]
    fn base64_names_are_decoded_before_comparing_and_malformed_ones_never_match() {
        let name = "résumé tool";
        let encoded = encode(name);
        assert!(encoded.starts_with("=?base64?"), "{encoded}");
        assert_eq!(decode(&encoded).as_deref(), Some(name));
        assert_eq!(encode("echo"), "echo");
        assert_eq!(encode(" padded"), format!("=?base64?{}?=", STANDARD.encode(" padded")));
        let ok = headers(&[("mcp-protocol-version", STATELESS), ("mcp-method", "tools/call"), ("mcp-name", &encoded)]);
        assert_eq!(check_headers(&ok, &call(name)), Ok(()));
        assert_eq!(decode("=?base64?not base64?="), None);
        assert_eq!(decode("=?base64?ZWNobx==?="), None, "non-canonical padding bits");
        let uri = json!({"jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": {"uri": "kb://a b"}});
        let bad = headers(&[("mcp-method", "resources/read"), ("mcp-name", "kb://other")]);
        assert!(check_headers(&bad, &uri).unwrap_err().0.contains("uri"));
    }

    #[test]
    fn bridging_into_an_earlier_session_drops_the_envelope_and_keeps_the_rest() {
        let mut message = Message::from(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo",
            "_meta": {PROTOCOL_META_KEY: STATELESS, "io.modelcontextprotocol/clientInfo": {"name": "c", "version": "1"}, "progressToken": 7}}}));
        assert_eq!(envelope_client(&message), (Some("c".to_string()), Some("1".to_string())));
        strip_envelope(&mut message);
        assert_eq!(message.params, Some(json!({"name": "echo", "_meta": {"progressToken": 7}})));
        let mut bare = Message::from(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {PROTOCOL_META_KEY: STATELESS}}}));
        strip_envelope(&mut bare);
        assert_eq!(bare.params, Some(json!({})));
    }

    #[test]
    fn mirrored_arguments_must_match_their_headers() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "limit": {"type": "integer", "x-mcp-header": "Limit"},
            "filter": {"type": "object", "properties": {"urgent": {"type": "boolean", "x-mcp-header": "Urgent"}}},
            "note": {"type": "string"}}});
        let params = param_headers(&schema);
        let mut names: Vec<&str> = params.iter().map(|p| p.header.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["mcp-param-limit", "mcp-param-region", "mcp-param-urgent"]);
        let arguments = json!({"region": "eu-west", "limit": 5, "filter": {"urgent": true}, "note": "x"});
        let ok = headers(&[("mcp-param-region", "eu-west"), ("mcp-param-limit", "5.0"), ("mcp-param-urgent", "true")]);
        assert_eq!(check_param_headers(&ok, &params, &arguments), Ok(()));
        let wrong = headers(&[("mcp-param-region", "us-east"), ("mcp-param-limit", "5"), ("mcp-param-urgent", "true")]);
        assert!(check_param_headers(&wrong, &params, &arguments).unwrap_err().0.contains("\"region\""));
        let missing = headers(&[("mcp-param-region", "eu-west"), ("mcp-param-urgent", "true")]);
        assert!(check_param_headers(&missing, &params, &arguments).unwrap_err().0.contains("is not"));
        let extra = headers(&[("mcp-param-region", "eu-west"), ("mcp-param-limit", "5"), ("mcp-param-urgent", "true")]);
        assert!(check_param_headers(&extra, &params, &json!({"limit": 5, "filter": {"urgent": true}})).is_err(), "a header without its argument");
        let encoded = headers(&[("mcp-param-region", &encode("zürich")), ("mcp-param-limit", "5"), ("mcp-param-urgent", "true")]);
        assert_eq!(check_param_headers(&encoded, &params, &json!({"region": "zürich", "limit": 5, "filter": {"urgent": true}})), Ok(()));
        let bad = json!({"properties": {"a": {"type": "number", "x-mcp-header": "A"}, "b": {"type": "string", "x-mcp-header": "B"}}});
        assert!(param_headers(&bad).is_empty(), "a number may not be mirrored: the schema mirrors nothing");
        let twice = json!({"properties": {"a": {"type": "string", "x-mcp-header": "A"}, "b": {"type": "string", "x-mcp-header": "a"}}});
        assert!(param_headers(&twice).is_empty());
    }

    #[test]
    fn a_filtered_list_is_private_and_no_fresher_than_upstream_said() {
        let mut result = serde_json::Map::new();
        mark_private(&mut result, Some(30_000));
        assert_eq!(Value::Object(result.clone()), json!({"cacheScope": "private", "ttlMs": 30000, "resultType": "complete"}));
        mark_private(&mut result, None);
        assert_eq!(result["ttlMs"], json!(0));
    }
}
