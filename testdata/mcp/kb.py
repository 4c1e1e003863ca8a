"""A second real MCP server for product endpoint tests (PyPI `mcp`,
MCPServer over Streamable HTTP): a knowledge base with a tool named like
server-everything's (`echo`), one whose name clients reject
(`lookup.article`), one whose argument 2026-07-28 clients mirror into a
header (`locate`, `Mcp-Param-Region`), one that asks the user first
(`refund`: an elicitation, which a 2026-07-28 client gets as an
`input_required` result with a `requestState` to send back), a prompt, a
resource, and `publish`, which adds a tool and tells its clients their tool
list changed.

Usage: kb.py PORT
"""
import asyncio
import sys
from typing import Annotated

from pydantic import BaseModel, Field

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resolve import Elicit, Resolve

server = MCPServer(name="kb", instructions="Search the knowledge base before answering a support question.")
background = set()


@server.tool()
def echo(message: str) -> str:
    """Echoes the message back, from the knowledge base."""
    return f"kb: {message}"


@server.tool()
def search(query: str) -> str:
    """Finds knowledge base articles about a query."""
    return f"3 articles about {query}"


@server.tool(name="lookup.article")
def lookup_article(article_id: int) -> str:
    """Reads one article by its id."""
    return f"article {article_id}"


@server.tool()
def locate(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
    """Finds the support office for a region."""
    return f"office in {region}"


@server.tool()
async def publish(title: str, ctx: Context) -> str:
    """Publishes an article: a tool to read it appears, and clients hear the tool list changed."""
    server.add_tool(lambda: f"the article {title}", name=f"read_{title}", description=f"Reads the article {title}.")
    session = ctx.session

    async def announce():
        # After the call's answer: the notification belongs to no request, so it goes on the session's own stream.
        await asyncio.sleep(0.3)
        await session.send_tool_list_changed()

    task = asyncio.get_running_loop().create_task(announce())
    background.add(task)
    task.add_done_callback(background.discard)
    return f"published {title}"


class Approval(BaseModel):
    approved: bool


def ask_approval(amount: int):
    # Nothing to approve for nothing: the call completes in one round.
    if amount == 0:
        return Approval(approved=True)
    return Elicit(f"Approve a refund of {amount}?", Approval)


@server.tool()
def refund(amount: int, approval: Annotated[Approval, Resolve(ask_approval)]) -> str:
    """Refunds an amount once the user approves it."""
    return f"refund of {amount} {'approved' if approval.approved else 'declined'}"


@server.prompt()
def summarize(topic: str) -> str:
    """Asks for a summary of what the knowledge base says about a topic."""
    return f"Summarize what the knowledge base says about {topic}."


@server.resource("kb://articles/welcome")
def welcome() -> str:
    """The welcome article."""
    return "Welcome to the knowledge base."


if __name__ == "__main__":
    server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
