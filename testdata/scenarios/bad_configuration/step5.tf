resource "mcp_authorization_server" "idp" {
  name          = "acc-bad-idp"
  issuer        = "ftp://login.example.com"
  subject_claim = "user id"
}

resource "mcp_product" "tokens" {
  name            = "acc-bad-tokens"
  required_scopes = ["mcp:tools"]
}
