-- baton_change_lock also checks what else a lock decision reads: that the chat still has the id
-- its events are recorded under, and whether the first responder's flow is under way in it. The
-- server may now decide from the conversation as its own last lock write left it (src/db/locks.rs,
-- a renewal without reading the row first), so everything that decision rests on must still hold
-- when the change is written; otherwise nothing is written and the server reads the row again.
-- A new overload (one more argument): the version of 0021 stays, so instances still running the
-- previous release keep taking locks while a deployment replaces them one by one.

create function baton_change_lock(
    p_to_holder text, p_to_fence bigint, p_to_expires_at bigint, p_to_owner text,
    p_conversation text,
    p_from_holder text, p_from_fence bigint, p_from_expires_at bigint, p_from_owner text,
    -- 0: any lease; 1: the lease must have run out; 2: it must still run (by this database's clock)
    p_lease bigint,
    p_org text, p_chat text, p_actor_id text, p_actor_name text, p_at bigint,
    -- [{"kind": ..., "in_timeline": 0|1, "body": {...}}, ...]
    p_events text,
    -- How many of the chat's responder runs were active (0 or 1) when the decision was made.
    p_from_responder_active bigint
) returns boolean language plpgsql volatile as $$
declare
    last_seq bigint;
    added bigint;
begin
    select event_seq into last_seq from orgs where id = p_org for update;
    update conversations
       set lock_holder_id = p_to_holder, lock_fence = p_to_fence,
           lock_expires_at = p_to_expires_at, owner_id = p_to_owner
     where id = p_conversation and org_id = p_org and chat_id = p_chat
       and lock_fence = p_from_fence and lock_expires_at = p_from_expires_at
       and lock_holder_id is not distinct from p_from_holder
       and owner_id is not distinct from p_from_owner
       and (p_lease = 0
            or (p_lease = 1 and lock_expires_at <= now_ms())
            or (p_lease = 2 and lock_expires_at > now_ms()))
       and (select count(*) from responder_runs rr
             where rr.conversation_id = p_conversation and rr.status = 'active')
           = p_from_responder_active;
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
