terraform {
  required_version = ">= 1.12"
  required_providers {
    mcp = {
      source = "mcpgate/mcp"
    }
  }
}

# Each environment has its own mcpgate: MCPGATE_ENDPOINT and MCPGATE_TOKEN.
provider "mcp" {}

variable "upstream_url" {
  description = "The released MCP backend."
  type        = string
}

variable "candidate_url" {
  description = "The next version's MCP backend."
  type        = string
}

variable "release" {
  description = "The version this environment's consumers get (v1, or v2 once promoted)."
  type        = string
}

# Dev: candidates are reachable early, quotas are generous.
module "tools" {
  source = "../modules/mcp-product-bundle"

  environment        = "dev"
  product            = "agent-tools"
  release            = var.release
  preview_candidates = true
  servers = {
    everything = {
      description   = "Reference tools"
      backend_url   = var.upstream_url
      candidate_url = var.candidate_url
    }
  }
  tools     = ["echo", "get-*"]
  quota     = { calls = 100000, period_seconds = 86400 }
  consumers = ["dev-agent"]
}

output "subscription_keys" {
  value     = module.tools.subscription_keys
  sensitive = true
}
