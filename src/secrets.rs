//! The server's secret key: AES-256-GCM (*ring*) for secrets kept at rest
//! (backend header values, OAuth client secrets, subscription keys) and
//! the keys derived from it for what the gateway signs (session ids).
//!
//! A key is 32 random bytes, given base64-encoded. Several may be given:
//! the first seals, all of them open, so a key can be rotated by putting the
//! new one first, starting once (the store re-seals everything under it),
//! then dropping the old one.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Prefix of every sealed value, so a sealed value is never mistaken for a
/// clear one and the format can change later.
const SEALED_PREFIX: &str = "enc1:";
const KEY_ID_LEN: usize = 4;
pub const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("the secret key must be {KEY_LEN} bytes, base64-encoded; got {0}")]
    BadKey(String),
    #[error("no secret key given")]
    NoKey,
    #[error("a sealed value was made with a key that is not among the configured secret keys (key id {0})")]
    UnknownKey(String),
    #[error("a sealed value does not open: it is damaged, or sealed for another place")]
    Tampered,
    #[error("cannot read or write the secret key file {path}: {message}")]
    File { path: PathBuf, message: String },
}

struct Keyed {
    id: [u8; KEY_ID_LEN],
    raw: [u8; KEY_LEN],
    aead: LessSafeKey,
}

impl Keyed {
    fn new(raw: [u8; KEY_LEN]) -> Keyed {
        let digest = Sha256::digest(raw);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        // AES-256-GCM takes any 32 bytes: the constructor cannot fail here.
        let unbound = UnboundKey::new(&AES_256_GCM, &raw).unwrap_or_else(|_| unreachable!("32-byte AES-256 key"));
        Keyed { id, raw, aead: LessSafeKey::new(unbound) }
    }
}

/// The configured keys: the first seals, every one opens.
pub struct SecretKey {
    keys: Vec<Keyed>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<String> = self.keys.iter().map(|k| hex::encode(k.id)).collect();
        f.debug_struct("SecretKey").field("key_ids", &ids).finish()
    }
}

fn decode_key(text: &str) -> Result<[u8; KEY_LEN], SecretError> {
    let text = text.trim();
    let bytes = STANDARD.decode(text).or_else(|_| URL_SAFE_NO_PAD.decode(text)).map_err(|e| SecretError::BadKey(e.to_string()))?;
    bytes.as_slice().try_into().map_err(|_| SecretError::BadKey(format!("{} bytes", bytes.len())))
}

