//! The request headers the gateway's steps read (the size check, the
//! credential, the session, the version asked for, what telemetry keeps,
//! the routing headers), found in one pass over the map. Each step asking
//! the map itself hashed the name and probed the table: nine lookups a
//! call, where one walk of a request's handful of headers matches them all.

use crate::mcp::revision::RoutingHeaders;
use axum::http::{HeaderMap, HeaderValue};

/// A request's headers as the gateway reads them: each one's first value.
#[derive(Debug, Default)]
pub(crate) struct RequestHeaders<'a> {
    /// Bytes of every name and value, 4 more per field (`: ` and CRLF).
    pub size: usize,
    host: Option<&'a HeaderValue>,
    subscription_key: Option<&'a HeaderValue>,
    authorization: Option<&'a HeaderValue>,
    session: Option<&'a HeaderValue>,
    server_version: Option<&'a HeaderValue>,
    pub routing: RoutingHeaders<'a>,
}

impl<'a> RequestHeaders<'a> {
    pub(crate) fn read(headers: &'a HeaderMap) -> RequestHeaders<'a> {
        let mut read = RequestHeaders::default();
        for (name, value) in headers {
            let name = name.as_str();
            read.size += name.len() + value.len() + 4;
            // The names as `HeaderName` keeps them (lowercase); a unit test
            // holds them to the constants they are sent under.
            let slot = match name {
                "host" => &mut read.host,
                "x-subscription-key" => &mut read.subscription_key,
                "authorization" => &mut read.authorization,
                "mcp-session-id" => &mut read.session,
                "mcp-server-version" => &mut read.server_version,
                _ => {
                    read.routing.see(name, value);
                    continue;
                }
            };
            slot.get_or_insert(value);
        }
        read
    }

    pub(crate) fn host(&self) -> Option<&'a str> {
        text(self.host)
    }

    pub(crate) fn subscription_key(&self) -> Option<&'a str> {
        text(self.subscription_key)
    }

    pub(crate) fn authorization(&self) -> Option<&'a str> {
        text(self.authorization)
    }

    /// `Mcp-Session-Id`.
    pub(crate) fn session(&self) -> Option<&'a str> {
        text(self.session)
    }

    /// `Mcp-Session-Id`'s first value as it came (what a product endpoint
    /// answers back).
    pub(crate) fn session_value(&self) -> Option<&'a HeaderValue> {
        self.session
    }

    /// `Mcp-Server-Version`: the version a caller asks for.
    pub(crate) fn server_version(&self) -> Option<&'a str> {
        text(self.server_version)
    }

    /// `MCP-Protocol-Version`, as telemetry reports it.
    pub(crate) fn protocol(&self) -> Option<&'a str> {
        text(self.routing.protocol())
    }
}

/// A header's first value as text, trimmed; none when empty or not text
/// (what `super::header` reads off a map).
fn text(value: Option<&HeaderValue>) -> Option<&str> {
    value.and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::revision;
    use axum::http::{header, HeaderName};

    #[test]
    fn one_pass_reads_what_each_lookup_read() {
        let names = [
            header::HOST,
            super::super::SUBSCRIPTION_KEY_HEADER,
            header::AUTHORIZATION,
            super::super::SESSION_HEADER,
            super::super::SERVER_VERSION_HEADER,
            revision::PROTOCOL_HEADER,
        ];
        let mut headers = HeaderMap::new();
        headers.append(header::ACCEPT, HeaderValue::from_static("application/json"));
        for (i, name) in names.iter().enumerate() {
            headers.append(name.clone(), HeaderValue::from_str(&format!(" value-{i} ")).unwrap());
            headers.append(name.clone(), HeaderValue::from_static("second"));
        }
        let read = RequestHeaders::read(&headers);
        let found = [read.host(), read.subscription_key(), read.authorization(), read.session(), read.server_version(), read.protocol()];
        for (name, found) in names.iter().zip(found) {
            assert_eq!(found, super::super::header(&headers, name), "{name}");
            assert!(found.is_some_and(|v| v.starts_with("value-")), "{name}: the first value, trimmed");
        }
        assert_eq!(read.session_value(), headers.get(super::super::SESSION_HEADER));
        let size: usize = headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum();
        assert_eq!(read.size, size);

        // An empty first value reads as absent, as the lookup read it.
        let mut blank = HeaderMap::new();
        blank.append(super::super::SESSION_HEADER, HeaderValue::from_static("  "));
        blank.append(super::super::SESSION_HEADER, HeaderValue::from_static("s-2"));
        assert_eq!(RequestHeaders::read(&blank).session(), None);
        assert_eq!(super::super::header(&blank, super::super::SESSION_HEADER), None);
        let unknown = HeaderName::from_static("x-other");
        assert_eq!(RequestHeaders::read(&HeaderMap::from_iter([(unknown, HeaderValue::from_static("v"))])).size, 12);
    }
}
