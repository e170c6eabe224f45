//! What the lead's pipeline board shows, pure: the board's cards filtered (agent, team, waiting
//! for us, past target, a title search) and laid out in one column per stage, each card in words.
//! The lead module draws it ([`crate::lead`]); tested natively.

use protocol::reports::{Board, BoardCard};
use protocol::ChatId;

use crate::reports_view::duration;

/// The board's filters; the default shows everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoardFilters {
    /// Only this agent's chats (`Some("")`: only chats nobody owns).
    pub agent: Option<String>,
    /// Only chats owned by these agents (a team's members).
    pub members: Option<Vec<String>>,
    /// Only chats whose customer waits for a reply.
    pub waiting: bool,
    /// Only chats already past their stage's target.
    pub breached: bool,
    /// Only chats whose title contains this (any case).
    pub search: String,
}

impl BoardFilters {
    /// Whether the card shows under these filters at `now` (the server's clock).
    pub fn admits(&self, card: &BoardCard, now: i64) -> bool {
        let owner = card.owner.as_ref().map(|o| o.id.as_str());
        if let Some(agent) = &self.agent {
            if owner.unwrap_or("") != agent {
                return false;
            }
        }
        if let Some(members) = &self.members {
            if !owner.is_some_and(|o| members.iter().any(|m| m == o)) {
                return false;
            }
        }
        if self.waiting && card.waiting_since.is_none() {
            return false;
        }
        if self.breached && sla(card, now) != Sla::Breached {
            return false;
        }
        let search = self.search.trim();
        search.is_empty() || card.title.to_lowercase().contains(&search.to_lowercase())
    }
}

/// Whether a card's wait is within its target, close to it, past it, or has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sla {
    None,
    Within,
    /// Within, but a quarter of the target or less is left (on the wall clock).
    DueSoon,
    Breached,
}

/// The card's target state at `now`: from its deadline when the server gave one, so the state
/// moves on between reads (a wait turns "due soon", then "past target", as the clock runs).
pub fn sla(card: &BoardCard, now: i64) -> Sla {
    let Some(mins) = card.sla_target_mins else {
        return Sla::None;
    };
    match card.sla_due_at {
        Some(due) if now > due => Sla::Breached,
        Some(due) if (due - now) * 4 <= i64::from(mins) * 60_000 => Sla::DueSoon,
        Some(_) => Sla::Within,
        None if card.sla_breached => Sla::Breached,
        None => Sla::Within,
    }
}

impl Sla {
    pub fn key(self) -> &'static str {
        match self {
            Sla::None => "none",
            Sla::Within => "within",
            Sla::DueSoon => "due-soon",
            Sla::Breached => "breached",
        }
    }
}

/// A card as words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardView {
    pub chat_id: ChatId,
    pub title: String,
    /// `Unassigned` when nobody owns it.
    pub owner: String,
    pub owner_id: Option<String>,
    /// `Waiting 12 min`, or empty when the team spoke last.
    pub waiting: String,
    pub sla: Sla,
    /// `Target 30 min`, or empty without one.
    pub target: String,
    pub reminder: bool,
    pub handoff_waiting: bool,
    /// The first responder is working it (nobody owns it yet).
    pub with_responder: bool,
}

/// One stage's column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub stage: String,
    pub cards: Vec<CardView>,
}

/// The board as columns, in the pipeline's stage order (a stage the pipeline no longer has, still
/// on cards read before the change, gets a column after them); `now` is the server's clock.
pub fn columns(board: &Board, filters: &BoardFilters, now: i64) -> Vec<Column> {
    let mut columns: Vec<Column> = board
        .pipeline
        .stages
        .iter()
        .map(|stage| Column {
            stage: stage.clone(),
            cards: Vec::new(),
        })
        .collect();
    for card in board.cards.iter().filter(|c| filters.admits(c, now)) {
        let at = match columns.iter().position(|c| c.stage == card.stage) {
            Some(at) => at,
            None => {
                columns.push(Column {
                    stage: card.stage.clone(),
                    cards: Vec::new(),
                });
                columns.len() - 1
            }
        };
        columns[at].cards.push(card_view(card, now));
    }
    columns
}

/// The target in words for its state: `Target 30 min`, `Due in 6 min`, `Past the 30 min target`.
fn target_words(card: &BoardCard, now: i64) -> String {
    let Some(mins) = card.sla_target_mins else {
        return String::new();
    };
    let target = duration(Some(i64::from(mins) * 60));
    match (sla(card, now), card.sla_due_at) {
        (Sla::DueSoon, Some(due)) => format!("Due in {}", duration(Some((due - now) / 1000))),
        (Sla::Breached, _) => format!("Past the {target} target"),
        _ => format!("Target {target}"),
    }
}

