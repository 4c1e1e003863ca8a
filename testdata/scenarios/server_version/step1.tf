resource "mcp_server" "this" {
  name = "acc-versioned"
}

resource "mcp_server_version" "v1" {
  server          = mcp_server.this.name
  name            = "v1"
  backend_url     = "http://127.0.0.1:3001/mcp"
  backend_headers = { Authorization = "Bearer upstream-secret" }
  tool_costs      = { echo = 0.5, default = 0.1 }
}
