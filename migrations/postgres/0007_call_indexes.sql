-- The call log keeps only the indexes its readers use: by time (the newest
-- first, and retention), by tool and by subscription (the console's and the
-- portal's filters). A lookup by session or by server reads the newest rows
-- first through calls_by_time. calls_by_session took a random key per live
-- session, so each batch touched a page per session (docs/benchmarks.md).
DROP INDEX IF EXISTS calls_by_session;
DROP INDEX IF EXISTS calls_by_server_tool;
