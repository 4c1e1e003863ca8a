//! Sends the gateway's requests to a version's backend. Plain-HTTP
//! backends (the usual in-cluster case) go over a pooled hyper client:
//! reqwest's per-request layers (it re-parses the URL for its redirect
//! policy, and wraps every request in retry and timeout services) were a
//! tenth of the gateway's CPU per call in the profile (docs/benchmarks.md).
//! HTTPS backends go over reqwest, which carries the TLS setup.

use super::config::VersionConfig;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// How a request to a backend failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Nothing reached the backend: the connection could not be made.
    Connect,
    Timeout,
    /// The exchange broke after the request was sent.
    Broken,
}

#[derive(Debug, Clone)]
pub(crate) struct SendError {
    pub failure: Failure,
    /// The innermost cause, for the refusal and the call log.
    pub cause: String,
}

impl SendError {
    fn from_error(failure: Failure, err: &(dyn std::error::Error + 'static)) -> SendError {
        let mut cause = err;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let timed_out = cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut);
        SendError { failure: if timed_out { Failure::Timeout } else { failure }, cause: cause.to_string() }
    }

    fn from_hyper(err: &hyper_util::client::legacy::Error) -> SendError {
        SendError::from_error(if err.is_connect() { Failure::Connect } else { Failure::Broken }, err)
    }

    fn from_reqwest(err: &reqwest::Error) -> SendError {
        let failure = match () {
            _ if err.is_timeout() => Failure::Timeout,
            _ if err.is_connect() => Failure::Connect,
            _ => Failure::Broken,
        };
        SendError::from_error(failure, err)
    }

    /// Reading a response body failed.
    pub fn from_body(err: &axum::Error) -> SendError {
        SendError::from_error(Failure::Broken, err)
    }

    pub fn is_timeout(&self) -> bool {
        self.failure == Failure::Timeout
    }

    pub fn is_connect(&self) -> bool {
        self.failure == Failure::Connect
    }
}

pub(crate) struct Backends {
    plain: Client<HttpConnector, Full<Bytes>>,
    tls: reqwest::Client,
}

impl Backends {
    pub fn new(tls: reqwest::Client, connect_timeout: Duration, idle_timeout: Duration) -> Backends {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        let plain = Client::builder(TokioExecutor::new()).pool_idle_timeout(idle_timeout).build(connector);
        Backends { plain, tls }
    }

    /// The reqwest client, for what speaks more than one request (legacy SSE bridges).
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.tls
    }

    /// Sends one request to the version's backend; the response's body streams.
    pub async fn send(&self, version: &VersionConfig, method: Method, headers: HeaderMap, body: Bytes) -> Result<Response<Body>, SendError> {
        let Some(uri) = &version.plain_backend else {
            let request = self.tls.request(method, version.backend.clone()).headers(headers).body(body);
            let response = request.send().await.map_err(|e| SendError::from_reqwest(&e))?;
            return Ok(http::Response::from(response).map(Body::new));
        };
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = headers;
        let response = self.plain.request(request).await.map_err(|e| SendError::from_hyper(&e))?;
        Ok(response.map(Body::new))
    }
}

/// The whole body of a response.
pub(crate) async fn read_all(body: Body) -> Result<Bytes, SendError> {
    body.collect().await.map(|collected| collected.to_bytes()).map_err(|e| SendError::from_body(&e))
}
