-- Whether a run has something for the seat to do now (messages to send, a reply to read): the
-- seat's work list selects on it, so runs waiting on a customer never crowd out new chats.
alter table responder_runs add column has_work bigint not null default 0;
create index responder_runs_work on responder_runs (org_id, has_work, updated_at);
