-- The org's business hours, in the form of an agent's shifts (JSON the server has checked); null:
-- open at all times.
alter table orgs add column business_hours text;
