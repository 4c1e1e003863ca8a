//! Just enough JSON-RPC 2.0 to govern MCP traffic: telling requests from
//! notifications and responses, reading the method and tool, and writing
//! error replies clients understand.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::borrow::Cow;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
/// What MCP servers answer for an unknown tool (spec: "Unknown tool").
pub const INVALID_PARAMS: i64 = -32602;
/// A failure on the gateway's or the upstream's side. (MCP reserves the
/// server-error range -32000..-32099 for itself and legacy uses: the
/// gateway's refusals use the standard codes, `data.reason` saying which.)
pub const INTERNAL_ERROR: i64 = -32603;

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

/// The value at `path` (object keys) in a message: what `Value::pointer`
/// finds, without the two strings it allocates per segment (this runs
/// several times per call).
pub fn at<'a>(message: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(message, |value, key| value.get(key))
}

/// A map key for a JSON-RPC id (`1` and `"1"` stay distinct): its JSON text.
pub fn id_key(id: &Value) -> String {
    // Integers, the usual ids, by itoa: `Value`'s `Display` runs serde_json's
    // serializer through a formatter (twice a call, ~250 instructions each).
    let mut digits = itoa::Buffer::new();
    match (id.as_i64(), id.as_u64()) {
        (Some(n), _) => digits.format(n).to_string(),
        (None, Some(n)) => digits.format(n).to_string(),
        (None, None) => id.to_string(),
    }
}

