//! `products/{product}/servers/{server}`: the association putting a server in a product.

use super::resource::{ApiResource, Revealed};
use crate::model::{Key, Kind, ProductServer, ProductServerSpec, ValidationErrors};
use crate::store::Record;

pub struct ProductServers;

impl ApiResource for ProductServers {
    const KIND: Kind = Kind::ProductServer;
    const COLLECTION: &'static str = "/products/{product}/servers";
    const ITEM: &'static str = "/products/{product}/servers/{server}";
    type Spec = ProductServerSpec;
    type View = ProductServer;

    fn validate(spec: &ProductServerSpec) -> Result<(), ValidationErrors> {
        spec.validate()
    }

    fn identity(key: &Key) -> Vec<(&'static str, String)> {
        vec![("product", key.parent.clone()), ("server", key.name.clone())]
    }

    fn view(record: &Record, spec: ProductServerSpec, _: Revealed) -> ProductServer {
        let naming = spec.naming(&record.key.name);
        let list_timeout_ms = spec.list_timeout_ms();
        ProductServer {
            product: record.key.parent.clone(),
            server: record.key.name.clone(),
            tool_prefix: naming.prefix,
            tool_aliases: naming.aliases,
            list_timeout_ms,
            tools: spec.tools,
            versions: spec.versions,
            policies: spec.policies,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}
