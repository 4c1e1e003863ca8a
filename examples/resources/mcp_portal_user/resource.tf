variable "portal_password" {
  type      = string
  sensitive = true
  default   = "change me, at least 12 characters"
}

# A consumer who signs in to the developer portal at /portal.
resource "mcp_portal_user" "ada" {
  name         = "ada"
  display_name = "Ada Lovelace"
  password     = var.portal_password
}

# An operator: also the console at /console.
resource "mcp_portal_user" "grace" {
  name             = "grace"
  display_name     = "Grace Hopper"
  role             = "operator"
  password         = var.portal_password
  password_version = 1
}