/// Whether `raw` JSON is an integer as serde_json writes it back (no sign
/// on zero, no leading zero, no exponent or fraction, within `i64`).
fn is_canonical_integer(raw: &str) -> bool {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    let canonical_zero = digits == "0" && digits.len() == raw.len();
    (canonical_zero || !digits.starts_with('0')) && (1..=18).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A request expects a response: it has a method and an id.
pub fn is_request(message: &Value) -> bool {
    method(message).is_some() && id(message).is_some()
}

/// What a `tools/call` message names as its tool, read from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalledTool<'a> {
    /// Not a `tools/call`.
    NotACall,
    Named(&'a str),
    /// A `tools/call` whose `params.name` is missing or not a string: it
    /// names no tool the gateway can check, so it never goes upstream.
    Invalid,
}

impl<'a> CalledTool<'a> {
    pub fn of(message: &'a Value) -> CalledTool<'a> {
        CalledTool::read(method(message), message.get("params"))
    }

    /// The same reading from a message's method and `params`, for a caller
    /// that has looked them up already.
    pub fn read(method: Option<&str>, params: Option<&'a Value>) -> CalledTool<'a> {
        if method != Some("tools/call") {
            return CalledTool::NotACall;
        }
        match params.and_then(|p| p.get("name")).and_then(Value::as_str) {
            Some(name) => CalledTool::Named(name),
            None => CalledTool::Invalid,
        }
    }

    pub fn name(self) -> Option<&'a str> {
        match self {
            CalledTool::Named(name) => Some(name),
            CalledTool::NotACall | CalledTool::Invalid => None,
        }
    }

    pub fn is_call(self) -> bool {
        self != CalledTool::NotACall
    }
}

/// The tool a `tools/call` request names, when it names one by a string.
pub fn tool_name(message: &Value) -> Option<&str> {
    CalledTool::of(message).name()
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

/// The `data.reason` (and call-log error type) of a `tools/call` whose
/// `params.name` is not a string.
pub const INVALID_TOOL_NAME: &str = "invalid_tool_name";

/// The refusal of a `tools/call` that names no tool by a string.
pub fn invalid_tool_name(id: Option<&Value>) -> Value {
    let data = json!({ "reason": INVALID_TOOL_NAME });
    error(id, INVALID_PARAMS, "tools/call needs params.name: the tool's name, as a string", Some(data))
}

/// Whether a message is a response (has a result or an error, no method).
pub fn is_response(message: &Value) -> bool {
    method(message).is_none() && (message.get("result").is_some() || message.get("error").is_some())
}

/// What the gateway reads of an upstream answer it neither rewrites nor
/// logs: the id and, for a failure, its code and message, parsed without
/// building the whole message (tool results can be large).
#[derive(Debug, Deserialize)]
pub struct Answer<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    method: Option<IgnoredAny>,
    #[serde(borrow)]
    error: Option<AnswerError<'a>>,
    #[serde(borrow)]
    result: Option<AnswerResult<'a>>,
}

#[derive(Debug, Deserialize)]
struct AnswerError<'a> {
    #[serde(borrow)]
    code: Option<&'a RawValue>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct AnswerResult<'a> {
    #[serde(rename = "isError")]
    is_error: Option<bool>,
    #[serde(rename = "resultType", borrow)]
    result_type: Option<Cow<'a, str>>,
}

/// The `resultType` of a 2026-07-28 result that asks the client for input
/// before the request can complete.
pub const INPUT_REQUIRED: &str = "input_required";

/// A plainly failed or succeeded answer, as `Answer::outcome` reads it.
#[derive(Debug, PartialEq)]
pub enum Outcome<'a> {
    Succeeded,
    /// A JSON-RPC error: its integer code (`None`: absent or not an integer) and message.
    Failed {
        code: Option<&'a str>,
        message: &'a str,
    },
}

impl<'a> Answer<'a> {
    /// The answers in a response body, when every one of them is a plain
    /// response this reading can judge; `None` sends the caller to the whole
    /// parse (a tool error's text, notifications, anything unusual).
    pub fn read_all(bytes: &'a [u8]) -> Option<Vec<Answer<'a>>> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace())?;
        let answers = if *first == b'[' { serde_json::from_slice(bytes).ok()? } else { vec![serde_json::from_slice(bytes).ok()?] };
        answers.iter().all(Answer::is_plain).then_some(answers)
    }

    fn is_plain(&self) -> bool {
        let judged = match (&self.error, &self.result) {
            (Some(_), _) => true,
            // A result that asks for input is read whole: the call log links its rounds.
            (None, Some(result)) => result.is_error != Some(true) && result.result_type.as_deref() != Some(INPUT_REQUIRED),
            (None, None) => false,
        };
        judged && self.method.is_none() && self.id.is_some_and(|id| id.get() != "null")
    }

    /// The id as `id_key` spells it (an integer's text as it came, without
    /// parsing it).
    pub fn id_key(&self) -> Option<String> {
        let raw = self.id?.get();
        if is_canonical_integer(raw) {
            return Some(raw.to_string());
        }
        let id: Value = serde_json::from_str(raw).ok()?;
        Some(id_key(&id))
    }

    pub fn outcome(&self) -> Outcome<'_> {
        match &self.error {
            None => Outcome::Succeeded,
            Some(error) => Outcome::Failed {
                code: error.code.map(|c| c.get()).filter(|c| c.parse::<i64>().is_ok()),
                message: error.message.as_deref().unwrap_or_default(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_keys_spell_ids_as_their_json_text() {
        for id in [json!(1), json!(-7), json!(0), json!(u64::MAX), json!(i64::MIN), json!(1.5), json!("1"), json!("a\"b"), json!(null)] {
            assert_eq!(id_key(&id), id.to_string(), "{id}");
        }
        // An answer's id is read as it came, and keyed as its request's.
        for raw in ["1", "-7", "0", "-0", "1e2", "1.0", "123456789012345678901234", "\"x\"", " 5"] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{raw},"result":{{}}}}"#);
            let answers = Answer::read_all(body.as_bytes()).expect("an answer");
            let parsed: Value = serde_json::from_str(raw).expect("JSON");
            assert_eq!(answers[0].id_key(), Some(id_key(&parsed)), "{raw}");
        }
    }

    #[test]
    fn classifies_messages() {
        let request = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "echo" } });
        let notification = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let response = json!({ "jsonrpc": "2.0", "id": 1, "result": {} });
        assert!(is_request(&request) && !is_request(&notification) && !is_request(&response));
        assert!(is_response(&response) && !is_response(&request));
        assert_eq!(tool_name(&request), Some("echo"));
        assert_eq!(tool_name(&notification), None);
        assert_eq!(CalledTool::of(&notification), CalledTool::NotACall);
        for name in [json!(["echo"]), json!(7), json!({ "name": "echo" }), Value::Null] {
            let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": name } });
            assert_eq!(CalledTool::of(&call), CalledTool::Invalid, "{call}");
        }
        assert_eq!(CalledTool::of(&json!({ "id": 1, "method": "tools/call" })), CalledTool::Invalid);
    }

    #[test]
    fn answers_are_read_without_the_whole_message() {
        let answers = Answer::read_all(br#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}]}}"#).unwrap();
        assert_eq!((answers[0].id_key().as_deref(), answers[0].outcome()), (Some("7"), Outcome::Succeeded));
        let failed = br#" [{"id":"a","error":{"code":-32602,"message":"Unknown tool: x \u00e9"}},{"id":2,"error":{"code":1.5}}]"#;
        let answers = Answer::read_all(failed).unwrap();
        assert_eq!(answers[0].id_key().as_deref(), Some(r#""a""#));
        assert_eq!(answers[0].outcome(), Outcome::Failed { code: Some("-32602"), message: "Unknown tool: x é" });
        assert_eq!(answers[1].outcome(), Outcome::Failed { code: None, message: "" });
        // Left to the whole parse: tool errors, notifications, requests, odd shapes, not JSON.
        for body in [
            &br#"{"id":1,"result":{"isError":true,"content":[]}}"#[..],
            br#"{"jsonrpc":"2.0","method":"notifications/progress"}"#,
            br#"{"id":1,"method":"sampling/createMessage"}"#,
            br#"{"id":null,"result":{}}"#,
            br#"{"id":1,"result":"ok"}"#,
            br#"{"id":1,"error":"bad"}"#,
            br#"{"id":1}"#,
            b"not json",
        ] {
            assert!(Answer::read_all(body).is_none(), "{}", String::from_utf8_lossy(body));
        }
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
