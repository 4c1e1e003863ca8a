resource "mcp_server" "managed" {
  name        = "acc-drifting"
  description = "Managed by Terraform"
  owner       = "platform"
}
