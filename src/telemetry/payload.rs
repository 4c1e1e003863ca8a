//! Tool payloads for traces and the call log: secrets redacted by key,
//! then truncated to a size budget.

use serde_json::Value;

pub const REDACTED: &str = "[REDACTED]";
pub const DEFAULT_MAX_BYTES: usize = 4096;
pub const DEFAULT_REDACT_KEYS: &[&str] =
    &["password", "passwd", "token", "secret", "authorization", "api_key", "apikey", "access_token", "refresh_token", "client_secret", "private_key"];

#[derive(Debug, Clone)]
pub struct PayloadPolicy {
    pub max_bytes: usize,
    /// Lower-case key names whose values are replaced, at any depth.
    pub redact_keys: Vec<String>,
}

impl Default for PayloadPolicy {
    fn default() -> Self {
        PayloadPolicy { max_bytes: DEFAULT_MAX_BYTES, redact_keys: DEFAULT_REDACT_KEYS.iter().map(|k| k.to_string()).collect() }
    }
}

impl PayloadPolicy {
    fn redact(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if self.redact_keys.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                        *v = Value::String(REDACTED.into());
                    } else {
                        self.redact(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact(v)),
            _ => {}
        }
    }

    /// The JSON text to record: redacted, and cut at `max_bytes` (on a
    /// character boundary) with a marker saying how much was left out.
    pub fn render(&self, value: &Value) -> String {
        let mut value = value.clone();
        self.redact(&mut value);
        let text = value.to_string();
        if text.len() <= self.max_bytes {
            return text;
        }
        let mut cut = self.max_bytes;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…[truncated {} bytes]", &text[..cut], text.len() - cut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_at_any_depth_case_insensitively() {
        let policy = PayloadPolicy::default();
        let rendered = policy.render(&json!({ "query": "x", "Password": "hunter2", "nested": [{ "api_key": "k", "ok": 1 }] }));
        assert_eq!(rendered, r#"{"Password":"[REDACTED]","nested":[{"api_key":"[REDACTED]","ok":1}],"query":"x"}"#);
    }

    #[test]
    fn truncates_with_a_marker() {
        let policy = PayloadPolicy { max_bytes: 10, ..PayloadPolicy::default() };
        assert_eq!(policy.render(&json!({ "message": "hello world" })), "{\"message\"…[truncated 15 bytes]");
        let multibyte = policy.render(&json!("é".repeat(8)));
        assert!(multibyte.starts_with("\"éééé") && multibyte.ends_with("…[truncated 9 bytes]"), "{multibyte}");
    }
}
