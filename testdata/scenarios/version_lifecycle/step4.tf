# Promotion by the mcp_promote_version action (run alone with
# `terraform apply -invoke=action.mcp_promote_version.v2`): v2 takes all the
# traffic and v1 is deprecated with a sunset date, in one step. The versions
# leave status, weight and sunset to the action from now on.
resource "mcp_server_version" "v1" {
  server         = mcp_server.everything.name
  name           = "v1"
  backend_url    = var.upstream_urls[0]
  traffic_weight = 50

  lifecycle {
    ignore_changes = [status, traffic_weight, sunset_at]
  }
}

resource "mcp_server_version" "v2" {
  server         = mcp_server.everything.name
  name           = "v2"
  backend_url    = var.upstream_urls[1]
  traffic_weight = 50

  lifecycle {
    ignore_changes = [status, traffic_weight, sunset_at]
  }
}

resource "mcp_product_server" "early" {
  product  = mcp_product.early.name
  server   = mcp_server.everything.name
  versions = [mcp_server_version.v2.name]
}

action "mcp_promote_version" "v2" {
  config {
    server    = mcp_server.everything.name
    version   = mcp_server_version.v2.name
    sunset_at = "2027-03-01T00:00:00Z"
  }
}
