//! Field rules used by several resources. Each returns the [`Reason`] a value
//! is refused for, so callers attach their own field path.

use super::error::{Reason, ValidationErrors};
use serde::de::DeserializeOwned;

pub const MAX_NAME_LEN: usize = 63;
pub const MAX_TEXT_LEN: usize = 4096;
pub const MAX_LABEL_LEN: usize = 256;

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

/// An absolute `http` or `https` URL with a host.
pub fn http_url(value: &str) -> Result<url::Url, Reason> {
    let url = url::Url::parse(value).map_err(|_| Reason::BadUrl)?;
    let http = matches!(url.scheme(), "http" | "https");
    if !http || url.host_str().is_none_or(str::is_empty) {
        return Err(Reason::BadUrl);
    }
    Ok(url)
}

/// Headers the gateway owns on the upstream leg; a version may not set them.
const RESERVED_HEADERS: &[&str] = &[
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
    http::HeaderValue::from_str(value).map_err(|_| Reason::BadHeaderValue)?;
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
        for bad in ["ftp://x", "127.0.0.1:80", "http://", "file:///etc/passwd", "not a url"] {
            assert_eq!(http_url(bad).err(), Some(Reason::BadUrl), "{bad}");
        }
    }

    #[test]
    fn headers() {
        assert_eq!(backend_header("Authorization", "Bearer x"), Ok(()));
        assert_eq!(backend_header("X-Subscription-Key", "x"), Err(Reason::ReservedHeader));
        assert_eq!(backend_header("bad header", "x"), Err(Reason::BadHeaderName));
        assert_eq!(backend_header("X-A", "line\nbreak"), Err(Reason::BadHeaderValue));
    }
}
