"""Drives an MCP server through mcpgate with the PyPI `mcp` client's OAuth
support, headless: on the gateway's 401 the client discovers the
authorization server from mcpgate's RFC 9728 metadata, registers itself
(RFC 7591), runs the authorization-code flow with PKCE and the `resource`
parameter (RFC 8707), and retries with the token.

Usage: mcp_oauth_client.py URL CALL_TOOL CALL_ARGS_JSON REFUSED_TOOL

The browser step is played by an HTTP GET of the authorization URL whose
redirect carries the code (the test authorization server logs users in
without a page). Prints one JSON line:
{"tools": [...], "call": <text>, "refused": {...}, "flow": [<steps seen>]}.
"""
import asyncio
import json
import sys
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import OAuthClientMetadata

REDIRECT_URI = "http://127.0.0.1:1/callback"


class MemoryStorage:
    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


def text_of(result):
    return "".join(getattr(block, "text", "") for block in result.content)


async def main(url, tool, arguments, refused_tool):
    flow = []
    redirect = {}

    async def open_browser(authorization_url):
        query = parse_qs(urlparse(authorization_url).query)
        flow.append({"authorize": {k: query.get(k, [None])[0] for k in ("resource", "scope", "code_challenge_method")}})
        async with httpx2.AsyncClient() as browser:
            response = await browser.get(authorization_url)
        location = parse_qs(urlparse(response.headers["location"]).query)
        redirect["code"] = location["code"][0]
        redirect["state"] = location.get("state", [None])[0]

    async def callback():
        return AuthorizationCodeResult(code=redirect["code"], state=redirect["state"])

    storage = MemoryStorage()
    auth = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="mcpgate-test",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=open_browser,
        callback_handler=callback,
    )
    http = create_mcp_http_client(auth=auth)
    async with Client(streamable_http_client(url, http_client=http)) as client:
        tools = sorted(t.name for t in (await client.list_tools()).tools)
        called = await client.call_tool(tool, arguments)
        try:
            refused = await client.call_tool(refused_tool, {})
            refusal = {"is_error": bool(refused.is_error), "message": text_of(refused)}
        except Exception as error:  # the gateway's JSON-RPC error surfaces as an exception
            refusal = {"is_error": True, "message": str(error)}
    print(json.dumps({
        "tools": tools,
        "call": text_of(called),
        "refused": refusal,
        "flow": flow,
        "registered": storage.client_info is not None,
        "token_scope": storage.tokens.scope if storage.tokens else None,
    }))


if __name__ == "__main__":
    url, tool, arguments, refused_tool = sys.argv[1:5]
    asyncio.run(main(url, tool, json.loads(arguments), refused_tool))
