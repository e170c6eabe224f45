-- foreign keys off
-- The first responder's seat is an account of its own role, `responder`. SQLite cannot change a
-- CHECK constraint, so the agents table is rebuilt the way SQLite documents it: a new table
-- filled and renamed in its place (the tables that refer to `agents` then refer to it by name).
-- Applied with foreign keys off (db::migrate_sqlite), which a dropped parent table needs.
create table agents_new (
    id              text primary key,
    org_id          text not null references orgs (id),
    name            text not null,
    email           text not null unique,
    role            text not null check (role in ('agent', 'lead', 'admin', 'responder')),
    password_hash   text not null,
    active          integer not null default 1,
    created_at      integer not null,
    away            integer not null default 0,
    last_routed_at  integer
);
insert into agents_new (id, org_id, name, email, role, password_hash, active, created_at, away, last_routed_at)
    select id, org_id, name, email, role, password_hash, active, created_at, away, last_routed_at from agents;
drop table agents;
alter table agents_new rename to agents;
create index agents_org on agents (org_id);
