//! The conversation row and the queries several resources share: find a chat by its id or alias,
//! render it with its open reminders and pending handoff, and create or update it as WhatsApp
//! shows it (in the caller's write transaction).

use protocol::api::{AgentRef, Conversation, ConversationSummary, LockInfo, StageRef};
use protocol::events::EventBody;
use protocol::{codes, ChatId};
use sqlx::AnyConnection;

use super::{chat_requests, handoffs, reminders, WriteTx};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::AuthAgent;

pub const SELECT_CONVERSATION: &str =
    "SELECT c.id, c.chat_id, c.alias, c.title, c.phone, c.owner_id,
        o.name AS owner_name, c.pipeline_id, p.name AS pipeline_name, c.stage,
        c.lock_holder_id, h.name AS lock_holder_name, h.role AS lock_holder_role, c.lock_fence, c.lock_expires_at,
        c.created_at, c.last_activity_at, c.closed_at,
        r.rule_id AS routed_rule_id, r.rule_name AS routed_rule_name, r.routed_owner_id,
        r.routed_at, r.queued_at,
        (SELECT COALESCE(MAX(e.seq), 0) FROM events e
          WHERE e.org_id = c.org_id AND e.chat_id = c.chat_id) AS last_event_seq,
        (SELECT COUNT(*) FROM responder_runs rr
          WHERE rr.conversation_id = c.id AND rr.status = 'active') AS responder_active
    FROM conversations c
    LEFT JOIN agents o ON o.id = c.owner_id
    LEFT JOIN agents h ON h.id = c.lock_holder_id
    LEFT JOIN pipelines p ON p.id = c.pipeline_id
    LEFT JOIN chat_routing r ON r.conversation_id = c.id";

/// A conversation row with the names it refers to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: String,
    pub chat_id: String,
    pub alias: Option<String>,
    pub title: String,
    pub phone: Option<String>,
    pub owner_id: Option<String>,
    pub owner_name: Option<String>,
    pub pipeline_id: Option<String>,
    pub pipeline_name: Option<String>,
    pub stage: Option<String>,
    pub lock_holder_id: Option<String>,
    pub lock_holder_name: Option<String>,
    /// The lock holder's role (`responder`: the first responder's seat, which a person preempts).
    pub lock_holder_role: Option<String>,
    pub lock_fence: i64,
    pub lock_expires_at: i64,
    pub created_at: i64,
    pub last_activity_at: i64,
    /// When the chat was closed; `None` while open.
    pub closed_at: Option<i64>,
    /// The rule that last routed the chat (see [`ConversationRow::routed_by`]).
    pub routed_rule_id: Option<String>,
    pub routed_rule_name: Option<String>,
    pub routed_owner_id: Option<String>,
    pub routed_at: Option<i64>,
    /// Set while routing found nobody for it (see [`ConversationRow::queued_at`]).
    pub queued_at: Option<i64>,
    /// Sequence number of the latest event about this chat.
    pub last_event_seq: i64,
    /// 1 while the first responder is working the chat (an active run), else 0.
    pub responder_active: i64,
}

fn agent_ref(id: &Option<String>, name: &Option<String>) -> Option<AgentRef> {
    id.as_ref().map(|id| AgentRef {
        id: id.clone(),
        name: name.clone().unwrap_or_default(),
    })
}

impl ConversationRow {
    pub fn owner(&self) -> Option<AgentRef> {
        agent_ref(&self.owner_id, &self.owner_name)
    }

    /// The last agent to hold the reply lock, whether or not it is still held.
    pub fn lock_holder(&self) -> Option<AgentRef> {
        agent_ref(&self.lock_holder_id, &self.lock_holder_name)
    }

    /// Whether someone holds the lock at `now`.
    pub fn lock_is_held(&self, now: i64) -> bool {
        self.lock_holder_id.is_some() && self.lock_expires_at > now
    }

