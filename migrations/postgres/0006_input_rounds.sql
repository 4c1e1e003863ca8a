-- MCP 2026-07-28's input_required rounds: a call whose result asked for
-- input, and the call that sent the answer back, share a key (a digest of
-- the caller and the requestState the server handed out).
ALTER TABLE calls ADD COLUMN awaits_input TEXT;
ALTER TABLE calls ADD COLUMN continues TEXT;
