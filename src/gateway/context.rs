//! What telemetry reports about a call (`CallContext`): built from the
//! request's headers, its routing and its session, and kept per connection
//! thread, since a session's calls all describe themselves alike.

use super::access::Grant;
use super::request_headers::RequestHeaders;
use super::sessions::{ServerInfo, Session};
use crate::telemetry::observation::{prefix_chars, CallContext};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// What telemetry keeps of a request's headers: the address and port it
/// was sent to (`Host`) and the protocol revision it names, bounded.
#[derive(Clone, Default, Debug, PartialEq)]
pub(super) struct Asked<'a> {
    server_address: Option<Cow<'a, str>>,
    server_port: Option<u16>,
    protocol_version: Option<Cow<'a, str>>,
}

impl Asked<'_> {
    pub(super) fn of<'a>(headers: &RequestHeaders<'a>) -> Asked<'a> {
        let host = headers.host().unwrap_or_default();
        let (server_address, server_port) = match host.rsplit_once(':') {
            Some((address, port)) => (Some(address), port.parse().ok()),
            None => ((!host.is_empty()).then_some(host), None),
        };
        Asked {
            server_address: server_address.map(|a| Cow::Borrowed(prefix_chars(a, 256))),
            server_port,
            protocol_version: headers.protocol().map(|v| Cow::Borrowed(prefix_chars(v, 64))),
        }
    }

    /// The same, no longer borrowing the request (a product endpoint keeps it
    /// for every member it asks).
    pub(super) fn into_owned(self) -> Asked<'static> {
        Asked {
            server_address: self.server_address.map(|a| Cow::Owned(a.into_owned())),
            server_port: self.server_port,
            protocol_version: self.protocol_version.map(|v| Cow::Owned(v.into_owned())),
        }
    }
}

/// Everything a call's context is made of, borrowed from the request and
/// its routing: one place says both how a context is built and whether a
/// kept one is the one it would build.
pub(super) struct Source<'a> {
    pub server: &'a str,
    pub version: &'a str,
    pub grant: &'a Grant,
    pub session: Option<&'a Session>,
    pub asked: &'a Asked<'a>,
    pub client: SocketAddr,
    pub http_version: &'static str,
    /// What the upstream's `initialize` said of itself, when known.
    pub info: Option<&'a ServerInfo>,
}

impl Source<'_> {
    fn subscription(&self) -> Option<&str> {
        self.grant.subscription.as_ref().map(|s| s.name.as_str())
    }

    fn protocol_version(&self) -> Option<&str> {
        self.asked.protocol_version.as_deref().or_else(|| self.session.and_then(|s| s.protocol_version.as_deref()))
    }

    fn session_field(&self, field: fn(&Session) -> &Option<String>) -> Option<&str> {
        self.session.and_then(|s| field(s).as_deref())
    }

    fn info_field(&self, field: fn(&ServerInfo) -> &Option<String>) -> Option<&str> {
        self.info.and_then(|i| field(i).as_deref())
    }

    pub(super) fn context(&self) -> CallContext {
        let owned = |text: Option<&str>| text.map(str::to_string);
        CallContext {
            server: self.server.to_string(),
            version: self.version.to_string(),
            product: self.grant.product.name.clone(),
            subscription: owned(self.subscription()),
            auth_type: self.grant.auth_type(),
            user: self.grant.subject.clone(),
            session_id: self.session.map(|s| s.upstream.clone()),
            protocol_version: owned(self.protocol_version()),
            client_name: owned(self.session_field(|s| &s.client_name)),
            client_version: owned(self.session_field(|s| &s.client_version)),
            server_name: owned(self.info_field(|i| &i.name)),
            server_version: owned(self.info_field(|i| &i.version)),
            client_address: Some(self.client.ip()),
            client_port: Some(self.client.port()),
            server_address: owned(self.asked.server_address.as_deref()),
            server_port: self.asked.server_port,
            http_version: self.http_version,
            endpoint: None,
        }
    }

    /// Whether `context` is the one [`Source::context`] builds, compared
    /// field by field (every field named: a new one must be compared too).
    fn built(&self, context: &CallContext) -> bool {
        let CallContext {
            server,
            version,
            product,
            subscription,
            auth_type,
            user,
            session_id,
            protocol_version,
            client_name,
            client_version,
            server_name,
            server_version,
            client_address,
            client_port,
            server_address,
            server_port,
            http_version,
            endpoint,
        } = context;
        server == self.server
            && version == self.version
            && *product == self.grant.product.name
            && subscription.as_deref() == self.subscription()
            && *auth_type == self.grant.auth_type()
            && *user == self.grant.subject
            && session_id.as_deref() == self.session.map(|s| s.upstream.as_str())
            && protocol_version.as_deref() == self.protocol_version()
            && client_name.as_deref() == self.session_field(|s| &s.client_name)
            && client_version.as_deref() == self.session_field(|s| &s.client_version)
            && server_name.as_deref() == self.info_field(|i| &i.name)
            && server_version.as_deref() == self.info_field(|i| &i.version)
            && *client_address == Some(self.client.ip())
            && *client_port == Some(self.client.port())
            && server_address.as_deref() == self.asked.server_address.as_deref()
            && *server_port == self.asked.server_port
            && *http_version == self.http_version
            && endpoint.is_none()
    }
}

