//! PostgreSQL LISTEN: wakes this instance's feeds when another instance commits events, and makes
//! its token cache forget logins another instance ended.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::EventHub;
use crate::db::{EVENTS_CHANNEL, PRESENCE_CHANNEL};
use crate::sessions::{Ended, SESSIONS_CHANNEL};

/// Listens until shutdown, reconnecting with backoff. After any gap in the connection every feed
/// is woken and the token cache emptied, since notifications sent meanwhile are gone (the feeds
/// re-read the database; logins are looked up again).
pub async fn run(url: String, hub: EventHub, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let mut listener = match connect(&url).await {
            Ok(listener) => {
                backoff = Duration::from_millis(250);
                hub.tokens().clear();
                hub.notify_all();
                listener
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot LISTEN for events from other instances; retrying");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        loop {
            tokio::select! {
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) if notification.channel() == SESSIONS_CHANNEL => {
                        match Ended::from_payload(notification.payload()) {
                            Some(ended) => hub.tokens().forget(&ended),
                            None => hub.tokens().clear(),
                        }
                    }
                    Ok(Some(notification)) if notification.channel() == PRESENCE_CHANNEL => {
                        super::presence_notified(&hub, notification.payload())
                    }
                    Ok(Some(notification)) => hub.notify(notification.payload()),
                    // The connection dropped; sqlx reconnects on the next call.
                    Ok(None) => {
                        hub.tokens().clear();
                        hub.notify_all();
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "event LISTEN connection failed");
                        break;
                    }
                },
                () = shutdown.cancelled() => return,
            }
        }
    }
}

async fn connect(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener
        .listen_all([EVENTS_CHANNEL, SESSIONS_CHANNEL, PRESENCE_CHANNEL])
        .await?;
    Ok(listener)
}
