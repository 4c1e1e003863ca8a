resource "mcp_product" "starter" {
  name  = "starter"
  quota = { calls = 1000, period_seconds = 86400 }
}

data "mcp_product" "starter" {
  name = mcp_product.starter.name
}

output "starter_daily_quota" {
  value = data.mcp_product.starter.quota.calls
}
