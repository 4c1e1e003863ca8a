//! Hosting the provider the way go-plugin (and so Terraform) expects: the
//! magic cookie, the handshake line on stdout, automatic mutual TLS, the
//! controller, stdio and broker services, and health.

use super::proto::plugin as gp;
use super::proto::tfplugin6::provider_server::ProviderServer;
use super::service::ProviderService;
use base64::Engine;
use futures::StreamExt;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status, Streaming};

pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/mcpgate/mcp";
const CORE_PROTOCOL_VERSION: u32 = 1;
const PROTOCOL_VERSION: u32 = 6;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error(
        "This binary is a Terraform plugin. It is not meant to be run directly; Terraform starts it.\n\
         To use it, point Terraform at it (for development, a dev_overrides block for {PROVIDER_ADDRESS} in the CLI configuration),\n\
         or run it with --debug and export the TF_REATTACH_PROVIDERS value it prints."
    )]
    NotLaunchedByTerraform,
    #[error("cannot listen on loopback: {0}")]
    Listen(std::io::Error),
    #[error("automatic mTLS failed: {0}")]
    Tls(String),
    #[error("the gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// The `terraform-provider-mcp` process: a single-threaded runtime (one
/// Terraform walk talks to it at a time) around [`run`]. Built here, not in
/// the binary, so the gRPC server is compiled once, in this crate.
pub fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--version" || a == "-version") {
        println!("terraform-provider-mcp {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    init_logging();
    let debug = std::env::args().skip(1).any(|a| a == "--debug" || a == "-debug");
    let result = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(run(debug)).map_err(|e| e.to_string()),
        Err(err) => Err(format!("cannot start the async runtime: {err}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (stdout carries the handshake); TF_LOG_PROVIDER or
/// RUST_LOG sets the level, warnings by default.
fn init_logging() {
    let level = std::env::var("TF_LOG_PROVIDER").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "warn".into()).to_lowercase();
    let filter = tracing_subscriber::EnvFilter::try_new(&level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).try_init();
}

/// Runs the plugin until Terraform asks it to stop. With `debug`, skips the
/// cookie and TLS and prints a `TF_REATTACH_PROVIDERS` value instead.
async fn run(debug: bool) -> Result<(), PluginError> {
    if !debug && std::env::var(MAGIC_COOKIE_KEY).as_deref() != Ok(MAGIC_COOKIE_VALUE) {
        return Err(PluginError::NotLaunchedByTerraform);
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(PluginError::Listen)?;
    let addr = listener.local_addr().map_err(PluginError::Listen)?;
    let client_cert = std::env::var("PLUGIN_CLIENT_CERT").ok().filter(|c| !c.is_empty() && !debug);
    let tls = client_cert.as_deref().map(AutoMtls::new).transpose()?;
    let server_cert = tls.as_ref().map(|t| base64::engine::general_purpose::STANDARD_NO_PAD.encode(&t.server_cert)).unwrap_or_default();

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("plugin", tonic_health::ServingStatus::Serving).await;
    let router = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(ProviderServer::new(ProviderService::new()).max_decoding_message_size(256 * 1024 * 1024))
        .add_service(gp::grpc_controller_server::GrpcControllerServer::new(Controller))
        .add_service(gp::grpc_stdio_server::GrpcStdioServer::new(Stdio))
        .add_service(gp::grpc_broker_server::GrpcBrokerServer::new(Broker));

    if debug {
        print_reattach(addr);
    } else {
        // The handshake line is the only thing ever written to stdout.
        println!("{CORE_PROTOCOL_VERSION}|{PROTOCOL_VERSION}|tcp|{addr}|grpc|{server_cert}");
    }
    match tls {
        Some(tls) => router.serve_with_incoming_shutdown(tls.incoming(listener), crate::serve::shutdown_signal()).await?,
        None => {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|tcp| {
                let tcp = tcp?;
                tcp.set_nodelay(true)?;
                Ok::<_, std::io::Error>(tcp)
            });
            router.serve_with_incoming_shutdown(incoming, crate::serve::shutdown_signal()).await?
        }
    }
    Ok(())
}

fn print_reattach(addr: SocketAddr) {
    let value = serde_json::json!({
        PROVIDER_ADDRESS: {
            "Protocol": "grpc",
            "ProtocolVersion": PROTOCOL_VERSION,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": { "Network": "tcp", "String": addr.to_string() }
        }
    });
    println!("Provider started in debug mode. To attach Terraform, run in another shell:\n");
    println!("    export TF_REATTACH_PROVIDERS='{value}'\n");
    println!("Stop with ctrl-c.");
}

/// go-plugin's AutoMTLS: Terraform passes its client certificate in
/// PLUGIN_CLIENT_CERT; the plugin answers with a fresh self-signed server
/// certificate in the handshake line and accepts only that client.
struct AutoMtls {
    server_cert: Vec<u8>,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl AutoMtls {
    fn new(client_cert_pem: &str) -> Result<AutoMtls, PluginError> {
        let tls_error = |e: &dyn std::fmt::Display| PluginError::Tls(e.to_string());
        let client_cert = CertificateDer::from_pem_slice(client_cert_pem.as_bytes()).map_err(|e| tls_error(&e))?;
        let key = rcgen::KeyPair::generate().map_err(|e| tls_error(&e))?;
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).map_err(|e| tls_error(&e))?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "HashiCorp");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages =
            vec![rcgen::KeyUsagePurpose::DigitalSignature, rcgen::KeyUsagePurpose::KeyEncipherment, rcgen::KeyUsagePurpose::KeyCertSign];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.self_signed(&key).map_err(|e| tls_error(&e))?;
        let server_cert = cert.der().to_vec();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(PinnedClient { expected: client_cert.into_owned(), provider: provider.clone() });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(&e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![cert.der().clone()], PrivateKeyDer::Pkcs8(key.serialize_der().into()))
            .map_err(|e| tls_error(&e))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(AutoMtls { server_cert, acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)) })
    }

    fn incoming(self, listener: TcpListener) -> impl futures::Stream<Item = Result<TlsConnection, std::io::Error>> {
        futures::stream::unfold((listener, self.acceptor), |(listener, acceptor)| async move {
            loop {
                let (tcp, _) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(err) => return Some((Err(err), (listener, acceptor))),
                };
                // Small gRPC frames must not wait for Nagle's algorithm.
                let _ = tcp.set_nodelay(true);
                match acceptor.accept(tcp).await {
                    Ok(tls) => return Some((Ok(TlsConnection(tls)), (listener, acceptor))),
                    Err(err) => tracing::warn!(error = %err, "TLS handshake with Terraform failed"),
                }
            }
        })
    }
}

