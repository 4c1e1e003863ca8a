# Retirement: v1 answers 410 Gone, also to the product that still pins it
# (every plan warns about that product).
resource "mcp_server_version" "v1" {
  server         = mcp_server.everything.name
  name           = "v1"
  backend_url    = var.upstream_urls[0]
  status         = "retired"
  traffic_weight = 0
  sunset_at      = "2027-03-01T00:00:00Z"
}

resource "mcp_server_version" "v2" {
  server         = mcp_server.everything.name
  name           = "v2"
  backend_url    = var.upstream_urls[1]
  traffic_weight = 100
}

resource "mcp_product_server" "early" {
  product  = mcp_product.early.name
  server   = mcp_server.everything.name
  versions = [mcp_server_version.v2.name]
}

resource "mcp_product" "legacy" {
  name  = "legacy"
  state = "published"
}

resource "mcp_product_server" "legacy" {
  product  = mcp_product.legacy.name
  server   = mcp_server.everything.name
  versions = [mcp_server_version.v1.name]
}

resource "mcp_subscription" "legacy" {
  name    = "legacy-client"
  product = mcp_product.legacy.name
}

output "legacy_key" {
  value     = mcp_subscription.legacy.primary_key
  sensitive = true
}
