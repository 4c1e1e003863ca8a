resource "mcp_product" "this" {
  name                = "acc-product"
  description         = "Acceptance product"
  approval_required   = true
  subscriptions_limit = 5
  quota               = { calls = 1000, period_seconds = 86400 }
  terms               = "Be nice."
}
