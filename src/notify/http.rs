//! The subscription API. A subscription belongs to a fund and to the organisation (and
//! role) of the user who made it: its holders see, delete and rotate it; administrators
//! see all of a fund's. Who may subscribe (docs/security.md, "Role matrix"): the fund's
//! secretariat (`treasurer`), its auditors, administrators (every event of the fund), and
//! a ministry the fund allocated to (events about that ministry's data only: flags and
//! approvals). Donors do not subscribe (403); a fund the caller cannot see is 404.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::events::{EventType, TEST_EVENT};
use super::{sign, ssrf, store};
use crate::auth::admin::{created_id, record};
use crate::auth::guard::{Principal, Role};
use crate::auth::party::{self, Party};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::funds::policy::{self, Scope};
use crate::ledger::writer::AppendError;
use crate::state::{with_conn, AppState};

/// Live subscriptions one organisation may hold in one fund.
pub const SUBSCRIPTIONS_PER_ORG_MAX: i64 = 20;
/// The longest URL a subscription takes.
pub const URL_CHARS_MAX: usize = 2_000;
/// How long the secret replaced by a rotation keeps signing deliveries beside the new one.
pub const ROTATION_OVERLAP_H: i64 = 24;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// Where deliveries are POSTed: an absolute `http` or `https` URL, at most 2,000
    /// characters, without credentials.
    pub url: String,
    /// The event types to deliver, at least one.
    pub events: Vec<EventType>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Subscription {
    pub id: Uuid,
    pub fund: Uuid,
    pub url: String,
    pub events: Vec<String>,
    /// `fund`: every event of the fund; `ministry`: events about `ministry` only.
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ministry: Option<Party>,
    /// The role and organisation that hold it.
    pub role: String,
    pub organization: Party,
    pub created_at: DateTime<Utc>,
    /// Only in the answers to create and rotate: the signing secret (`whsec_<base64>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Until when the secret replaced by the last rotation also signs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

type Names = std::collections::HashMap<Uuid, String>;

/// The names of the organisations `rows` name (holders and ministries).
fn names_of(conn: &mut diesel::PgConnection, rows: &[store::SubscriptionRow]) -> ApiResult<Names> {
    let ids: Vec<Uuid> = rows
        .iter()
        .flat_map(|r| [Some(r.owner_org_id), r.ministry_org_id])
        .flatten()
        .collect();
    Ok(party::names(conn, &ids)?)
}

/// A subscription just written, read back with its parties' names.
fn read_back(
    conn: &mut diesel::PgConnection,
    id: Uuid,
) -> ApiResult<(store::SubscriptionRow, Names)> {
    let row = store::subscription(conn, id, false)?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("subscription not read back")))?;
    let names = names_of(conn, std::slice::from_ref(&row))?;
    Ok((row, names))
}

