# A version is imported by <server>/<version>.
terraform import mcp_server_version.v1 weather/v1
