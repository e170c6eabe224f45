-- Nothing to change: PostgreSQL's 0021 takes the notification out of baton_change_lock (the
-- server notifies after the commit, src/db/notify.rs). Kept so both engines number their
-- migrations alike.
select 1;
