# An authorization server is imported by its name.
terraform import mcp_authorization_server.entra entra
