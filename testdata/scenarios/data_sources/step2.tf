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

data "mcp_server" "payments" {
  name = mcp_server.payments.name
}

data "mcp_product" "this" {
  name = mcp_product.this.name
}

data "mcp_servers" "gold" {
  tags       = { tier = "gold" }
  depends_on = [mcp_server.payments, mcp_server.search]
}

resource "terraform_data" "seen" {
  input = {
    payments_team = data.mcp_server.payments.tags["team"]
    product       = data.mcp_product.this.description
    gold          = [for s in data.mcp_servers.gold.servers : s.name]
  }
}
