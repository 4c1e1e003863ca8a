# A portal user is imported by name; its password is write-only and not imported.
terraform import mcp_portal_user.ada ada
