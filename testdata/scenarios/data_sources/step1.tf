resource "mcp_server" "payments" {
  name = "acc-payments"
  tags = { team = "payments", tier = "gold" }
}

resource "mcp_server" "search" {
  name = "acc-search"
  tags = { team = "search" }
}

resource "mcp_product" "this" {
  name        = "acc-catalog"
  description = "Catalog"
}
