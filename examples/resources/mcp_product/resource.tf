resource "mcp_product" "starter" {
  name        = "starter"
  description = "Free tier for internal agents"
  state       = "published"

  rate_limit = {
    calls          = 60
    period_seconds = 60
  }
  quota = {
    calls          = 10000
    period_seconds = 86400
  }
  subscriptions_limit = 100
}
