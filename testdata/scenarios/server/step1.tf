resource "mcp_server" "this" {
  name        = "acc-server"
  description = "Acceptance server"
  owner       = "team-a"
  tags        = { env = "test", team = "a" }
}
