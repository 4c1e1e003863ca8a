# An association is imported by <product>/<server>.
terraform import mcp_product_server.starter_weather starter/weather
