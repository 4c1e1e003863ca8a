terraform {
  required_providers {
    mcp = {
      source = "mcpgate/mcp"
    }
  }
}

# The admin URL and token of an mcpgate instance. Both may instead come from
# MCPGATE_ENDPOINT and MCPGATE_TOKEN, which keeps the token out of the code.
provider "mcp" {
  endpoint = "http://127.0.0.1:9090"
  token    = var.mcpgate_token
}

variable "mcpgate_token" {
  type      = string
  sensitive = true
}
