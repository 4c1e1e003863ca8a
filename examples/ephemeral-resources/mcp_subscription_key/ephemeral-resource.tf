resource "mcp_product" "starter" {
  name  = "starter"
  state = "published"
}

resource "mcp_subscription" "support_bot" {
  name                = "support-bot"
  product             = mcp_product.starter.name
  store_keys_in_state = false
}

# Read when this run needs it; never written to state or plan.
ephemeral "mcp_subscription_key" "support_bot" {
  subscription = mcp_subscription.support_bot.name
}

# Hand the key to the consumer's secret store. Ephemeral values may go to
# provisioners, provider blocks and write-only arguments; here a provisioner
# writes it to a file only its owner can read.
resource "terraform_data" "support_bot_key" {
  triggers_replace = [mcp_subscription.support_bot.created_at]

  provisioner "local-exec" {
    command     = "umask 077 && printf '%s' \"$KEY\" > support-bot.key"
    environment = { KEY = ephemeral.mcp_subscription_key.support_bot.value }
  }
}
