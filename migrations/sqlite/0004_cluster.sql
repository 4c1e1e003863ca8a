-- What scale-out and secrets at rest need.

-- Both subscription keys, sealed under the server's secret key, so an admin
-- can list them (list-secrets); the hashes stay for lookup.
ALTER TABLE subscriptions ADD COLUMN sealed_keys TEXT;

-- The change feed: every write appends the keys it changed, in the same
-- transaction; readers follow it by id.
CREATE TABLE changes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,
    parent  TEXT NOT NULL,
    name    TEXT NOT NULL
);
CREATE TABLE store_meta (
    name    TEXT PRIMARY KEY,
    value   INTEGER NOT NULL
);
INSERT INTO store_meta (name, value) VALUES ('changes_pruned_through', 0);

-- Quota counts are reservations made before units are spent; last_grant is
-- what the last reservation granted.
ALTER TABLE quota_counters ADD COLUMN last_grant INTEGER NOT NULL DEFAULT 0;

-- Rate-limit capacity reserved before it is spent, counted as spent at
-- until_ms after a crash.
CREATE TABLE rate_grants (
    subscription    TEXT NOT NULL,
    bucket          INTEGER NOT NULL,
    count           INTEGER NOT NULL,
    until_ms        INTEGER NOT NULL,
    PRIMARY KEY (subscription, bucket)
);
CREATE INDEX rate_grants_by_time ON rate_grants(subscription, until_ms);

-- Each call's latency bucket, and hourly rollups analytics read. Each
-- "cube" keeps some dimensions ('' in the others): one row per cube, hour
-- and combination of its dimensions, its latency histogram in b0..b79
-- (bucket b holds durations in [0.05 ms * 1.25^b, 0.05 ms * 1.25^(b+1))).
ALTER TABLE calls ADD COLUMN bucket INTEGER NOT NULL DEFAULT 0;
CREATE INDEX calls_by_subscription ON calls(subscription, time);
CREATE TABLE call_rollups (
    cube            TEXT NOT NULL,
    hour            TEXT NOT NULL,
    server          TEXT NOT NULL,
    version         TEXT NOT NULL,
    product         TEXT NOT NULL,
    subscription    TEXT NOT NULL,
    tool            TEXT NOT NULL,
    client_name     TEXT NOT NULL,
    calls           INTEGER NOT NULL,
    errors          INTEGER NOT NULL,
    cost            REAL NOT NULL,
    b0              INTEGER NOT NULL DEFAULT 0,
    b1              INTEGER NOT NULL DEFAULT 0,
    b2              INTEGER NOT NULL DEFAULT 0,
    b3              INTEGER NOT NULL DEFAULT 0,
    b4              INTEGER NOT NULL DEFAULT 0,
    b5              INTEGER NOT NULL DEFAULT 0,
    b6              INTEGER NOT NULL DEFAULT 0,
    b7              INTEGER NOT NULL DEFAULT 0,
    b8              INTEGER NOT NULL DEFAULT 0,
    b9              INTEGER NOT NULL DEFAULT 0,
    b10             INTEGER NOT NULL DEFAULT 0,
    b11             INTEGER NOT NULL DEFAULT 0,
    b12             INTEGER NOT NULL DEFAULT 0,
    b13             INTEGER NOT NULL DEFAULT 0,
    b14             INTEGER NOT NULL DEFAULT 0,
    b15             INTEGER NOT NULL DEFAULT 0,
    b16             INTEGER NOT NULL DEFAULT 0,
    b17             INTEGER NOT NULL DEFAULT 0,
    b18             INTEGER NOT NULL DEFAULT 0,
    b19             INTEGER NOT NULL DEFAULT 0,
    b20             INTEGER NOT NULL DEFAULT 0,
    b21             INTEGER NOT NULL DEFAULT 0,
    b22             INTEGER NOT NULL DEFAULT 0,
    b23             INTEGER NOT NULL DEFAULT 0,
    b24             INTEGER NOT NULL DEFAULT 0,
    b25             INTEGER NOT NULL DEFAULT 0,
    b26             INTEGER NOT NULL DEFAULT 0,
    b27             INTEGER NOT NULL DEFAULT 0,
    b28             INTEGER NOT NULL DEFAULT 0,
    b29             INTEGER NOT NULL DEFAULT 0,
    b30             INTEGER NOT NULL DEFAULT 0,
    b31             INTEGER NOT NULL DEFAULT 0,
    b32             INTEGER NOT NULL DEFAULT 0,
    b33             INTEGER NOT NULL DEFAULT 0,
    b34             INTEGER NOT NULL DEFAULT 0,
    b35             INTEGER NOT NULL DEFAULT 0,
    b36             INTEGER NOT NULL DEFAULT 0,
    b37             INTEGER NOT NULL DEFAULT 0,
    b38             INTEGER NOT NULL DEFAULT 0,
    b39             INTEGER NOT NULL DEFAULT 0,
    b40             INTEGER NOT NULL DEFAULT 0,
    b41             INTEGER NOT NULL DEFAULT 0,
    b42             INTEGER NOT NULL DEFAULT 0,
    b43             INTEGER NOT NULL DEFAULT 0,
    b44             INTEGER NOT NULL DEFAULT 0,
    b45             INTEGER NOT NULL DEFAULT 0,
    b46             INTEGER NOT NULL DEFAULT 0,
    b47             INTEGER NOT NULL DEFAULT 0,
    b48             INTEGER NOT NULL DEFAULT 0,
    b49             INTEGER NOT NULL DEFAULT 0,
    b50             INTEGER NOT NULL DEFAULT 0,
    b51             INTEGER NOT NULL DEFAULT 0,
    b52             INTEGER NOT NULL DEFAULT 0,
    b53             INTEGER NOT NULL DEFAULT 0,
    b54             INTEGER NOT NULL DEFAULT 0,
    b55             INTEGER NOT NULL DEFAULT 0,
    b56             INTEGER NOT NULL DEFAULT 0,
    b57             INTEGER NOT NULL DEFAULT 0,
    b58             INTEGER NOT NULL DEFAULT 0,
    b59             INTEGER NOT NULL DEFAULT 0,
    b60             INTEGER NOT NULL DEFAULT 0,
    b61             INTEGER NOT NULL DEFAULT 0,
    b62             INTEGER NOT NULL DEFAULT 0,
    b63             INTEGER NOT NULL DEFAULT 0,
    b64             INTEGER NOT NULL DEFAULT 0,
    b65             INTEGER NOT NULL DEFAULT 0,
    b66             INTEGER NOT NULL DEFAULT 0,
    b67             INTEGER NOT NULL DEFAULT 0,
    b68             INTEGER NOT NULL DEFAULT 0,
    b69             INTEGER NOT NULL DEFAULT 0,
    b70             INTEGER NOT NULL DEFAULT 0,
    b71             INTEGER NOT NULL DEFAULT 0,
    b72             INTEGER NOT NULL DEFAULT 0,
    b73             INTEGER NOT NULL DEFAULT 0,
    b74             INTEGER NOT NULL DEFAULT 0,
    b75             INTEGER NOT NULL DEFAULT 0,
    b76             INTEGER NOT NULL DEFAULT 0,
    b77             INTEGER NOT NULL DEFAULT 0,
    b78             INTEGER NOT NULL DEFAULT 0,
    b79             INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (cube, hour, server, version, product, subscription, tool, client_name)
);
CREATE INDEX call_rollups_by_subscription ON call_rollups(cube, subscription, hour);

-- Who read or did something sensitive (list-secrets).
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL
);