impl SecretKey {
    /// Keys in order, current first, each base64; separated by commas or newlines.
    pub fn parse(text: &str) -> Result<SecretKey, SecretError> {
        let keys = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|k| !k.is_empty() && !k.starts_with('#'))
            .map(|k| decode_key(k).map(Keyed::new))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(SecretError::NoKey);
        }
        Ok(SecretKey { keys, rng: SystemRandom::new() })
    }

    /// A fresh random key, and its base64 form.
    pub fn generate() -> (SecretKey, String) {
        let mut raw = [0u8; KEY_LEN];
        // The system RNG failing is not something to carry on from.
        SystemRandom::new().fill(&mut raw).unwrap_or_else(|_| panic!("the system random number generator failed"));
        let text = STANDARD.encode(raw);
        (SecretKey { keys: vec![Keyed::new(raw)], rng: SystemRandom::new() }, text)
    }

    pub fn read_file(path: &Path) -> Result<SecretKey, SecretError> {
        let text = std::fs::read_to_string(path).map_err(|e| SecretError::File { path: path.to_path_buf(), message: e.to_string() })?;
        SecretKey::parse(&text)
    }

    /// Reads the key file at `path`, creating it (mode 0600) with a new key
    /// when it does not exist. Returns whether it was created.
    pub fn read_or_create(path: &Path) -> Result<(SecretKey, bool), SecretError> {
        if path.exists() {
            return Ok((SecretKey::read_file(path)?, false));
        }
        let (key, text) = SecretKey::generate();
        let file_error = |e: std::io::Error| SecretError::File { path: path.to_path_buf(), message: e.to_string() };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(file_error)?;
        std::io::Write::write_all(&mut file, format!("{text}\n").as_bytes()).map_err(file_error)?;
        Ok((key, true))
    }

    /// The id of the sealing key (hex), for logs.
    pub fn current_id(&self) -> String {
        hex::encode(self.keys[0].id)
    }

    /// Seals `plaintext` for one place (`aad`, e.g. the resource path and
    /// field), so a sealed value copied elsewhere does not open.
    pub fn seal(&self, plaintext: &[u8], aad: &str) -> String {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).unwrap_or_else(|_| panic!("the system random number generator failed"));
        let mut buffer = plaintext.to_vec();
        // Sealing in place with a 32-byte key and a fresh nonce cannot fail.
        key.aead
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad.as_bytes()), &mut buffer)
            .unwrap_or_else(|_| unreachable!("AES-GCM sealing of an in-memory buffer"));
        let mut out = Vec::with_capacity(KEY_ID_LEN + NONCE_LEN + buffer.len());
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buffer);
        format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(SEALED_PREFIX)
    }

    /// Whether `sealed` was sealed by the current key (else it should be re-sealed).
    pub fn sealed_by_current(&self, sealed: &str) -> bool {
        let Some(bytes) = sealed.strip_prefix(SEALED_PREFIX).and_then(|b| URL_SAFE_NO_PAD.decode(b).ok()) else { return false };
        bytes.get(..KEY_ID_LEN) == Some(&self.keys[0].id[..])
    }

    pub fn open(&self, sealed: &str, aad: &str) -> Result<Vec<u8>, SecretError> {
        let bytes = sealed.strip_prefix(SEALED_PREFIX).and_then(|b| URL_SAFE_NO_PAD.decode(b).ok()).ok_or(SecretError::Tampered)?;
        if bytes.len() < KEY_ID_LEN + NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SecretError::Tampered);
        }
        let (id, rest) = bytes.split_at(KEY_ID_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let key = self.keys.iter().find(|k| k.id == id).ok_or_else(|| SecretError::UnknownKey(hex::encode(id)))?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Tampered)?;
        let mut buffer = ciphertext.to_vec();
        let opened = key.aead.open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buffer).map_err(|_| SecretError::Tampered)?;
        Ok(opened.to_vec())
    }

    /// A key for one purpose (HKDF-SHA256 of the current key), e.g. the
    /// one that authenticates session ids. Every replica with the same
    /// secret key derives the same one.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"mcpgate");
        let prk = salt.extract(&self.keys[0].raw);
        let info = [purpose.as_bytes()];
        let mut out = [0u8; 32];
        // HKDF-SHA256 yields up to 255 * 32 bytes; 32 always succeed.
        prk.expand(&info, ring::hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut out))
            .unwrap_or_else(|_| unreachable!("32 bytes of HKDF-SHA256 output"));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_for_one_place_only() {
        let (key, _) = SecretKey::generate();
        let sealed = key.seal(b"Bearer s3cret", "servers/a/versions/v1#backend_headers.authorization");
        assert!(SecretKey::is_sealed(&sealed));
        assert!(!sealed.contains("s3cret"));
        assert_eq!(key.open(&sealed, "servers/a/versions/v1#backend_headers.authorization").unwrap(), b"Bearer s3cret");
        assert_eq!(key.open(&sealed, "servers/b/versions/v1#backend_headers.authorization"), Err(SecretError::Tampered));
        let mut damaged = sealed.clone();
        damaged.pop();
        damaged.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(key.open(&damaged, "servers/a/versions/v1#backend_headers.authorization"), Err(SecretError::Tampered));
        assert_ne!(key.seal(b"x", "p"), key.seal(b"x", "p"), "a fresh nonce every time");
    }

    #[test]
    fn rotation_opens_with_old_keys_and_seals_with_the_new_one() {
        let (old, old_text) = SecretKey::generate();
        let (_, new_text) = SecretKey::generate();
        let sealed_old = old.seal(b"v", "p");
        let both = SecretKey::parse(&format!("{new_text}\n{old_text}\n")).unwrap();
        assert_eq!(both.open(&sealed_old, "p").unwrap(), b"v");
        assert!(!both.sealed_by_current(&sealed_old));
        assert!(both.sealed_by_current(&both.seal(b"v", "p")));
        let new_only = SecretKey::parse(&new_text).unwrap();
        assert!(matches!(new_only.open(&sealed_old, "p"), Err(SecretError::UnknownKey(_))));
    }

    #[test]
    fn bad_keys_are_refused_with_the_reason() {
        assert!(matches!(SecretKey::parse("c2hvcnQ="), Err(SecretError::BadKey(_))));
        assert!(matches!(SecretKey::parse("not base64 at all!"), Err(SecretError::BadKey(_))));
        assert_eq!(SecretKey::parse(" \n").err(), Some(SecretError::NoKey));
    }

    #[test]
    fn derived_keys_depend_on_purpose_and_key() {
        let (a, text) = SecretKey::generate();
        let same = SecretKey::parse(&text).unwrap();
        assert_eq!(a.derive("session"), same.derive("session"));
        assert_ne!(a.derive("session"), a.derive("other"));
        assert_ne!(a.derive("session"), SecretKey::generate().0.derive("session"));
    }

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcpgate.key");
        let (key, created) = SecretKey::read_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let (again, created) = SecretKey::read_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(key.current_id(), again.current_id());
    }
}
