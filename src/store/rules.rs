//! The rules every write keeps, written once over a backend's write
//! transaction: what a resource refers to must exist, a product's
//! subscriptions limit holds, and a delete either finds nothing referring to
//! the resource or cascades to it.

use super::backend::{Referring, Row, WriteTx};
use super::StoreError;
use crate::model::{Key, Kind, ProductServerSpec, ProductSpec, Reason, SubscriptionSpec};
use serde_json::Value;

fn decode<T: serde::de::DeserializeOwned>(row: &Row) -> Result<T, StoreError> {
    serde_json::from_value(row.body.clone()).map_err(|e| StoreError::Corrupt(format!("{}: {e}", row.key)))
}

async fn require(tx: &mut dyn WriteTx, field: &'static str, key: Key, in_path: bool) -> Result<Row, StoreError> {
    tx.get(&key).await?.ok_or(StoreError::MissingReference { field, missing: key, in_path })
}

/// The references a write of `body` at `key` relies on, checked in its transaction.
pub(super) async fn check_references(tx: &mut dyn WriteTx, key: &Key, body: &Value, creating: bool) -> Result<(), StoreError> {
    match key.kind {
        Kind::Version => require(tx, "server", Key::top(Kind::Server, &key.parent), true).await.map(drop),
        Kind::ProductServer => {
            require(tx, "product", Key::top(Kind::Product, &key.parent), true).await?;
            require(tx, "server", Key::top(Kind::Server, &key.name), true).await?;
            let spec: ProductServerSpec = serde_json::from_value(body.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            for (i, version) in spec.versions.iter().flatten().enumerate() {
                if tx.get(&Key::child(Kind::Version, &key.name, version)).await?.is_none() {
                    let reason = Reason::UnknownVersion { server: key.name.clone(), version: version.clone() };
                    return Err(StoreError::Invalid { field: format!("versions[{i}]"), reason });
                }
            }
            check_tool_prefix(tx, key, &spec).await
        }
        Kind::Subscription => {
            let spec: SubscriptionSpec = serde_json::from_value(body.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let product = require(tx, "product", Key::top(Kind::Product, &spec.product), false).await?;
            if creating {
                check_subscriptions_limit(tx, &spec.product, &product).await?;
            }
            check_token_subjects(tx, &key.name, &spec).await
        }
        Kind::Product => {
            let spec: ProductSpec = serde_json::from_value(body.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            match &spec.authorization_server {
                Some(name) => require(tx, "authorization_server", Key::top(Kind::AuthorizationServer, name), false).await.map(drop),
                None => Ok(()),
            }
        }
        Kind::Server | Kind::AuthorizationServer | Kind::PortalUser => Ok(()),
    }
}

/// On a product's endpoint each member's prefix names it: no two members
/// of a product share one (two without a prefix included).
async fn check_tool_prefix(tx: &mut dyn WriteTx, key: &Key, spec: &ProductServerSpec) -> Result<(), StoreError> {
    let prefix = spec.naming(&key.name).prefix;
    for other in tx.referring(Referring::ProductServersOfProduct, &key.parent).await? {
        if other.key.name == key.name {
            continue;
        }
        let other_spec: ProductServerSpec = decode(&other)?;
        if other_spec.naming(&other.key.name).prefix == prefix {
            let message = format!(
                "tool prefix {prefix:?} of products/{product}/servers/{server} is already the prefix of products/{product}/servers/{other}; set a different tool_prefix on one of them",
                product = key.parent,
                server = key.name,
                other = other.key.name,
            );
            return Err(StoreError::Invalid { field: "tool_prefix".into(), reason: Reason::Malformed { message } });
        }
    }
    Ok(())
}

async fn check_subscriptions_limit(tx: &mut dyn WriteTx, product: &str, row: &Row) -> Result<(), StoreError> {
    let spec: ProductSpec = decode(row)?;
    let Some(limit) = spec.subscriptions_limit else { return Ok(()) };
    let mut live = 0i64;
    for subscription in tx.referring(Referring::SubscriptionsOfProduct, product).await? {
        let spec: SubscriptionSpec = decode(&subscription)?;
        if spec.current_state().is_live() {
            live += 1;
        }
    }
    if live >= limit {
        return Err(StoreError::SubscriptionsLimit { product: product.to_string(), limit });
    }
    Ok(())
}

/// A token subject calls as one subscription of a product: no other
/// subscription of the same product may hold it.
async fn check_token_subjects(tx: &mut dyn WriteTx, name: &str, spec: &SubscriptionSpec) -> Result<(), StoreError> {
    if spec.token_subjects.is_empty() {
        return Ok(());
    }
    for other in tx.referring(Referring::SubscriptionsOfProduct, &spec.product).await? {
        if other.key.name == name {
            continue;
        }
        let other_spec: SubscriptionSpec = decode(&other)?;
        if let Some((i, subject)) = spec.token_subjects.iter().enumerate().find(|(_, s)| other_spec.token_subjects.contains(s)) {
            let message = format!("subject {subject:?} already calls as subscription {} of product {}", other.key.name, spec.product);
            return Err(StoreError::Invalid { field: format!("token_subjects[{i}]"), reason: Reason::Malformed { message } });
        }
    }
    Ok(())
}

/// The resources that refer to `key` and block its deletion.
async fn referrers(tx: &mut dyn WriteTx, key: &Key) -> Result<Vec<Row>, StoreError> {
    let mut found = Vec::new();
    match key.kind {
        Kind::Server => {
            found.extend(tx.referring(Referring::VersionsOfServer, &key.name).await?);
            found.extend(tx.referring(Referring::ProductServersOfServer, &key.name).await?);
        }
        Kind::Product => {
            found.extend(tx.referring(Referring::ProductServersOfProduct, &key.name).await?);
            found.extend(tx.referring(Referring::SubscriptionsOfProduct, &key.name).await?);
        }
        Kind::Version => {
            for association in tx.referring(Referring::ProductServersOfServer, &key.parent).await? {
                let spec: ProductServerSpec = decode(&association)?;
                if spec.versions.iter().flatten().any(|v| *v == key.name) {
                    found.push(association);
                }
            }
        }
        Kind::AuthorizationServer => found.extend(tx.referring(Referring::ProductsOfAuthorizationServer, &key.name).await?),
        Kind::ProductServer | Kind::Subscription | Kind::PortalUser => {}
    }
    Ok(found)
}

/// Deletes `key` and, with `cascade`, what refers to it: versions are
/// dropped from the lists that name them, everything else is deleted.
/// Returns the keys of the other resources it changed.
pub(super) async fn delete_with_referrers(tx: &mut dyn WriteTx, key: &Key, cascade: bool) -> Result<Vec<Key>, StoreError> {
    let blocking = referrers(tx, key).await?;
    // Products are never deleted with the authorization server they trust.
    let cascade = cascade && key.kind != Kind::AuthorizationServer;
    if !blocking.is_empty() && !cascade {
        return Err(StoreError::StillReferenced { key: key.clone(), by: blocking.iter().map(|r| r.key.path()).collect() });
    }
    let mut changed = Vec::new();
    for mut referrer in blocking {
        if key.kind == Kind::Version {
            drop_version(&mut referrer.body, &key.name);
            let body = referrer.body.to_string();
            referrer.etag = super::etag_of(&body, &[]);
            referrer.updated_at = super::now();
            tx.upsert(&referrer).await?;
        } else {
            tx.delete(&referrer.key).await?;
        }
        changed.push(referrer.key);
    }
    tx.delete(key).await?;
    Ok(changed)
}

fn drop_version(association: &mut Value, version: &str) {
    if let Some(list) = association.get_mut("versions").and_then(Value::as_array_mut) {
        list.retain(|v| v.as_str() != Some(version));
    }
}

/// Keeps the change table to its newest `kept` entries; cheap enough to
/// run in every writing transaction since it acts once per thousand.
pub(super) async fn prune_changes(tx: &mut dyn WriteTx, latest: i64, kept: i64) -> Result<(), StoreError> {
    if latest % 1000 == 0 && latest > kept {
        tx.prune_changes(latest - kept).await?;
    }
    Ok(())
}
