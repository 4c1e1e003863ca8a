resource "mcp_product" "starter" {
  name  = "starter"
  state = "published"
}

resource "mcp_subscription" "support_bot" {
  name    = "support-bot"
  product = mcp_product.starter.name
  owner   = "team-support"
}

# Hand the key to the consumer through a secret store, not an output.
output "support_bot_key" {
  value     = mcp_subscription.support_bot.primary_key
  sensitive = true
}
