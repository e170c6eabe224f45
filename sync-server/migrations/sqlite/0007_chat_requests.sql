-- "Request this chat": a colleague asks the owner for a chat; the owner hands it over or keeps it.
create table chat_requests (
    id               text primary key,
    org_id           text not null references orgs (id),
    conversation_id  text not null references conversations (id),
    by_agent_id      text not null references agents (id),
    message          text,
    status           text not null check (status in ('pending', 'granted', 'declined')),
    created_at       integer not null,
    answered_by_id   text references agents (id),
    answered_at      integer
);
create index chat_requests_conversation on chat_requests (conversation_id, status);
-- One unanswered request per colleague and chat: asking again returns the first.
create unique index chat_requests_one_pending on chat_requests (conversation_id, by_agent_id)
    where status = 'pending';
