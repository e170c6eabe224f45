-- Nothing to change: SQLite's 0004 adds a trigger that moves the org's event counter on when an
-- event is recorded; PostgreSQL does that in the recording statement itself (a data-modifying
-- CTE, src/db/write.rs). Kept so both engines number their migrations alike.
select 1;
