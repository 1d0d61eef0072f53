//! Delivery, after commit: the worker `serve` runs as a tokio task. Each round it
//!
//! 1. fans out events not yet fanned out into one delivery per subscription that may see
//!    them (`store::fan_out`);
//! 2. takes the deliveries that are due (`store::claim`, `FOR UPDATE SKIP LOCKED` and a
//!    lease, so several `serve` processes never attempt the same delivery at once);
//! 3. POSTs each one, signed (`sign`), with the event's id as `webhook-id` on every
//!    attempt, and logs the attempt (`store::record`): a 2xx answer delivers it; anything
//!    else (another status, a timeout, a refused connection) schedules the next attempt
//!    after an exponential backoff with jitter, until `max_attempts`, when the delivery
//!    is `failed`.
//!
//! Delivery is at least once: a receiver that answered 2xx after the worker's timeout, or
//! whose answer was lost, receives the same event again, with the same `webhook-id`. A
//! receiver that keeps the ids it processed sees each event exactly once.
//!
//! Nothing here runs on the append path: an append only inserts its outbox rows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng as _;
use serde_json::json;

use super::sign;
use super::store::{self, Attempt, Claimed};
use crate::db::PgPool;

/// How the worker delivers.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// How long one attempt may take, connection to answer.
    pub timeout: Duration,
    /// The delay after the first failed attempt; each further failure doubles it.
    pub backoff_base: Duration,
    /// The longest delay between two attempts.
    pub backoff_max: Duration,
    /// Attempts before a delivery is given up (`failed`).
    pub max_attempts: i32,
    /// Events fanned out and deliveries taken per round, at most.
    pub batch: i64,
    /// How often the worker looks for work when the last round found none.
    pub poll: Duration,
    /// How long a taken delivery stays with its worker (longer than `timeout`).
    pub lease: Duration,
    /// Deliveries may go to loopback, link-local, private, multicast and unspecified
    /// addresses (`ssrf`); off by default.
    pub allow_private: bool,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(6 * 3600),
            // 5 s doubling, capped at 6 h: the 16th and last attempt comes about 23 hours
            // after the first.
            max_attempts: 16,
            batch: 50,
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            allow_private: false,
        }
    }
}

/// Characters of an error kept in the attempt log, at most.
const ERROR_CHARS_MAX: usize = 500;

/// The delay before attempt `failed + 1` after `failed` failed attempts (at least 1):
/// `base · 2^(failed-1)`, at most `max`, plus a jitter of up to a fifth of it, from
/// `jitter_permille` (0 to 999), so that deliveries that failed together do not all come
/// back together.
pub fn backoff(failed: i32, base: Duration, max: Duration, jitter_permille: u64) -> Duration {
    let exp = u32::try_from(failed.saturating_sub(1).clamp(0, 40)).unwrap_or(0);
    let base_ms = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    let delay = base_ms.saturating_mul(2u64.saturating_pow(exp)).min(max_ms);
    let jitter = delay / 5 * jitter_permille.min(999) / 1000;
    Duration::from_millis(delay.saturating_add(jitter))
}

/// The body of a delivery, as Standard Webhooks suggests: `type`, `timestamp` (when the
/// event happened, RFC 3339), `data`.
pub fn body(c: &Claimed) -> Vec<u8> {
    let data: serde_json::Value =
        serde_json::from_str(&c.payload).unwrap_or(serde_json::Value::Null);
    json!({
        "type": c.event_type,
        "timestamp": c.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
    .into_bytes()
}

/// The HTTP client deliveries are sent with: no redirects followed (a receiver answers
/// for itself), `timeout` per attempt, names resolved to public addresses only unless
/// `allow_private` (`ssrf::Resolver`).
pub fn client(s: &DeliverySettings) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .timeout(s.timeout)
        .connect_timeout(s.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fundtrail-webhooks/", env!("CARGO_PKG_VERSION")));
    if s.allow_private {
        builder.build()
    } else {
        builder
            .dns_resolver(Arc::new(super::ssrf::Resolver))
            .build()
    }
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub fanned_out: usize,
    pub attempted: usize,
    pub delivered: usize,
}

async fn blocking<T: Send + 'static>(
    pool: &PgPool,
    f: impl FnOnce(&mut diesel::PgConnection) -> diesel::QueryResult<T> + Send + 'static,
) -> anyhow::Result<T> {
    let pool = pool.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        f(&mut conn).map_err(anyhow::Error::from)
    })
    .await?
}

/// One round at `now` (the clock the schedule is computed with; tests pass their own):
/// fan out, take what is due, attempt each concurrently, log the attempts.
pub async fn round(
    pool: &PgPool,
    client: &reqwest::Client,
    s: &DeliverySettings,
    now: DateTime<Utc>,
) -> anyhow::Result<Round> {
    let batch = s.batch;
    let fanned_out = blocking(pool, move |c| store::fan_out(c, now, batch)).await?;
    let lease_until = now + chrono::Duration::from_std(s.lease)?;
    let claimed = blocking(pool, move |c| store::claim(c, now, lease_until, batch)).await?;
    let attempted = claimed.len();
    let attempts =
        futures_util::future::join_all(claimed.into_iter().map(|c| attempt(client, s, c, now)))
            .await;
    let delivered = attempts.iter().filter(|a| a.state == "delivered").count();
    blocking(pool, move |c| {
        for a in &attempts {
            if !store::record(c, a)? {
                tracing::warn!(
                    webhook.subscription = %a.subscription_id,
                    webhook.event = %a.event_id,
                    "webhook attempt not logged: the delivery moved on meanwhile"
                );
            }
        }
        Ok(())
    })
    .await?;
    Ok(Round {
        fanned_out,
        attempted,
        delivered,
    })
}

