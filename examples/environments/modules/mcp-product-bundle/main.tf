# A product bundle: MCP servers with a released version (v1 or v2) and an
# optional candidate, put into one product with a tool allow-list, limits,
# and subscriptions for its consumers. Environments differ only in variables.

terraform {
  required_version = ">= 1.12"
  required_providers {
    mcp = {
      source = "mcpgate/mcp"
    }
  }
}

locals {
  candidates = { for name, server in var.servers : name => server if server.candidate_url != null }
}

resource "mcp_server" "this" {
  for_each    = var.servers
  name        = each.key
  description = each.value.description
  owner       = var.owner
  tags        = { environment = var.environment, bundle = var.product }
}

resource "mcp_server_version" "v1" {
  for_each    = var.servers
  server      = mcp_server.this[each.key].name
  name        = "v1"
  backend_url = each.value.backend_url
  status      = var.release == "v1" ? "active" : "deprecated"
}

# The candidate: a preview until released, then the active version.
resource "mcp_server_version" "v2" {
  for_each       = local.candidates
  server         = mcp_server.this[each.key].name
  name           = "v2"
  backend_url    = each.value.candidate_url
  status         = var.release == "v2" ? "active" : "preview"
  traffic_weight = var.release == "v2" ? 100 : 0
}

resource "mcp_product" "this" {
  name        = var.product
  description = "${var.product} (${var.environment})"
  state       = "published"
  quota       = var.quota
  rate_limit  = var.rate_limit
}

resource "mcp_product_server" "this" {
  for_each = var.servers
  product  = mcp_product.this.name
  server   = mcp_server.this[each.key].name
  tools    = var.tools
  # Listing both versions lets consumers reach the preview (by the
  # MCP-Server-Version header); unlisted, only active versions are reached.
  versions = var.preview_candidates && contains(keys(local.candidates), each.key) ? ["v1", "v2"] : null
  depends_on = [mcp_server_version.v1, mcp_server_version.v2]
}

resource "mcp_subscription" "consumer" {
  for_each = toset(var.consumers)
  name     = "${var.product}-${each.key}"
  product  = mcp_product.this.name
  owner    = each.key
}
