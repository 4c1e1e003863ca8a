resource "mcp_server" "shop" {
  name = "acc-shop"
}

resource "mcp_product" "this" {
  name  = "acc-policies"
  state = "published"

  # Rules apply in order: the refusal first, then the limit.
  policy {
    name  = "no-big-refunds"
    tools = ["refund*"]
    when  = "mcp.tool.arguments.amount > 100"
    deny {
      message = "refunds over 100 need a human"
    }
  }

  policy {
    name  = "echo-limit"
    tools = ["echo"]
    rate_limit {
      calls          = 2
      period_seconds = 3600
    }
  }
}

resource "mcp_product_server" "this" {
  product = mcp_product.this.name
  server  = mcp_server.shop.name

  policy {
    name = "check"
    validate_arguments {}
  }

  policy {
    name        = "stamp"
    set_headers = { "X-Consumer" = "{subscription}" }
  }
}
