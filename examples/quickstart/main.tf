# Quickstart: one MCP server with two versions side by side, a product that
# exposes only some of its tools, and a subscription for a consumer.
#
# The provider reads MCPGATE_ENDPOINT and MCPGATE_TOKEN (./scripts/demo.sh
# sets them).

terraform {
  required_providers {
    mcp = {
      source = "mcpgate/mcp"
    }
  }
}

provider "mcp" {}

variable "upstream_url" {
  description = "The MCP server mcpgate puts under management (Streamable HTTP endpoint)."
  type        = string
  default     = "http://127.0.0.1:3001/mcp"
}

resource "mcp_server" "everything" {
  name        = "everything"
  description = "The MCP reference server: echo, sums, resources and more"
  owner       = "platform-team"
  tags        = { tier = "demo" }
}

# v1 serves everyone.
resource "mcp_server_version" "v1" {
  server      = mcp_server.everything.name
  name        = "v1"
  backend_url = var.upstream_url
  tool_costs  = { echo = 0.01, default = 0.02 }
}

# v2 is a preview: only products that list it reach it.
resource "mcp_server_version" "v2" {
  server          = mcp_server.everything.name
  name            = "v2"
  backend_url     = var.upstream_url
  status          = "preview"
  traffic_weight  = 0
  payload_logging = true
}

resource "mcp_product" "starter" {
  name        = "starter"
  description = "Read-only tools for internal agents"
  state       = "published"
  rate_limit  = { calls = 60, period_seconds = 60 }
  quota       = { calls = 10000, period_seconds = 86400 }
}

# Consumers of "starter" see and call only these tools; get-env (which
# dumps the server's environment) is not among them.
resource "mcp_product_server" "starter_everything" {
  product = mcp_product.starter.name
  server  = mcp_server.everything.name
  tools   = ["echo", "get-sum", "get-tiny-*"]
}

resource "mcp_subscription" "demo_agent" {
  name    = "demo-agent"
  product = mcp_product.starter.name
  owner   = "demo"
}

# Who signs in to the web UI on the admin listener: a consumer at /portal,
# an operator at /console.
variable "portal_password" {
  description = "The demo users' password (12 characters or more)."
  type        = string
  sensitive   = true
  default     = "demo password 1"
}

resource "mcp_portal_user" "ada" {
  name         = "ada"
  display_name = "Ada (consumer)"
  password     = var.portal_password
}

resource "mcp_portal_user" "grace" {
  name         = "grace"
  display_name = "Grace (operator)"
  role         = "operator"
  password     = var.portal_password
}

output "mcp_path" {
  description = "Where MCP clients connect, below the gateway URL."
  value       = "/mcp/${mcp_server.everything.name}"
}

output "subscription_key" {
  description = "Send as the X-Subscription-Key header."
  value       = mcp_subscription.demo_agent.primary_key
  sensitive   = true
}
