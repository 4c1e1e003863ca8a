# Retirement: v1 answers 410 Gone.
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
