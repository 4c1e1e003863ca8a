# A product is imported by its name.
terraform import mcp_product.starter starter
