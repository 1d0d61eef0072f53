//! The event types and the outbox. An event is written to `webhook_events` on the
//! connection of whatever made it true: a flag raised by screening inside an append's
//! transaction commits or rolls back with its entry, so an event exists if and only if
//! what it reports was recorded. Delivery happens later, after commit, in `deliver`.
//!
//! Each event names its fund and, when it is about one ministry's data, that ministry:
//! a ministry's subscription receives only events about that ministry; the secretariat's,
//! the fund's auditors' and administrators' receive every event of the fund. An event about
//! the fund as a whole (an import, an integrity alarm) names no ministry and reaches only
//! subscribers who read the whole fund. The payload holds only what every subscriber it can
//! reach may read through the API (a flag as `GET /api/v1/flags/{id}` shows it).

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::store;

/// What a subscription can ask to be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    /// A screen raised a flag (in the append that recorded its entry, or a period screen).
    #[serde(rename = "flag.raised")]
    FlagRaised,
    /// An auditor triaged a flag (acknowledged, confirmed, dismissed, escalated, reopened).
    #[serde(rename = "flag.triaged")]
    FlagTriaged,
    /// An entry waits for a second person's approval.
    #[serde(rename = "approval.requested")]
    ApprovalRequested,
    /// An OCDS import into the fund finished.
    #[serde(rename = "import.finished")]
    ImportFinished,
    /// The service found the fund's chain inconsistent with what it signed (appends
    /// refused), or a witness refused its checkpoint (a rollback or a fork).
    #[serde(rename = "integrity.alarm")]
    IntegrityAlarm,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::FlagRaised,
        EventType::FlagTriaged,
        EventType::ApprovalRequested,
        EventType::ImportFinished,
        EventType::IntegrityAlarm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::FlagRaised => "flag.raised",
            EventType::FlagTriaged => "flag.triaged",
            EventType::ApprovalRequested => "approval.requested",
            EventType::ImportFinished => "import.finished",
            EventType::IntegrityAlarm => "integrity.alarm",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The type of the event `POST /api/v1/webhooks/{id}/test` sends.
pub const TEST_EVENT: &str = "webhook.test";

/// An event to write to the outbox.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Unique per fact: the same fact emitted twice (a replayed job, a rerun) is one event.
    pub id: Uuid,
    pub fund: Uuid,
    /// The ministry whose data it is about; `None`: the fund as a whole.
    pub ministry: Option<Uuid>,
    pub event_type: EventType,
    pub data: Value,
    pub at: DateTime<Utc>,
}

/// Namespace of the ids of events derived from what they report (uuid v5).
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x5d0f_8a3e_6c1b_4f7e_9a2d_0b4c_e1f6_a7c3);

/// The id of the event of `event_type` about `subject`: the same subject gives the same
/// id, so emitting it again adds nothing.
pub fn event_id(event_type: EventType, subject: &str) -> Uuid {
    Uuid::new_v5(
        &EVENT_NAMESPACE,
        format!("{}/{subject}", event_type.as_str()).as_bytes(),
    )
}

/// Writes `events` to the outbox on `conn` (inside the caller's transaction); an event
/// already there (same id) is left as it is. One statement for any number of events.
pub fn emit(conn: &mut PgConnection, events: &[NewEvent]) -> diesel::QueryResult<usize> {
    store::insert_events(conn, events)
}

/// A flag just raised, as `flags_raised` reports it.
#[derive(Debug, Clone)]
pub struct RaisedFlag {
    pub id: Uuid,
    pub fund: Uuid,
    /// The ministry whose entries it is about, if any.
    pub ministry: Option<Uuid>,
    pub at: DateTime<Utc>,
    /// The flag as `GET /api/v1/flags/{id}` shows it.
    pub flag: Value,
}

