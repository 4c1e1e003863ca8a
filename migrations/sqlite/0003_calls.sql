-- The gateway's call log: one row per tools/call, written in batches off the
-- hot path, pruned by age and count.
CREATE TABLE calls (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    time            TEXT NOT NULL,
    subscription    TEXT,
    product         TEXT NOT NULL,
    server          TEXT NOT NULL,
    version         TEXT NOT NULL,
    tool            TEXT NOT NULL,
    client_name     TEXT,
    client_version  TEXT,
    session_id      TEXT,
    duration_ms     REAL NOT NULL,
    status          TEXT NOT NULL,
    error_type      TEXT,
    error_message   TEXT,
    arguments       TEXT,
    result          TEXT,
    cost            REAL NOT NULL
);
CREATE INDEX calls_by_time ON calls(time);
CREATE INDEX calls_by_session ON calls(session_id);
CREATE INDEX calls_by_server_tool ON calls(server, tool);
