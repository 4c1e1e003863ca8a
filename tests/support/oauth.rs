//! A real OAuth 2.1 / OIDC authorization server (npm `oauth2-mock-server`,
//! driven by `testdata/oauth/issuer.mjs`) as a child process, killed on drop.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct Issuer {
    pub url: String,
    child: Child,
    client: reqwest::Client,
}

/// Where scripts/test.sh installed oauth2-mock-server (override: MCPGATE_OAUTH_SERVER_JS).
fn module() -> PathBuf {
    match std::env::var("MCPGATE_OAUTH_SERVER_JS") {
        Ok(path) => PathBuf::from(path),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/node/node_modules/oauth2-mock-server/dist/index.mjs"),
    }
}

impl Issuer {
    /// An issuer signing with RS256, ES256 and EdDSA keys in turn; the
    /// authorization-code grant issues tokens for `subject`.
    pub fn start(subject: &str) -> Issuer {
        let module = module();
        assert!(module.exists(), "{} is missing: run ./scripts/test.sh once to install the test tools", module.display());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/oauth/issuer.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .env("MCPGATE_OAUTH_SERVER_JS", &module)
            .env("MCPGATE_TEST_ALGS", "RS256,ES256,EdDSA")
            .env("MCPGATE_TEST_SUBJECT", subject)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the issuer prints its URL");
        let started: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("issuer said {line:?}: {e}"));
        let url = started["url"].as_str().expect("url").to_string();
        Issuer { url, child, client: mcpgate::http_client::client_builder().build().expect("HTTP client") }
    }

    /// A token signed by this issuer with `claims` (over its defaults: `iss`, `iat`, `exp`, `nbf`).
    pub async fn token(&self, claims: Value) -> String {
        self.token_expiring(claims, 3600).await
    }

    pub async fn token_expiring(&self, claims: Value, expires_in: i64) -> String {
        let reply: Value = self
            .client
            .post(format!("{}/test/token", self.url))
            .json(&json!({ "claims": claims, "expires_in": expires_in }))
            .send()
            .await
            .expect("issuer answers")
            .json()
            .await
            .expect("JSON");
        reply["token"].as_str().expect("token").to_string()
    }

    /// How many requests of each kind the issuer served (`jwks`, `client_credentials`, ...).
    pub async fn stats(&self) -> Value {
        self.client.get(format!("{}/test/stats", self.url)).send().await.expect("issuer answers").json().await.expect("JSON")
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
