resource "mcp_product" "bad" {
  name       = "acc-limits"
  rate_limit = { calls = 10, period_seconds = 0 }
  quota      = { calls = -1, period_seconds = 60 }
}
