-- Routing, part two: the org's ordered routing rules. Conditions and target are JSON the server
-- has checked (ids in them are checked against the org's pipelines, teams and agents on write).
create table routing_rules (
    id                   text primary key,
    org_id               text not null references orgs (id),
    position             integer not null,
    name                 text not null,
    -- the name lower-cased: unique in the org, so the timeline can name a rule unambiguously
    name_key             text not null,
    enabled              integer not null,
    conditions           text not null,
    target               text not null,
    strategy             text not null check (strategy in ('round_robin', 'least_loaded')),
    reassign_after_secs  integer,
    created_at           bigint not null,
    updated_at           bigint not null
);
create unique index routing_rules_name on routing_rules (org_id, name_key);
create index routing_rules_order on routing_rules (org_id, position);