    pub fn lock(&self, now: i64) -> Option<LockInfo> {
        if !self.lock_is_held(now) {
            return None;
        }
        self.lock_holder().map(|holder| LockInfo {
            holder,
            fence: self.lock_fence,
            expires_at: self.lock_expires_at,
            expires_in_ms: self.lock_expires_at - now,
        })
    }

    pub fn stage(&self) -> Option<StageRef> {
        match (&self.pipeline_id, &self.stage) {
            (Some(pipeline_id), Some(stage)) => Some(StageRef {
                pipeline_id: pipeline_id.clone(),
                pipeline_name: self.pipeline_name.clone().unwrap_or_default(),
                stage: stage.clone(),
            }),
            _ => None,
        }
    }

    pub fn chat_id(&self) -> ApiResult<ChatId> {
        ChatId::parse(&self.chat_id).map_err(|e| {
            anyhow::anyhow!("stored chat id {:?} is invalid: {e}", self.chat_id).into()
        })
    }

    pub fn alias(&self) -> ApiResult<Option<ChatId>> {
        self.alias
            .as_deref()
            .map(|alias| {
                ChatId::parse(alias).map_err(|e| {
                    anyhow::anyhow!("stored chat alias {alias:?} is invalid: {e}").into()
                })
            })
            .transpose()
    }

    /// Refuses an agent who is neither the owner nor a lead/admin when the chat has an owner.
    pub fn ensure_may_work(&self, auth: &AuthAgent, action: &str) -> ApiResult<()> {
        match &self.owner_id {
            Some(owner) if owner != &auth.id && !auth.supervises() => Err(ApiError::Forbidden {
                code: codes::NOT_OWNER,
                message: format!(
                    "{} owns this chat; only they or a lead may {action}",
                    self.owner_name.as_deref().unwrap_or("another agent")
                ),
                owner: self.owner(),
            }),
            _ => Ok(()),
        }
    }

    /// The rule that gave the chat to its owner, while they still have it from routing (not
    /// from a person's hand).
    pub fn routed_by(&self) -> Option<protocol::routing::RoutedBy> {
        match (&self.routed_rule_id, &self.routed_rule_name, self.routed_at) {
            (Some(id), Some(name), Some(at))
                if self.owner_id.is_some() && self.owner_id == self.routed_owner_id =>
            {
                Some(protocol::routing::RoutedBy {
                    rule: protocol::routing::RuleRef {
                        id: id.clone(),
                        name: name.clone(),
                    },
                    at,
                })
            }
            _ => None,
        }
    }

    /// Since when the chat waits in the queue: open, unowned, and routing found nobody.
    pub fn queued_at(&self) -> Option<i64> {
        self.queued_at
            .filter(|_| self.owner_id.is_none() && self.closed_at.is_none())
    }

    /// Nobody owns it and routing never gave it to anyone: rules with `new_chat` apply.
    pub fn is_new(&self) -> bool {
        self.owner_id.is_none() && self.routed_at.is_none()
    }

    pub fn summary(&self, now: i64, has_pending_handoff: bool) -> ApiResult<ConversationSummary> {
        Ok(ConversationSummary {
            chat_id: self.chat_id()?,
            alias: self.alias()?,
            title: self.title.clone(),
            phone: self.phone.clone(),
            owner: self.owner(),
            lock: self.lock(now),
            stage: self.stage(),
            has_pending_handoff,
            closed_at: self.closed_at,
            routed_by: self.routed_by(),
            queued_at: self.queued_at(),
            created_at: self.created_at,
            last_activity_at: self.last_activity_at,
            last_event_seq: self.last_event_seq,
        })
    }
}

/// The conversation with this chat id (or alias) in the org, if any.
pub async fn find(
    conn: &mut AnyConnection,
    org_id: &str,
    chat_id: &ChatId,
) -> Result<Option<ConversationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT_CONVERSATION} WHERE c.org_id = $1 AND (c.chat_id = $2 OR c.alias = $2)"
    ))
    .bind(org_id)
    .bind(chat_id.as_str())
    .fetch_optional(conn)
    .await
}

