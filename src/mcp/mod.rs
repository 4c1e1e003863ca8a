//! MCP on the wire, as every part that speaks it reads it: JSON-RPC
//! messages (`jsonrpc`) and `text/event-stream` bodies (`sse`). The gateway
//! and mcpgate's own upstream clients share them.

pub mod jsonrpc;
pub mod sse;
