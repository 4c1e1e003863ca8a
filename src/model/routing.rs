//! Which version of a server a gateway request reaches, and whether it may.
//! Pure decisions over the configuration; the gateway supplies the inputs.

use super::version::{VersionSpec, VersionStatus};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// How the caller named a version, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested<'a> {
    /// `/mcp/{server}/{version}`.
    Path(&'a str),
    /// The `MCP-Server-Version` request header.
    Header(&'a str),
    /// The version the caller's MCP session started on.
    Session(&'a str),
    /// Nothing: the product's list or the weighted split decides.
    Unspecified,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("server has no version {0:?}")]
    UnknownVersion(String),
    #[error("version {0:?} is retired")]
    Retired(String),
    #[error("version {0:?} is not available to this product")]
    NotAllowed(String),
    #[error("no version of this server is active")]
    NoVersion,
}

/// Picks the version for one request.
///
/// `allowed` is the product association's `versions` list (absent: the
/// active ones). `sticky` keeps a caller on the same version while the
/// weights stay the same.
pub fn choose_version<'a>(
    versions: &'a BTreeMap<String, VersionSpec>,
    allowed: Option<&[String]>,
    requested: Requested<'_>,
    sticky: &str,
) -> Result<&'a str, RouteError> {
    match requested {
        Requested::Path(name) | Requested::Header(name) | Requested::Session(name) => named(versions, allowed, name),
        Requested::Unspecified => {
            let candidates: Vec<(&'a str, &'a VersionSpec)> = match allowed {
                Some(list) => versions
                    .iter()
                    .filter(|(name, spec)| list.contains(name) && spec.status != VersionStatus::Retired)
                    .map(|(n, s)| (n.as_str(), s))
                    .collect(),
                None => default_pool(versions),
            };
            if candidates.is_empty() {
                let retired = allowed.and_then(|list| list.first()).filter(|v| versions.contains_key(*v));
                return Err(retired.map_or(RouteError::NoVersion, |v| RouteError::Retired(v.clone())));
            }
            Ok(weighted(&candidates, sticky))
        }
    }
}

fn named<'a>(versions: &'a BTreeMap<String, VersionSpec>, allowed: Option<&[String]>, name: &str) -> Result<&'a str, RouteError> {
    let (key, spec) = versions.get_key_value(name).ok_or_else(|| RouteError::UnknownVersion(name.to_string()))?;
    if spec.status == VersionStatus::Retired {
        return Err(RouteError::Retired(name.to_string()));
    }
    let permitted = match allowed {
        Some(list) => list.iter().any(|v| v == name),
        None => spec.status != VersionStatus::Preview,
    };
    if !permitted {
        return Err(RouteError::NotAllowed(name.to_string()));
    }
    Ok(key.as_str())
}

/// Active versions share the traffic; when none is active, deprecated ones
/// keep serving rather than leaving the server dark.
fn default_pool(versions: &BTreeMap<String, VersionSpec>) -> Vec<(&str, &VersionSpec)> {
    let with = |status| versions.iter().filter(move |(_, s)| s.status == status).map(|(n, s)| (n.as_str(), s));
    let active: Vec<_> = with(VersionStatus::Active).collect();
    if active.is_empty() {
        with(VersionStatus::Deprecated).collect()
    } else {
        active
    }
}

