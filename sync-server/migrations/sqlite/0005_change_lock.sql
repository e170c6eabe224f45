-- Nothing to change: PostgreSQL's 0005 adds baton_change_lock, the reply lock's compare-and-set
-- in one round trip; on SQLite the same is one batch of statements (src/db/locks.rs). Kept so both
-- engines number their migrations alike.
select 1;
