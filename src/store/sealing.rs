//! Which stored values are sealed, and how: the secret fields the model
//! names ([`SecretField`]) are sealed before a body reaches a backend and
//! opened when it comes back, each bound to its resource and field so a
//! sealed value moved elsewhere does not open.

use super::StoreError;
use crate::model::{Key, SecretField};
use crate::secrets::SecretKey;
use serde_json::Value;

fn aad(key: &Key, field: &str) -> String {
    format!("{}#{field}", key.path())
}

/// The sealed keys of a subscription are bound to it.
pub(super) fn keys_aad(key: &Key) -> String {
    aad(key, "keys")
}

/// Every secret string of a body, with its field path.
fn secret_slots<'a>(kind_fields: &[SecretField], body: &'a mut Value) -> Vec<(String, &'a mut Value)> {
    let mut slots = Vec::new();
    let Some(object) = body.as_object_mut() else { return slots };
    // Each top-level field is visited once, and names at most one secret
    // field, so the borrows do not overlap.
    for (name, value) in object.iter_mut() {
        let Some(field) = kind_fields.iter().find(|f| top_level(f) == name) else { continue };
        match field {
            SecretField::MapValues(_) => {
                if let Some(entries) = value.as_object_mut() {
                    slots.extend(entries.iter_mut().map(|(k, v)| (format!("{name}.{k}"), v)));
                }
            }
            SecretField::Path(parts) => {
                let mut slot = Some(value);
                for part in parts.iter().skip(1) {
                    slot = slot.and_then(|v| v.get_mut(*part));
                }
                if let Some(slot) = slot {
                    slots.push((field_path(field), slot));
                }
            }
        }
    }
    slots
}

fn top_level(field: &SecretField) -> &'static str {
    match field {
        SecretField::MapValues(map) => map,
        SecretField::Path(parts) => parts.first().copied().unwrap_or_default(),
    }
}

fn field_path(field: &SecretField) -> String {
    match field {
        SecretField::MapValues(map) => map.to_string(),
        SecretField::Path(parts) => parts.join("."),
    }
}

pub(super) fn seal_body(secrets: &SecretKey, key: &Key, body: &mut Value) -> Result<(), StoreError> {
    for (path, slot) in secret_slots(SecretField::of(key.kind), body) {
        if let Value::String(clear) = slot {
            if !SecretKey::is_sealed(clear) {
                *clear = secrets.seal(clear.as_bytes(), &aad(key, &path));
            }
        }
    }
    Ok(())
}

pub(super) fn open_body(secrets: &SecretKey, key: &Key, body: &mut Value) -> Result<(), StoreError> {
    for (path, slot) in secret_slots(SecretField::of(key.kind), body) {
        if let Value::String(sealed) = slot {
            // Values an older mcpgate stored in clear are read as they are
            // (and re-sealed at the next start).
            if SecretKey::is_sealed(sealed) {
                let clear = secrets.open(sealed, &aad(key, &path))?;
                *sealed = String::from_utf8(clear).map_err(|_| StoreError::Corrupt(format!("{key}: {path} is not UTF-8")))?;
            }
        }
    }
    Ok(())
}

/// Whether a stored body holds a secret in clear or sealed by an old key.
pub(super) fn needs_reseal(secrets: &SecretKey, key: &Key, body: &Value) -> bool {
    let mut body = body.clone();
    secret_slots(SecretField::of(key.kind), &mut body)
        .into_iter()
        .any(|(_, slot)| slot.as_str().is_some_and(|v| !SecretKey::is_sealed(v) || !secrets.sealed_by_current(v)))
}

pub(super) fn seal_keys(secrets: &SecretKey, primary: &str, secondary: &str, aad: &str) -> String {
    let clear = serde_json::json!({ "primary": primary, "secondary": secondary }).to_string();
    secrets.seal(clear.as_bytes(), aad)
}

pub(super) fn open_keys(secrets: &SecretKey, sealed: &str, aad: &str) -> Result<(String, String), StoreError> {
    let clear = secrets.open(sealed, aad)?;
    let keys: Value = serde_json::from_slice(&clear).map_err(|e| StoreError::Corrupt(format!("sealed keys: {e}")))?;
    let field = |name: &str| keys[name].as_str().map(str::to_string).ok_or_else(|| StoreError::Corrupt(format!("sealed keys lack {name}")));
    Ok((field("primary")?, field("secondary")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use serde_json::json;

    #[test]
    fn backend_header_values_are_sealed_and_opened_in_place() {
        let (secrets, _) = SecretKey::generate();
        let key = Key::child(Kind::Version, "s", "v1");
        let clear = json!({ "backend_url": "http://x", "backend_headers": { "authorization": "Bearer t0ken", "x-team": "a" } });
        let mut body = clear.clone();
        seal_body(&secrets, &key, &mut body).unwrap();
        assert!(!body.to_string().contains("t0ken"));
        assert_eq!(body["backend_url"], "http://x");
        assert!(!needs_reseal(&secrets, &key, &body));
        open_body(&secrets, &key, &mut body).unwrap();
        assert_eq!(body, clear);
        assert!(needs_reseal(&secrets, &key, &clear), "clear values from an older mcpgate get sealed");
    }

    #[test]
    fn a_sealed_value_moved_to_another_resource_does_not_open() {
        let (secrets, _) = SecretKey::generate();
        let mut body = json!({ "backend_headers": { "authorization": "secret" } });
        seal_body(&secrets, &Key::child(Kind::Version, "s", "v1"), &mut body).unwrap();
        assert!(open_body(&secrets, &Key::child(Kind::Version, "other", "v1"), &mut body).is_err());
    }
}
