resource "mcp_server" "this" {
  name         = "acc-server"
  display_name = "Acceptance"
  description  = "Acceptance server, updated"
  tags         = { env = "test" }
}
