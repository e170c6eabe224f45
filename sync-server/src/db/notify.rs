//! PostgreSQL notifications that announce committed writes to every instance (new events of an
//! org, presence changes), sent after the commit from a connection of their own.
//!
//! A `NOTIFY` inside a write transaction takes PostgreSQL's one notification lock at commit and
//! keeps it until the commit is on disk, so every notifying commit in the database waits for the
//! previous one's flush: writes of different orgs serialise each other and commits are never
//! flushed together. Sent afterwards, in a transaction of its own with `synchronous_commit = off`
//! (a notification is a wake-up, not data), the lock is held only while it is queued.
//!
//! If this instance dies between a commit and its notification, other instances still deliver the
//! events: their feeds also poll (they read by sequence number, see [`crate::events`]). A presence
//! change lost that way is corrected by the agent's next one. Logins that end are still announced
//! inside their own transaction ([`super::WriteTx::sessions_ended`]): a revoked token must stop
//! working everywhere the moment the revocation commits.

use std::collections::HashSet;

use sqlx::postgres::PgConnection;
use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};

use super::EVENTS_CHANNEL;

/// Notifications sent in one statement at most (each is a few dozen bytes).
const BATCH: usize = 512;

enum Message {
    Notify {
        channel: &'static str,
        payload: String,
    },
    /// Answered once everything queued before it has been sent (or given up).
    Flush(oneshot::Sender<()>),
}

/// The queue of notifications to send; cheap to clone. Its task ends when the last clone is
/// dropped.
#[derive(Debug, Clone)]
pub struct Notifier {
    queue: mpsc::UnboundedSender<Message>,
}

impl Notifier {
    /// Starts the sending task on the current runtime; it connects to `url` when it first has
    /// something to send.
    pub fn start(url: String) -> Notifier {
        let (queue, received) = mpsc::unbounded_channel();
        tokio::spawn(run(url, received));
        Notifier { queue }
    }

    /// Queues a notification; it is sent after everything queued before it.
    pub fn send(&self, channel: &'static str, payload: String) {
        // The task outlives every sender; a send fails only while the runtime shuts down.
        let _ = self.queue.send(Message::Notify { channel, payload });
    }

    /// Waits until everything queued so far has been sent: a process that is about to exit (the
    /// admin CLI) calls this so its writes are announced.
    pub async fn flush(&self) {
        let (done, sent) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).is_ok() {
            let _ = sent.await;
        }
    }
}

async fn run(url: String, mut received: mpsc::UnboundedReceiver<Message>) {
    let mut connection: Option<PgConnection> = None;
    let mut batch = Batch::default();
    let mut flushed = Vec::new();
    while let Some(first) = received.recv().await {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Notify { channel, payload } => batch.push(channel, payload),
                Message::Flush(done) => flushed.push(done),
            }
            next = if batch.len() < BATCH {
                received.try_recv().ok()
            } else {
                None
            };
        }
        if !batch.is_empty() {
            if let Err(err) = send(&url, &mut connection, &batch).await {
                // The feeds' poll delivers the events anyway; the connection is opened again for
                // the next batch.
                tracing::warn!(error = %err, count = batch.len(), "cannot send notifications to other instances");
                connection = None;
            }
            batch.clear();
        }
        for done in flushed.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Notifications in order, each org's "new events" only once (it is a wake-up: one is enough).
#[derive(Default)]
struct Batch {
    notices: Vec<(&'static str, String)>,
    woken_orgs: HashSet<String>,
}

impl Batch {
    fn push(&mut self, channel: &'static str, payload: String) {
        if channel == EVENTS_CHANNEL && !self.woken_orgs.insert(payload.clone()) {
            return;
        }
        self.notices.push((channel, payload));
    }

    fn len(&self) -> usize {
        self.notices.len()
    }

    fn is_empty(&self) -> bool {
        self.notices.is_empty()
    }

    fn clear(&mut self) {
        self.notices.clear();
        self.woken_orgs.clear();
    }
}

async fn send(
    url: &str,
    connection: &mut Option<PgConnection>,
    batch: &Batch,
) -> Result<(), sqlx::Error> {
    let conn = match connection {
        Some(conn) => conn,
        None => {
            let mut conn = PgConnection::connect(url).await?;
            // Nothing waits for a notification's commit to reach the disk.
            sqlx::query("SET synchronous_commit = off")
                .execute(&mut conn)
                .await?;
            connection.insert(conn)
        }
    };
    let notices =
        serde_json::to_string(&batch.notices).map_err(|e| sqlx::Error::Encode(e.into()))?;
    sqlx::query("SELECT pg_notify(n ->> 0, n ->> 1) FROM json_array_elements($1::json) AS n")
        .bind(notices)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_wakes_each_org_once_and_keeps_the_order_of_the_rest() {
        let mut batch = Batch::default();
        batch.push(EVENTS_CHANNEL, "org-a".into());
        batch.push(super::super::PRESENCE_CHANNEL, "p1".into());
        batch.push(EVENTS_CHANNEL, "org-a".into());
        batch.push(super::super::PRESENCE_CHANNEL, "p1".into());
        batch.push(EVENTS_CHANNEL, "org-b".into());
        assert_eq!(
            batch.notices,
            vec![
                (EVENTS_CHANNEL, "org-a".to_owned()),
                (super::super::PRESENCE_CHANNEL, "p1".to_owned()),
                (super::super::PRESENCE_CHANNEL, "p1".to_owned()),
                (EVENTS_CHANNEL, "org-b".to_owned()),
            ]
        );
        batch.clear();
        batch.push(EVENTS_CHANNEL, "org-a".into());
        assert_eq!(batch.len(), 1);
    }
}
