//! Sends the gateway's requests to a version's backend. Plain-HTTP
//! backends (the usual in-cluster case) go over a pooled hyper client:
//! reqwest's per-request layers (it re-parses the URL for its redirect
//! policy, and wraps every request in retry and timeout services) were a
//! tenth of the gateway's CPU per call in the profile (docs/benchmarks.md).
//! HTTPS backends go over reqwest, which carries the TLS setup.

use super::config::Target;
use super::listener::{connection_thread, connection_threads};
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;

/// How a request to a backend failed.
#[derive(Debug, Clone)]
pub(crate) struct SendError {
    /// Nothing reached the backend: the connection could not be made.
    pub connect: bool,
    /// Time ran out (connecting, or waiting for the answer).
    pub timeout: bool,
    /// The innermost cause, for the refusal and the call log.
    pub cause: String,
}

impl SendError {
    fn new(connect: bool, timeout: bool, err: &(dyn std::error::Error + 'static)) -> SendError {
        let mut cause = err;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let timed_out = cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut);
        SendError { connect, timeout: timeout || timed_out, cause: cause.to_string() }
    }

    fn from_hyper(err: &hyper_util::client::legacy::Error) -> SendError {
        SendError::new(err.is_connect(), false, err)
    }

    fn from_reqwest(err: &reqwest::Error) -> SendError {
        SendError::new(err.is_connect(), err.is_timeout(), err)
    }

    /// Reading a response body failed.
    fn from_body(err: &axum::Error) -> SendError {
        SendError::new(false, false, err)
    }

    pub fn is_timeout(&self) -> bool {
        self.timeout
    }

    pub fn is_connect(&self) -> bool {
        self.connect
    }
}

pub(crate) struct Backends {
    /// A pool per connection thread (and one for every other thread): an
    /// upstream connection is driven by a task on the thread that opened
    /// it, so a call that borrowed another thread's would cross threads
    /// twice.
    plain: Vec<Client<HttpConnector, Full<Bytes>>>,
    tls: reqwest::Client,
}

impl Backends {
    pub fn new(tls: reqwest::Client, connect_timeout: Duration, idle_timeout: Duration) -> Backends {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        // The timer lets the pool close idle connections itself, not only skip them at checkout.
        let pool = || Client::builder(TokioExecutor::new()).pool_idle_timeout(idle_timeout).pool_timer(TokioTimer::new()).build(connector.clone());
        Backends { plain: (0..=connection_threads()).map(|_| pool()).collect(), tls }
    }

    /// This thread's pool of plain-HTTP connections.
    fn plain(&self) -> &Client<HttpConnector, Full<Bytes>> {
        let slot = connection_thread().map_or(0, |thread| thread + 1);
        &self.plain[slot % self.plain.len()]
    }

    /// The reqwest client, for what speaks more than one request (legacy SSE bridges).
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.tls
    }

    /// Sends one request to `target`; the response's body streams.
    pub async fn send(&self, target: &Target, method: Method, headers: HeaderMap, body: Bytes) -> Result<Response<Body>, SendError> {
        let Some(uri) = &target.plain else {
            let request = self.tls.request(method, target.url.clone()).headers(headers).body(body);
            let response = request.send().await.map_err(|e| SendError::from_reqwest(&e))?;
            return Ok(http::Response::from(response).map(Body::new));
        };
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = headers;
        let response = self.plain().request(request).await.map_err(|e| SendError::from_hyper(&e))?;
        Ok(response.map(Body::new))
    }
}

/// The whole body of a response.
pub(crate) async fn read_all(body: Body) -> Result<Bytes, SendError> {
    body.collect().await.map(|collected| collected.to_bytes()).map_err(|e| SendError::from_body(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn version(url: &str) -> Target {
        Target::parse(url).unwrap()
    }

    /// A refused connection is a connect failure on either client: the
    /// gateway refunds the calls it charged, since nothing was served.
    #[tokio::test]
    async fn a_refused_connection_is_a_connect_failure_on_both_clients() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let backends = Backends::new(crate::http_client::client_builder().build().unwrap(), Duration::from_secs(2), Duration::from_secs(1));
        for url in [format!("http://{closed}/mcp"), format!("https://{closed}/mcp")] {
            let err = backends.send(&version(&url), Method::POST, HeaderMap::new(), Bytes::from_static(b"{}")).await.unwrap_err();
            assert!(err.is_connect() && !err.is_timeout(), "{url}: {err:?}");
            assert!(!err.cause.is_empty());
        }
    }

    /// A keep-alive HTTP/1.1 backend that answers `{}` to every request and
    /// counts the connections it accepted.
    async fn counting_backend() -> (String, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while let Ok(read) = socket.read(&mut chunk).await {
                        if read == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..read]);
                        // Each request is a head and a two-byte body (`{}`).
                        while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4 + 2) {
                            if buffer.len() < end {
                                break;
                            }
                            buffer.drain(..end);
                            let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                            if socket.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    /// Idle connections are reused within the idle timeout and closed after
    /// it by the pool itself, so a backend's own keep-alive timeout (Node's
    /// 5 s) never closes a connection as the gateway sends on it.
    #[tokio::test]
    async fn idle_backend_connections_are_reused_then_dropped() {
        let (url, accepted) = counting_backend().await;
        let idle = Duration::from_millis(300);
        let backends = Backends::new(crate::http_client::client_builder().build().unwrap(), Duration::from_secs(2), idle);
        let version = version(&url);
        let call = || async {
            let response = backends.send(&version, Method::POST, HeaderMap::new(), Bytes::from_static(b"{}")).await.unwrap();
            assert_eq!(read_all(response.into_body()).await.unwrap(), Bytes::from_static(b"{}"));
        };
        call().await;
        call().await;
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "a connection idle for less than the timeout is reused");
        tokio::time::sleep(idle * 3).await;
        call().await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "a connection idle for longer is not");
    }
}