/// Sends `c` once and says what came of it (nothing written yet).
async fn attempt(
    client: &reqwest::Client,
    s: &DeliverySettings,
    c: Claimed,
    now: DateTime<Utc>,
) -> Attempt {
    let number = c.attempts.saturating_add(1);
    let started = Instant::now();
    let at = Utc::now();
    let result = match super::ssrf::literal_refusal(&c.url).filter(|_| !s.allow_private) {
        Some(why) => Err(format!("refused: {why}")),
        None => send(client, &c, at.timestamp()).await,
    };
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (outcome, status, error) = match result {
        Ok(code) if (200..300).contains(&code) => ("delivered", Some(code), None),
        Ok(code) => ("http_error", Some(code), None),
        Err(e) => ("unreachable", None, Some(e)),
    };
    let (state, next) = if outcome == "delivered" {
        ("delivered", now)
    } else if number >= s.max_attempts {
        ("failed", now)
    } else {
        let jitter = rand::thread_rng().gen_range(0..1000);
        let delay = backoff(number, s.backoff_base, s.backoff_max, jitter);
        (
            "pending",
            now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX),
        )
    };
    tracing::info!(
        webhook.subscription = %c.subscription_id,
        webhook.event = %c.event_id,
        webhook.attempt = number,
        webhook.outcome = outcome,
        http.status = status.unwrap_or_default(),
        duration_ms,
        "webhook attempt"
    );
    Attempt {
        subscription_id: c.subscription_id,
        event_id: c.event_id,
        attempt: number,
        at,
        outcome,
        response_status: status,
        error,
        duration_ms,
        state,
        next,
    }
}

/// POSTs the signed body; the answer's status, or why there is none (never the secret).
async fn send(client: &reqwest::Client, c: &Claimed, timestamp: i64) -> Result<i32, String> {
    let body = body(c);
    let id = c.event_id.to_string();
    let mut secrets = vec![c.secret.as_str()];
    if let Some(p) = &c.previous_secret {
        secrets.push(p);
    }
    let signature =
        sign::signature(&secrets, &id, timestamp, &body).map_err(|e| format!("signing: {e}"))?;
    let response = client
        .post(&c.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(sign::HEADER_ID, &id)
        .header(sign::HEADER_TIMESTAMP, timestamp.to_string())
        .header(sign::HEADER_SIGNATURE, signature)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            let text = if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                // The guard's refusal (`ssrf::Resolver`) is named, not hidden.
                let mut source = std::error::Error::source(&e);
                let mut why = "could not connect".to_owned();
                while let Some(inner) = source {
                    let text = inner.to_string();
                    if text.starts_with("refused: ") {
                        why = text;
                        break;
                    }
                    source = inner.source();
                }
                why
            } else {
                format!("request failed: {e}")
            };
            text.chars().take(ERROR_CHARS_MAX).collect::<String>()
        })?;
    Ok(i32::from(response.status().as_u16()))
}

/// The worker of `serve`: rounds until the process ends, another at once after a round
/// that found work, else after `poll`. Integrity alarms of this process (`ledger::
/// integrity::listen`) become `integrity.alarm` events first. Errors are logged and the
/// round is tried again after `poll`.
pub fn spawn(pool: PgPool, s: DeliverySettings) -> anyhow::Result<()> {
    let client = Arc::new(client(&s)?);
    let alarms = crate::ledger::integrity::listen();
    actix_web::rt::spawn(async move {
        loop {
            let mut pending = Vec::new();
            while let Ok(a) = alarms.try_recv() {
                pending.push(a);
            }
            if !pending.is_empty() {
                let recorded = blocking(&pool, move |c| {
                    for a in &pending {
                        super::events::integrity_alarm(c, a)?;
                    }
                    Ok(())
                })
                .await;
                if let Err(e) = recorded {
                    tracing::warn!(error = %e, "webhooks: could not record integrity alarms");
                }
            }
            let busy = match round(&pool, &client, &s, Utc::now()).await {
                Ok(r) => r.fanned_out > 0 || r.attempted > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: delivery round failed; retried");
                    false
                }
            };
            if !busy {
                actix_web::rt::time::sleep(s.poll).await;
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap_with_at_most_a_fifth_of_jitter() {
        let (base, max) = (Duration::from_secs(5), Duration::from_secs(3600));
        assert_eq!(backoff(1, base, max, 0), Duration::from_secs(5));
        assert_eq!(backoff(2, base, max, 0), Duration::from_secs(10));
        assert_eq!(backoff(3, base, max, 0), Duration::from_secs(20));
        assert_eq!(backoff(11, base, max, 0), Duration::from_secs(3600));
        assert_eq!(backoff(1_000, base, max, 0), Duration::from_secs(3600));
        assert_eq!(backoff(1, base, max, 999), Duration::from_millis(5_999));
        assert_eq!(backoff(3, base, max, 500), Duration::from_secs(22));
        for j in [0, 1, 499, 999, 5_000] {
            let d = backoff(4, base, max, j);
            assert!(
                d >= Duration::from_secs(40) && d < Duration::from_secs(48),
                "{d:?}"
            );
        }
    }
}
