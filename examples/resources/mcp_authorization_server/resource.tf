# Entra ID as the issuer of the access tokens MCP clients present.
resource "mcp_authorization_server" "entra" {
  name          = "entra"
  display_name  = "Contoso Entra ID"
  issuer        = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0"
  subject_claim = "oid"
}

# A product that accepts only tokens from it, carrying the scope `mcp.tools`.
resource "mcp_product" "copilots" {
  name                 = "copilots"
  state                = "published"
  authorization_server = mcp_authorization_server.entra.name
  required_scopes      = ["mcp.tools"]
  accept_keys          = false
}

# Calls with a token whose `oid` is this user's object id count against this subscription.
resource "mcp_subscription" "ada" {
  name                = "ada"
  product             = mcp_product.copilots.name
  owner               = "ada@contoso.com"
  token_subjects      = ["11111111-2222-3333-4444-555555555555"]
  store_keys_in_state = false
}
