# Resources every step keeps: the server, two products, their subscriptions.
resource "mcp_server" "everything" {
  name = "lifecycle"
}

resource "mcp_product" "gold" {
  name  = "gold"
  state = "published"
}

resource "mcp_product" "early" {
  name  = "early-adopters"
  state = "published"
}

resource "mcp_product_server" "gold" {
  product = mcp_product.gold.name
  server  = mcp_server.everything.name
}

resource "mcp_subscription" "alice" {
  name    = "alice"
  product = mcp_product.gold.name
}

resource "mcp_subscription" "eve" {
  name    = "eve"
  product = mcp_product.early.name
}

output "alice_key" {
  value     = mcp_subscription.alice.primary_key
  sensitive = true
}

output "eve_key" {
  value     = mcp_subscription.eve.primary_key
  sensitive = true
}
