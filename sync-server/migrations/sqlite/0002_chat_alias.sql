-- One person, two WhatsApp ids: a chat keyed by `@lid` may also be known by its phone number's
-- `@c.us` id, or the reverse. The conversation keeps its first id (`chat_id`, under which its
-- events are filed) and records the other as `alias`; lookups accept either. Keep in step with
-- ../postgres/0002_chat_alias.sql.
alter table conversations add column alias text;
create unique index conversations_alias on conversations (org_id, alias);
