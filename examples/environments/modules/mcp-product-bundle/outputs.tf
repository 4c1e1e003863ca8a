output "product" {
  description = "The product's name."
  value       = mcp_product.this.name
}

output "mcp_paths" {
  description = "Gateway paths of the bundle's servers."
  value       = { for name, server in mcp_server.this : name => "/mcp/${server.name}" }
}

output "subscription_keys" {
  description = "Primary key per consumer."
  value       = { for consumer, subscription in mcp_subscription.consumer : consumer => subscription.primary_key }
  sensitive   = true
}
