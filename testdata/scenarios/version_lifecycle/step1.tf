resource "mcp_server_version" "v1" {
  server      = mcp_server.everything.name
  name        = "v1"
  backend_url = var.upstream_urls[0]
}

resource "mcp_product_server" "early" {
  product    = mcp_product.early.name
  server     = mcp_server.everything.name
  depends_on = [mcp_server_version.v1]
}
