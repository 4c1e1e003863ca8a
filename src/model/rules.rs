//! Field rules used by several resources. Each returns the [`Reason`] a value
//! is refused for, so callers attach their own field path.

use super::error::{Reason, ValidationErrors};
use regex::Regex;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::sync::LazyLock;

pub const MAX_NAME_LEN: usize = 63;
pub const MAX_TEXT_LEN: usize = 4096;
pub const MAX_LABEL_LEN: usize = 256;

/// The rules below that are patterns, stated once: validation matches them,
/// and the OpenAPI document publishes them, so the two cannot disagree.
pub const NAME_PATTERN: &str = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
/// An absolute http(s) URL to a DNS name (its last label starting with a
/// letter, as URL parsers otherwise read the host as an IPv4 number) or a
/// dotted IPv4 address, optional port, path and query (no user info, no
/// fragment, no IPv6 literal). No label starts with `xn--`: URL parsers
/// decode those as punycode and refuse most of them, which a pattern cannot
/// tell apart (and the `regex` crate has no lookahead), so IDN hosts are out.
pub const BACKEND_URL_PATTERN: &str = concat!(
    "^https?://",
    "(",
    // Labels of 1-3 characters, or longer ones not starting with `xn--`
    // (first character not x; x then not n; xn then not -; xn- then not -).
    "(([A-Za-z0-9]([A-Za-z0-9-]?[A-Za-z0-9])?|[A-WYZa-wyz0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]|[Xx][A-MO-Za-mo-z0-9-][A-Za-z0-9-]{1,60}[A-Za-z0-9]",
    "|[Xx][Nn][A-Za-z0-9][A-Za-z0-9-]{0,59}[A-Za-z0-9]|[Xx][Nn]-[A-Za-z0-9]([A-Za-z0-9-]{0,58}[A-Za-z0-9])?)\\.)*",
    // The last label starts with a letter.
    "([A-Za-z]([A-Za-z0-9-]?[A-Za-z0-9])?|[A-WYZa-wyz][A-Za-z0-9-]{2,61}[A-Za-z0-9]|[Xx][A-MO-Za-mo-z0-9-][A-Za-z0-9-]{1,60}[A-Za-z0-9]",
    "|[Xx][Nn][A-Za-z0-9][A-Za-z0-9-]{0,59}[A-Za-z0-9]|[Xx][Nn]-[A-Za-z0-9]([A-Za-z0-9-]{0,58}[A-Za-z0-9])?)",
    "|",
    "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}",
    ")",
    "(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?",
    "(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?",
    "(\\?[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*)?$"
);
/// An HTTP header name (RFC 9110 token).
pub const HEADER_NAME_PATTERN: &str = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
/// An HTTP header value: visible ASCII, spaces and tabs.
pub const HEADER_VALUE_PATTERN: &str = "^[\\t -~]*$";
/// A tool name (MCP: letters, digits, `_`, `-`, `.`; also `:` and `/`, which servers use for namespaces).
pub const TOOL_NAME_PATTERN: &str = "^[A-Za-z0-9_.:/-]{1,128}$";
/// A tool allow-list entry: a tool name, or a glob of one with `*` and `?`.
pub const TOOL_GLOB_PATTERN: &str = "^[A-Za-z0-9_.:/*?-]{1,128}$";
pub const MAX_HEADER_VALUE_LEN: usize = 4096;

fn matches(pattern: &'static LazyLock<Regex>, value: &str) -> bool {
    pattern.is_match(value)
}

static BACKEND_URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(BACKEND_URL_PATTERN).unwrap_or_else(|e| unreachable!("the URL pattern compiles: {e}")));
static HEADER_VALUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(HEADER_VALUE_PATTERN).unwrap_or_else(|e| unreachable!("the header value pattern compiles: {e}")));
static TOOL_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(TOOL_NAME_PATTERN).unwrap_or_else(|e| unreachable!("the tool name pattern compiles: {e}")));
static TOOL_GLOB: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(TOOL_GLOB_PATTERN).unwrap_or_else(|e| unreachable!("the tool glob pattern compiles: {e}")));

/// Resource names are slugs: `[a-z0-9-]{1,63}`, not starting or ending with `-`.
pub fn name(value: &str) -> Result<(), Reason> {
    let valid_chars = value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok = !value.is_empty() && value.len() <= MAX_NAME_LEN && valid_chars && !value.starts_with('-') && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Reason::BadName)
    }
}

pub fn max_len(value: &str, max: usize) -> Result<(), Reason> {
    if value.chars().count() > max {
        Err(Reason::TooLong { max })
    } else {
        Ok(())
    }
}

/// Bounds on the collections a resource holds, so no document grows without limit.
pub const MAX_TAGS: usize = 64;
pub const MAX_TOOL_PATTERNS: usize = 256;
pub const MAX_LISTED_VERSIONS: usize = 64;
pub const MAX_BACKEND_HEADERS: usize = 32;
pub const MAX_TOOL_COSTS: usize = 1024;

pub fn max_entries(count: usize, max: usize) -> Result<(), Reason> {
    if count > max {
        Err(Reason::TooMany { max })
    } else {
        Ok(())
    }
}

pub fn range(value: i64, min: i64, max: i64) -> Result<(), Reason> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Reason::OutOfRange { min, max })
    }
}

/// An absolute `http` or `https` URL with a host ([`BACKEND_URL_PATTERN`]).
pub fn http_url(value: &str) -> Result<url::Url, Reason> {
    if value.len() > MAX_TEXT_LEN || !matches(&BACKEND_URL, value) {
        return Err(Reason::BadUrl);
    }
    url::Url::parse(value).map_err(|_| Reason::BadUrl)
}