pub fn card_view(card: &BoardCard, now: i64) -> CardView {
    CardView {
        chat_id: card.chat_id.clone(),
        title: card.title.clone(),
        owner: match &card.owner {
            Some(owner) => owner.name.clone(),
            None if card.with_responder => "With the responder".to_owned(),
            None => "Unassigned".to_owned(),
        },
        owner_id: card.owner.as_ref().map(|o| o.id.clone()),
        waiting: card
            .waiting_since
            .map(|since| format!("Waiting {}", duration(Some((now - since) / 1000))))
            .unwrap_or_default(),
        sla: sla(card, now),
        target: target_words(card, now),
        reminder: card.reminder_due_at.is_some(),
        handoff_waiting: card.handoff_waiting,
        with_responder: card.with_responder && card.owner.is_none(),
    }
}

/// The first responder's seats in one line for the board, and the state it shows (`working`,
/// `stopped` when any seat stopped, `offline` when none is connected); empty without seats.
pub fn seats_line(seats: &[protocol::responder::SeatStatus]) -> (String, &'static str) {
    if seats.is_empty() {
        return (String::new(), "");
    }
    let parts: Vec<String> = seats
        .iter()
        .map(|s| match (s.connected, s.working) {
            (false, _) => format!("{} is offline", s.agent.name),
            (true, true) => format!("{} is answering new chats", s.agent.name),
            (true, false) if s.reason.is_empty() => format!("{} stopped", s.agent.name),
            (true, false) => format!("{} stopped: {}", s.agent.name, s.reason),
        })
        .collect();
    let state = if seats.iter().any(|s| s.connected && !s.working) {
        "stopped"
    } else if seats.iter().any(|s| s.connected) {
        "working"
    } else {
        "offline"
    };
    (format!("First responder: {}", parts.join(" · ")), state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::api::{AgentRef, Pipeline};

    const MIN: i64 = 60_000;

    fn card(n: u64, title: &str, owner: Option<&str>, stage: &str) -> BoardCard {
        BoardCard {
            chat_id: ChatId::parse(&format!("9198765{n:05}@c.us")).unwrap(),
            title: title.into(),
            owner: owner.map(|o| AgentRef {
                id: o.to_lowercase(),
                name: o.into(),
            }),
            stage: stage.into(),
            waiting_since: None,
            sla_target_mins: None,
            sla_breached: false,
            sla_due_at: None,
            reminder_due_at: None,
            handoff_waiting: false,
            with_responder: false,
            last_activity_at: 0,
        }
    }

    fn board(cards: Vec<BoardCard>) -> Board {
        Board {
            pipeline: Pipeline {
                id: "p".into(),
                name: "Loans".into(),
                stages: vec!["New".into(), "Qualified".into(), "Won".into()],
                sla: vec![],
                created_at: 0,
            },
            now: 100 * MIN,
            cards,
        }
    }

    #[test]
    fn every_stage_has_a_column_in_order_with_its_cards() {
        let mut waiting = card(1, "Priya Sharma", Some("Asha"), "Won");
        waiting.waiting_since = Some(88 * MIN);
        waiting.sla_target_mins = Some(30);
        let cards = vec![
            card(2, "Rahul", None, "New"),
            waiting,
            card(3, "Old stage", None, "Gone"),
        ];
        let b = board(cards);
        let cols = columns(&b, &BoardFilters::default(), b.now);
        let stages: Vec<&str> = cols.iter().map(|c| c.stage.as_str()).collect();
        assert_eq!(stages, ["New", "Qualified", "Won", "Gone"]);
        assert_eq!(cols[1].cards.len(), 0);
        let priya = &cols[2].cards[0];
        assert_eq!(priya.owner, "Asha");
        assert_eq!(priya.waiting, "Waiting 12 min");
        assert_eq!(priya.sla, Sla::Within);
        assert_eq!(priya.target, "Target 30 min");
        assert_eq!(cols[0].cards[0].owner, "Unassigned");
        assert_eq!(cols[0].cards[0].waiting, "");
        assert_eq!(cols[0].cards[0].sla, Sla::None);
        assert!(!cols[0].cards[0].with_responder);
    }

    #[test]
    fn the_board_says_how_the_responder_seats_are() {
        use protocol::responder::SeatStatus;
        let seat = |name: &str, connected: bool, working: bool, reason: &str| SeatStatus {
            agent: AgentRef {
                id: name.to_lowercase(),
                name: name.into(),
            },
            connected,
            working,
            reason: reason.into(),
            since: Some(1),
        };
        assert_eq!(seats_line(&[]), (String::new(), ""));
        assert_eq!(
            seats_line(&[seat("Night seat", true, true, "")]),
            (
                "First responder: Night seat is answering new chats".to_owned(),
                "working"
            )
        );
        let (line, state) = seats_line(&[
            seat(
                "Night seat",
                true,
                false,
                "the Baton server cannot be reached.",
            ),
            seat("Spare", false, true, ""),
        ]);
        assert_eq!(
            line,
            "First responder: Night seat stopped: the Baton server cannot be reached. · Spare is offline"
        );
        assert_eq!(state, "stopped");
        assert_eq!(seats_line(&[seat("Spare", false, true, "")]).1, "offline");
    }

    #[test]
    fn a_chat_the_responder_works_says_so_until_a_person_has_it() {
        let mut lead = card(1, "Priya", None, "New");
        lead.with_responder = true;
        let view = card_view(&lead, 0);
        assert_eq!(view.owner, "With the responder");
        assert!(view.with_responder);
        lead.owner = Some(AgentRef {
            id: "asha".into(),
            name: "Asha".into(),
        });
        let view = card_view(&lead, 0);
        assert_eq!(view.owner, "Asha");
        assert!(!view.with_responder, "a person has it");
    }

    #[test]
    fn a_wait_turns_due_soon_then_past_target_as_the_clock_runs() {
        let mut wait = card(1, "Priya Sharma", Some("Asha"), "New");
        wait.waiting_since = Some(0);
        wait.sla_target_mins = Some(60);
        // The org closed overnight: the deadline is later than since + target.
        wait.sla_due_at = Some(600 * MIN);
        assert_eq!(sla(&wait, 100 * MIN), Sla::Within);
        assert_eq!(sla(&wait, 584 * MIN), Sla::Within);
        assert_eq!(
            sla(&wait, 585 * MIN),
            Sla::DueSoon,
            "15 minutes (a quarter) left"
        );
        assert_eq!(card_view(&wait, 100 * MIN).target, "Target 1 h 00 min");
        assert_eq!(card_view(&wait, 592 * MIN).target, "Due in 8 min");
        assert_eq!(
            card_view(&wait, 700 * MIN).target,
            "Past the 1 h 00 min target"
        );
        assert_eq!(
            sla(&wait, 600 * MIN),
            Sla::DueSoon,
            "the deadline itself is within"
        );
        assert_eq!(sla(&wait, 600 * MIN + 1), Sla::Breached);
        let b = board(vec![wait.clone()]);
        let past = BoardFilters {
            breached: true,
            ..BoardFilters::default()
        };
        assert!(columns(&b, &past, 590 * MIN)
            .iter()
            .all(|c| c.cards.is_empty()));
        assert_eq!(columns(&b, &past, 601 * MIN)[0].cards[0].sla, Sla::Breached);
        // Without a deadline (an old server, a year closed) the server's word stands.
        wait.sla_due_at = None;
        assert_eq!(sla(&wait, 10_000 * MIN), Sla::Within);
        wait.sla_breached = true;
        assert_eq!(sla(&wait, 0), Sla::Breached);
        wait.sla_target_mins = None;
        assert_eq!(sla(&wait, 0), Sla::None, "no target, no state");
        assert_eq!(Sla::DueSoon.key(), "due-soon");
    }

    #[test]
    fn filters_combine() {
        let mut late = card(1, "Priya Sharma", Some("Asha"), "New");
        late.waiting_since = Some(10 * MIN);
        late.sla_target_mins = Some(30);
        late.sla_breached = true;
        let mut waiting = card(2, "Prakash", Some("Ravi"), "New");
        waiting.waiting_since = Some(90 * MIN);
        let idle = card(3, "Zoya ज़ोया", None, "New");
        let b = board(vec![late, waiting, idle]);
        let titles = |f: BoardFilters| -> Vec<String> {
            columns(&b, &f, b.now)
                .into_iter()
                .flat_map(|c| c.cards)
                .map(|c| c.title)
                .collect()
        };
        assert_eq!(titles(BoardFilters::default()).len(), 3);
        let only = |agent: &str| BoardFilters {
            agent: Some(agent.into()),
            ..BoardFilters::default()
        };
        assert_eq!(titles(only("asha")), ["Priya Sharma"]);
        assert_eq!(titles(only("")), ["Zoya ज़ोया"], "nobody's chats");
        let team = BoardFilters {
            members: Some(vec!["asha".into(), "ravi".into()]),
            ..BoardFilters::default()
        };
        assert_eq!(titles(team), ["Priya Sharma", "Prakash"]);
        let waiting_only = BoardFilters {
            waiting: true,
            ..BoardFilters::default()
        };
        assert_eq!(titles(waiting_only), ["Priya Sharma", "Prakash"]);
        let breached = BoardFilters {
            breached: true,
            ..BoardFilters::default()
        };
        assert_eq!(titles(breached), ["Priya Sharma"]);
        let search = |text: &str| BoardFilters {
            search: text.into(),
            ..BoardFilters::default()
        };
        assert_eq!(titles(search("  PR ")), ["Priya Sharma", "Prakash"]);
        assert_eq!(titles(search("ज़ोया")), ["Zoya ज़ोया"]);
        assert!(titles(search("nobody")).is_empty());
    }
}
