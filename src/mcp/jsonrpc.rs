//! Just enough JSON-RPC 2.0 to govern MCP traffic: telling requests from
//! notifications and responses, reading the method and tool, and writing
//! error replies clients understand.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::borrow::Cow;

mod members;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
/// What MCP servers answer for an unknown tool (spec: "Unknown tool").
pub const INVALID_PARAMS: i64 = -32602;
/// A failure on the gateway's or the upstream's side. (MCP reserves the
/// server-error range -32000..-32099 for itself and legacy uses: the
/// gateway's refusals use the standard codes, `data.reason` saying which.)
pub const INTERNAL_ERROR: i64 = -32603;

/// One message of a request body, its envelope read into fields. The hot
/// path asks a message for its method, id and params a dozen times per
/// call; as a `Value` object each answer was a search of its map, and each
/// member name an allocation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// `id` as it came (`null` included).
    pub id: Option<Value>,
    /// `method`, when it is a string (any other `method` stays in `rest`);
    /// MCP's own methods are not copied.
    pub method: Option<Cow<'static, str>>,
    pub params: Option<Value>,
    pub jsonrpc: Option<Version>,
    /// Every other member (a client's `result` or `error`, unknown ones), as it came.
    pub rest: Map<String, Value>,
    /// A batch item that is not an object: it goes upstream as it came.
    pub verbatim: Option<Value>,
}

/// `jsonrpc`: the "2.0" every message carries is not copied.
#[derive(Debug, Clone, PartialEq)]
pub enum Version {
    V2,
    Other(Value),
}

static VERSION_2: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| Value::from("2.0"));

impl Version {
    fn of(value: Value) -> Version {
        if value.as_str() == Some("2.0") {
            return Version::V2;
        }
        Version::Other(value)
    }

    fn value(&self) -> &Value {
        match self {
            Version::V2 => &VERSION_2,
            Version::Other(value) => value,
        }
    }
}

/// A method's name: the specification's own are not copied.
fn method_name(text: &str) -> Cow<'static, str> {
    super::method(text).map_or_else(|| Cow::Owned(text.to_string()), Cow::Borrowed)
}

impl Message {
    /// A member by name, as `Value::get` finds it (a string `method` is
    /// read by [`Envelope::method`]).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match key {
            "id" => self.id.as_ref(),
            "params" => self.params.as_ref(),
            "jsonrpc" => self.jsonrpc.as_ref().map(Version::value),
            _ => self.rest.get(key),
        }
    }

    /// `params` as an object, made one when absent (`None` when it is something else).
    pub fn params_object_mut(&mut self) -> Option<&mut Map<String, Value>> {
        self.params.get_or_insert_with(|| Value::Object(Map::new())).as_object_mut()
    }
}

impl From<Value> for Message {
    fn from(value: Value) -> Message {
        let Value::Object(mut members) = value else { return Message { verbatim: Some(value), ..Message::default() } };
        let method = match members.remove("method") {
            Some(Value::String(method)) => Some(method_name(&method)),
            Some(other) => {
                members.insert("method".into(), other);
                None
            }
            None => None,
        };
        Message {
            id: members.remove("id"),
            method,
            params: members.remove("params"),
            jsonrpc: members.remove("jsonrpc").map(Version::of),
            rest: members,
            verbatim: None,
        }
    }
}

/// A message's members in `Value`'s order (sorted by name), so a message
/// written back reads as its `Value` did.
impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if let Some(verbatim) = &self.verbatim {
            return verbatim.serialize(serializer);
        }
        enum Member<'a> {
            Value(&'a Value),
            Text(&'a str),
        }
        let mut members: Vec<(&str, Member)> = Vec::with_capacity(4 + self.rest.len());
        let fixed = [("id", self.id.as_ref()), ("params", self.params.as_ref()), ("jsonrpc", self.jsonrpc.as_ref().map(Version::value))];
        members.extend(fixed.into_iter().filter_map(|(name, value)| Some((name, Member::Value(value?)))));
        members.extend(self.method.as_deref().map(|method| ("method", Member::Text(method))));
        members.extend(self.rest.iter().map(|(name, value)| (name.as_str(), Member::Value(value))));
        members.sort_unstable_by_key(|(name, _)| *name);
        let mut map = serializer.serialize_map(Some(members.len()))?;
        for (name, member) in members {
            match member {
                Member::Value(value) => map.serialize_entry(name, value)?,
                Member::Text(text) => map.serialize_entry(name, text)?,
            }
        }
        map.end()
    }
}

