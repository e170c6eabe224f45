-- Baton schema, SQLite dialect. Keep in step with ../postgres/0001_initial.sql: the same tables and
-- columns, with SQLite's types. Times are milliseconds since the Unix epoch (UTC) from the
-- database clock; ids are UUID text.

create table orgs (
    id          text primary key,
    name        text not null,
    timezone    text not null,
    -- last sequence number handed to an event of this org
    event_seq   integer not null default 0,
    created_at  integer not null
);

create table agents (
    id             text primary key,
    org_id         text not null references orgs (id),
    name           text not null,
    email          text not null unique,
    role           text not null check (role in ('agent', 'lead', 'admin')),
    password_hash  text not null,
    active         integer not null default 1,
    created_at     integer not null
);
create index agents_org on agents (org_id);

create table tokens (
    id          text primary key,
    agent_id    text not null references agents (id),
    token_hash  text not null unique,
    created_at  integer not null,
    expires_at  integer not null,
    revoked_at  integer
);
create index tokens_agent on tokens (agent_id);

create table event_tickets (
    ticket_hash  text primary key,
    agent_id     text not null references agents (id),
    token_id     text not null references tokens (id),
    expires_at   integer not null,
    used_at      integer
);

create table pipelines (
    id          text primary key,
    org_id      text not null references orgs (id),
    name        text not null,
    -- JSON array of stage names, in order
    stages      text not null,
    created_at  integer not null,
    unique (org_id, name)
);

create table conversations (
    id                text primary key,
    org_id            text not null references orgs (id),
    chat_id           text not null,
    title             text not null,
    phone             text,
    owner_id          text references agents (id),
    pipeline_id       text references pipelines (id),
    stage             text,
    -- the reply lock: the last holder stays recorded after release so its fence can still be
    -- checked; the lock is held while lock_expires_at is in the future
    lock_holder_id    text references agents (id),
    lock_fence        integer not null default 0,
    lock_expires_at   integer not null default 0,
    created_at        integer not null,
    last_activity_at  integer not null,
    unique (org_id, chat_id)
);
create index conversations_owner on conversations (org_id, owner_id);
create index conversations_activity on conversations (org_id, last_activity_at, chat_id);

create table handoffs (
    id               text primary key,
    org_id           text not null references orgs (id),
    conversation_id  text not null references conversations (id),
    from_agent_id    text references agents (id),
    to_agent_id      text not null references agents (id),
    by_agent_id      text not null references agents (id),
    done             text not null,
    promised         text not null,
    next_step        text not null,
    status           text not null check (status in ('pending', 'accepted', 'declined', 'superseded')),
    decline_reason   text,
    created_at       integer not null,
    resolved_at      integer
);
create index handoffs_conversation on handoffs (conversation_id, status);

create table notes (
    id               text primary key,
    org_id           text not null references orgs (id),
    conversation_id  text not null references conversations (id),
    author_id        text not null references agents (id),
    body             text not null,
    -- JSON array of {id, name} as they were when the note was written
    mentions         text not null,
    created_at       integer not null,
    -- sequence number of the note's event: orders notes written in the same millisecond
    event_seq        integer not null
);
create index notes_conversation on notes (conversation_id, event_seq);

create table reminders (
    id               text primary key,
    org_id           text not null references orgs (id),
    conversation_id  text not null references conversations (id),
    created_by       text not null references agents (id),
    for_agent_id     text not null references agents (id),
    text             text not null,
    due_at           integer not null,
    fired_at         integer,
    done_at          integer,
    created_at       integer not null
);
create index reminders_unfired on reminders (due_at) where fired_at is null and done_at is null;
create index reminders_agent on reminders (for_agent_id, due_at);
create index reminders_conversation on reminders (conversation_id);

create table messages (
    conversation_id  text not null references conversations (id),
    message_id       text not null,
    org_id           text not null references orgs (id),
    direction        text not null check (direction in ('in', 'out')),
    agent_id         text references agents (id),
    sent_at          integer not null,
    recorded_at      integer not null,
    primary key (conversation_id, message_id)
);

create table events (
    org_id       text not null references orgs (id),
    seq          integer not null,
    chat_id      text,
    actor_id     text,
    actor_name   text,
    kind         text not null,
    in_timeline  integer not null,
    at           integer not null,
    -- the protocol's EventBody as JSON: {"kind": ..., "data": ...}
    body         text not null,
    primary key (org_id, seq)
);
create index events_chat on events (org_id, chat_id, seq);

create table idempotency_keys (
    agent_id      text not null references agents (id),
    key           text not null,
    request_hash  text not null,
    status        integer not null,
    response      text not null,
    created_at    integer not null,
    primary key (agent_id, key)
);
create index idempotency_keys_created on idempotency_keys (created_at);
