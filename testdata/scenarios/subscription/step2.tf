resource "mcp_product" "this" {
  name  = "acc-subscribed"
  state = "published"
}

resource "mcp_subscription" "this" {
  name         = "acc-alice"
  product      = mcp_product.this.name
  owner        = "alice@example.com"
  display_name = "Alice"
  state        = "suspended"
}
