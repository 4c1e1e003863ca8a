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

# Prod: only released versions, tighter quotas, a rate limit.
module "tools" {
  source = "../modules/mcp-product-bundle"

  environment = "prod"
  product     = "agent-tools"
  release     = var.release
  servers = {
    everything = {
      description   = "Reference tools"
      backend_url   = var.upstream_url
      candidate_url = var.candidate_url
    }
  }
  tools      = ["echo", "get-*"]
  quota      = { calls = 10000, period_seconds = 86400 }
  rate_limit = { calls = 60, period_seconds = 60 }
  consumers  = ["support-bot", "billing-bot"]
}

output "subscription_keys" {
  value     = module.tools.subscription_keys
  sensitive = true
}
