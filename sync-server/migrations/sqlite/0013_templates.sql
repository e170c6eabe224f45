-- Message templates: the team's canned replies with {{variables}}, optionally for one pipeline
-- (and stage), and how often agents inserted each.
create table templates (
    id           text primary key,
    org_id       text not null references orgs (id),
    name         text not null,
    -- the name lower-cased: unique in the org
    name_key     text not null,
    body         text not null,
    pipeline_id  text references pipelines (id),
    stage        text,
    use_count    integer not null default 0,
    created_at   integer not null,
    updated_at   integer not null
);
create unique index templates_name on templates (org_id, name_key);
