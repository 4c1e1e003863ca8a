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

CREATE TABLE call_rollups (
    hour            TIMESTAMPTZ NOT NULL,
    server          TEXT NOT NULL,
    version         TEXT NOT NULL,
    product         TEXT NOT NULL,
    subscription    TEXT NOT NULL,
    tool            TEXT NOT NULL,
    client_name     TEXT NOT NULL,
    bucket          BIGINT NOT NULL,
    calls           BIGINT NOT NULL,
    errors          BIGINT NOT NULL,
    cost            DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (hour, server, version, product, subscription, tool, client_name, bucket)
);

CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    time        TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL
);
