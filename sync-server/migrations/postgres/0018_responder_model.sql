-- The first responder's optional language model, per org: an OpenAI-compatible chat-completions
-- endpoint an admin configured (off by default). The key is kept for calls and never shown.
create table responder_models (
    org_id      text primary key references orgs (id),
    enabled     bigint not null,
    url         text not null,
    model       text not null,
    api_key     text,
    timeout_ms  bigint not null,
    updated_at  bigint not null
);
