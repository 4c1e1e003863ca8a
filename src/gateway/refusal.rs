//! Refusals: an HTTP status that says what happened, and a JSON-RPC error
//! body (with the request ids when known) that MCP clients can show.

use crate::mcp::jsonrpc;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: i64,
    /// `data.reason`, machine-readable.
    pub reason: &'static str,
    pub message: String,
    /// Further `data` fields.
    pub data: serde_json::Map<String, Value>,
    pub headers: HeaderMap,
}

impl Refusal {
    /// A refusal whose JSON-RPC code follows its status: the caller's
    /// request refused (4xx) is -32600, a failure on the gateway's or the
    /// upstream's side (5xx) is -32603. Both are codes the specification
    /// defines; which refusal it is, `data.reason` says.
    pub fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Refusal {
        let code = if status.is_server_error() { jsonrpc::INTERNAL_ERROR } else { jsonrpc::INVALID_REQUEST };
        Refusal { status, code, reason, message: message.into(), data: Default::default(), headers: HeaderMap::new() }
    }

    pub fn with_code(mut self, code: i64) -> Refusal {
        self.code = code;
        self
    }

    pub fn with_data(mut self, key: &str, value: Value) -> Refusal {
        self.data.insert(key.to_string(), value);
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Refusal {
        self.headers.insert(name, value);
        self
    }

    pub fn error_for(&self, id: Option<&Value>) -> Value {
        let mut data = self.data.clone();
        data.insert("reason".into(), json!(self.reason));
        jsonrpc::error(id, self.code, &self.message, Some(Value::Object(data)))
    }

    /// The reply: one error per request of the body (an array for a batch).
    pub fn respond(self, requests: &RequestIds) -> Response {
        let body = if requests.batch && !requests.ids.is_empty() {
            Value::Array(requests.ids.iter().map(|id| self.error_for(Some(id))).collect())
        } else {
            self.error_for(requests.ids.first())
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().extend(self.headers);
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

/// The ids of the requests in a body, for addressing error replies.
#[derive(Debug, Clone, Default)]
pub struct RequestIds {
    pub ids: Vec<Value>,
    pub batch: bool,
}

impl RequestIds {
    pub fn of(body: &jsonrpc::Body) -> RequestIds {
        let ids = body.messages().iter().filter(jsonrpc::is_request).filter_map(|m| jsonrpc::id(m).cloned()).collect();
        RequestIds { ids, batch: body.is_batch() }
    }
}
