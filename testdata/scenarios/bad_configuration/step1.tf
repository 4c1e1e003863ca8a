resource "mcp_server" "bad_name" {
  name = "Bad_Name"
}
