//! `servers/{server}/versions/{version}`

use super::resource::{ApiResource, Revealed};
use crate::model::{Key, Kind, ValidationErrors, Version, VersionSpec};
use crate::store::Record;

pub struct Versions;

impl ApiResource for Versions {
    const KIND: Kind = Kind::Version;
    const COLLECTION: &'static str = "/servers/{server}/versions";
    const ITEM: &'static str = "/servers/{server}/versions/{version}";
    const READ_ONLY: &'static [&'static str] = &["created_at", "updated_at", "backend_header_names"];
    type Spec = VersionSpec;
    type View = Version;

    fn validate(spec: &VersionSpec) -> Result<(), ValidationErrors> {
        spec.validate()
    }

    fn minimal() -> serde_json::Value {
        serde_json::json!({ "backend_url": "http://mcp.invalid/mcp" })
    }

    fn identity(key: &Key) -> Vec<(&'static str, String)> {
        vec![("server", key.parent.clone()), ("name", key.name.clone())]
    }

    fn view(record: &Record, spec: VersionSpec, _: Revealed) -> Version {
        Version {
            server: record.key.parent.clone(),
            name: record.key.name.clone(),
            backend_url: spec.backend_url,
            transport: spec.transport,
            status: spec.status,
            traffic_weight: spec.traffic_weight,
            timeout_seconds: spec.timeout_seconds,
            payload_logging: spec.payload_logging,
            sunset_at: spec.sunset_at,
            backend_header_names: spec.backend_headers.into_keys().collect(),
            tool_costs: spec.tool_costs,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}
