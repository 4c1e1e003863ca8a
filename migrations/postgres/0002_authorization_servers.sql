-- OAuth authorization servers whose tokens products accept, and which
-- products refer to one (for the reference check on delete).
CREATE TABLE authorization_servers (
    name        TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    etag        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

ALTER TABLE products ADD COLUMN authorization_server TEXT NOT NULL DEFAULT '';
CREATE INDEX products_by_authorization_server ON products(authorization_server);