/// Reads an object's members into a `Message`.
struct MessageVisitor;

impl<'de> serde::de::Visitor<'de> for MessageVisitor {
    type Value = Message;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON-RPC message")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Message, A::Error> {
        let mut message = Message::default();
        // Names borrowed from the body: only unknown members allocate theirs.
        while let Some(name) = map.next_key::<Name<'de>>()? {
            match name.as_str() {
                "id" => message.id = Some(map.next_value()?),
                "params" => message.params = Some(map.next_value()?),
                "jsonrpc" => message.jsonrpc = Some(map.next_value()?),
                "method" => match map.next_value::<Method>()? {
                    Method::Text(method) => {
                        message.rest.remove("method");
                        message.method = Some(method);
                    }
                    Method::Other(other) => {
                        message.method = None;
                        message.rest.insert("method".into(), other);
                    }
                },
                other => {
                    let value = map.next_value()?;
                    message.rest.insert(other.to_string(), value);
                }
            }
        }
        Ok(message)
    }
}

/// A `method` member as it parses: a name (MCP's own not copied), or
/// anything else, kept as it came.
enum Method {
    Text(Cow<'static, str>),
    Other(Value),
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Method, D::Error> {
        // Read as it came, then as a name when it is one: the usual string
        // is borrowed from the body, not first copied into a `Value`.
        let raw = <&RawValue>::deserialize(deserializer)?.get();
        if let Some(text) = plain_string(raw) {
            return Ok(Method::Text(method_name(text)));
        }
        let value: Value = serde_json::from_str(raw).map_err(serde::de::Error::custom)?;
        Ok(match value {
            Value::String(text) => Method::Text(method_name(&text)),
            other => Method::Other(other),
        })
    }
}

/// The text of a JSON string without escapes, read off its raw form.
fn plain_string(raw: &str) -> Option<&str> {
    raw.strip_prefix('"')?.strip_suffix('"').filter(|text| !text.contains(['\\', '"']))
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Version, D::Error> {
        let raw = <&RawValue>::deserialize(deserializer)?.get();
        if plain_string(raw) == Some("2.0") {
            return Ok(Version::V2);
        }
        serde_json::from_str(raw).map(Version::Other).map_err(serde::de::Error::custom)
    }
}

/// A member name, borrowed from the body unless it has escapes.
struct Name<'de>(Cow<'de, str>);

impl Name<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Name<'de>, D::Error> {
        struct NameVisitor;
        impl<'de> serde::de::Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// What the envelope readers below ask of a message: a request body's
/// [`Message`], or an answer or reply held as a `Value`.
pub trait Envelope {
    /// `method`, when it is a string.
    fn method(&self) -> Option<&str>;
    /// Any other member, by name.
    fn member(&self, name: &str) -> Option<&Value>;
}