/// The org's conversations whose reply lock this agent holds or last held.
pub async fn lock_held_by(
    conn: &mut AnyConnection,
    org_id: &str,
    agent_id: &str,
) -> Result<Vec<ConversationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT_CONVERSATION} WHERE c.org_id = $1 AND c.lock_holder_id = $2"
    ))
    .bind(org_id)
    .bind(agent_id)
    .fetch_all(conn)
    .await
}

/// Like [`find`], but a missing conversation is a 404.
pub async fn require(
    conn: &mut AnyConnection,
    org_id: &str,
    chat_id: &ChatId,
) -> ApiResult<ConversationRow> {
    find(conn, org_id, chat_id)
        .await?
        .ok_or(ApiError::NotFound("chat"))
}

/// Everything about a conversation, as of `now`.
pub async fn view(
    conn: &mut AnyConnection,
    row: &ConversationRow,
    now: i64,
) -> ApiResult<Conversation> {
    let open_reminders = reminders::open_for_conversation(conn, &row.id).await?;
    let pending_handoff = handoffs::pending_for_conversation(conn, &row.id).await?;
    let accepted_handoff = handoffs::latest_accepted_for_conversation(conn, &row.id).await?;
    let requests = match &row.owner_id {
        Some(owner_id) => chat_requests::pending_for_conversation(conn, &row.id, owner_id).await?,
        None => Vec::new(),
    };
    Ok(Conversation {
        chat_id: row.chat_id()?,
        alias: row.alias()?,
        title: row.title.clone(),
        phone: row.phone.clone(),
        owner: row.owner(),
        lock: row.lock(now),
        stage: row.stage(),
        open_reminders,
        pending_handoff,
        accepted_handoff,
        requests,
        closed_at: row.closed_at,
        routed_by: row.routed_by(),
        queued_at: row.queued_at(),
        created_at: row.created_at,
        last_activity_at: row.last_activity_at,
        last_event_seq: row.last_event_seq,
    })
}

/// Reads a conversation in a write transaction and renders it as of the transaction's clock.
pub async fn view_in(tx: &mut WriteTx, chat_id: &ChatId) -> ApiResult<Conversation> {
    let now = tx.now();
    let org_id = tx.org_id().to_owned();
    let row = require(tx.conn(), &org_id, chat_id).await?;
    view(tx.conn(), &row, now).await
}

/// Refuses an alias that cannot be the other id of the chat's person.
pub fn check_alias(chat_id: &ChatId, alias: &ChatId) -> ApiResult<()> {
    if chat_id.can_alias(alias) {
        Ok(())
    } else {
        Err(ApiError::validation(
            "an alias is the other id of the same person: the @c.us id of an @lid chat, or the @lid id of an @c.us chat",
        ))
    }
}

/// What WhatsApp shows of a chat.
pub struct Seen {
    pub title: String,
    pub phone: Option<String>,
    pub alias: Option<ChatId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    CreateOrUpdate,
    /// Leave an existing conversation as it is.
    CreateOnly,
}

/// What [`upsert`] did, and the conversation as it now stands.
pub struct Upserted {
    pub created: bool,
    pub row: ConversationRow,
}

