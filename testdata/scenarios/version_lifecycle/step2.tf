# v2 arrives as a preview that only the early-adopter product lists.
resource "mcp_server_version" "v1" {
  server      = mcp_server.everything.name
  name        = "v1"
  backend_url = var.upstream_urls[0]
}

resource "mcp_server_version" "v2" {
  server         = mcp_server.everything.name
  name           = "v2"
  backend_url    = var.upstream_urls[1]
  status         = "preview"
  traffic_weight = 0
}

resource "mcp_product_server" "early" {
  product  = mcp_product.early.name
  server   = mcp_server.everything.name
  versions = [mcp_server_version.v2.name]
}
