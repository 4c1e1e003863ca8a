//! What the gateway reports about each JSON-RPC request it handled.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// W3C trace context of one request's span, chosen when the request arrives
/// so it can be propagated upstream before the span exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceIds {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub sampled: bool,
}

impl TraceIds {
    /// Continues `parent` (a `traceparent` value) when it is valid, else starts a trace.
    pub fn continuing(parent: Option<&str>) -> TraceIds {
        let span_id: [u8; 8] = random_id();
        match parent.and_then(parse_traceparent) {
            Some((trace_id, parent_span_id, sampled)) => TraceIds { trace_id, span_id, parent_span_id: Some(parent_span_id), sampled },
            None => TraceIds { trace_id: random_id(), span_id, parent_span_id: None, sampled: true },
        }
    }

    /// The `traceparent` naming this span as the parent.
    pub fn traceparent(&self) -> String {
        // Written into a fixed buffer: runs on every traced call, where
        // `format!` over `hex::encode` cost three allocations.
        let mut text = *b"00-00000000000000000000000000000000-0000000000000000-00";
        let _ = hex::encode_to_slice(self.trace_id, &mut text[3..35]);
        let _ = hex::encode_to_slice(self.span_id, &mut text[36..52]);
        if self.sampled {
            text[54] = b'1';
        }
        ascii_text(&text)
    }

    /// The trace id as 32 lower-case hex digits.
    pub fn trace_id_hex(&self) -> String {
        let mut text = [0u8; 32];
        let _ = hex::encode_to_slice(self.trace_id, &mut text);
        ascii_text(&text)
    }
}

/// Hex digits and dashes as a `String`: `str::from_utf8`'s ASCII check
/// reads them a word at a time, where `from_utf8_lossy` took 280-440
/// instructions an id.
fn ascii_text(text: &[u8]) -> String {
    std::str::from_utf8(text).map(str::to_owned).unwrap_or_default()
}

thread_local! {
    /// Trace and span ids, two per request: drawn from a fast generator per
    /// thread, seeded by the OS. Ids must be unique and random (W3C Trace
    /// Context), not secret; the thread's cryptographic generator cost ten
    /// times as much per id.
    static ID_SOURCE: std::cell::RefCell<rand::rngs::SmallRng> = std::cell::RefCell::new(rand::SeedableRng::from_os_rng());
}

pub(crate) fn random_id<const N: usize>() -> [u8; N] {
    let mut id = [0u8; N];
    ID_SOURCE.with(|source| rand::RngCore::fill_bytes(&mut *source.borrow_mut(), &mut id));
    id
}

/// Parses `00-<trace id>-<parent id>-<flags>`; all-zero ids are invalid.
pub fn parse_traceparent(value: &str) -> Option<([u8; 16], [u8; 8], bool)> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let [version, trace, span, flags] = parts[..] else { return None };
    if version.len() != 2 || version == "ff" || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    let trace_id: [u8; 16] = hex::decode(trace).ok()?.try_into().ok()?;
    let span_id: [u8; 8] = hex::decode(span).ok()?.try_into().ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some((trace_id, span_id, flags & 1 == 1))
}

/// `value` cut to at most `max_chars` characters: values from the other
/// side of a hop go into spans and the call log bounded. Most are short
/// enough to be taken whole without counting characters.
pub fn prefix_chars(value: &str, max_chars: usize) -> &str {
    if value.len() <= max_chars {
        return value;
    }
    match value.char_indices().nth(max_chars) {
        Some((end, _)) => &value[..end],
        None => value,
    }
}

/// Facts shared by every request of one HTTP exchange.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallContext {
    pub server: String,
    pub version: String,
    pub product: String,
    pub subscription: Option<String>,
    pub auth_type: &'static str,
    /// Token callers: the subject claim (a person or workload of the identity provider).
    pub user: Option<String>,
    pub session_id: Option<String>,
    pub protocol_version: Option<String>,
    pub client_name: Option<String>,
    pub client_version: Option<String>,
    pub server_name: Option<String>,
    pub server_version: Option<String>,
    /// Formatted only when a span is exported.
    pub client_address: Option<std::net::IpAddr>,
    pub client_port: Option<u16>,
    pub server_address: Option<String>,
    pub server_port: Option<u16>,
    /// HTTP version of the client's request: `1.1`, `2`.
    pub http_version: &'static str,
    /// A product's endpoint (`/products/{product}/mcp`) the request came
    /// through, `server` being the member that answered; none for `/mcp/{server}`.
    pub endpoint: Option<Arc<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedError {
    /// JSON-RPC error code as a string, `tool_error`, or an HTTP status.
    pub error_type: String,
    pub message: String,
}

