-- Nothing to change: PostgreSQL's 0022 adds baton_write_note, a note's whole write in one round
-- trip; on SQLite a note is one job on the writer thread (src/http/notes.rs). Kept so both
-- engines number their migrations alike.
select 1;
