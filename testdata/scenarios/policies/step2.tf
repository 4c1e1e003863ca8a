resource "mcp_server" "shop" {
  name = "acc-shop"
}

resource "mcp_product" "this" {
  name  = "acc-policies"
  state = "published"

  policy {
    name  = "echo-limit"
    tools = ["echo"]
    rate_limit {
      calls          = 5
      period_seconds = 3600
      key            = "client"
    }
  }

  policy {
    name  = "no-big-refunds"
    tools = ["refund*"]
    when  = "mcp.tool.arguments.amount > 100"
    deny {
      message = "refunds over 100 need a human"
    }
  }
}

resource "mcp_product_server" "this" {
  product = mcp_product.this.name
  server  = mcp_server.shop.name

  policy {
    name = "hide-cards"
    redact {
      pattern = "\\d{4}-\\d{4}"
      in      = "result"
    }
  }
}
