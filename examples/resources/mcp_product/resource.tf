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

resource "mcp_product" "payments" {
  name  = "payments"
  state = "published"

  # Rules apply in order. Refunds over 100 need a human; refunds are
  # limited harder than the other tools.
  policy {
    name  = "no-big-refunds"
    tools = ["refund*"]
    when  = "mcp.tool.arguments.amount > 100"
    deny {
      message = "refunds over 100 need a human"
    }
  }

  policy {
    name  = "refund-limit"
    tools = ["refund*"]
    rate_limit {
      calls          = 10
      period_seconds = 3600
    }
  }
}
