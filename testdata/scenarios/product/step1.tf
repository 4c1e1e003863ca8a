resource "mcp_product" "this" {
  name        = "acc-product"
  description = "Acceptance product"
  state       = "published"
  rate_limit  = { calls = 10, period_seconds = 60 }
}
