// The TypeScript SDK's client (npm @modelcontextprotocol/client, v2) through the
// gateway: connect offering the given revisions, list tools, call one, and print
// what it saw as JSON on stdout.
//   node ts_client.mjs URL KEY MODE TOOL   (KEY '' for a product that needs none)
// MODE: legacy (initialize, 2025-11-25), auto (server/discover first, initialize
// as fallback) or 2026-07-28 (pinned: server/discover and stateless requests only).
// MCPGATE_TS_SDK: the SDK's ESM entry point (installed in .cache/node by
// scripts/lib/tools.sh), imported by path since this file lives elsewhere.
import { pathToFileURL } from "node:url";

const { Client, StreamableHTTPClientTransport } = await import(pathToFileURL(process.env.MCPGATE_TS_SDK).href);

const [url, key, mode, tool] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: key ? { "X-Subscription-Key": key } : {} },
});
const client = new Client(
  { name: "mcpgate-ts-test", version: "1.0.0" },
  { versionNegotiation: mode === "legacy" || mode === "auto" ? { mode } : { mode: { pin: mode } } },
);
await client.connect(transport);
const listed = await client.listTools();
const called = await client.callTool({ name: tool, arguments: { message: "hi" } });
console.log(JSON.stringify({
  protocol: transport.protocolVersion ?? client.protocolVersion ?? null,
  tools: listed.tools.map((t) => t.name).sort(),
  text: called.content?.[0]?.text ?? null,
  is_error: called.isError ?? false,
}));
await client.close();
