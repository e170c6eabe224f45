-- Nothing to change: PostgreSQL's 0023 makes baton_change_lock check the chat id and the first
-- responder's flow as well. On SQLite the lock is read, decided and written on the writer thread
-- in one go (src/db/direct.rs), so nothing can change in between. Kept so both engines number
-- their migrations alike.
select 1;