/// The HTTP request a tool call made to a REST API (a client span of its own).
#[derive(Debug, Clone)]
pub struct BackendCall {
    pub method: String,
    pub url: reqwest::Url,
    pub status: Option<u16>,
    pub start: SystemTime,
    pub duration: Duration,
    /// Why no response came (a timeout, a refused connection).
    pub error: Option<String>,
}

/// One finished JSON-RPC request.
#[derive(Debug, Clone)]
pub struct Observation {
    /// MCP's own method names are not copied.
    pub method: std::borrow::Cow<'static, str>,
    pub request_id: Option<String>,
    pub tool: Option<String>,
    /// Whether the version offers (or the product names) `tool`: only then
    /// may it be a metric label.
    pub tool_known: bool,
    /// Refused by the gateway, or failed for a tool the version does not
    /// offer: the name is not an analytics group (`CallRecord::tool_refused`).
    pub tool_refused: bool,
    pub prompt: Option<String>,
    pub resource_uri: Option<String>,
    pub start: SystemTime,
    pub duration: Duration,
    pub trace: TraceIds,
    pub context: Arc<CallContext>,
    pub error: Option<ObservedError>,
    pub arguments: Option<String>,
    pub result: Option<String>,
    pub cost: f64,
    /// The policy rule that refused or throttled the request.
    pub policy_rule: Option<Arc<str>>,
    /// The REST API request a call made, when the version is one.
    pub backend_call: Option<BackendCall>,
    /// `tools/list`: the tools hidden because their definitions are not the
    /// approved ones (comma-separated).
    pub unapproved_tools: Option<String>,
    pub input_round: InputRound,
}

/// Where a request stands in MCP 2026-07-28's `input_required` rounds, as
/// keys that link a call that asked for input to the call that answered it
/// (`CallRecord::awaits_input`, `CallRecord::continues`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputRound {
    /// The request sent back a `requestState`: its key.
    pub continues: Option<String>,
    /// The result asked for input and handed out a `requestState`: its key.
    pub awaits: Option<String>,
}

impl InputRound {
    /// The key of `state`, handed to (or sent back by) the caller `who`
    /// (a subscription, else a product): the same state from another
    /// caller is another round.
    pub fn key(who: &str, state: &str) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, format!("{who}\n{state}").as_bytes());
        hex::encode(&digest.as_ref()[..8])
    }
}

/// An address as text (`X-Forwarded-For`, a span's `client.address`): an
/// IPv4 address's octets by itoa, where `Display` cost 1,300 instructions.
pub fn address_text(peer: std::net::IpAddr) -> String {
    let std::net::IpAddr::V4(v4) = peer else { return peer.to_string() };
    let mut text = String::with_capacity(15);
    let mut numbers = itoa::Buffer::new();
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        text.push_str(numbers.format(octet));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_as_display_writes_them() {
        for address in ["127.0.0.1", "0.0.0.0", "255.255.255.255", "10.20.3.4", "::1", "2001:db8::7"] {
            let ip: std::net::IpAddr = address.parse().expect("an address");
            assert_eq!(address_text(ip), ip.to_string());
        }
    }

    #[test]
    fn prefixes_are_cut_on_character_boundaries() {
        assert_eq!(prefix_chars("héllo", 2), "hé");
        assert_eq!(prefix_chars("héllo", 5), "héllo");
        assert_eq!(prefix_chars("ééé", 4), "ééé", "6 bytes, 3 characters");
        assert_eq!(prefix_chars("", 0), "");
    }

    #[test]
    fn traceparent_round_trip_and_validation() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ids = TraceIds::continuing(Some(parent));
        assert_eq!(hex::encode(ids.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ids.parent_span_id.map(hex::encode).as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(ids.traceparent(), format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", hex::encode(ids.span_id)));
        assert_eq!(ids.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let unsampled = TraceIds::continuing(Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
        assert!(unsampled.traceparent().ends_with("-00"), "{}", unsampled.traceparent());
        assert_eq!(parse_traceparent(&unsampled.traceparent()), Some((unsampled.trace_id, unsampled.span_id, false)));
        for bad in [
            "",
            "00-0000-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
        assert!(TraceIds::continuing(None).parent_span_id.is_none());
    }
}
