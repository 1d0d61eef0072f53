//! The only SQL over the webhook tables: the outbox, subscriptions, deliveries and the
//! attempt log.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel::PgConnection;
use serde_json::Value;
use uuid::Uuid;

use super::events::NewEvent;
use crate::db::prepared::prepared;

/// Writes `events` (one statement of constant text for any number of them); an event whose
/// id is already there is left as it is. Returns how many were new.
pub fn insert_events(conn: &mut PgConnection, events: &[NewEvent]) -> QueryResult<usize> {
    if events.is_empty() {
        return Ok(0);
    }
    prepared(
        diesel::sql_query(
            "INSERT INTO webhook_events (id, fund_id, ministry_org_id, event_type, payload, created_at) \
             SELECT * FROM unnest($1, $2, $3, $4, $5, $6) \
             ON CONFLICT DO NOTHING",
        )
        .bind::<Array<SqlUuid>, _>(events.iter().map(|e| e.id).collect::<Vec<_>>())
        .bind::<Array<SqlUuid>, _>(events.iter().map(|e| e.fund).collect::<Vec<_>>())
        .bind::<Array<Nullable<SqlUuid>>, _>(events.iter().map(|e| e.ministry).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(
            events
                .iter()
                .map(|e| e.event_type.as_str().to_owned())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Jsonb>, _>(events.iter().map(|e| &e.data).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(events.iter().map(|e| e.at).collect::<Vec<_>>()),
    )
    .execute(conn)
}

/// Writes `event` when its fund exists (an event about another chain is dropped).
pub fn insert_for_fund(conn: &mut PgConnection, event: &NewEvent) -> QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO webhook_events (id, fund_id, ministry_org_id, event_type, payload, created_at) \
         SELECT $1, f.id, $3, $4, $5, $6 FROM funds f WHERE f.id = $2 \
         ON CONFLICT DO NOTHING",
    )
    .bind::<SqlUuid, _>(event.id)
    .bind::<SqlUuid, _>(event.fund)
    .bind::<Nullable<SqlUuid>, _>(event.ministry)
    .bind::<Text, _>(event.event_type.as_str())
    .bind::<Jsonb, _>(&event.data)
    .bind::<Timestamptz, _>(event.at)
    .execute(conn)
}

// ---------------------------------------------------------------------------- subscriptions

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::webhook_subscriptions)]
pub struct SubscriptionRow {
    pub id: Uuid,
    pub fund_id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_expires_at: Option<DateTime<Utc>>,
    pub owner_user_id: Uuid,
    pub owner_org_id: Uuid,
    pub owner_role: String,
    pub ministry_org_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = crate::schema::webhook_subscriptions)]
