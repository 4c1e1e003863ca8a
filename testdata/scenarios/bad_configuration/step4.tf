resource "mcp_product_server" "bad" {
  product = "acc-p"
  server  = "acc-s"
  tools   = ["ok-*", "broken[glob"]
}