/// A tool name ([`TOOL_NAME_PATTERN`]).
pub fn tool_name(value: &str) -> Result<(), Reason> {
    if matches(&TOOL_NAME, value) {
        Ok(())
    } else {
        Err(Reason::BadToolName)
    }
}

/// A tool definition's hash: SHA-256, lowercase hex.
pub const DEFINITION_HASH_PATTERN: &str = "^[0-9a-f]{64}$";

pub fn definition_hash(value: &str) -> Result<(), Reason> {
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(Reason::Malformed { message: "must be a tool definition's SHA-256, 64 lowercase hex digits (mcp_server_tools shows them)".into() })
    }
}

/// A tool allow-list entry ([`TOOL_GLOB_PATTERN`]).
pub fn tool_glob(value: &str) -> Result<(), Reason> {
    if value.is_empty() {
        return Err(Reason::Empty);
    }
    if matches(&TOOL_GLOB, value) {
        Ok(())
    } else {
        Err(Reason::BadPattern)
    }
}

/// Headers the gateway owns on the upstream leg; a version may not set them.
pub const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "x-subscription-key",
    "traceparent",
    "tracestate",
];

pub fn backend_header(name: &str, value: &str) -> Result<(), Reason> {
    let parsed = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| Reason::BadHeaderName)?;
    if RESERVED_HEADERS.contains(&parsed.as_str()) {
        return Err(Reason::ReservedHeader);
    }
    if value.len() > MAX_HEADER_VALUE_LEN || !matches(&HEADER_VALUE, value) {
        return Err(Reason::BadHeaderValue);
    }
    Ok(())
}

/// Rejects the second and later occurrences of a value.
pub fn unique<'a>(errors: &mut ValidationErrors, field: &str, values: impl IntoIterator<Item = &'a String>) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, v) in values.into_iter().enumerate() {
        if !seen.insert(v) {
            errors.add(format!("{field}[{i}]"), Reason::Duplicate { value: v.clone() });
        }
    }
}

/// Deserializes an integer field, taking `41.0` as 41: JSON Schema counts
/// integral numbers as integers, however they are written.
pub fn integral<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    use serde::de::Error;
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(n) = number.as_i64() {
        return Ok(n);
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f <= i64::MAX as f64 => Ok(f as i64),
        _ => Err(D::Error::custom(format!("invalid type: {number} is not an integer, expected i64"))),
    }
}

/// [`integral`] for an optional field.
pub fn integral_opt<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "integral")] i64);
    Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(n)| n))
}

/// Decodes a JSON document into `T`, turning serde's complaints into field
/// errors with the path of the offending field.
pub fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ValidationErrors> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let parent = err.path().to_string();
        let message = err.inner().to_string();
        // An empty key still needs a visible name.
        let named = |child: &str| if child.is_empty() { "\"\"".to_string() } else { child.to_string() };
        let join = |child: &str| if parent == "." || parent.is_empty() { named(child) } else { format!("{parent}.{}", named(child)) };
        let (field, reason) = if let Some(name) = quoted_after(&message, "unknown field `") {
            // The path already ends at the unknown field.
            let field = if !name.is_empty() && parent.ends_with(&name) { parent.clone() } else { join(&name) };
            (field, Reason::UnknownField)
        } else if let Some(name) = quoted_after(&message, "missing field `") {
            (join(&name), Reason::Required)
        } else {
            let field = if parent == "." { "body".to_string() } else { parent };
            (field, Reason::Malformed { message: strip_position(&message) })
        };
        ValidationErrors::single(field, reason)
    })
}

fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next().map(str::to_string)
}

/// serde_json appends "at line 1 column 7", meaningless for a parsed value.
fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "v1", "get-sum", "a-b-c", &"x".repeat(63)] {
            assert_eq!(name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "A", "-a", "a-", "a_b", "a.b", "é", &"x".repeat(64)] {
            assert_eq!(name(bad), Err(Reason::BadName), "{bad}");
        }
    }

    #[test]
    fn urls() {
        assert!(http_url("http://127.0.0.1:3001/mcp").is_ok());
        assert!(http_url("https://example.com").is_ok());
        assert!(http_url("http://tools.internal:8080/mcp?tenant=a").is_ok());
        for near_punycode in
            ["http://x.y", "http://xn.io", "http://xna-b.io", "http://xn-a.io", "http://x-n--a.io", "http://ab--cd.xn-a", "http://a.b.c.d.e"]
        {
            assert!(http_url(near_punycode).is_ok(), "{near_punycode}");
        }
        for bad in [
            "http://xN--AAA0aA.a",
            "http://xn--bcher-kva.example",
            "http://example.XN--p1ai",
            "ftp://x",
            "127.0.0.1:80",
            "http://",
            "file:///etc/passwd",
            "not a url",
            "http://a:65536",
            "http://user@host",
            "http://h/#f",
            "http://[::1]/",
            "http://q.7",
            "http://a.0x1",
            "http://256.1.1.1",
            "http://1.2.3",
        ] {
            assert_eq!(http_url(bad).err(), Some(Reason::BadUrl), "{bad}");
        }
    }

    #[test]
    fn headers() {
        assert_eq!(backend_header("Authorization", "Bearer x"), Ok(()));
        assert_eq!(backend_header("X-Subscription-Key", "x"), Err(Reason::ReservedHeader));
        assert_eq!(backend_header("bad header", "x"), Err(Reason::BadHeaderName));
        assert_eq!(backend_header("X-A", "line\nbreak"), Err(Reason::BadHeaderValue));
        assert_eq!(backend_header("X-A", "café"), Err(Reason::BadHeaderValue), "ASCII only");
    }
}