pub struct NewSubscription {
    pub id: Uuid,
    pub fund_id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub secret: String,
    pub owner_user_id: Uuid,
    pub owner_org_id: Uuid,
    pub owner_role: String,
    pub ministry_org_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

pub fn insert_subscription(conn: &mut PgConnection, row: &NewSubscription) -> QueryResult<()> {
    use crate::schema::webhook_subscriptions as s;
    diesel::insert_into(s::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Live subscriptions of `fund` held by organisation `org` in `role` (all of the fund's
/// when `org` is `None`), oldest first.
pub fn subscriptions(
    conn: &mut PgConnection,
    fund: Uuid,
    holder: Option<(Uuid, &str)>,
) -> QueryResult<Vec<SubscriptionRow>> {
    use crate::schema::webhook_subscriptions as s;
    let mut q = s::table
        .filter(s::fund_id.eq(fund))
        .filter(s::deleted_at.is_null())
        .select(SubscriptionRow::as_select())
        .order((s::created_at, s::id))
        .into_boxed();
    if let Some((org, role)) = holder {
        q = q
            .filter(s::owner_org_id.eq(org))
            .filter(s::owner_role.eq(role.to_owned()));
    }
    q.load(conn)
}

/// A live subscription, locked for the rest of the transaction when `lock`.
pub fn subscription(
    conn: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> QueryResult<Option<SubscriptionRow>> {
    use crate::schema::webhook_subscriptions as s;
    let q = s::table
        .filter(s::id.eq(id))
        .filter(s::deleted_at.is_null())
        .select(SubscriptionRow::as_select());
    if lock {
        q.for_update().first(conn).optional()
    } else {
        q.first(conn).optional()
    }
}

/// Ends a subscription: nothing more is delivered to it, pending deliveries are cancelled.
pub fn delete_subscription(
    conn: &mut PgConnection,
    id: Uuid,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::sql_query("UPDATE webhook_subscriptions SET deleted_at = $2 WHERE id = $1")
        .bind::<SqlUuid, _>(id)
        .bind::<Timestamptz, _>(at)
        .execute(conn)?;
    diesel::sql_query(
        "UPDATE webhook_deliveries SET state = 'cancelled' \
         WHERE subscription_id = $1 AND state = 'pending'",
    )
    .bind::<SqlUuid, _>(id)
    .execute(conn)
    .map(|_| ())
}

/// Replaces the secret; the one replaced keeps signing until `previous_until`.
pub fn rotate_secret(
    conn: &mut PgConnection,
    id: Uuid,
    secret: &str,
    previous_until: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE webhook_subscriptions \
         SET previous_secret = secret, previous_expires_at = $3, secret = $2 WHERE id = $1",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(secret)
    .bind::<Timestamptz, _>(previous_until)
    .execute(conn)
    .map(|_| ())
}

/// Live subscriptions of an organisation in a fund, to bound them.
pub fn count_held(conn: &mut PgConnection, fund: Uuid, org: Uuid) -> QueryResult<i64> {
    use crate::schema::webhook_subscriptions as s;
    s::table
        .filter(s::fund_id.eq(fund))
        .filter(s::owner_org_id.eq(org))
        .filter(s::deleted_at.is_null())
        .count()
        .get_result(conn)
}

/// A test event for subscription `sub` only: the event and its one delivery, due now.
pub fn insert_test_event(
    conn: &mut PgConnection,
    sub: &SubscriptionRow,
    id: Uuid,
    data: &Value,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO webhook_events \
             (id, fund_id, ministry_org_id, event_type, payload, created_at, fanned_out) \
         VALUES ($1, $2, $3, $4, $5, $6, true)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(sub.fund_id)
    .bind::<Nullable<SqlUuid>, _>(sub.ministry_org_id)
    .bind::<Text, _>(super::events::TEST_EVENT)
    .bind::<Jsonb, _>(data)
    .bind::<Timestamptz, _>(at)
    .execute(conn)?;
    diesel::sql_query(
        "INSERT INTO webhook_deliveries \
             (subscription_id, event_id, state, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, 'pending', 0, $3, $3)",
    )
    .bind::<SqlUuid, _>(sub.id)
    .bind::<SqlUuid, _>(id)
    .bind::<Timestamptz, _>(at)
    .execute(conn)
    .map(|_| ())
}

// ------------------------------------------------------------------------------- delivery

/// Makes the deliveries of up to `batch` events not yet fanned out (oldest first): one per
/// live subscription of the event's fund that asked for its type, existed when it happened,
/// whose scope covers it (a ministry's: events about that ministry), and whose holder may
/// still read the fund (active user and organisation, live grant of the role, and the
/// role's tie to the fund: the secretariat, an assigned auditor, an allocated ministry).
/// Events locked by another process are skipped, so concurrent workers split the work.
/// Returns how many events were fanned out.
pub fn fan_out(conn: &mut PgConnection, now: DateTime<Utc>, batch: i64) -> QueryResult<usize> {
    prepared(
        diesel::sql_query(
            "WITH ev AS ( \
                 SELECT id, fund_id, ministry_org_id, event_type, created_at FROM webhook_events \
                 WHERE NOT fanned_out ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED \
             ), made AS ( \
                 INSERT INTO webhook_deliveries \
                     (subscription_id, event_id, state, attempts, next_attempt_at, created_at) \
                 SELECT s.id, ev.id, 'pending', 0, $1, $1 \
                 FROM ev JOIN webhook_subscriptions s ON s.fund_id = ev.fund_id \
                 JOIN funds f ON f.id = ev.fund_id \
                 JOIN users u ON u.id = s.owner_user_id AND u.active \
                 JOIN organizations o ON o.id = s.owner_org_id AND o.active \
                 WHERE s.deleted_at IS NULL \
                   AND ev.event_type = ANY (s.event_types) \
                   AND s.created_at <= ev.created_at \
                   AND (s.ministry_org_id IS NULL OR s.ministry_org_id = ev.ministry_org_id) \
                   AND EXISTS (SELECT 1 FROM role_grants g WHERE g.user_id = u.id \
                               AND g.role = s.owner_role AND g.revoked_at IS NULL) \
                   AND CASE s.owner_role \
                       WHEN 'admin' THEN true \
                       WHEN 'treasurer' THEN f.secretariat_org_id = s.owner_org_id \
                       WHEN 'auditor' THEN EXISTS (SELECT 1 FROM fund_auditors a \
                           WHERE a.fund_id = f.id AND a.org_id = s.owner_org_id) \
                       WHEN 'ministry' THEN s.ministry_org_id = s.owner_org_id \
                           AND EXISTS (SELECT 1 FROM ministry_positions m \
                               WHERE m.fund_id = f.id AND m.ministry_org_id = s.owner_org_id) \
                       ELSE false END \
                 ON CONFLICT DO NOTHING \
             ) \
             UPDATE webhook_events SET fanned_out = true WHERE id IN (SELECT id FROM ev)",
        )
        .bind::<Timestamptz, _>(now)
        .bind::<BigInt, _>(batch),
    )
    .execute(conn)
}

/// A delivery taken by this worker for one attempt.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = SqlUuid)]
    pub subscription_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub event_id: Uuid,
    /// Attempts made before this one.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Text)]
    pub secret: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub previous_secret: Option<String>,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Text)]
    pub payload: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

/// Takes up to `batch` pending deliveries due at `now`, oldest due first, and leases them
/// until `lease_until` (their next attempt time is moved there, so neither this nor
/// another process takes them again while the attempt runs; a worker that dies mid-attempt
/// leaves them to be retried when the lease ends). Rows locked by another process are
/// skipped. The previous secret comes along while it is in force.
pub fn claim(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    batch: i64,
) -> QueryResult<Vec<Claimed>> {
    prepared(
        diesel::sql_query(
            "UPDATE webhook_deliveries d SET next_attempt_at = $2 \
             FROM (SELECT subscription_id, event_id FROM webhook_deliveries \
                   WHERE state = 'pending' AND next_attempt_at <= $1 \
                   ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) c, \
                  webhook_subscriptions s, webhook_events e \
             WHERE d.subscription_id = c.subscription_id AND d.event_id = c.event_id \
               AND s.id = d.subscription_id AND e.id = d.event_id \
             RETURNING d.subscription_id, d.event_id, d.attempts, s.url, s.secret, \
               CASE WHEN s.previous_expires_at > $1 THEN s.previous_secret END AS previous_secret, \
               e.event_type, e.payload::text AS payload, e.created_at",
        )
        .bind::<Timestamptz, _>(now)
        .bind::<Timestamptz, _>(lease_until)
        .bind::<BigInt, _>(batch),
    )
    .load(conn)
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub subscription_id: Uuid,
    pub event_id: Uuid,
    /// 1 for the first attempt.
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub outcome: &'static str,
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
    /// The delivery's state after it: `delivered`, `pending` (retried at `next`) or
    /// `failed`.
    pub state: &'static str,
    pub next: DateTime<Utc>,
}

/// Logs `a` and moves its delivery on, in one transaction; nothing is written when the
/// delivery is no longer at the attempt this worker took (its lease ran out and another
/// worker took it, or the subscription was deleted). Returns whether it was written.
pub fn record(conn: &mut PgConnection, a: &Attempt) -> QueryResult<bool> {
    conn.transaction(|conn| {
        let moved = diesel::sql_query(
            "UPDATE webhook_deliveries SET attempts = $3, state = $4, next_attempt_at = $5 \
             WHERE subscription_id = $1 AND event_id = $2 AND attempts = $3 - 1 \
               AND state = 'pending'",
        )
        .bind::<SqlUuid, _>(a.subscription_id)
        .bind::<SqlUuid, _>(a.event_id)
        .bind::<Integer, _>(a.attempt)
        .bind::<Text, _>(a.state)
        .bind::<Timestamptz, _>(a.next)
        .execute(conn)?;
        if moved == 0 {
            return Ok(false);
        }
        diesel::sql_query(
            "INSERT INTO webhook_attempts (subscription_id, event_id, attempt, at, outcome, \
                 response_status, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind::<SqlUuid, _>(a.subscription_id)
        .bind::<SqlUuid, _>(a.event_id)
        .bind::<Integer, _>(a.attempt)
        .bind::<Timestamptz, _>(a.at)
        .bind::<Text, _>(a.outcome)
        .bind::<Nullable<Integer>, _>(a.response_status)
        .bind::<Nullable<Text>, _>(a.error.as_deref())
        .bind::<BigInt, _>(a.duration_ms)
        .execute(conn)?;
        Ok(true)
    })
}

/// One logged attempt, with its event's type and its delivery's state now.
#[derive(Debug, Clone, QueryableByName)]
pub struct AttemptRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = SqlUuid)]
    pub event_id: Uuid,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Integer)]
    pub attempt: i32,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Nullable<Integer>)]
    pub response_status: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub duration_ms: i64,
    #[diesel(sql_type = Text)]
    pub delivery_state: String,
    #[diesel(sql_type = Timestamptz)]
    pub next_attempt_at: DateTime<Utc>,
}

/// The attempts of subscription `sub` after attempt id `after`, oldest first, at most
/// `limit`.
pub fn attempts(
    conn: &mut PgConnection,
    sub: Uuid,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<AttemptRow>> {
    diesel::sql_query(
        "SELECT a.id, a.event_id, e.event_type, a.attempt, a.at, a.outcome, a.response_status, \
             a.error, a.duration_ms, d.state AS delivery_state, d.next_attempt_at \
         FROM webhook_attempts a \
         JOIN webhook_deliveries d ON d.subscription_id = a.subscription_id AND d.event_id = a.event_id \
         JOIN webhook_events e ON e.id = a.event_id \
         WHERE a.subscription_id = $1 AND a.id > $2 ORDER BY a.id LIMIT $3",
    )
    .bind::<SqlUuid, _>(sub)
    .bind::<BigInt, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)
}
