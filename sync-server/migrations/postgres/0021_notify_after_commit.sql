-- baton_change_lock no longer notifies: a NOTIFY inside a transaction holds PostgreSQL's one
-- notification lock until the commit is flushed, so every notifying commit in the database waited
-- for the one before it. The server tells other instances after the commit (src/db/notify.rs).
drop function baton_change_lock(text, bigint, bigint, text, text, text, bigint, bigint, text, bigint,
                                text, text, text, text, bigint, text, text);

create function baton_change_lock(
    p_to_holder text, p_to_fence bigint, p_to_expires_at bigint, p_to_owner text,
    p_conversation text,
    p_from_holder text, p_from_fence bigint, p_from_expires_at bigint, p_from_owner text,
    -- 0: any lease; 1: the lease must have run out; 2: it must still run (by this database's clock)
    p_lease bigint,
    p_org text, p_chat text, p_actor_id text, p_actor_name text, p_at bigint,
    -- [{"kind": ..., "in_timeline": 0|1, "body": {...}}, ...]
    p_events text
) returns boolean language plpgsql volatile as $$
declare
    last_seq bigint;
    added bigint;
begin
    select event_seq into last_seq from orgs where id = p_org for update;
    update conversations
       set lock_holder_id = p_to_holder, lock_fence = p_to_fence,
           lock_expires_at = p_to_expires_at, owner_id = p_to_owner
     where id = p_conversation and org_id = p_org
       and lock_fence = p_from_fence and lock_expires_at = p_from_expires_at
       and lock_holder_id is not distinct from p_from_holder
       and owner_id is not distinct from p_from_owner
       and (p_lease = 0
            or (p_lease = 1 and lock_expires_at <= now_ms())
            or (p_lease = 2 and lock_expires_at > now_ms()));
    if not found then
        return false;
    end if;
    insert into events (org_id, seq, chat_id, actor_id, actor_name, kind, in_timeline, at, body)
    select p_org, last_seq + e.n, p_chat, p_actor_id, p_actor_name, e.event ->> 'kind',
           (e.event ->> 'in_timeline')::bigint, p_at, (e.event -> 'body')::text
      from json_array_elements(p_events::json) with ordinality as e(event, n);
    get diagnostics added = row_count;
    if added > 0 then
        update orgs set event_seq = last_seq + added where id = p_org;
    end if;
    return true;
end
$$;
