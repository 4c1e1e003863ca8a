resource "mcp_product" "starter" {
  name  = "starter"
  state = "published"
}

# Keys rotate outside the resource, so keep them out of state and read them
# with the mcp_subscription_key ephemeral resource.
resource "mcp_subscription" "support_bot" {
  name                = "support-bot"
  product             = mcp_product.starter.name
  store_keys_in_state = false
}

action "mcp_rotate_subscription_key" "support_bot_secondary" {
  config {
    subscription = mcp_subscription.support_bot.name
    key          = "secondary"
  }
}

# Rotate on the pipeline's schedule: bump key_rotation and apply.
variable "key_rotation" {
  type    = number
  default = 1
}

resource "terraform_data" "key_rotation" {
  input = var.key_rotation

  lifecycle {
    action_trigger {
      events  = [after_update]
      actions = [action.mcp_rotate_subscription_key.support_bot_secondary]
    }
  }
}

# Or at once:
#   terraform apply -invoke=action.mcp_rotate_subscription_key.support_bot_secondary
