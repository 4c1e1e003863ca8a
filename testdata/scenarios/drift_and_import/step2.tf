resource "mcp_server" "managed" {
  name        = "acc-drifting"
  description = "Managed by Terraform"
  owner       = "platform"
}

import {
  to       = mcp_server.adopted
  identity = { name = "acc-made-by-curl" }
}

resource "mcp_server" "adopted" {
  name        = "acc-made-by-curl"
  description = "Created outside Terraform"
  tags        = { origin = "curl" }
}
