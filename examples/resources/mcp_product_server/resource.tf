resource "mcp_server" "weather" {
  name = "weather"
}

resource "mcp_product" "starter" {
  name  = "starter"
  state = "published"
}

# Consumers of "starter" reach only the read-only weather tools.
resource "mcp_product_server" "starter_weather" {
  product = mcp_product.starter.name
  server  = mcp_server.weather.name
  tools   = ["get_*", "forecast"]

  # This server's own rules, after the product's: arguments are checked
  # against each tool's inputSchema, and the backend learns who calls.
  policy {
    name = "check-arguments"
    validate_arguments {}
  }

  policy {
    name        = "stamp-consumer"
    set_headers = { "X-Consumer" = "{subscription}" }
  }
}