/// Accepts exactly the certificate Terraform announced. (It is its own CA,
/// which standard path validation refuses as an end-entity certificate.)
#[derive(Debug)]
struct PinnedClient {
    expected: CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientCertVerifier for PinnedClient {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::General("the client certificate is not the one Terraform announced".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if dss.scheme == SignatureScheme::ECDSA_NISTP521_SHA512 {
            return verify_p521(message, cert, dss.signature());
        }
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if dss.scheme == SignatureScheme::ECDSA_NISTP521_SHA512 {
            return verify_p521(message, cert, dss.signature());
        }
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let mut schemes = self.provider.signature_verification_algorithms.supported_schemes();
        schemes.push(SignatureScheme::ECDSA_NISTP521_SHA512);
        schemes
    }
}

/// go-plugin's client certificates are ECDSA P-521, which ring does not
/// verify; RustCrypto's p521 does. (aws-lc would, but seeds its RNG from CPU
/// jitter at every start, and Terraform starts providers several times a run.)
fn verify_p521(message: &[u8], cert: &CertificateDer<'_>, signature: &[u8]) -> Result<HandshakeSignatureValid, rustls::Error> {
    use p521::ecdsa::signature::Verifier;
    use p521::pkcs8::DecodePublicKey;
    let refuse = |what: &str| rustls::Error::General(format!("client certificate signature: {what}"));
    let end_entity = webpki::EndEntityCert::try_from(cert).map_err(|_| refuse("unreadable certificate"))?;
    let spki = end_entity.subject_public_key_info();
    let key = p521::ecdsa::VerifyingKey::from_public_key_der(spki.as_ref()).map_err(|_| refuse("not a P-521 key"))?;
    let signature = p521::ecdsa::Signature::from_der(signature).map_err(|_| refuse("malformed"))?;
    key.verify(message, &signature).map_err(|_| refuse("does not verify"))?;
    Ok(HandshakeSignatureValid::assertion())
}

struct TlsConnection(tokio_rustls::server::TlsStream<TcpStream>);

impl Connected for TlsConnection {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for TlsConnection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// GRPCController: Terraform's "you are done".
struct Controller;

#[tonic::async_trait]
impl gp::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _: Request<gp::Empty>) -> Result<Response<gp::Empty>, Status> {
        // Exit as soon as the reply is on its way, instead of making
        // Terraform wait out its kill timeout.
        tokio::spawn(async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            std::process::exit(0);
        });
        Ok(Response::new(gp::Empty {}))
    }
}

type Pending<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>>;

/// GRPCStdio: logs go to stderr directly, so the mirrored stream stays empty
/// (and open, as go-plugin expects).
struct Stdio;

#[tonic::async_trait]
impl gp::grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = Pending<gp::StdioData>;

    async fn stream_stdio(&self, _: Request<()>) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(Box::pin(futures::stream::pending())))
    }
}

/// GRPCBroker: the provider brokers no extra connections; the stream stays open.
struct Broker;

#[tonic::async_trait]
impl gp::grpc_broker_server::GrpcBroker for Broker {
    type StartStreamStream = Pending<gp::ConnInfo>;

    async fn start_stream(&self, request: Request<Streaming<gp::ConnInfo>>) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut incoming = request.into_inner();
        tokio::spawn(async move { while let Ok(Some(_)) = incoming.message().await {} });
        Ok(Response::new(Box::pin(futures::stream::pending())))
    }
}
