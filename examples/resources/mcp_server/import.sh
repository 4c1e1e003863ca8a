# A server is imported by its name.
terraform import mcp_server.weather weather
