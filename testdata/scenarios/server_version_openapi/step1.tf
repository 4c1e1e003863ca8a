resource "mcp_server" "pets" {
  name = "acc-pets"
}

# A REST API as MCP tools: each operation of the document is a tool.
resource "mcp_server_version" "v1" {
  server = mcp_server.pets.name
  name   = "v1"
  openapi = {
    spec               = file("${path.module}/pets.yaml")
    base_url           = "http://127.0.0.1:9/api"
    exclude_operations = ["addPet"]
  }
}

data "mcp_server_tools" "pets" {
  server  = mcp_server.pets.name
  version = mcp_server_version.v1.name
}