impl Envelope for Message {
    fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    fn member(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl Envelope for Value {
    fn method(&self) -> Option<&str> {
        self.get("method").and_then(Value::as_str)
    }

    fn member(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl<E: Envelope + ?Sized> Envelope for &E {
    fn method(&self) -> Option<&str> {
        (**self).method()
    }

    fn member(&self, name: &str) -> Option<&Value> {
        (**self).member(name)
    }
}

/// JSON parsed with its UTF-8 checked once, up front: read from bytes,
/// serde_json checks each string again (a dozen a call). Bytes that are not
/// UTF-8 are read as bytes, for serde_json's error naming where.
fn from_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// A request body: one message or a batch (protocol 2025-03-26).
#[derive(Debug, Clone)]
pub enum Body {
    Single(Message),
    Batch(Vec<Message>),
}

/// A body as it parses: a message, a batch, or neither.
enum Parsed {
    Single(Message),
    Batch(Vec<Message>),
    Neither,
}

impl<'de> Deserialize<'de> for Parsed {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Parsed, D::Error> {
        struct ParsedVisitor;
        impl<'de> serde::de::Visitor<'de> for ParsedVisitor {
            type Value = Parsed;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON-RPC message or batch")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Parsed, A::Error> {
                MessageVisitor.visit_map(map).map(Parsed::Single)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Parsed, A::Error> {
                // Batches are rare (2025-03-26 only): items parse as values,
                // a non-object kept verbatim.
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(item) = seq.next_element::<Value>()? {
                    items.push(Message::from(item));
                }
                Ok(Parsed::Batch(items))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Parsed, E> {
                Ok(Parsed::Neither)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Parsed, E> {
                Ok(Parsed::Neither)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Parsed, E> {
                Ok(Parsed::Neither)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Parsed, E> {
                Ok(Parsed::Neither)
            }
            fn visit_str<E>(self, _: &str) -> Result<Parsed, E> {
                Ok(Parsed::Neither)
            }
            fn visit_unit<E>(self) -> Result<Parsed, E> {
                Ok(Parsed::Neither)
            }
        }
        deserializer.deserialize_any(ParsedVisitor)
    }
}

impl Body {
    pub fn parse(bytes: &[u8]) -> Result<Body, String> {
        match from_json::<Parsed>(bytes) {
            Ok(Parsed::Batch(items)) if items.is_empty() => Err("an empty batch is not a JSON-RPC request".into()),
            Ok(Parsed::Batch(items)) => Ok(Body::Batch(items)),
            Ok(Parsed::Single(message)) => Ok(Body::Single(message)),
            Ok(Parsed::Neither) => Err("a JSON-RPC message must be an object or an array of objects".into()),
            Err(err) => Err(format!("not JSON: {err}")),
        }
    }

    pub fn messages(&self) -> &[Message] {
        match self {
            Body::Single(message) => std::slice::from_ref(message),
            Body::Batch(items) => items,
        }
    }

    pub fn messages_mut(&mut self) -> &mut [Message] {
        match self {
            Body::Single(message) => std::slice::from_mut(message),
            Body::Batch(items) => items,
        }
    }

    pub fn is_batch(&self) -> bool {
        matches!(self, Body::Batch(_))
    }

    /// The body with only the messages `keep` selects, or `None` when none stay.
    pub fn retain(self, keep: impl Fn(usize) -> bool) -> Option<Body> {
        match self {
            Body::Single(message) => keep(0).then_some(Body::Single(message)),
            Body::Batch(items) => {
                let kept: Vec<Message> = items.into_iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, m)| m).collect();
                (!kept.is_empty()).then_some(Body::Batch(kept))
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Body::Single(message) => serde_json::to_vec(message),
            Body::Batch(items) => serde_json::to_vec(items),
        }
        .unwrap_or_default()
    }
}

/// `text`, one JSON-RPC message the caller has parsed, with
/// `"_meta":{meta}` as the first member of its `params`: the client's bytes
/// but for that member, where writing the message again cost a traced call
/// 3,800 instructions. None, for the caller to write the message again,
/// unless `text` is one object whose one `params` is an object without
/// `_meta`.
pub fn with_params_meta(text: &str, meta: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let (mut open, mut count, mut any, mut has_meta) = (0, 0, false, false);
    // One pass: `params`' own members are read as the message's are skipped.
    let end = members::each(text, members::skip_space(bytes, 0), |name, start| {
        if name != "params" {
            return members::value_end(bytes, start);
        }
        open = start;
        count += 1;
        members::each(text, start, |name, start| {
            any = true;
            has_meta |= name == "_meta";
            members::value_end(bytes, start)
        })
    })?;
    if count != 1 || has_meta || members::skip_space(bytes, end) != bytes.len() {
        return None;
    }
    // `each` found params' `{` at `open`.
    let (before, after) = text.split_at(open + 1);
    let separator = if any { "," } else { "" };
    Some([before, "\"_meta\":{", meta, "}", separator, after].concat())
}

pub fn method<E: Envelope + ?Sized>(message: &E) -> Option<&str> {
    message.method()
}

pub fn id<E: Envelope + ?Sized>(message: &E) -> Option<&Value> {
    message.member("id").filter(|id| !id.is_null())
}

/// The value at `path` (member names) in a message: what `Value::pointer`
/// finds, without the two strings it allocates per segment (this runs
/// several times per call).
pub fn at<'a, E: Envelope + ?Sized>(message: &'a E, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(message.member(first)?, |value, key| value.get(key))
}

/// A JSON-RPC id as a map key: an integer, the usual id, held as its
/// number, any other id as its JSON text, so `1` and `"1"` stay distinct.
/// A request's key is made when it is sent and its answer's when it comes
/// back: as text, each was an allocation, and the comparison between them
/// a read of two more heap lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdKey {
    Integer(i128),
    Text(Box<str>),
}

impl IdKey {
    /// The id's JSON text (an integer's by itoa: `Value`'s `Display` runs
    /// serde_json's serializer through a formatter, ~250 instructions).
    pub fn into_text(self) -> String {
        match self {
            IdKey::Integer(n) => itoa::Buffer::new().format(n).to_string(),
            IdKey::Text(text) => text.into(),
        }
    }
}

/// The map key of a JSON-RPC id.
pub fn id_key(id: &Value) -> IdKey {
    match (id.as_i64(), id.as_u64()) {
        (Some(n), _) => IdKey::Integer(n.into()),
        (None, Some(n)) => IdKey::Integer(n.into()),
        (None, None) => IdKey::Text(id.to_string().into()),
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
pub fn is_request<E: Envelope + ?Sized>(message: &E) -> bool {
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
    pub fn of<E: Envelope + ?Sized>(message: &'a E) -> CalledTool<'a> {
        CalledTool::read(method(message), message.member("params"))
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
pub fn tool_name<E: Envelope + ?Sized>(message: &E) -> Option<&str> {
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
pub fn is_response<E: Envelope + ?Sized>(message: &E) -> bool {
    method(message).is_none() && (message.member("result").is_some() || message.member("error").is_some())
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

/// The answers of a response body: one (no list allocated for it), or a batch's.
pub enum Answers<'a> {
    One(Answer<'a>),
    Batch(Vec<Answer<'a>>),
}

impl<'a> std::ops::Deref for Answers<'a> {
    type Target = [Answer<'a>];

    fn deref(&self) -> &[Answer<'a>] {
        match self {
            Answers::One(answer) => std::slice::from_ref(answer),
            Answers::Batch(answers) => answers,
        }
    }
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
    pub fn read_all(text: &'a str) -> Option<Answers<'a>> {
        let first = text.bytes().find(|b| !b.is_ascii_whitespace())?;
        let answers = if first == b'[' { Answers::Batch(serde_json::from_str(text).ok()?) } else { Answers::One(serde_json::from_str(text).ok()?) };
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

    /// The id's key, as `id_key` makes it (an integer's read off its
    /// text, without parsing it into a `Value`).
    pub fn id_key(&self) -> Option<IdKey> {
        let raw = self.id?.get();
        if let Some(n) = is_canonical_integer(raw).then(|| raw.parse::<i64>().ok()).flatten() {
            return Some(IdKey::Integer(n.into()));
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
            assert_eq!(id_key(&id).into_text(), id.to_string(), "{id}");
        }
        assert_ne!(id_key(&json!(1)), id_key(&json!("1")), "a number and a string stay distinct");
        assert_ne!(id_key(&json!(1)), id_key(&json!(1.0)));
        // An answer's id is read as it came, and keyed as its request's.
        for raw in ["1", "-7", "0", "-0", "1e2", "1.0", "123456789012345678901234", "\"x\"", " 5"] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{raw},"result":{{}}}}"#);
            let answers = Answer::read_all(&body).expect("an answer");
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
        let answers = Answer::read_all(r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}]}}"#).unwrap();
        assert_eq!((answers[0].id_key(), answers[0].outcome()), (Some(IdKey::Integer(7)), Outcome::Succeeded));
        let failed = r#" [{"id":"a","error":{"code":-32602,"message":"Unknown tool: x \u00e9"}},{"id":2,"error":{"code":1.5}}]"#;
        let answers = Answer::read_all(failed).unwrap();
        assert_eq!(answers[0].id_key().map(IdKey::into_text).as_deref(), Some(r#""a""#));
        assert_eq!(answers[0].outcome(), Outcome::Failed { code: Some("-32602"), message: "Unknown tool: x é" });
        assert_eq!(answers[1].outcome(), Outcome::Failed { code: None, message: "" });
        // Left to the whole parse: tool errors, notifications, requests, odd shapes, not JSON.
        for body in [
            r#"{"id":1,"result":{"isError":true,"content":[]}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#,
            r#"{"id":1,"method":"sampling/createMessage"}"#,
            r#"{"id":null,"result":{}}"#,
            r#"{"id":1,"result":"ok"}"#,
            r#"{"id":1,"error":"bad"}"#,
            r#"{"id":1}"#,
            "not json",
        ] {
            assert!(Answer::read_all(body).is_none(), "{body}");
        }
    }

    /// A body's messages read as `Value` read them, and write back the
    /// same text: members in name order, unknown and odd ones kept.
    #[test]
    fn messages_read_and_write_as_values_do() {
        let bodies = [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"#,
            r#"{"params":{},"method":"tools/list","id":"a","jsonrpc":"2.0","zeta":[1],"alpha":null}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":7}"#,
            r#"{"jsonrpc":"2.0","id":2,"result":{"content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}"#,
            r#"{"me\u0074hod":"ping","id":4,"method":"tools/list"}"#,
            r#"{"method":"ping","id":4,"method":"tools/list"}"#,
            r#"{"jsonrpc":"1.0","method":"tools\/call","id":5,"params":{"name":"x"}}"#,
            r#"{"jsonrpc":2,"method":"custom/thing","id":6}"#,
            r#"[{"id":1,"method":"a"},3,"x",null,true,[1,{"b":2}],{"method":"notifications/x"}]"#,
        ];
        for text in bodies {
            let body = Body::parse(text.as_bytes()).unwrap();
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(String::from_utf8(body.to_bytes()).unwrap(), value.to_string(), "{text}");
            let items = match &value {
                Value::Array(items) => items.clone(),
                single => vec![single.clone()],
            };
            assert_eq!(body.messages().len(), items.len());
            for (message, item) in body.messages().iter().zip(items) {
                assert_eq!(method(message), method(&item), "{text}");
                assert_eq!(id(message), id(&item), "{text}");
                assert_eq!(message.get("params"), item.get("params"), "{text}");
                assert_eq!(is_request(message), is_request(&item), "{text}");
                assert_eq!(is_response(message), is_response(&item), "{text}");
                assert_eq!(CalledTool::of(message), CalledTool::of(&item), "{text}");
                assert_eq!(*message, Message::from(item.clone()), "{text}");
                assert_eq!(serde_json::to_value(message).unwrap(), item, "{text}");
            }
        }
        assert_eq!(Body::parse(b"3").unwrap_err(), "a JSON-RPC message must be an object or an array of objects");
        assert!(Body::parse(br#"{"id":1,}"#).unwrap_err().starts_with("not JSON: "));
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

    #[test]
    fn trace_context_is_added_to_the_bytes_as_came() {
        let meta = r#""traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01""#;
        let expected_meta = json!({ "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" });
        let added = [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#,
            r#" { "params" : { } , "id" : "a" , "method" : "tools/list" } "#,
            // "params" in a string or nested deeper is not the message's.
            r#"{"id":"\"params\":{","method":"x","params":{"arguments":{"params":{"_meta":1}}, "name":"a"}}"#,
            // An escaped name is still the member it names.
            r#"{"id":2,"method":"x","par\u0061ms":{"name":"\u00e9"}}"#,
        ];
        for text in added {
            let with = with_params_meta(text, meta).unwrap_or_else(|| panic!("added to {text}"));
            let mut value: Value = serde_json::from_str(text).unwrap();
            value["params"].as_object_mut().unwrap().insert("_meta".into(), expected_meta.clone());
            assert_eq!(serde_json::from_str::<Value>(&with).unwrap(), value, "{text} became {with}");
        }
        let refused = [
            // A _meta of its own (escaped or not), a second params, params not an object, or no params.
            r#"{"id":1,"method":"x","params":{"_meta":{"progressToken":1}}}"#,
            r#"{"id":1,"method":"x","params":{"\u005fmeta":{}}}"#,
            r#"{"id":1,"method":"x","params":{},"params":{"name":"a"}}"#,
            r#"{"id":1,"method":"x","params":[1]}"#,
            r#"{"id":1,"method":"x"}"#,
            r#"[{"id":1,"method":"x","params":{}}]"#,
            r#"{"id":1,"method":"x","params":{}"#,
        ];
        for text in refused {
            assert_eq!(with_params_meta(text, meta), None, "{text}");
        }
    }
}
