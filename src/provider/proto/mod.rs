//! The plugin protocols' messages and gRPC services, generated from
//! `proto/` by protox and tonic-prost-build and committed (so a build does
//! not build the generator); `tests/provider_protocol_code.rs` keeps them
//! current. Do not edit `tfplugin6.rs` or `plugin.rs` by hand.
#![allow(clippy::all)]

#[rustfmt::skip]
pub mod plugin;
#[rustfmt::skip]
pub mod tfplugin6;
