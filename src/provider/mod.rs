//! The Terraform provider `terraform-provider-mcp`: tfplugin6 over gRPC,
//! mapping resources onto the management API. One resource, one file
//! (`*_resource.rs`, `*_data_source.rs`); the shared engine is
//! `resource.rs`, the gRPC service `service.rs`, the go-plugin host
//! `plugin.rs`.

pub mod client;
pub mod data_source;
pub mod diagnostics;
pub mod dynamic;
pub mod plugin;
pub mod product_data_source;
pub mod product_resource;
pub mod product_server_resource;
pub mod resource;
pub mod schema;
pub mod server_data_source;
pub mod server_resource;
pub mod server_version_resource;
pub mod servers_data_source;
pub mod service;
pub mod subscription_resource;

pub mod proto;
