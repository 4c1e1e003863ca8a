# A subscription is imported by its name. Its keys cannot be read back, so
# primary_key and secondary_key are null after an import.
terraform import mcp_subscription.support_bot support-bot
