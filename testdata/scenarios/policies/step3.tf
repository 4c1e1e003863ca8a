resource "mcp_server" "shop" {
  name = "acc-shop"
}

resource "mcp_product" "this" {
  name  = "acc-policies"
  state = "published"

  policy {
    name = "broken"
    when = "mcp.tool.arguments.amount >"
    deny {
      message = "never"
    }
  }

  policy {
    name = "two-actions"
    timeout {
      ms = 100
    }
    cost {
      per_call = 1
    }
  }
}
