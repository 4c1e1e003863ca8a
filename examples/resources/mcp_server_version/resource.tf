resource "mcp_server" "weather" {
  name = "weather"
}

resource "mcp_server_version" "v1" {
  server      = mcp_server.weather.name
  name        = "v1"
  backend_url = "http://127.0.0.1:3001/mcp"

  # Sent upstream by the gateway, never stored in state. Bump the version to
  # send new values.
  backend_headers = {
    Authorization = "Bearer upstream-credential"
  }
  backend_headers_version = 1

  tool_costs = {
    forecast = 0.02
    default  = 0.01
  }
}

# A canary: 10% of active traffic while v1 keeps the rest. Its backend wants
# an OAuth token of its own: the gateway gets one with the client-credentials
# grant and caches it; clients' credentials never reach the backend.
resource "mcp_server_version" "v2" {
  server         = mcp_server.weather.name
  name           = "v2"
  backend_url    = "http://127.0.0.1:3002/mcp"
  traffic_weight = 10

  client_credentials = {
    token_url = "https://login.example.com/oauth2/token"
    client_id = "mcpgate-weather"
    scopes    = ["weather.read"]
  }
  # Write-only: never in state. Bump the version to send a new secret.
  client_secret         = "upstream-client-secret"
  client_secret_version = 1
}

# A REST API as MCP tools: each operation of its OpenAPI document (JSON or
# YAML, 3.0 or 3.1) becomes a tool; the gateway turns each call into one
# HTTP request to base_url. Usually `spec = file("orders.yaml")`.
resource "mcp_server" "orders" {
  name = "orders"
}

resource "mcp_server_version" "orders_v1" {
  server = mcp_server.orders.name
  name   = "v1"
  openapi = {
    base_url           = "http://orders.internal:8000"
    exclude_operations = ["delete*"]
    spec               = <<-YAML
      openapi: 3.1.0
      info: { title: Orders, version: "1" }
      paths:
        /orders/{order_id}:
          get:
            operationId: getOrder
            summary: One order
            parameters:
              - { name: order_id, in: path, required: true, schema: { type: integer } }
            responses: { '200': { description: the order } }
          delete:
            operationId: deleteOrder
            parameters:
              - { name: order_id, in: path, required: true, schema: { type: integer } }
            responses: { '204': { description: deleted } }
    YAML
  }

  # The REST API's own credential, sent with every request.
  backend_headers = {
    X-Api-Key = "orders-api-key"
  }
  backend_headers_version = 1
}
