terraform {
  required_providers {
    mcp = { source = "mcpgate/mcp" }
  }
}

# endpoint and token come from MCPGATE_ENDPOINT and MCPGATE_TOKEN.
provider "mcp" {}
