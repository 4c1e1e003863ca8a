"""Lists and calls one tool through an MCP endpoint with the PyPI `mcp`
client in a given mode, and prints one JSON line: the revision it ended up
speaking, the tools it saw (with the list's caching fields), the call's
text, and, where the server has it, a call to `locate`, whose argument a
2026-07-28 client mirrors into a header.

Usage: revision_client.py URL KEY MODE TOOL
MODE: "legacy" (initialize, a session), "2026-07-28" (stateless, no probe)
or "auto" (server/discover first, falling back to initialize).
"""
import asyncio
import json
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def main(url, key, mode, tool):
    http = create_mcp_http_client(headers={"X-Subscription-Key": key})
    async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        listed = await client.list_tools()
        called = await client.call_tool(tool, {"message": "hi"})
        located = None
        if any(t.name == "locate" for t in listed.tools):
            # Its schema mirrors `region` into Mcp-Param-Region; 2026-07-28 clients send it.
            located = (await client.call_tool("locate", {"region": "eu-west"})).content[0].text
        print(json.dumps({
            "located": located,
            "protocol": client.session.protocol_version,
            "tools": sorted(t.name for t in listed.tools),
            "cache_scope": getattr(listed, "cache_scope", None),
            "text": "".join(getattr(block, "text", "") for block in called.content),
        }))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
