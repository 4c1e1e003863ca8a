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
}
