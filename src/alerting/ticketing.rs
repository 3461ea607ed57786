//! Runs a ticket step (`tickets`) against the group's ticket as stored in D1
//! (`group_tickets`): a create claims the row first, so two alerts racing create one ticket;
//! the new ticket's key lands on the row and `GET /v1/groups/{fp}` shows it.

use serde::{Deserialize, Serialize};
use worker::D1Database;

use super::calls::{execute, Failure};
use super::destinations::Destinations;
use super::tickets::{created, plan, Plan, TicketAction, TicketRef, TicketStep};
use crate::storage::d1::{opt_text, text, Metered};

/// A claim left without a ticket this long (its delivery failed for good) may be taken over.
const STALE_CLAIM_SECONDS: i64 = 600;

/// A group's ticket as `GET /v1/groups/{fp}` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupTicket {
    pub tracker: String,
    pub key: Option<String>,
    pub number: Option<String>,
    pub url: Option<String>,
    pub state: String,
    pub created_at: Option<String>,
}

#[derive(Deserialize)]
struct Row {
    claimed_by: String,
    ticket_key: Option<String>,
    number: Option<String>,
    url: Option<String>,
}

fn d1_failure(e: worker::Error) -> Failure {
    Failure::Retry {
        reason: format!("D1: {}", super::engine::describe(&e)),
        after: None,
    }
}

async fn stored(db: &D1Database, step: &TicketStep) -> worker::Result<Option<Row>> {
    db.prepare("SELECT claimed_by, ticket_key, number, url FROM group_tickets WHERE fingerprint = ?1 AND tracker = ?2")
        .bind(&[text(&step.fingerprint), text(&step.tracker)])?
        .first(None)
        .await
}

/// The group's tickets, one per tracker.
pub async fn of_group(db: &D1Database, fingerprint: &str) -> worker::Result<Vec<GroupTicket>> {
    db.prepare("SELECT tracker, ticket_key AS key, number, url, state, created_at FROM group_tickets WHERE fingerprint = ?1 AND ticket_key IS NOT NULL ORDER BY tracker")
        .bind(&[text(fingerprint)])?
        .all()
        .await?
        .metered()
        .results()
}

/// Claims the row for `me`: a fresh claim, my own earlier one, or a stale claim with no
/// ticket. `false`: another delivery is creating the ticket now.
async fn claim(db: &D1Database, step: &TicketStep, me: &str, now: &str) -> worker::Result<bool> {
    let stale = crate::processors::timestamp::parse_text(now)
        .map(|t| {
            crate::processors::timestamp::format_ts(
                t - chrono::Duration::seconds(STALE_CLAIM_SECONDS),
            )
        })
        .unwrap_or_default();
    let row: Option<Row> = db
        .prepare(
            "INSERT INTO group_tickets (fingerprint, tracker, claimed_by, claimed_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (fingerprint, tracker) DO UPDATE SET claimed_by = ?3, claimed_at = ?4
               WHERE group_tickets.ticket_key IS NULL AND group_tickets.claimed_at < ?5
             RETURNING claimed_by, ticket_key, number, url",
        )
        .bind(&[text(&step.fingerprint), text(&step.tracker), text(me), text(now), text(&stale)])?
        .first(None)
        .await?;
    match row {
        Some(r) => Ok(r.claimed_by == me && r.ticket_key.is_none()),
        // Not inserted nor taken over: someone holds it; it is mine only if I held it already.
        None => Ok(stored(db, step)
            .await?
            .is_some_and(|r| r.claimed_by == me && r.ticket_key.is_none())),
    }
}

/// One step; `Ok` carries a note when there was nothing to call.
pub async fn run(
    db: &D1Database,
    step: &TicketStep,
    delivery_id: &str,
    allowed: Destinations,
) -> Result<Option<String>, Failure> {
    let now = crate::platform::clock::clock_text().unwrap_or_default();
    let row = stored(db, step).await.map_err(d1_failure)?;
    let existing = row.as_ref().and_then(|r| {
        Some(TicketRef {
            key: r.ticket_key.clone()?,
            number: r.number.clone(),
            url: r.url.clone(),
        })
    });
    let call = match plan(step, existing.as_ref()) {
        Plan::Nothing(why) => return Ok(Some(why.to_string())),
        Plan::Check(call) => {
            execute(&call, allowed).await?.verdict()?;
            return Ok(None);
        }
        Plan::Comment(call) => {
            execute(&call, allowed).await?.verdict()?;
            set_state(db, step, "open").await?;
            return Ok(None);
        }
        Plan::Resolve(call) => {
            execute(&call, allowed).await?.verdict()?;
            set_state(db, step, "resolved").await?;
            return Ok(None);
        }
        Plan::Create(call) => call,
    };
    if !claim(db, step, delivery_id, &now)
        .await
        .map_err(d1_failure)?
    {
        return match step.action {
            // A regression must reach the ticket another alert is creating: try again later.
            TicketAction::Regress => Err(Failure::Retry {
                reason: "the group's ticket is being created by another alert".into(),
                after: Some(30),
            }),
            _ => Ok(Some("another alert is creating the group's ticket".into())),
        };
    }
    let answer = execute(&call, allowed).await?.verdict()?;
    let ticket = created(step, &answer.body)
        .ok_or_else(|| Failure::Permanent("the tracker's answer names no ticket".into()))?;
    db.prepare("UPDATE group_tickets SET ticket_key = ?3, number = ?4, url = ?5, created_at = ?6, state = 'open' WHERE fingerprint = ?1 AND tracker = ?2 AND claimed_by = ?7")
        .bind(&[
            text(&step.fingerprint),
            text(&step.tracker),
            text(&ticket.key),
            opt_text(ticket.number.as_deref()),
            opt_text(ticket.url.as_deref()),
            text(&now),
            text(delivery_id),
        ])
        .map_err(d1_failure)?
        .run()
        .await
        .map_err(d1_failure)?
        .metered();
    Ok(Some(format!(
        "created {}",
        ticket.number.as_deref().unwrap_or(&ticket.key)
    )))
}

async fn set_state(db: &D1Database, step: &TicketStep, state: &str) -> Result<(), Failure> {
    db.prepare("UPDATE group_tickets SET state = ?3 WHERE fingerprint = ?1 AND tracker = ?2")
        .bind(&[text(&step.fingerprint), text(&step.tracker), text(state)])
        .map_err(d1_failure)?
        .run()
        .await
        .map_err(d1_failure)?
        .metered();
    Ok(())
}