impl Subscription {
    fn of(row: store::SubscriptionRow, secret: Option<String>, names: &Names) -> Self {
        Self {
            id: row.id,
            fund: row.fund_id,
            url: row.url,
            events: row.event_types,
            scope: if row.ministry_org_id.is_some() {
                "ministry"
            } else {
                "fund"
            }
            .to_owned(),
            ministry: row.ministry_org_id.map(|id| party::party(names, id)),
            role: row.owner_role,
            organization: party::party(names, row.owner_org_id),
            created_at: row.created_at,
            secret,
            previous_secret_expires_at: row.previous_expires_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Subscriptions {
    pub subscriptions: Vec<Subscription>,
}

fn too_many() -> ApiError {
    ApiError::Conflict {
        code: "too_many_subscriptions",
        detail: format!(
            "an organisation holds at most {SUBSCRIPTIONS_PER_ORG_MAX} subscriptions per fund; \
             delete one first"
        ),
    }
}

fn may_subscribe(p: &Principal) -> ApiResult<()> {
    if p.role == Role::Donor {
        return Err(ApiError::Forbidden(
            "webhooks are for the fund's secretariat, auditors, ministries and administrators"
                .to_owned(),
        ));
    }
    Ok(())
}

/// The URL as deliveries will use it (parsed and normalised: control characters dropped or
/// percent-encoded), or why it is refused.
fn check_url(url: &str) -> ApiResult<String> {
    let bad = |why: &str| ApiError::unprocessable("invalid_url", format!("url {why}"));
    if url.chars().count() > URL_CHARS_MAX {
        return Err(bad("is longer than 2,000 characters"));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(bad("must be an absolute http or https URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "must not carry credentials (the signature authenticates us)",
        ));
    }
    let normal = parsed.to_string();
    if normal.chars().count() > URL_CHARS_MAX {
        return Err(bad("is longer than 2,000 characters"));
    }
    Ok(normal)
}

/// The subscription `id` as `p` may manage it (404 otherwise): their organisation's in the
/// same role, or any for an administrator, of a fund they still see.
fn managed(
    conn: &mut diesel::PgConnection,
    p: &Principal,
    id: Uuid,
    lock: bool,
) -> ApiResult<store::SubscriptionRow> {
    let missing = || ApiError::NotFound("no such webhook subscription".to_owned());
    let row = store::subscription(conn, id, lock)?.ok_or_else(missing)?;
    policy::fund_scope(conn, p, row.fund_id).map_err(|_| missing())?;
    if p.role != Role::Admin && (row.owner_org_id != p.org || row.owner_role != p.role.as_str()) {
        return Err(missing());
    }
    Ok(row)
}

/// Subscribes to events of a fund. The answer carries the signing secret, shown only here
/// and on rotation.
#[utoipa::path(post, path = "/api/v1/funds/{fund}/webhooks", tag = "webhooks", security(("bearer" = [])),
    request_body = NewSubscription, params(("fund" = Uuid, Path)),
    responses((status = 201, body = Subscription), (status = 400, body = crate::error::Problem),
              (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 413, body = crate::error::Problem),
              (status = 415, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    principal: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<Uuid>,
    body: Json<NewSubscription>,
) -> ApiResult<HttpResponse> {
    let fund = path.into_inner();
    let NewSubscription { url, events } = body.into_inner();
    let url = url.trim().to_owned();
    let now = state.ledger.now();
    let allow_private = state.settings.webhook_allow_private;
    let actor = principal.clone();
    let id = created_id(&req, &principal, "webhook_subscribed");
    let row = with_conn(&state, move |_, conn| {
        let (_, scope) = policy::fund_scope(conn, &principal, fund)?;
        may_subscribe(&principal)?;
        let url = check_url(&url)?;
        let mut types: Vec<EventType> = Vec::new();
        for t in events {
            if !types.contains(&t) {
                types.push(t);
            }
        }
        if types.is_empty() {
            return Err(ApiError::unprocessable(
                "invalid_events",
                "events must name at least one event type",
            ));
        }
        let ministry = match scope {
            Scope::Full => None,
            Scope::Ministry(m) => Some(m),
        };
        if ministry.is_some() {
            if let Some(t) = types
                .iter()
                .find(|t| matches!(t, EventType::ImportFinished | EventType::IntegrityAlarm))
            {
                return Err(ApiError::unprocessable(
                    "event_not_visible",
                    format!(
                        "{} is about the whole fund; a ministry subscribes to flag.raised, \
                         flag.triaged and approval.requested about its own data",
                        t.as_str()
                    ),
                ));
            }
        }
        if store::count_held(conn, fund, principal.org)? >= SUBSCRIPTIONS_PER_ORG_MAX {
            return Err(too_many());
        }
        Ok(store::NewSubscription {
            id,
            fund_id: fund,
            url,
            event_types: types.iter().map(|t| t.as_str().to_owned()).collect(),
            secret: sign::new_secret(),
            owner_user_id: principal.user,
            owner_org_id: principal.org,
            owner_role: principal.role.as_str().to_owned(),
            ministry_org_id: ministry,
            created_at: now,
        })
    })
    .await?;
    ssrf::check(&row.url, allow_private)
        .await
        .map_err(|e| ApiError::unprocessable("url_not_public", e))?;
    let id = row.id;
    let body = json!({
        "subscription": row.id, "fund": row.fund_id, "url": row.url,
        "events": row.event_types, "ministry": row.ministry_org_id,
        "holder": {"organization": row.owner_org_id, "role": row.owner_role},
    });
    record(
        &state,
        &req,
        &actor,
        "webhook_subscribed",
        body,
        move |conn, _| {
            // Checked again in the writer's transaction: two requests at once stay bounded.
            if store::count_held(conn, row.fund_id, row.owner_org_id)? >= SUBSCRIPTIONS_PER_ORG_MAX
            {
                return Err(AppendError::Conflict {
                    code: "too_many_subscriptions",
                    detail: too_many().to_string(),
                });
            }
            store::insert_subscription(conn, &row)?;
            Ok(())
        },
    )
    .await?;
    let (row, names) = with_conn(&state, move |_, conn| read_back(conn, id)).await?;
    tracing::info!(webhook.subscription = %row.id, fund.id = %row.fund_id, "webhook subscription created");
    let secret = Some(row.secret.clone());
    Ok(HttpResponse::Created().json(Subscription::of(row, secret, &names)))
}

/// The fund's subscriptions the caller holds (an administrator: all of them), without
/// their secrets.
#[utoipa::path(get, path = "/api/v1/funds/{fund}/webhooks", tag = "webhooks", security(("bearer" = [])),
    params(("fund" = Uuid, Path)),
    responses((status = 200, body = Subscriptions), (status = 401, body = crate::error::Problem),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let fund = path.into_inner();
    let rows = with_conn(&state, move |_, conn| {
        policy::fund_scope(conn, &principal, fund)?;
        may_subscribe(&principal)?;
        let holder =
            (principal.role != Role::Admin).then(|| (principal.org, principal.role.as_str()));
        let rows = store::subscriptions(conn, fund, holder)?;
        let names = names_of(conn, &rows)?;
        Ok((rows, names))
    })
    .await?;
    let (rows, names) = rows;
    Ok(HttpResponse::Ok().json(Subscriptions {
        subscriptions: rows
            .into_iter()
            .map(|r| Subscription::of(r, None, &names))
            .collect(),
    }))
}

/// Ends a subscription: nothing more is delivered to it (pending deliveries are
/// cancelled); its delivery log stays readable to administrators through the database.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem)))]
pub async fn delete(
    principal: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let now = state.ledger.now();
    let actor = principal.clone();
    let fund = with_conn(&state, move |_, conn| {
        Ok(managed(conn, &principal, id, false)?.fund_id)
    })
    .await?;
    record(
        &state,
        &req,
        &actor,
        "webhook_unsubscribed",
        json!({"subscription": id, "fund": fund}),
        move |conn, _| {
            // Still live in the writer's transaction: a concurrent delete records nothing.
            if store::subscription(conn, id, true)?.is_none() {
                return Err(AppendError::Rejected {
                    code: "not_found",
                    detail: "no such webhook subscription".to_owned(),
                });
            }
            store::delete_subscription(conn, id, now)?;
            Ok(())
        },
    )
    .await?;
    tracing::info!(webhook.subscription = %id, "webhook subscription deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Replaces the signing secret. The previous one keeps signing beside the new one for 24
/// hours (the `webhook-signature` header then carries two signatures), so a receiver can
/// switch without missing a delivery.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Subscription), (status = 401, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem)))]
pub async fn rotate_secret(
    principal: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let until = state.ledger.now() + chrono::Duration::hours(ROTATION_OVERLAP_H);
    let actor = principal.clone();
    let fund = with_conn(&state, move |_, conn| {
        Ok(managed(conn, &principal, id, false)?.fund_id)
    })
    .await?;
    // The secret itself never enters the ledger: the entry says that it changed.
    let secret = sign::new_secret();
    record(
        &state,
        &req,
        &actor,
        "webhook_secret_rotated",
        json!({"subscription": id, "fund": fund, "previous_expires_at": until}),
        move |conn, _| {
            if store::subscription(conn, id, true)?.is_none() {
                return Err(AppendError::Rejected {
                    code: "not_found",
                    detail: "no such webhook subscription".to_owned(),
                });
            }
            store::rotate_secret(conn, id, &secret, until)?;
            Ok(())
        },
    )
    .await?;
    let row = with_conn(&state, move |_, conn| read_back(conn, id)).await?;
    let (row, names) = row;
    tracing::info!(webhook.subscription = %id, "webhook secret rotated");
    let secret = Some(row.secret.clone());
    Ok(HttpResponse::Ok().json(Subscription::of(row, secret, &names)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestEvent {
    /// The event's id: the `webhook-id` of its delivery.
    pub event: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
}

/// Sends a `webhook.test` event to this subscription only, through the same delivery as
/// every event (signature, retries, log). 202: queued; its attempts appear in the log.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 202, body = TestEvent), (status = 401, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem)))]
pub async fn send_test(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let now = state.ledger.now();
    let event = Uuid::new_v4();
    with_conn(&state, move |_, conn| {
        conn.build_transaction().run(|conn| {
            let row = managed(conn, &principal, id, true)?;
            let data = json!({"subscription": row.id, "fund": row.fund_id,
                              "message": "a test event sent on request"});
            store::insert_test_event(conn, &row, event, &data, now)?;
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    Ok(HttpResponse::Accepted().json(TestEvent {
        event,
        event_type: TEST_EVENT.to_owned(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Keyset: the previous page's `next_after`.
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    #[serde(default, deserialize_with = "crate::extract::opt_u63")]
    pub after: Option<u64>,
    /// 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttempt {
    /// The attempt's position in the log (keyset).
    pub id: i64,
    /// The event (`webhook-id`) and its type.
    pub event: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    /// 1 for the first attempt of this event to this subscription.
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// `delivered` (a 2xx answer), `http_error` (another status), `unreachable` (no
    /// answer: refused, timed out).
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: i64,
    /// The delivery now: `pending` (next attempt at `next_attempt_at`), `delivered`,
    /// `failed` (attempts exhausted), `cancelled` (subscription deleted).
    pub delivery_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryLog {
    pub attempts: Vec<DeliveryAttempt>,
    pub next_after: Option<i64>,
}

/// Every delivery attempt to this subscription, oldest first (keyset pages).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path), LogQuery),
    responses((status = 200, body = DeliveryLog), (status = 400, body = crate::error::Problem),
              (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn deliveries(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<Uuid>,
    query: Query<LogQuery>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let LogQuery { after, limit } = query.into_inner();
    let limit = crate::http::page_limit(limit)?;
    let after = i64::try_from(after.unwrap_or(0)).unwrap_or(i64::MAX);
    let rows = with_conn(&state, move |_, conn| {
        managed(conn, &principal, id, false)?;
        Ok(store::attempts(conn, id, after, limit)?)
    })
    .await?;
    let full = i64::try_from(rows.len()).is_ok_and(|n| n == limit);
    let next_after = rows.last().filter(|_| full).map(|r| r.id);
    Ok(HttpResponse::Ok().json(DeliveryLog {
        attempts: rows
            .into_iter()
            .map(|r| DeliveryAttempt {
                id: r.id,
                event: r.event_id,
                event_type: r.event_type,
                attempt: r.attempt,
                at: r.at,
                outcome: r.outcome,
                response_status: r.response_status,
                error: r.error,
                duration_ms: r.duration_ms,
                next_attempt_at: (r.delivery_state == "pending").then_some(r.next_attempt_at),
                delivery_state: r.delivery_state,
            })
            .collect(),
        next_after,
    }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/funds/{fund}/webhooks")
            .post(create)
            .get(list),
    )
    .service(web::resource("/webhooks/{id}").delete(delete))
    .service(web::resource("/webhooks/{id}/rotate-secret").post(rotate_secret))
    .service(web::resource("/webhooks/{id}/test").post(send_test))
    .service(web::resource("/webhooks/{id}/deliveries").get(deliveries));
}
