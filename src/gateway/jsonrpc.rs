//! Just enough JSON-RPC 2.0 to govern MCP traffic: telling requests from
//! notifications and responses, reading the method and tool, and writing
//! error replies clients understand.

use serde_json::{json, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
/// What MCP servers answer for an unknown tool (spec: "Unknown tool").
pub const INVALID_PARAMS: i64 = -32602;
/// Implementation-defined server error: every gateway refusal uses it, with
/// `data.reason` saying which.
pub const GATEWAY_ERROR: i64 = -32000;

/// A request body: one message or a batch (protocol 2025-03-26).
#[derive(Debug, Clone)]
pub enum Body {
    Single(Value),
    Batch(Vec<Value>),
}

impl Body {
    pub fn parse(bytes: &[u8]) -> Result<Body, String> {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Array(items)) if items.is_empty() => Err("an empty batch is not a JSON-RPC request".into()),
            Ok(Value::Array(items)) => Ok(Body::Batch(items)),
            Ok(value @ Value::Object(_)) => Ok(Body::Single(value)),
            Ok(_) => Err("a JSON-RPC message must be an object or an array of objects".into()),
            Err(err) => Err(format!("not JSON: {err}")),
        }
    }

    pub fn messages(&self) -> &[Value] {
        match self {
            Body::Single(value) => std::slice::from_ref(value),
            Body::Batch(items) => items,
        }
    }

    pub fn messages_mut(&mut self) -> &mut [Value] {
        match self {
            Body::Single(value) => std::slice::from_mut(value),
            Body::Batch(items) => items,
        }
    }

    pub fn is_batch(&self) -> bool {
        matches!(self, Body::Batch(_))
    }

    /// The body with only the messages `keep` selects, or `None` when none stay.
    pub fn retain(self, keep: impl Fn(usize) -> bool) -> Option<Body> {
        match self {
            Body::Single(value) => keep(0).then_some(Body::Single(value)),
            Body::Batch(items) => {
                let kept: Vec<Value> = items.into_iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, v)| v).collect();
                (!kept.is_empty()).then_some(Body::Batch(kept))
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Body::Single(value) => serde_json::to_vec(value),
            Body::Batch(items) => serde_json::to_vec(items),
        }
        .unwrap_or_default()
    }
}

pub fn method(message: &Value) -> Option<&str> {
    message.get("method").and_then(Value::as_str)
}

pub fn id(message: &Value) -> Option<&Value> {
    message.get("id").filter(|id| !id.is_null())
}

/// A map key for a JSON-RPC id (`1` and `"1"` stay distinct).
pub fn id_key(id: &Value) -> String {
    id.to_string()
}

/// A request expects a response: it has a method and an id.
pub fn is_request(message: &Value) -> bool {
    method(message).is_some() && id(message).is_some()
}

/// The tool a `tools/call` request names, read from the body.
pub fn tool_name(message: &Value) -> Option<&str> {
    (method(message) == Some("tools/call")).then(|| message.pointer("/params/name").and_then(Value::as_str)).flatten()
}

/// A JSON-RPC error response.
pub fn error(id: Option<&Value>, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({ "code": code, "message": message });
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({ "jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": error })
}

/// The error an MCP server gives for a tool it does not have.
pub fn unknown_tool(id: Option<&Value>, tool: &str) -> Value {
    error(id, INVALID_PARAMS, &format!("Unknown tool: {tool}"), None)
}

/// Whether a message is a response (has a result or an error, no method).
pub fn is_response(message: &Value) -> bool {
    method(message).is_none() && (message.get("result").is_some() || message.get("error").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_messages() {
        let request = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "echo" } });
        let notification = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let response = json!({ "jsonrpc": "2.0", "id": 1, "result": {} });
        assert!(is_request(&request) && !is_request(&notification) && !is_request(&response));
        assert!(is_response(&response) && !is_response(&request));
        assert_eq!(tool_name(&request), Some("echo"));
        assert_eq!(tool_name(&notification), None);
    }

    #[test]
    fn batches_keep_selected_messages() {
        let body = Body::parse(br#"[{"id":1,"method":"a"},{"id":2,"method":"b"}]"#).unwrap();
        let kept = body.retain(|i| i == 1).unwrap();
        assert_eq!(kept.messages().len(), 1);
        assert!(Body::parse(b"[]").is_err());
        assert!(Body::parse(b"3").is_err());
        assert!(Body::parse(b"{").is_err());
    }
}
