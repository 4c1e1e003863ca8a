-- mcpgate on PostgreSQL: the same tables as the SQLite store (see
-- migrations/sqlite), in one migration. Resource rows keep their validated
-- spec as JSON text beside the key and reference columns.
CREATE TABLE servers (
    name        TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    etag        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE versions (
    server      TEXT NOT NULL REFERENCES servers(name),
    name        TEXT NOT NULL,
    body        TEXT NOT NULL,
    etag        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (server, name)
);

CREATE TABLE products (
    name        TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    etag        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE product_servers (
    product     TEXT NOT NULL REFERENCES products(name),
    server      TEXT NOT NULL REFERENCES servers(name),
    body        TEXT NOT NULL,
    etag        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (product, server)
);
CREATE INDEX product_servers_by_server ON product_servers(server);

CREATE TABLE subscriptions (
    name                TEXT PRIMARY KEY,
    product             TEXT NOT NULL REFERENCES products(name),
    primary_key_hash    TEXT NOT NULL UNIQUE,
    secondary_key_hash  TEXT NOT NULL UNIQUE,
    sealed_keys         TEXT,
    body                TEXT NOT NULL,
    etag                TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX subscriptions_by_product ON subscriptions(product);

CREATE TABLE changes (
    id      BIGSERIAL PRIMARY KEY,
    kind    TEXT NOT NULL,
    parent  TEXT NOT NULL,
    name    TEXT NOT NULL
);
CREATE TABLE store_meta (
    name    TEXT PRIMARY KEY,
    value   BIGINT NOT NULL
);
INSERT INTO store_meta (name, value) VALUES ('changes_pruned_through', 0);

CREATE TABLE quota_counters (
    subscription    TEXT PRIMARY KEY,
    window_start    BIGINT NOT NULL,
    count           BIGINT NOT NULL,
    last_grant      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE rate_grants (
    subscription    TEXT NOT NULL,
    bucket          BIGINT NOT NULL,
    count           BIGINT NOT NULL,
    until_ms        BIGINT NOT NULL,
    PRIMARY KEY (subscription, bucket)
);
CREATE INDEX rate_grants_by_time ON rate_grants(subscription, until_ms);

CREATE TABLE calls (
    id              BIGSERIAL PRIMARY KEY,
    time            TIMESTAMPTZ NOT NULL,
    subscription    TEXT,
    product         TEXT NOT NULL,
    server          TEXT NOT NULL,
    version         TEXT NOT NULL,
    tool            TEXT NOT NULL,
    client_name     TEXT,
    client_version  TEXT,
    session_id      TEXT,
    duration_ms     DOUBLE PRECISION NOT NULL,
    status          TEXT NOT NULL,
    error_type      TEXT,
    error_message   TEXT,
    arguments       TEXT,
    result          TEXT,
    cost            DOUBLE PRECISION NOT NULL,
    bucket          BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX calls_by_time ON calls(time);
CREATE INDEX calls_by_session ON calls(session_id);
CREATE INDEX calls_by_server_tool ON calls(server, tool);
CREATE INDEX calls_by_subscription ON calls(subscription, time);

-- Hourly rollups: each "cube" keeps some dimensions ('' in the others);
-- one row per cube, hour and combination, its latency histogram in b0..b79
-- (bucket b holds durations in [0.05 ms * 1.25^b, 0.05 ms * 1.25^(b+1))).
CREATE TABLE call_rollups (
    cube            TEXT NOT NULL,
    hour            TIMESTAMPTZ NOT NULL,
    server          TEXT NOT NULL,
    version         TEXT NOT NULL,
    product         TEXT NOT NULL,
    subscription    TEXT NOT NULL,
    tool            TEXT NOT NULL,
    client_name     TEXT NOT NULL,
    calls           BIGINT NOT NULL,
    errors          BIGINT NOT NULL,
    cost            DOUBLE PRECISION NOT NULL,
    b0              BIGINT NOT NULL DEFAULT 0,
    b1              BIGINT NOT NULL DEFAULT 0,
    b2              BIGINT NOT NULL DEFAULT 0,
    b3              BIGINT NOT NULL DEFAULT 0,
    b4              BIGINT NOT NULL DEFAULT 0,
    b5              BIGINT NOT NULL DEFAULT 0,
    b6              BIGINT NOT NULL DEFAULT 0,
    b7              BIGINT NOT NULL DEFAULT 0,
    b8              BIGINT NOT NULL DEFAULT 0,
    b9              BIGINT NOT NULL DEFAULT 0,
    b10             BIGINT NOT NULL DEFAULT 0,
    b11             BIGINT NOT NULL DEFAULT 0,
    b12             BIGINT NOT NULL DEFAULT 0,
    b13             BIGINT NOT NULL DEFAULT 0,
    b14             BIGINT NOT NULL DEFAULT 0,
    b15             BIGINT NOT NULL DEFAULT 0,
    b16             BIGINT NOT NULL DEFAULT 0,
    b17             BIGINT NOT NULL DEFAULT 0,
    b18             BIGINT NOT NULL DEFAULT 0,
    b19             BIGINT NOT NULL DEFAULT 0,
    b20             BIGINT NOT NULL DEFAULT 0,
    b21             BIGINT NOT NULL DEFAULT 0,
    b22             BIGINT NOT NULL DEFAULT 0,
    b23             BIGINT NOT NULL DEFAULT 0,
    b24             BIGINT NOT NULL DEFAULT 0,
    b25             BIGINT NOT NULL DEFAULT 0,
    b26             BIGINT NOT NULL DEFAULT 0,
    b27             BIGINT NOT NULL DEFAULT 0,
    b28             BIGINT NOT NULL DEFAULT 0,
    b29             BIGINT NOT NULL DEFAULT 0,
    b30             BIGINT NOT NULL DEFAULT 0,
    b31             BIGINT NOT NULL DEFAULT 0,
    b32             BIGINT NOT NULL DEFAULT 0,
    b33             BIGINT NOT NULL DEFAULT 0,
    b34             BIGINT NOT NULL DEFAULT 0,
    b35             BIGINT NOT NULL DEFAULT 0,
    b36             BIGINT NOT NULL DEFAULT 0,
    b37             BIGINT NOT NULL DEFAULT 0,
    b38             BIGINT NOT NULL DEFAULT 0,
    b39             BIGINT NOT NULL DEFAULT 0,
    b40             BIGINT NOT NULL DEFAULT 0,
    b41             BIGINT NOT NULL DEFAULT 0,
    b42             BIGINT NOT NULL DEFAULT 0,
    b43             BIGINT NOT NULL DEFAULT 0,
    b44             BIGINT NOT NULL DEFAULT 0,
    b45             BIGINT NOT NULL DEFAULT 0,
    b46             BIGINT NOT NULL DEFAULT 0,
    b47             BIGINT NOT NULL DEFAULT 0,
    b48             BIGINT NOT NULL DEFAULT 0,
    b49             BIGINT NOT NULL DEFAULT 0,
    b50             BIGINT NOT NULL DEFAULT 0,
    b51             BIGINT NOT NULL DEFAULT 0,
    b52             BIGINT NOT NULL DEFAULT 0,
    b53             BIGINT NOT NULL DEFAULT 0,
    b54             BIGINT NOT NULL DEFAULT 0,
    b55             BIGINT NOT NULL DEFAULT 0,
    b56             BIGINT NOT NULL DEFAULT 0,
    b57             BIGINT NOT NULL DEFAULT 0,
    b58             BIGINT NOT NULL DEFAULT 0,
    b59             BIGINT NOT NULL DEFAULT 0,
    b60             BIGINT NOT NULL DEFAULT 0,
    b61             BIGINT NOT NULL DEFAULT 0,
    b62             BIGINT NOT NULL DEFAULT 0,
    b63             BIGINT NOT NULL DEFAULT 0,
    b64             BIGINT NOT NULL DEFAULT 0,
    b65             BIGINT NOT NULL DEFAULT 0,
    b66             BIGINT NOT NULL DEFAULT 0,
    b67             BIGINT NOT NULL DEFAULT 0,
    b68             BIGINT NOT NULL DEFAULT 0,
    b69             BIGINT NOT NULL DEFAULT 0,
    b70             BIGINT NOT NULL DEFAULT 0,
    b71             BIGINT NOT NULL DEFAULT 0,
    b72             BIGINT NOT NULL DEFAULT 0,
    b73             BIGINT NOT NULL DEFAULT 0,
    b74             BIGINT NOT NULL DEFAULT 0,
    b75             BIGINT NOT NULL DEFAULT 0,
    b76             BIGINT NOT NULL DEFAULT 0,
    b77             BIGINT NOT NULL DEFAULT 0,
    b78             BIGINT NOT NULL DEFAULT 0,
    b79             BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (cube, hour, server, version, product, subscription, tool, client_name)
);
CREATE INDEX call_rollups_by_subscription ON call_rollups(cube, subscription, hour);

CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    time        TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL
);
