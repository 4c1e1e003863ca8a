//! The gateway's accept loop: TCP_NODELAY on every connection (responses
//! go out as soon as they are written), a request head of up to 1 MiB so
//! oversized headers usually reach the handler's own JSON-RPC 431, and
//! graceful shutdown. Past 1 MiB the HTTP layer refuses the head itself,
//! with an empty 431; [`HeadRefusals`] gives that one a JSON-RPC body too,
//! so every refusal a client meets says what happened.
//!
//! Connections are served on connection threads, one per core, each a
//! single-threaded runtime: a call's request, its upstream exchange (the
//! thread's own pool of upstream connections) and its answer stay on one
//! thread. On tokio's work-stealing runtime a call woke the other worker
//! several times (futex and eventfd writes, with nothing for it to steal),
//! about a fifth of mcpgate's CPU per call at saturation (docs/benchmarks.md,
//! seventh pass); idle latency did not change.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Largest request head the HTTP layer reads; the handler refuses heads
/// over `GatewaySettings::max_header_bytes` (32 KiB) with a JSON-RPC 431.
pub const MAX_HEAD_BYTES: usize = 1024 * 1024;

thread_local! {
    /// Which connection thread this is (none: a thread of the main runtime).
    static CONNECTION_THREAD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// How many connection threads serve the gateway: one per core.
pub(crate) fn connection_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The connection thread the caller runs on, if it is one.
pub(crate) fn connection_thread() -> Option<usize> {
    CONNECTION_THREAD.with(Cell::get)
}

/// An accepted connection, on its way to a connection thread, with the
/// graceful-shutdown watch it is served under.
struct Accepted {
    stream: std::net::TcpStream,
    peer: SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open
/// connections finish (at most 10 s); the connection threads end with it.
pub async fn serve(listener: TcpListener, router: axum::Router, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    ConnectionThreads::start(router)?.serve(listener, shutdown).await
}

/// The connection threads. Dropping this ends them, and the runtimes they
/// run: drop it only after the store's last use, since a store connection
/// opened by a call (PostgreSQL, Redis) is driven by its thread's runtime.
pub struct ConnectionThreads {
    threads: Vec<mpsc::UnboundedSender<Accepted>>,
}

impl ConnectionThreads {
    /// One thread per core, each serving `router` on the connections it is given.
    pub fn start(router: axum::Router) -> io::Result<ConnectionThreads> {
        let threads = (0..connection_threads()).map(|index| start_connection_thread(index, router.clone())).collect::<io::Result<_>>()?;
        Ok(ConnectionThreads { threads })
    }

    /// Accepts connections on `listener`, handing them to the threads in
    /// turn, until `shutdown` resolves; then lets open connections finish
    /// (at most 10 s).
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut next = 0;
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors and the like: wait, don't spin.
                        tracing::warn!(error = %err, "accepting a gateway connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let stream = match stream.into_std() {
                Ok(stream) => stream,
                Err(err) => {
                    tracing::warn!(error = %err, "handing a gateway connection to its thread failed");
                    continue;
                }
            };
            // In turn: connections are long-lived and alike.
            next = (next + 1) % self.threads.len();
            if self.threads[next].send(Accepted { stream, peer, watcher: graceful.watcher() }).is_err() {
                return Err(io::Error::other("a gateway connection thread has stopped"));
            }
        }
        drop(listener);
        if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await.is_err() {
            tracing::warn!("gateway connections still open after 10 s; closing them");
        }
        Ok(())
    }
}

/// Starts connection thread `index`: it serves the connections sent to it
/// until the sender is dropped.
fn start_connection_thread(index: usize, router: axum::Router) -> io::Result<mpsc::UnboundedSender<Accepted>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (sender, mut accepted) = mpsc::unbounded_channel::<Accepted>();
    std::thread::Builder::new().name(format!("mcpgate-gateway-{index}")).spawn(move || {
        CONNECTION_THREAD.with(|thread| thread.set(Some(index)));
        runtime.block_on(async move {
            let http = http_builder();
            while let Some(Accepted { stream, peer, watcher }) = accepted.recv().await {
                match TcpStream::from_std(stream) {
                    Ok(stream) => serve_connection(&http, stream, peer, watcher, router.clone()),
                    Err(err) => tracing::warn!(error = %err, "taking a gateway connection onto its thread failed"),
                }
            }
        });
    })?;
    Ok(sender)
}

type HttpBuilder = hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>;

fn http_builder() -> HttpBuilder {
    let mut builder = HttpBuilder::new(hyper_util::rt::TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(1000)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder
}

/// The connection a request came on (`ConnectInfo<Connection>`): its
/// peer, and what its calls keep between them.
#[derive(Clone)]
pub(crate) struct Connection {
    pub peer: SocketAddr,
    pub(super) kept: std::sync::Arc<Kept>,
}

/// What a connection's calls keep between them, each the last call's and
/// checked before it is reused: a client's calls on one connection usually
/// name one session and describe themselves alike.
#[derive(Default)]
pub(crate) struct Kept {
    pub(super) context: super::context::LastContext,
    pub(super) session: super::sessions::LastSession,
    pub(super) key: super::access::LastKey,
}

/// Serves one connection on the current thread's runtime.
fn serve_connection(http: &HttpBuilder, stream: TcpStream, peer: SocketAddr, watcher: hyper_util::server::graceful::Watcher, router: axum::Router) {
    use tower::Service;
    let connection = Connection { peer, kept: Default::default() };
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(axum::extract::ConnectInfo(connection.clone()));
        router.clone().call(request)
    });
    let connection = http.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(HeadRefusals::new(stream)), service).into_owned();
    tokio::spawn(watcher.watch(connection));
}

