"""Drives an MCP server through mcpgate with the PyPI `mcp` client.

Usage: mcp_client.py URL KEY CALL_TOOL CALL_ARGS_JSON REFUSED_TOOL

Lists tools, calls CALL_TOOL, tries REFUSED_TOOL, and prints one JSON line:
{"server": ..., "tools": [...], "call": <text>, "refused": <error or tool-error text>}.
The client's auto mode first tries `server/discover` and falls back to
`initialize` on the 400 an older server answers, through the gateway.
"""
import asyncio
import json
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def text_of(result):
    return "".join(getattr(block, "text", "") for block in result.content)


async def main(url, key, tool, arguments, refused_tool):
    http = create_mcp_http_client(headers={"X-Subscription-Key": key} if key else None)
    async with Client(streamable_http_client(url, http_client=http)) as client:
        tools = sorted(t.name for t in (await client.list_tools()).tools)
        called = await client.call_tool(tool, arguments)
        try:
            refused = await client.call_tool(refused_tool, {})
            refusal = {"is_error": bool(refused.is_error), "message": text_of(refused)}
        except Exception as error:  # the gateway's JSON-RPC error surfaces as an exception
            refusal = {"is_error": True, "message": str(error)}
        info = client.server_info if hasattr(client, "server_info") else None
        print(json.dumps({
            "server": getattr(info, "name", None),
            "tools": tools,
            "call": text_of(called),
            "call_is_error": bool(called.is_error),
            "refused": refusal,
        }))


if __name__ == "__main__":
    url, key, tool, arguments, refused_tool = sys.argv[1:6]
    asyncio.run(main(url, key, tool, json.loads(arguments), refused_tool))
