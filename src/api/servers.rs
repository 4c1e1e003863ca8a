//! `servers/{server}`

use super::resource::{ApiResource, Revealed};
use crate::model::{Kind, Server, ServerSpec, ValidationErrors};
use crate::store::Record;

pub struct Servers;

impl ApiResource for Servers {
    const KIND: Kind = Kind::Server;
    const COLLECTION: &'static str = "/servers";
    const ITEM: &'static str = "/servers/{server}";
    type Spec = ServerSpec;
    type View = Server;

    fn validate(spec: &ServerSpec) -> Result<(), ValidationErrors> {
        spec.validate()
    }

    fn view(record: &Record, spec: ServerSpec, _: Revealed) -> Server {
        Server {
            display_name: spec.display_name.unwrap_or_else(|| record.key.name.clone()),
            name: record.key.name.clone(),
            description: spec.description,
            owner: spec.owner,
            tags: spec.tags,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}