/// Creates the conversation for `chat_id` (found by its id or its alias) or brings its title,
/// phone and alias up to date, in the caller's write transaction. Events are filed under the
/// conversation's own id. One person's two ids never make two conversations: if both already
/// exist apart, that is a 409 `alias_conflict`. In `CreateOnly` mode an existing conversation
/// keeps its title and phone, but one found by its other id learns the requested id as its alias
/// (so that id finds it from then on).
pub async fn upsert(
    tx: &mut WriteTx,
    auth: &AuthAgent,
    chat_id: &ChatId,
    seen: Seen,
    mode: Upsert,
) -> ApiResult<Upserted> {
    let org_id = tx.org_id().to_owned();
    let by_id = find(tx.conn(), &org_id, chat_id).await?;
    if let (Some(row), Upsert::CreateOnly) = (&by_id, mode) {
        return Ok(Upserted {
            created: false,
            row: row.clone(),
        });
    }
    let by_alias = match &seen.alias {
        Some(alias) => find(tx.conn(), &org_id, alias).await?,
        None => None,
    };
    let existing = match (by_id, by_alias) {
        (Some(a), Some(b)) if a.id != b.id => {
            return Err(ApiError::conflict(
                codes::ALIAS_CONFLICT,
                format!(
                "{chat_id} and {} are already two separate conversations; they cannot become one",
                seen.alias.as_ref().map(ChatId::as_str).unwrap_or_default()
            ),
            ))
        }
        (Some(row), _) | (None, Some(row)) => Some(row),
        (None, None) => None,
    };
    let now = tx.now();
    let actor = auth.agent_ref();
    let Some(row) = existing else {
        // For a phone contact the id itself carries the number.
        let phone = seen.phone.or_else(|| {
            [Some(chat_id), seen.alias.as_ref()]
                .into_iter()
                .flatten()
                .find_map(|id| id.phone_digits().map(|d| format!("+{d}")))
        });
        sqlx::query(
            "INSERT INTO conversations (id, org_id, chat_id, alias, title, phone, created_at, last_activity_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&org_id)
        .bind(chat_id.as_str())
        .bind(seen.alias.as_ref().map(ChatId::as_str))
        .bind(&seen.title)
        .bind(&phone)
        .bind(now)
        .execute(tx.conn())
        .await?;
        tx.append(
            Some(chat_id),
            Some(&actor),
            EventBody::ConversationCreated {
                title: seen.title,
                phone,
                alias: seen.alias,
            },
        )
        .await?;
        return Ok(Upserted {
            created: true,
            row: require(tx.conn(), &org_id, chat_id).await?,
        });
    };
    let own_id = row.chat_id()?;
    // The id of the request that is not the conversation's own is the alias to record.
    let other = if &own_id == chat_id {
        seen.alias
    } else if seen.alias.as_ref().is_some_and(|alias| alias != &own_id) {
        // Asked by its alias, the conversation can only be linked to its own id.
        return Err(ApiError::conflict(
            codes::ALIAS_CONFLICT,
            format!("{chat_id} is the alias of {own_id}; it cannot be linked to another id"),
        ));
    } else {
        Some(chat_id.clone())
    };
    let alias = match (row.alias()?, other) {
        (Some(known), Some(other)) if known != other => {
            return Err(ApiError::conflict(
                codes::ALIAS_CONFLICT,
                format!("{own_id} is already linked to {known}, not {other}"),
            ))
        }
        (known, other) => known.or(other),
    };
    let (title, phone) = match mode {
        // An omitted phone means "not shown", not "removed".
        Upsert::CreateOrUpdate => (seen.title, seen.phone.or(row.phone.clone())),
        Upsert::CreateOnly => (row.title.clone(), row.phone.clone()),
    };
    let alias_text = alias.as_ref().map(|a| a.as_str().to_owned());
    if row.title == title && row.phone == phone && row.alias == alias_text {
        return Ok(Upserted {
            created: false,
            row,
        });
    }
    sqlx::query("UPDATE conversations SET title = $1, phone = $2, alias = $3 WHERE id = $4")
        .bind(&title)
        .bind(&phone)
        .bind(&alias_text)
        .bind(&row.id)
        .execute(tx.conn())
        .await?;
    tx.append(
        Some(&own_id),
        Some(&actor),
        EventBody::ConversationUpdated {
            title,
            phone,
            alias,
        },
    )
    .await?;
    Ok(Upserted {
        created: false,
        row: require(tx.conn(), &org_id, &own_id).await?,
    })
}
