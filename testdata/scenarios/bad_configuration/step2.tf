resource "mcp_server" "ok" {
  name = "acc-ok"
}

resource "mcp_server_version" "bad" {
  server         = mcp_server.ok.name
  name           = "v1"
  backend_url    = "ftp://files.example.com"
  traffic_weight = 150
}
