//! Who is calling and through which product: subscription keys, product
//! state, and whether the product contains the server.

use super::config::{Association, ProductConfig, Snapshot, SubscriptionConfig};
use crate::model::subscription::hash_key;
use crate::model::SubscriptionState;
use axum::http::StatusCode;
use std::sync::Arc;

/// An admitted caller.
#[derive(Debug, Clone)]
pub struct Grant {
    pub subscription: Option<Arc<SubscriptionConfig>>,
    pub product: Arc<ProductConfig>,
}

impl Grant {
    pub fn association(&self, server: &str) -> Option<&Association> {
        self.product.servers.get(server).map(|a| a.as_ref())
    }

    /// The name limits and stickiness are kept under.
    pub fn caller(&self, client_address: &str) -> String {
        match &self.subscription {
            Some(s) => s.name.clone(),
            None => format!("anonymous:{}:{client_address}", self.product.name),
        }
    }

    pub fn auth_type(&self) -> &'static str {
        if self.subscription.is_some() {
            "subscription_key"
        } else {
            "none"
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
}

fn deny(status: StatusCode, reason: &'static str, message: String) -> Denial {
    Denial { status, reason, message }
}

/// Decides whether a caller presenting `key` (if any) may reach `server`.
pub fn authorize(snapshot: &Snapshot, server: &str, key: Option<&str>) -> Result<Grant, Denial> {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return match snapshot.open_products.get(server).and_then(|products| products.first()) {
            Some(product) => Ok(Grant { subscription: None, product: product.clone() }),
            None => Err(deny(StatusCode::UNAUTHORIZED, "unauthorized", "send a subscription key in the X-Subscription-Key header".into())),
        };
    };
    let Some(subscription) = snapshot.subscriptions_by_key.get(&hash_key(key)) else {
        return Err(deny(StatusCode::UNAUTHORIZED, "unauthorized", "the subscription key is not valid".into()));
    };
    if subscription.state != SubscriptionState::Active {
        let message = format!("subscription {} is {}", subscription.name, subscription.state);
        return Err(deny(StatusCode::FORBIDDEN, "subscription_inactive", message));
    }
    let Some(product) = snapshot.products.get(&subscription.product) else {
        return Err(deny(StatusCode::FORBIDDEN, "forbidden", format!("product {} does not exist", subscription.product)));
    };
    if !product.published() {
        return Err(deny(StatusCode::FORBIDDEN, "product_not_published", format!("product {} is not published", product.name)));
    }
    if !product.servers.contains_key(server) {
        let message = format!("product {} does not include server {server}", product.name);
        return Err(deny(StatusCode::FORBIDDEN, "server_not_in_product", message));
    }
    Ok(Grant { subscription: Some(subscription.clone()), product: product.clone() })
}
