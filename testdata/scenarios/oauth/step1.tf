resource "mcp_authorization_server" "idp" {
  name   = "acc-idp"
  issuer = "https://login.example.com/tenant/v2.0"
}

resource "mcp_server" "weather" {
  name = "acc-oauth-weather"
}

resource "mcp_server_version" "v1" {
  server      = mcp_server.weather.name
  name        = "v1"
  backend_url = "http://127.0.0.1:9/mcp"
  client_credentials = {
    token_url = "https://login.example.com/tenant/oauth2/v2.0/token"
    client_id = "mcpgate-weather"
    scopes    = ["api://weather/.default"]
  }
  client_secret         = "upstream-s3cret"
  client_secret_version = 1
}

resource "mcp_product" "agents" {
  name                 = "acc-agents"
  state                = "published"
  authorization_server = mcp_authorization_server.idp.name
  required_scopes      = ["mcp:tools"]
  accept_keys          = false
}

resource "mcp_subscription" "alice" {
  name                = "acc-alice-oauth"
  product             = mcp_product.agents.name
  token_subjects      = ["alice@example.com"]
  store_keys_in_state = false
}
