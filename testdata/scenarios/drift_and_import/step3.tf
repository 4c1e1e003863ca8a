resource "mcp_server" "managed" {
  name        = "acc-drifting"
  description = "Managed by Terraform"
  owner       = "platform"
}

resource "mcp_server" "adopted" {
  name        = "acc-made-by-curl"
  description = "Now managed by Terraform"
  tags        = { origin = "curl" }
}
