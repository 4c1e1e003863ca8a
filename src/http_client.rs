//! Outgoing HTTP (provider → management API, gateway → upstream MCP servers,
//! the CLI, OTLP export) is reqwest over rustls with *ring* as its crypto.
//! reqwest is built with `rustls-no-provider`: its default, aws-lc, is a
//! second C crypto library to compile and seeds jitter entropy at every
//! start, which Terraform pays once per provider process. So the process
//! default must be installed before any client is built; these functions do.

/// Installs *ring* as the process's rustls crypto provider, unless one
/// already is (then that one serves).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `reqwest::Client::builder()`, with the crypto provider in place.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}