/// A deterministic weighted pick: the sticky key hashes to a point on the
/// cumulative weights. All-zero weights split evenly.
fn weighted<'a>(candidates: &[(&'a str, &VersionSpec)], sticky: &str) -> &'a str {
    let weights: Vec<u64> = candidates.iter().map(|(_, s)| u64::try_from(s.traffic_weight).unwrap_or(0)).collect();
    let total: u64 = weights.iter().sum();
    let digest = Sha256::digest(sticky.as_bytes());
    let mut point_bytes = [0u8; 8];
    point_bytes.copy_from_slice(&digest[..8]);
    let point = u64::from_be_bytes(point_bytes);
    if total == 0 {
        return candidates[(point % candidates.len() as u64) as usize].0;
    }
    let mut target = point % total;
    for ((name, _), weight) in candidates.iter().zip(weights) {
        if target < weight {
            return name;
        }
        target -= weight;
    }
    candidates[candidates.len() - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(status: VersionStatus, weight: i64) -> VersionSpec {
        VersionSpec {
            backend_url: Some("http://127.0.0.1:1/mcp".into()),
            openapi: None,
            transport: Default::default(),
            status,
            traffic_weight: weight,
            timeout_seconds: 30,
            payload_logging: false,
            sunset_at: None,
            backend_headers: Default::default(),
            tool_costs: Default::default(),
            approved_tools: None,
            client_credentials: None,
        }
    }

    fn fleet(entries: &[(&str, VersionStatus, i64)]) -> BTreeMap<String, VersionSpec> {
        entries.iter().map(|(n, s, w)| (n.to_string(), version(*s, *w))).collect()
    }

    #[test]
    fn explicit_choice_beats_everything_but_is_checked() {
        let v = fleet(&[("v1", VersionStatus::Active, 100), ("v2", VersionStatus::Preview, 0), ("v0", VersionStatus::Retired, 0)]);
        assert_eq!(choose_version(&v, None, Requested::Path("v1"), "s"), Ok("v1"));
        assert_eq!(choose_version(&v, None, Requested::Header("v2"), "s"), Err(RouteError::NotAllowed("v2".into())));
        assert_eq!(choose_version(&v, Some(&["v2".into()]), Requested::Header("v2"), "s"), Ok("v2"));
        assert_eq!(choose_version(&v, None, Requested::Path("v0"), "s"), Err(RouteError::Retired("v0".into())));
        assert_eq!(choose_version(&v, None, Requested::Path("v9"), "s"), Err(RouteError::UnknownVersion("v9".into())));
    }

    #[test]
    fn product_list_reaches_preview() {
        let v = fleet(&[("v1", VersionStatus::Active, 100), ("v2", VersionStatus::Preview, 0)]);
        assert_eq!(choose_version(&v, Some(&["v2".into()]), Requested::Unspecified, "s"), Ok("v2"));
        assert_eq!(choose_version(&v, None, Requested::Unspecified, "s"), Ok("v1"));
    }

    #[test]
    fn weights_split_and_stick() {
        let v = fleet(&[("v1", VersionStatus::Active, 80), ("v2", VersionStatus::Active, 20)]);
        let mut v2 = 0;
        for i in 0..1000 {
            let key = format!("sub-{i}");
            let first = choose_version(&v, None, Requested::Unspecified, &key).unwrap();
            assert_eq!(first, choose_version(&v, None, Requested::Unspecified, &key).unwrap(), "sticky");
            if first == "v2" {
                v2 += 1;
            }
        }
        assert!((150..250).contains(&v2), "about 20% on v2, got {v2}/1000");
        let all_v2 = fleet(&[("v1", VersionStatus::Active, 0), ("v2", VersionStatus::Active, 100)]);
        assert_eq!(choose_version(&all_v2, None, Requested::Unspecified, "x"), Ok("v2"));
    }

    #[test]
    fn deprecated_serves_when_nothing_is_active() {
        let v = fleet(&[("v1", VersionStatus::Deprecated, 100), ("v2", VersionStatus::Preview, 100)]);
        assert_eq!(choose_version(&v, None, Requested::Unspecified, "s"), Ok("v1"));
        let dark = fleet(&[("v1", VersionStatus::Retired, 100)]);
        assert_eq!(choose_version(&dark, None, Requested::Unspecified, "s"), Err(RouteError::NoVersion));
        assert_eq!(choose_version(&dark, Some(&["v1".into()]), Requested::Unspecified, "s"), Err(RouteError::Retired("v1".into())));
    }
}
