variable "weather_url" {
  description = "The MCP server behind weather v1."
  type        = string
  default     = "http://127.0.0.1:3001/mcp"
}

resource "mcp_server" "weather" {
  name = "weather"
}

resource "mcp_server_version" "v1" {
  server      = mcp_server.weather.name
  name        = "v1"
  backend_url = var.weather_url
}

data "mcp_server_tools" "weather_v1" {
  server  = mcp_server_version.v1.server
  version = mcp_server_version.v1.name
}

# Review the definitions, then pin what you approve in the version's
# approved_tools; a tool that changes later is hidden until approved again:
#
#   approved_tools = {
#     forecast = "9b7e…"  # weather_tool_hashes["forecast"], as reviewed
#   }
output "weather_tool_hashes" {
  value = { for tool in data.mcp_server_tools.weather_v1.tools : tool.name => tool.hash }
}
