//! The Terraform provider `terraform-provider-mcp`: tfplugin6 over gRPC,
//! mapping resources onto the management API. One resource, one file
//! (`*_resource.rs`, `*_data_source.rs`, `*_action.rs`, `*_ephemeral.rs`);
//! the shared engine is `resource.rs`, what actions, data sources and
//! ephemeral resources share `action.rs`, `data_source.rs`, `ephemeral.rs`;
//! the gRPC service `service.rs`, the go-plugin host `plugin.rs`.

pub mod action;
pub mod approve_subscription_action;
pub mod authorization_server_resource;
pub mod client;
pub mod data_source;
pub mod diagnostics;
pub mod dynamic;
pub mod ephemeral;
pub mod lifecycle;
pub mod plugin;
pub mod policy_block;
pub mod portal_user_resource;
pub mod product_data_source;
pub mod product_resource;
pub mod product_server_resource;
pub mod promote_version_action;
pub mod resource;
pub mod rotate_subscription_key_action;
pub mod schema;
pub mod server_data_source;
pub mod server_resource;
pub mod server_tools_data_source;
pub mod server_version_resource;
pub mod servers_data_source;
pub mod service;
pub mod subscription_key_ephemeral;
pub mod subscription_resource;

pub mod proto;
