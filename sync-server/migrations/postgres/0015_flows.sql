-- The first responder's qualification flows, one per pipeline: the definition as the API takes it
-- (JSON), checked against the pipeline's stages whenever the flow or the pipeline changes.
create table flows (
    id           text primary key,
    org_id       text not null references orgs (id),
    pipeline_id  text not null references pipelines (id),
    name         text not null,
    enabled      bigint not null,
    definition   text not null,
    created_at   bigint not null,
    updated_at   bigint not null
);
create unique index flows_pipeline on flows (org_id, pipeline_id);
