resource "mcp_server" "weather" {
  name = "weather"
  tags = { tier = "gold" }
}

# Every server tagged tier = "gold", e.g. to put them all in one product.
data "mcp_servers" "gold" {
  tags       = { tier = "gold" }
  depends_on = [mcp_server.weather]
}

output "gold_servers" {
  value = [for s in data.mcp_servers.gold.servers : s.name]
}
