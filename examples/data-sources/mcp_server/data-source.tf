resource "mcp_server" "weather" {
  name  = "weather"
  owner = "team-weather"
}

data "mcp_server" "weather" {
  name = mcp_server.weather.name
}

output "weather_owner" {
  value = data.mcp_server.weather.owner
}
