-- An event takes the org's next sequence number in the statement that records it, and this
-- trigger moves the org's counter on, so recording an event is one statement, not two. (Write
-- transactions hold the database's write lock, so nobody else reads the counter meanwhile.)
-- PostgreSQL does the same in one statement with a data-modifying CTE (src/db/write.rs).
create trigger events_advance_org_seq after insert on events
begin
    update orgs set event_seq = new.seq where id = new.org_id;
end;
