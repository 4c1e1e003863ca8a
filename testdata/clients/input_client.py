"""Calls kb's `refund`, which asks the user first, through an MCP endpoint
with the PyPI `mcp` client in a given mode, approving when asked; prints one
JSON line: the revision spoken, the call's text, and what the user was asked.
A 2026-07-28 client gets the question as an `input_required` result and
sends the call again with the answer and the server's `requestState`; an
earlier one gets it as an elicitation request during the call.

Usage: input_client.py URL KEY MODE [TOOL [AMOUNT]]   (TOOL: refund, or its name on a product endpoint; AMOUNT 0 asks nothing)
"""
import asyncio
import json
import sys

from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

asked = []


async def approve(context, params):
    asked.append(params.message)
    return types.ElicitResult(action="accept", content={"approved": True})


async def main(url, key, mode, tool="refund", amount="5"):
    http = create_mcp_http_client(headers={"X-Subscription-Key": key})
    async with Client(streamable_http_client(url, http_client=http), mode=mode, elicitation_callback=approve) as client:
        called = await client.call_tool(tool, {"amount": int(amount)})
        print(json.dumps({
            "protocol": client.session.protocol_version,
            "text": "".join(getattr(block, "text", "") for block in called.content),
            "asked": asked,
        }))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