/// The head hyper writes when it refuses a request head larger than
/// `max_buf_size` itself: a 431 with no body (the handler's own 431 always
/// has one, so the two are told apart).
fn is_bare_431(head: &[u8]) -> bool {
    const STATUS: &[u8] = b"HTTP/1.1 431 ";
    const EMPTY: &[u8] = b"\r\ncontent-length: 0\r\n";
    head.starts_with(STATUS) && head.windows(EMPTY.len()).any(|w| w.eq_ignore_ascii_case(EMPTY))
}

/// What the client gets instead of a bare 431: the JSON-RPC error the
/// handler would have written, and the end of the connection.
fn json_rpc_431() -> Vec<u8> {
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": null, "error": {
        "code": crate::mcp::jsonrpc::INVALID_REQUEST,
        "message": format!("the request headers exceed {MAX_HEAD_BYTES} bytes"),
        "data": { "reason": "headers_too_large" },
    } })
    .to_string();
    let head = format!(
        "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    [head.into_bytes(), body.into_bytes()].concat()
}

/// A connection whose bare 431 (see [`is_bare_431`]) is rewritten on its
/// way out; every other byte passes as it is.
struct HeadRefusals<T> {
    inner: T,
    /// A rewritten 431 being written: its bytes, how many are out, and the
    /// length of the write it stands for.
    rewriting: Option<(Vec<u8>, usize, usize)>,
}

impl<T> HeadRefusals<T> {
    fn new(inner: T) -> HeadRefusals<T> {
        HeadRefusals { inner, rewriting: None }
    }
}

impl<T: AsyncWrite + Unpin> HeadRefusals<T> {
    /// Writes the rewritten 431 to the end; reports the original write done.
    fn poll_rewrite(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        while let Some((bytes, written, stands_for)) = &mut self.rewriting {
            if *written == bytes.len() {
                let done = *stands_for;
                self.rewriting = None;
                return Poll::Ready(Ok(done));
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                other => return other,
            }
        }
        Poll::Ready(Ok(0))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for HeadRefusals<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeadRefusals<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.rewriting.is_none() && is_bare_431(buf) {
            self.rewriting = Some((json_rpc_431(), 0, buf.len()));
        }
        if self.rewriting.is_some() {
            return self.poll_rewrite(cx);
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        // A response's head is always its first slice.
        if self.rewriting.is_none() && bufs.first().is_some_and(|head| is_bare_431(head)) {
            let total = bufs.iter().map(|b| b.len()).sum();
            self.rewriting = Some((json_rpc_431(), 0, total));
        }
        if self.rewriting.is_some() {
            return self.poll_rewrite(cx);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn only_the_http_layer_s_bare_431_is_rewritten() {
        assert!(is_bare_431(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n"));
        assert!(!is_bare_431(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 120\r\n\r\n"));
        assert!(!is_bare_431(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
    }

    /// A real hyper server behind the loop, sent a head past the limit.
    #[tokio::test]
    async fn a_head_past_the_http_layer_s_limit_gets_a_json_rpc_431() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = axum::Router::new().route("/mcp/{server}", axum::routing::post(|| async { "served" }));
        tokio::spawn(serve(listener, router, std::future::pending()));
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let head = format!("POST /mcp/x HTTP/1.1\r\nhost: a\r\nx-padding: {}\r\ncontent-length: 0\r\n\r\n", "p".repeat(MAX_HEAD_BYTES + 1024));
        // The server may stop reading once it has seen enough.
        let _ = stream.write_all(head.as_bytes()).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let body: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
        assert_eq!(body["error"]["code"], -32600);
        assert_eq!(body["error"]["data"]["reason"], "headers_too_large");
    }

    /// A connection's requests are all served on one connection thread,
    /// connections are spread over the threads, and shutdown still lets the
    /// loop end.
    #[tokio::test]
    async fn a_connection_stays_on_its_thread_and_connections_are_spread() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = axum::Router::new().route("/thread", axum::routing::get(|| async { format!("{:?}", connection_thread()) }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(serve(listener, router, async {
            let _ = stopped.await;
        }));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..connection_threads() {
            // A client of its own: a connection of its own.
            let client = crate::http_client::client_builder().build().unwrap();
            let mut threads = std::collections::BTreeSet::new();
            for _ in 0..3 {
                threads.insert(client.get(format!("http://{address}/thread")).send().await.unwrap().text().await.unwrap());
            }
            assert_eq!(threads.len(), 1, "one connection, one thread: {threads:?}");
            let thread = threads.into_iter().next().unwrap();
            assert!(thread.starts_with("Some("), "served on a connection thread: {thread}");
            seen.insert(thread);
        }
        assert_eq!(seen.len(), connection_threads(), "each thread took one of the connections: {seen:?}");
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(15), served).await.expect("the loop ends on shutdown").unwrap().unwrap();
    }
}
