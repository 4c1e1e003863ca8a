"""Drives a product's endpoint (/products/{product}/mcp) with the PyPI
`mcp` client and prints one JSON line of what came back: the federated
tool, prompt and resource lists, a call to each member, a prompt, a
resource, a tool list change announced by a member, and a made-up tool.

Usage: product_client.py URL KEY [MODE]
MODE: the client's `mode`, "legacy" (initialize, a session) or "auto"
(server/discover first; stateless 2026-07-28 when the server answers it,
where members' list changes are not announced).
"""
import asyncio
import json
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def text_of(result):
    return "".join(getattr(block, "text", "") for block in result.content)


def method_of(message):
    return getattr(message, "method", None) or getattr(getattr(message, "root", None), "method", None)


async def main(url, key, mode="legacy"):
    changed = asyncio.Event()

    async def on_message(message):
        if method_of(message) == "notifications/tools/list_changed":
            changed.set()

    http = create_mcp_http_client(headers={"X-Subscription-Key": key})
    report = {}
    async with Client(streamable_http_client(url, http_client=http), message_handler=on_message, mode=mode) as client:
        info = getattr(client, "server_info", None)
        report["server"] = getattr(info, "name", None)
        report["protocol"] = getattr(client.session, "protocol_version", None)
        report["instructions"] = getattr(client, "instructions", None)
        report["tools"] = sorted(t.name for t in (await client.list_tools()).tools)
        report["everything_echo"] = text_of(await client.call_tool("everything__echo", {"message": "hi"}))
        report["kb_echo"] = text_of(await client.call_tool("kb__echo", {"message": "hi"}))
        report["prompts"] = sorted(p.name for p in (await client.list_prompts()).prompts)
        prompt = await client.get_prompt("kb__summarize", {"topic": "refunds"})
        report["prompt"] = "".join(getattr(m.content, "text", "") for m in prompt.messages)
        report["resources"] = sorted(str(r.uri) for r in (await client.list_resources()).resources)
        read = await client.read_resource("kb://articles/welcome")
        report["resource"] = "".join(getattr(c, "text", "") for c in read.contents)
        report["publish"] = text_of(await client.call_tool("kb__publish", {"title": "faq"}))
        if report["protocol"] != "2026-07-28":
            try:
                await asyncio.wait_for(changed.wait(), 15)
                report["list_changed"] = True
            except asyncio.TimeoutError:
                report["list_changed"] = False
        report["tools_after"] = sorted(t.name for t in (await client.list_tools()).tools)
        try:
            made_up = await client.call_tool("nobody__echo", {"message": "hi"})
            report["made_up"] = {"is_error": bool(made_up.is_error), "message": text_of(made_up)}
        except Exception as error:  # the gateway's JSON-RPC error surfaces as an exception
            report["made_up"] = {"is_error": True, "message": str(error)}
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
