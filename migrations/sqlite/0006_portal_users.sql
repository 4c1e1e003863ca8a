-- People who sign in to the portal and console; the body holds the
-- password's PBKDF2 hash, never the password.
CREATE TABLE portal_users (
    name        TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    etag        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Each call's trace id, so the console links a call to its trace.
ALTER TABLE calls ADD COLUMN trace_id TEXT;

-- The console's call log filters by tool, newest first.
CREATE INDEX calls_by_tool ON calls(tool, time);
