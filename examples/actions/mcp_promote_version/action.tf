resource "mcp_server" "weather" {
  name = "weather"
}

# Status, weight and sunset belong to the action once versions are promoted
# with it, so the configuration does not undo a promotion.
resource "mcp_server_version" "v1" {
  server      = mcp_server.weather.name
  name        = "v1"
  backend_url = "http://127.0.0.1:3001/mcp"

  lifecycle {
    ignore_changes = [status, traffic_weight, sunset_at]
  }
}

resource "mcp_server_version" "v2" {
  server         = mcp_server.weather.name
  name           = "v2"
  backend_url    = "http://127.0.0.1:3002/mcp"
  status         = "preview"
  traffic_weight = 0

  lifecycle {
    ignore_changes = [status, traffic_weight, sunset_at]
  }
}

# When v2 has proven itself:
#   terraform apply -invoke=action.mcp_promote_version.weather_v2
action "mcp_promote_version" "weather_v2" {
  config {
    server    = mcp_server.weather.name
    version   = mcp_server_version.v2.name
    sunset_at = "2027-06-30T00:00:00Z"
  }
}