/// The last context a connection's calls were given. A session's calls
/// (and a client's, without one) describe themselves alike, so most calls
/// share it instead of copying nine names into a new one; a connection
/// whose calls differ builds afresh. Shared, never changed in place: what
/// changes a call's context (`initialize`, a new session) copies it first
/// (`Arc::make_mut`). Kept per connection, not per thread: a connection
/// thread serves many connections, and their calls interleave.
#[derive(Default)]
pub(crate) struct LastContext(Mutex<Option<Arc<CallContext>>>);

impl LastContext {
    /// The context `source` describes: the last one when it is that, else
    /// a new one, kept as the last.
    pub(super) fn context(&self, source: &Source) -> Arc<CallContext> {
        // Only this connection's calls lock it, one at a time unless pipelined.
        let mut last = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(context) = last.as_ref().filter(|context| source.built(context)) {
            return context.clone();
        }
        let context = Arc::new(source.context());
        *last = Some(context.clone());
        context
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::access::AuthType;
    use crate::gateway::config::ProductConfig;
    use crate::gateway::policy::PolicyChain;
    use axum::http::{header, HeaderMap};

    fn grant(product: &str, subject: Option<&str>) -> Grant {
        let config = ProductConfig {
            name: product.to_string(),
            spec: serde_json::from_value(serde_json::json!({})).unwrap(),
            servers: Default::default(),
            policies: Arc::new(PolicyChain::compile(product.to_string(), &[])),
            members: Vec::new(),
        };
        Grant {
            subscription: None,
            product: Arc::new(config),
            auth: if subject.is_some() { AuthType::OAuthToken } else { AuthType::None },
            subject: subject.map(str::to_string),
            claims: None,
        }
    }

    fn session(upstream: &str, client: Option<&str>, protocol: Option<&str>) -> Session {
        Session {
            server: "echo".into(),
            version: "v1".into(),
            owner: "o".into(),
            upstream: upstream.into(),
            started: 0,
            client_name: client.map(str::to_string),
            client_version: None,
            protocol_version: protocol.map(str::to_string),
        }
    }

    #[test]
    fn a_kept_context_is_shared_only_while_every_input_matches() {
        let (first, second) = (grant("p1", None), grant("p2", Some("alice")));
        let (one, other) = (session("u1", Some("cli"), Some("2025-06-18")), session("u2", None, None));
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "gw.example:8080".parse().unwrap());
        let asked = Asked::of(&RequestHeaders::read(&headers));
        let plain = Asked::default();
        let info = ServerInfo { name: Some("srv".into()), version: Some("1.0".into()), ..ServerInfo::default() };
        let client: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let base =
            Source { server: "echo", version: "v1", grant: &first, session: Some(&one), asked: &asked, client, http_version: "1.1", info: None };
        let variants = [
            Source { server: "other", ..base },
            Source { version: "v2", ..base },
            Source { grant: &second, ..base },
            Source { session: Some(&other), ..base },
            Source { session: None, ..base },
            Source { asked: &plain, ..base },
            Source { client: "10.0.0.1:4001".parse().unwrap(), ..base },
            Source { client: "10.0.0.2:4000".parse().unwrap(), ..base },
            Source { http_version: "2", ..base },
            Source { info: Some(&info), ..base },
        ];
        let connection = LastContext::default();
        let shared = |source: &Source| connection.context(source);
        let kept = shared(&base);
        assert!(Arc::ptr_eq(&kept, &shared(&base)), "the same inputs share the kept context");
        assert_eq!(kept.server_port, Some(8080));
        assert_eq!(kept.client_name.as_deref(), Some("cli"));
        for variant in &variants {
            let context = shared(variant);
            assert!(!Arc::ptr_eq(&context, &kept));
            assert_eq!(*context, variant.context(), "a changed input builds its own context");
            assert!(Arc::ptr_eq(&context, &shared(variant)));
            assert_ne!(*context, *kept);
        }
        assert_eq!(*shared(&base), base.context());
    }
}
