-- A note written in one call, as baton_change_lock does for the reply lock: the org's lock, the
-- idempotency key's check, the note, its event and the key's record in the call's own
-- transaction. A note written as separate statements held the org's lock across six round trips,
-- and when the server process was busy (fanning events out to a thousand streams) every other
-- writer of the org queued behind a transaction sitting idle between its statements.
create function baton_write_note(
    p_org text, p_conversation text, p_chat text, p_note text,
    p_author_id text, p_author_name text, p_body text,
    -- the mentions as stored (a JSON array of {id, name}, no agent twice): each must still be an
    -- active agent of the org when the note is written
    p_mentions text,
    -- the event's kind and whether it shows in the timeline
    p_kind text, p_in_timeline bigint,
    -- the note's JSON and its event body's, each cut just before created_at's value (the last
    -- field), which is this database's clock when the org's lock is taken
    p_note_head text, p_event_head text,
    -- the request's Idempotency-Key (null: none) and its fingerprint
    p_key text, p_request_hash text
) returns table (o_outcome text, o_request_hash text, o_status bigint, o_response text)
language plpgsql volatile as $$
declare
    v_seq bigint;
    v_now bigint;
    v_note text;
begin
    select event_seq + 1, now_ms() into v_seq, v_now from orgs where id = p_org for update;
    if not found then
        raise exception 'no org %', p_org;
    end if;
    if p_key is not null then
        select k.request_hash, k.status, k.response into o_request_hash, o_status, o_response
          from idempotency_keys k where k.agent_id = p_author_id and k.key = p_key;
        if found then
            o_outcome := 'replay';
            return next;
            return;
        end if;
    end if;
    if (select count(*) from agents
         where org_id = p_org and active = 1
           and id in (select m ->> 'id' from json_array_elements(p_mentions::json) m))
       <> json_array_length(p_mentions::json) then
        o_outcome := 'mention_inactive';
        return next;
        return;
    end if;
    v_note := p_note_head || v_now || '}';
    insert into events (org_id, seq, chat_id, actor_id, actor_name, kind, in_timeline, at, body)
    values (p_org, v_seq, p_chat, p_author_id, p_author_name, p_kind, p_in_timeline, v_now,
            p_event_head || v_now || '}}');
    update orgs set event_seq = v_seq where id = p_org;
    insert into notes (id, org_id, conversation_id, author_id, body, mentions, created_at, event_seq)
    values (p_note, p_org, p_conversation, p_author_id, p_body, p_mentions, v_now, v_seq);
    if p_key is not null then
        insert into idempotency_keys (agent_id, key, request_hash, status, response, created_at)
        values (p_author_id, p_key, p_request_hash, 201, v_note, v_now);
    end if;
    o_outcome := 'written';
    o_status := 201;
    o_response := v_note;
    return next;
end
$$;
