-- Every resource row keeps its validated spec as a JSON `body`; the columns
-- beside it are the keys and references SQLite enforces.
CREATE TABLE servers (
    name        TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    etag        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE versions (
    server      TEXT NOT NULL REFERENCES servers(name),
    name        TEXT NOT NULL,
    body        TEXT NOT NULL,
    etag        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (server, name)
);

CREATE TABLE products (
    name        TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    etag        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE product_servers (
    product     TEXT NOT NULL REFERENCES products(name),
    server      TEXT NOT NULL REFERENCES servers(name),
    body        TEXT NOT NULL,
    etag        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (product, server)
);
CREATE INDEX product_servers_by_server ON product_servers(server);

CREATE TABLE subscriptions (
    name                TEXT PRIMARY KEY,
    product             TEXT NOT NULL REFERENCES products(name),
    primary_key_hash    TEXT NOT NULL UNIQUE,
    secondary_key_hash  TEXT NOT NULL UNIQUE,
    body                TEXT NOT NULL,
    etag                TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX subscriptions_by_product ON subscriptions(product);
