resource "mcp_server" "pets" {
  name = "acc-pets"
}

resource "mcp_server_version" "v1" {
  server = mcp_server.pets.name
  name   = "v1"
  openapi = {
    spec     = file("${path.module}/broken.yaml")
    base_url = "http://127.0.0.1:9/api"
  }
}
