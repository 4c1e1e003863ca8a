"""Calls every operation of the orders REST API through mcpgate with the
PyPI `mcp` client, and prints one JSON line of what came back.

Usage: rest_client.py URL KEY
"""
import asyncio
import json
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def text_of(result):
    return "".join(getattr(block, "text", "") for block in result.content)


def shown(result):
    return {"is_error": bool(result.is_error), "text": text_of(result), "structured": result.structured_content}


async def main(url, key):
    http = create_mcp_http_client(headers={"X-Subscription-Key": key})
    report = {}
    async with Client(streamable_http_client(url, http_client=http)) as client:
        tools = (await client.list_tools()).tools
        report["tools"] = sorted(t.name for t in tools)
        report["protocol"] = client.session.protocol_version
        report["schemas"] = {t.name: t.input_schema for t in tools}
        report["get"] = shown(await client.call_tool("getOrder", {"order_id": 1, "verbose": True, "x-tenant": "acme"}))
        report["list"] = shown(await client.call_tool("listOrders", {"status": ["open", "shipped"], "limit": 5}))
        new = {"customer": {"name": "Linus", "email": "linus@example.com", "address": {"street": "3 Hill", "city": "Faro"}},
               "items": [{"sku": "tea", "quantity": 3}]}
        report["create"] = shown(await client.call_tool("createOrder", {"body": new}))
        report["missing"] = shown(await client.call_tool("getOrder", {"order_id": 999}))
        too_many = dict(new, items=[{"sku": "tea", "quantity": 500}])
        report["unprocessable"] = shown(await client.call_tool("createOrder", {"body": too_many}))
        try:
            await client.call_tool("getOrder", {"order_id": "not a number"})
            report["bad_arguments"] = "accepted"
        except Exception as error:  # the gateway's JSON-RPC error surfaces as an exception
            report["bad_arguments"] = str(error)
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
