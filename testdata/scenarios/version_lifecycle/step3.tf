# Canary: v2 is active and shares the traffic with v1.
resource "mcp_server_version" "v1" {
  server         = mcp_server.everything.name
  name           = "v1"
  backend_url    = var.upstream_urls[0]
  traffic_weight = 50
}

resource "mcp_server_version" "v2" {
  server         = mcp_server.everything.name
  name           = "v2"
  backend_url    = var.upstream_urls[1]
  traffic_weight = 50
}

resource "mcp_product_server" "early" {
  product  = mcp_product.early.name
  server   = mcp_server.everything.name
  versions = [mcp_server_version.v2.name]
}
