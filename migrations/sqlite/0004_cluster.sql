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

-- Each call's latency bucket, and hourly rollups analytics read.
ALTER TABLE calls ADD COLUMN bucket INTEGER NOT NULL DEFAULT 0;
CREATE INDEX calls_by_subscription ON calls(subscription, time);
CREATE TABLE call_rollups (
    hour            TEXT NOT NULL,
    server          TEXT NOT NULL,
    version         TEXT NOT NULL,
    product         TEXT NOT NULL,
    subscription    TEXT NOT NULL,
    tool            TEXT NOT NULL,
    client_name     TEXT NOT NULL,
    bucket          INTEGER NOT NULL,
    calls           INTEGER NOT NULL,
    errors          INTEGER NOT NULL,
    cost            REAL NOT NULL,
    PRIMARY KEY (hour, server, version, product, subscription, tool, client_name, bucket)
);

-- Who read or did something sensitive (list-secrets).
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL
);
