//! Data source `mcp_server`: reads one server by name.

use super::data_source::ByName;

pub fn data_source() -> ByName {
    ByName::new("mcp_server", "servers", "Reads an MCP server by name.", super::server_resource::attributes())
}