/// `flag.raised` for each of `flags`: `{"flag": …}` (each flag moved into its event, not
/// copied: an import raises many).
pub fn flags_raised(conn: &mut PgConnection, flags: Vec<RaisedFlag>) -> diesel::QueryResult<usize> {
    let events: Vec<NewEvent> = flags
        .into_iter()
        .map(|f| {
            let mut data = serde_json::Map::with_capacity(1);
            data.insert("flag".to_owned(), f.flag);
            NewEvent {
                id: event_id(EventType::FlagRaised, &f.id.to_string()),
                fund: f.fund,
                ministry: f.ministry,
                event_type: EventType::FlagRaised,
                data: Value::Object(data),
                at: f.at,
            }
        })
        .collect();
    emit(conn, &events)
}

/// `flag.triaged`: the flag after its triage, and the triage (`action`, `from`, `to`,
/// `reason`, the administrative chain's `admin_seq` that records it).
pub fn flag_triaged(
    conn: &mut PgConnection,
    triage_id: Uuid,
    (fund, ministry): (Uuid, Option<Uuid>),
    data: Value,
    at: DateTime<Utc>,
) -> diesel::QueryResult<usize> {
    emit(
        conn,
        &[NewEvent {
            id: event_id(EventType::FlagTriaged, &triage_id.to_string()),
            fund,
            ministry,
            event_type: EventType::FlagTriaged,
            data,
            at,
        }],
    )
}

/// `approval.requested`: the entry at `seq` of `fund`'s chain waits for a second person's
/// approval. Called in the append's transaction by whatever records the request (the
/// two-person control), so the event exists if and only if the request does.
pub fn approval_requested(
    conn: &mut PgConnection,
    (fund, seq): (Uuid, u64),
    ministry: Option<Uuid>,
    data: Value,
    at: DateTime<Utc>,
) -> diesel::QueryResult<usize> {
    emit(
        conn,
        &[NewEvent {
            id: event_id(EventType::ApprovalRequested, &format!("{fund}/{seq}")),
            fund,
            ministry,
            event_type: EventType::ApprovalRequested,
            data,
            at,
        }],
    )
}

/// `import.finished`: what an import into `fund` came to (`run` identifies the run).
pub fn import_finished(
    conn: &mut PgConnection,
    run: Uuid,
    fund: Uuid,
    ministry: Option<Uuid>,
    data: Value,
    at: DateTime<Utc>,
) -> diesel::QueryResult<usize> {
    emit(
        conn,
        &[NewEvent {
            id: event_id(EventType::ImportFinished, &run.to_string()),
            fund,
            ministry,
            event_type: EventType::ImportFinished,
            data,
            at,
        }],
    )
}

/// `integrity.alarm` for `alarm` when its chain is a fund's (the administrative chain has
/// no subscribers). The same alarm (chain, seqs, detail) is one event per UTC day, however
/// often it recurs: a chain that refuses appends finds the same failure on every attempt.
pub fn integrity_alarm(
    conn: &mut PgConnection,
    alarm: &crate::ledger::integrity::Alarm,
) -> diesel::QueryResult<usize> {
    let seqs = alarm.seqs.map(|(from, to)| json!({"from": from, "to": to}));
    let subject = format!(
        "{}/{}/{}/{}",
        alarm.chain,
        alarm.at.date_naive(),
        seqs.as_ref().map(Value::to_string).unwrap_or_default(),
        alarm.detail
    );
    store::insert_for_fund(
        conn,
        &NewEvent {
            id: event_id(EventType::IntegrityAlarm, &subject),
            fund: alarm.chain,
            ministry: None,
            event_type: EventType::IntegrityAlarm,
            data: json!({"fund": alarm.chain, "seqs": seqs, "detail": alarm.detail}),
            at: alarm.at,
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn event_types_read_back_as_written() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                Value::String(t.as_str().to_owned())
            );
        }
        assert_eq!(EventType::parse(TEST_EVENT), None);
    }

    #[test]
    fn the_same_fact_is_one_event_id() {
        let f = Uuid::new_v4().to_string();
        assert_eq!(
            event_id(EventType::FlagRaised, &f),
            event_id(EventType::FlagRaised, &f)
        );
        assert_ne!(
            event_id(EventType::FlagRaised, &f),
            event_id(EventType::FlagTriaged, &f)
        );
    }
}
