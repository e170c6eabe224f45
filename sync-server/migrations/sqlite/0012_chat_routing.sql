-- Routing, part three: where routing put each chat and why, the queue, and the no-reply timer.
-- One row per conversation routing has touched. A chat is in the queue while it is open, nobody
-- owns it and `queued_at` is set; the routing reason shows while its owner is the one routing
-- gave it to (`routed_owner_id`).
create table chat_routing (
    conversation_id        text primary key references conversations (id),
    org_id                 text not null references orgs (id),
    -- the rule that last assigned the chat, and its name then
    rule_id                text,
    rule_name              text,
    routed_owner_id        text references agents (id),
    routed_at              integer,
    queued_at              integer,
    -- the sequence number of its routing.queued event: the queue's order
    queue_seq              integer,
    -- a stage rule that found nobody: who owned the chat and who moved its stage, for the
    -- handoff made when the queue drains
    queued_from_id         text references agents (id),
    queued_by_id           text references agents (id),
    -- an incoming message the owner has not answered, and when it moves on
    reply_due_at           integer,
    reply_due_message_id   text,
    -- the message the chat last moved on for (once per message)
    reassigned_message_id  text
);
create index chat_routing_queue on chat_routing (org_id, queue_seq) where queued_at is not null;
create index chat_routing_due on chat_routing (reply_due_at) where reply_due_at is not null;
-- Round robin's last pick per rule, shared by every instance.
alter table routing_rules add column last_agent_id text;
-- When routing last gave the agent a chat: least-loaded's tie-break (who waited longest).
alter table agents add column last_routed_at integer;
