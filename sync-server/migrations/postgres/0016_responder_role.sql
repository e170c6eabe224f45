-- The first responder's seat is an account of its own role, `responder`.
alter table agents drop constraint agents_role_check;
alter table agents add constraint agents_role_check
    check (role in ('agent', 'lead', 'admin', 'responder'));
