//! MCP on the wire, as every part that speaks it reads it: JSON-RPC
//! messages (`jsonrpc`), `text/event-stream` bodies (`sse`), and what
//! 2026-07-28 adds that an intermediary checks (`revision`). The gateway
//! and mcpgate's own upstream clients share them.

pub mod jsonrpc;
pub mod revision;
pub mod sse;

/// The protocol revisions the gateway speaks where it is the MCP server
/// itself (a REST API's version, a product's endpoint), newest first: a
/// client's revision is used when it is one of them.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// The revision to answer `initialize` with: the client's, when spoken here.
pub fn negotiate(asked: Option<&str>) -> &'static str {
    PROTOCOL_VERSIONS.iter().find(|v| asked == Some(**v)).copied().unwrap_or(PROTOCOL_VERSIONS[0])
}

/// The methods of the MCP specification (2025-03-26 to 2026-07-28), the
/// most frequent first; a client can send anything else.
pub const METHODS: &[&str] = &[
    "tools/call",
    "tools/list",
    "initialize",
    "ping",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "sampling/createMessage",
    "elicitation/create",
    "roots/list",
    "tasks/get",
    "tasks/list",
    "tasks/result",
    "tasks/cancel",
    "server/discover",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/message",
    "notifications/roots/list_changed",
    "notifications/tools/list_changed",
    "notifications/resources/list_changed",
    "notifications/resources/updated",
    "notifications/prompts/list_changed",
];

/// `name` as the specification's own `'static` name, when it is one.
pub fn method(name: &str) -> Option<&'static str> {
    METHODS.iter().find(|known| **known == name).copied()
}
