-- The gateway's fixed-window quota counts, written behind the hot path so
-- they survive a restart.
CREATE TABLE quota_counters (
    subscription    TEXT PRIMARY KEY,
    window_start    INTEGER NOT NULL,
    count           INTEGER NOT NULL
);
