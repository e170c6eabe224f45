-- Routing, part one: who can be given chats. Each agent's routing profile (skills, capacity,
-- weekly shifts and date exceptions on the org's clock, as JSON checked by the server), teams,
-- and closing a conversation (an open conversation is owned and not closed: it counts against
-- its owner's capacity).
create table agent_routing (
    agent_id    text primary key references agents (id),
    org_id      text not null references orgs (id),
    skills      text not null,
    capacity    integer,
    shifts      text not null,
    exceptions  text not null,
    updated_at  bigint not null
);
create table teams (
    id          text primary key,
    org_id      text not null references orgs (id),
    name        text not null,
    -- the name lower-cased: unique in the org
    name_key    text not null,
    created_at  bigint not null
);
create unique index teams_name on teams (org_id, name_key);
create table team_members (
    team_id     text not null references teams (id),
    agent_id    text not null references agents (id),
    primary key (team_id, agent_id)
);
create index team_members_agent on team_members (agent_id);
alter table conversations add column closed_at bigint;
