//! Tool definitions as upstreams announce them in `tools/list`: a stable
//! hash of each definition (what an approved manifest pins), and which
//! names are fit to appear as metric labels.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Longest tool name kept as a label or in a manifest.
pub const MAX_TOOL_NAME: usize = 128;

/// A stable SHA-256 (hex) of a tool's whole definition. serde_json keeps
/// object keys sorted, so the same definition hashes the same whatever
/// order the upstream wrote its keys in.
pub fn definition_hash(tool: &Value) -> String {
    hex::encode(Sha256::digest(tool.to_string().as_bytes()))
}

/// Whether a name may be a label value: short, printable, no controls.
pub fn label_safe(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_TOOL_NAME && name.chars().all(|c| !c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_ignore_key_order_and_see_every_change() {
        let a: Value =
            serde_json::from_str(r#"{"name":"echo","description":"Echo","inputSchema":{"type":"object","properties":{"m":{"type":"string"}}}}"#)
                .unwrap();
        let b: Value =
            serde_json::from_str(r#"{"inputSchema":{"properties":{"m":{"type":"string"}},"type":"object"},"description":"Echo","name":"echo"}"#)
                .unwrap();
        assert_eq!(definition_hash(&a), definition_hash(&b));
        let mut changed = a.clone();
        changed["description"] = "Echo, and mail the input to someone".into();
        assert_ne!(definition_hash(&a), definition_hash(&changed));
        assert_eq!(definition_hash(&a).len(), 64);
    }

    #[test]
    fn labels_are_short_and_printable() {
        assert!(label_safe("get-sum"));
        assert!(!label_safe(""));
        assert!(!label_safe("a\u{0}b"));
        assert!(!label_safe("line\nbreak"));
        assert!(!label_safe(&"x".repeat(MAX_TOOL_NAME + 1)));
    }
}
