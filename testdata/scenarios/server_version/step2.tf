resource "mcp_server" "this" {
  name = "acc-versioned"
}

resource "mcp_server_version" "v1" {
  server                  = mcp_server.this.name
  name                    = "v1"
  backend_url             = "https://mcp.example.com/mcp"
  status                  = "deprecated"
  traffic_weight          = 20
  timeout_seconds         = 10
  payload_logging         = true
  sunset_at               = "2027-06-30T00:00:00Z"
  backend_headers         = { Authorization = "Bearer rotated", "X-Team" = "a" }
  backend_headers_version = 2
}
