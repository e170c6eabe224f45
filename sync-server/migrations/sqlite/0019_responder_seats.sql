-- What each first-responder seat last said of itself: working, or stopped and why (WhatsApp Web's
-- layout lost, the server unreachable…). A stopped seat is also marked away, so everyone's
-- presence shows it live and no new chat waits on it.
create table responder_seats (
    agent_id  text primary key references agents (id),
    org_id    text not null references orgs (id),
    working   integer not null,
    reason    text not null,
    since     integer not null
);
