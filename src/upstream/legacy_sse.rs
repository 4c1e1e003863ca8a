//! Bridges Streamable HTTP clients to backends that speak the legacy HTTP+SSE
//! transport (protocol 2024-11-05): one upstream SSE connection per client
//! session, requests POSTed to the endpoint it announces, and responses
//! matched back to the waiting POST by JSON-RPC id.

use crate::lock;
use crate::mcp::jsonrpc;
use futures::StreamExt;
use rand::RngCore;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Server-initiated messages kept for a client's GET stream.
const SERVER_MESSAGE_BUFFER: usize = 64;

type Waiters = Arc<Mutex<HashMap<jsonrpc::IdKey, oneshot::Sender<Value>>>>;

pub struct Bridge {
    endpoint: String,
    /// Requests awaiting their response, by JSON-RPC id; shared with the reader.
    pending: Waiters,
    server_messages: Mutex<Option<mpsc::Receiver<Value>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("the MCP server is unreachable: {0}")]
    Unreachable(String),
    #[error("the MCP server did not answer in time")]
    Timeout,
    #[error("the MCP server's SSE stream ended")]
    Closed,
    #[error("the MCP server refused the message with HTTP {0}")]
    Refused(u16),
}

impl BridgeError {
    /// The call log's and metrics' error type: a timeout is a timeout.
    pub fn error_type(&self) -> &'static str {
        match self {
            BridgeError::Timeout => "timeout",
            _ => "upstream_unavailable",
        }
    }
}

#[derive(Default)]
pub struct Bridges {
    by_session: Mutex<HashMap<String, Arc<Bridge>>>,
}

/// A gateway-issued session id: the legacy transport has none of its own.
fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Bridges {
    pub fn get(&self, session: &str) -> Option<Arc<Bridge>> {
        lock(&self.by_session).get(session).cloned()
    }

    pub fn end(&self, session: &str) -> bool {
        lock(&self.by_session).remove(session).is_some()
    }

    /// Opens a bridge for a client session, under a new session id.
    pub async fn open(
        &self,
        client: &reqwest::Client,
        backend: &str,
        headers: reqwest::header::HeaderMap,
        wait: Duration,
    ) -> Result<(String, Arc<Bridge>), BridgeError> {
        let bridge = Arc::new(Bridge::open(client, backend, headers, wait).await?);
        let session = new_session_id();
        lock(&self.by_session).insert(session.clone(), bridge.clone());
        Ok((session, bridge))
    }
}

/// Reads the upstream's SSE stream: the `endpoint` event once, responses to
/// their waiting requests, everything else to the client's GET stream.
async fn read_events(response: reqwest::Response, endpoint_tx: oneshot::Sender<String>, messages: mpsc::Sender<Value>, pending: Waiters) {
    let mut endpoint_tx = Some(endpoint_tx);
    let mut stream = response.bytes_stream();
    let mut reader = crate::mcp::sse::EventReader::default();
    while let Some(Ok(chunk)) = stream.next().await {
        for event in reader.push(&chunk) {
            if event.name == "endpoint" {
                if let Some(tx) = endpoint_tx.take() {
                    let _ = tx.send(event.data);
                }
                continue;
            }
            let Ok(message) = serde_json::from_str::<Value>(&event.data) else { continue };
            let waiter = jsonrpc::is_response(&message)
                .then(|| jsonrpc::id(&message).map(jsonrpc::id_key))
                .flatten()
                .and_then(|key| lock(&pending).remove(&key));
            match waiter {
                Some(waiter) => {
                    let _ = waiter.send(message);
                }
                None => {
                    let _ = messages.try_send(message);
                }
            }
        }
    }
}

impl Bridge {
    /// Opens the upstream SSE stream and waits for its `endpoint` event.
    pub async fn open(client: &reqwest::Client, backend: &str, headers: reqwest::header::HeaderMap, wait: Duration) -> Result<Bridge, BridgeError> {
        let request = client.get(backend).headers(headers).header("accept", "text/event-stream");
        let response = match tokio::time::timeout(wait, request.send()).await {
            Err(_) => return Err(BridgeError::Timeout),
            Ok(Err(err)) => return Err(BridgeError::Unreachable(err.to_string())),
            Ok(Ok(response)) => response,
        };
        if !response.status().is_success() {
            return Err(BridgeError::Refused(response.status().as_u16()));
        }
        let (endpoint_tx, endpoint_rx) = oneshot::channel();
        let (messages_tx, messages_rx) = mpsc::channel(SERVER_MESSAGE_BUFFER);
        let pending = Waiters::default();
        let reader = tokio::spawn(read_events(response, endpoint_tx, messages_tx, pending.clone()));
        let endpoint = match tokio::time::timeout(wait, endpoint_rx).await {
            Ok(Ok(path)) => path,
            Ok(Err(_)) => {
                reader.abort();
                return Err(BridgeError::Closed);
            }
            Err(_) => {
                reader.abort();
                return Err(BridgeError::Timeout);
            }
        };
        let endpoint = url::Url::parse(backend).and_then(|base| base.join(&endpoint)).map_err(|e| BridgeError::Unreachable(e.to_string()))?;
        Ok(Bridge { endpoint: endpoint.to_string(), pending, server_messages: Mutex::new(Some(messages_rx)), reader })
    }

    /// Sends messages and waits for the responses to the requests among them.
    pub async fn exchange<M: jsonrpc::Envelope + serde::Serialize>(
        &self,
        client: &reqwest::Client,
        headers: reqwest::header::HeaderMap,
        messages: &[M],
        wait: Duration,
    ) -> Result<Vec<Value>, BridgeError> {
        let mut receivers = Vec::new();
        for message in messages.iter().filter(jsonrpc::is_request) {
            let (tx, rx) = oneshot::channel();
            if let Some(id) = jsonrpc::id(message) {
                lock(&self.pending).insert(jsonrpc::id_key(id), tx);
                receivers.push(rx);
            }
        }
        for message in messages {
            let post = client.post(&self.endpoint).headers(headers.clone()).json(message);
            let response = match tokio::time::timeout(wait, post.send()).await {
                Err(_) => return Err(BridgeError::Timeout),
                Ok(Err(err)) => return Err(BridgeError::Unreachable(err.to_string())),
                Ok(Ok(response)) => response,
            };
            if !response.status().is_success() {
                return Err(BridgeError::Refused(response.status().as_u16()));
            }
        }
        let all = futures::future::join_all(receivers);
        match tokio::time::timeout(wait, all).await {
            Err(_) => Err(BridgeError::Timeout),
            Ok(results) => results.into_iter().map(|r| r.map_err(|_| BridgeError::Closed)).collect(),
        }
    }

    /// The server's own messages (requests, notifications) for the client's GET stream.
    pub fn take_server_messages(&self) -> Option<mpsc::Receiver<Value>> {
        lock(&self.server_messages).take()
    }
}
