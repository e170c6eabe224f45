-- The first responder at work: one run per chat a flow answered (a flow never restarts on a chat
-- that finished it). `run` is the engine's state as JSON: the flow as it was when the run began
-- (a lead editing the flow does not change a conversation under way), the position and answers,
-- the messages the seat still has to send, and what happens when they are sent. The columns
-- beside it are what the seat's work list and the board select on.
create table responder_runs (
    conversation_id   text primary key references conversations (id),
    org_id            text not null references orgs (id),
    flow_id           text not null,
    status            text not null check (status in ('active', 'over')),
    ended             text,
    run               text not null,
    -- An incoming message the seat has not read yet (its id), and when it was recorded.
    reply_message_id  text,
    reply_recorded_at integer,
    -- The handoff routing attaches when it gives the chat to someone (JSON), until then.
    handoff_draft     text,
    started_at        integer not null,
    updated_at        integer not null,
    ended_at          integer
);
create index responder_runs_active on responder_runs (org_id, status, updated_at);
