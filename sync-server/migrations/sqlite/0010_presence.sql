-- Presence: an agent is available while one of their browsers holds the event stream (through
-- any server instance) and they have not said they are away. Each instance keeps one row per
-- agent it has streams for, renewed while they last; a crashed instance's rows expire by
-- themselves.
alter table agents add column away integer not null default 0;
create table presence (
    instance_id  text not null,
    agent_id     text not null references agents (id),
    org_id       text not null references orgs (id),
    expires_at   integer not null,
    primary key (instance_id, agent_id)
);
create index presence_agent on presence (agent_id, expires_at);
