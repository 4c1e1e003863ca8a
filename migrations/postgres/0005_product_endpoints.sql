-- The endpoint a call came through: /mcp/{server} or /products/{product}/mcp.
ALTER TABLE calls ADD COLUMN endpoint TEXT;

-- Rollups gain the endpoint as a dimension (kept by the endpoints cube, ''
-- elsewhere), part of the primary key.
ALTER TABLE call_rollups ADD COLUMN endpoint TEXT NOT NULL DEFAULT '';
ALTER TABLE call_rollups DROP CONSTRAINT call_rollups_pkey;
ALTER TABLE call_rollups ADD PRIMARY KEY (cube, hour, server, version, product, subscription, tool, client_name, endpoint);

-- A product endpoint's session holds one upstream session per member
-- server, opened on first use; any replica reads them here.
CREATE TABLE member_sessions (
    session     TEXT NOT NULL,
    server      TEXT NOT NULL,
    version     TEXT NOT NULL,
    upstream    TEXT NOT NULL,
    protocol    TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session, server)
);
CREATE INDEX member_sessions_by_time ON member_sessions(created_at);
