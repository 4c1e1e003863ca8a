resource "mcp_product" "partner" {
  name              = "partner"
  state             = "published"
  approval_required = true
}

# Approved as soon as Terraform creates it.
resource "mcp_subscription" "acme" {
  name    = "acme"
  product = mcp_product.partner.name

  lifecycle {
    action_trigger {
      events  = [after_create]
      actions = [action.mcp_approve_subscription.acme]
    }
  }
}

action "mcp_approve_subscription" "acme" {
  config {
    subscription = "acme"
    approve      = true
  }
}

# Reviewed first, then decided with
#   terraform apply -invoke=action.mcp_approve_subscription.globex
resource "mcp_subscription" "globex" {
  name    = "globex"
  product = mcp_product.partner.name
}

action "mcp_approve_subscription" "globex" {
  config {
    subscription = mcp_subscription.globex.name
    approve      = false
  }
}
