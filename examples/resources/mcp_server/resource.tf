resource "mcp_server" "weather" {
  name        = "weather"
  description = "Forecasts and observations"
  owner       = "team-weather"
  tags = {
    team = "weather"
    tier = "gold"
  }
}
