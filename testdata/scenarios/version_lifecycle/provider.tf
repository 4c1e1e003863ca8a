terraform {
  required_providers {
    mcp = { source = "mcpgate/mcp" }
  }
}

provider "mcp" {}

variable "upstream_urls" {
  description = "Two real MCP servers: v1's and v2's backends."
  type        = list(string)
}
