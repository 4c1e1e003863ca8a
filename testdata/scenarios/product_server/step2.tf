resource "mcp_server" "this" {
  name = "acc-bundled"
}

resource "mcp_server_version" "v1" {
  server      = mcp_server.this.name
  name        = "v1"
  backend_url = "http://127.0.0.1:3001/mcp"
}

resource "mcp_product" "this" {
  name = "acc-bundle"
}

resource "mcp_product_server" "this" {
  product         = mcp_product.this.name
  server          = mcp_server.this.name
  versions        = [mcp_server_version.v1.name]
  tool_prefix     = "bundle"
  tool_aliases    = { "get.thing" = "get_thing" }
  list_timeout_ms = 1500
}
