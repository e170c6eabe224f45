-- Logins that ended (a logout, logging out everywhere, deactivation, a new password), so every
-- server instance drops them from its in-memory token cache at once. On PostgreSQL a NOTIFY in
-- the same transaction carries the change; on SQLite the server follows this table. Keep in step
-- with ../postgres/0003_auth_changes.sql.
create table auth_changes (
    seq integer primary key autoincrement,
    -- Every login of this agent ended (token_id null), or only this token's.
    agent_id text not null,
    token_id text,
    at       integer not null
);
