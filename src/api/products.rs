//! `products/{product}`

use super::resource::{ApiResource, Revealed};
use crate::model::{Kind, Product, ProductSpec, ValidationErrors};
use crate::store::Record;

pub struct Products;

impl ApiResource for Products {
    const KIND: Kind = Kind::Product;
    const COLLECTION: &'static str = "/products";
    const ITEM: &'static str = "/products/{product}";
    type Spec = ProductSpec;
    type View = Product;

    fn validate(spec: &ProductSpec) -> Result<(), ValidationErrors> {
        spec.validate()
    }

    fn view(record: &Record, spec: ProductSpec, _: Revealed) -> Product {
        Product {
            display_name: spec.display_name.unwrap_or_else(|| record.key.name.clone()),
            name: record.key.name.clone(),
            description: spec.description,
            state: spec.state,
            subscription_required: spec.subscription_required,
            approval_required: spec.approval_required,
            subscriptions_limit: spec.subscriptions_limit,
            rate_limit: spec.rate_limit,
            quota: spec.quota,
            terms: spec.terms,
            limit_failure_mode: spec.limit_failure_mode,
            authorization_server: spec.authorization_server,
            required_scopes: spec.required_scopes,
            accept_keys: spec.accept_keys,
            policies: spec.policies,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}
