//! What the API and `fundtrail import bank` call: register an account, record statements,
//! reconcile a fund (append its matches, raise its flags), change the settings. Each
//! write goes through the fund chain's writer with `BankEffect`.

use std::sync::Arc;

use actix_web::web;
use chrono::NaiveDate;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::effect::{AccountBody, BankEffect, ConfigBody, MatchBody, MatchPart};
use super::matching::{self, Finding};
use super::statement::StatementBody;
use super::store;
use crate::error::{ApiError, ApiResult};
use crate::ledger::entry::Principal;
use crate::ledger::writer::{AppendRequest, Receipt, MAX_BATCH_ENTRIES};
use crate::ledger::Ledger;
use crate::screening::raise::insert_and_notify;
use crate::screening::store::FlagRow;

/// Runs `f` with a pooled connection on the blocking pool.
pub async fn blocking<T, F>(ledger: &Arc<Ledger>, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut diesel::PgConnection) -> ApiResult<T> + Send + 'static,
{
    let pool = ledger.pool().clone();
    web::block(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await?
}

fn key(prefix: &str, parts: &str) -> String {
    let digest = Sha256::digest(parts.as_bytes());
    format!(
        "{prefix}/{}",
        hex::encode(digest.get(..16).unwrap_or_default())
    )
}

async fn append(
    ledger: &Arc<Ledger>,
    fund: Uuid,
    requests: Vec<AppendRequest>,
) -> ApiResult<Vec<Receipt>> {
    let mut receipts = Vec::with_capacity(requests.len());
    let mut rest = requests;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(MAX_BATCH_ENTRIES));
        let effect = Arc::new(BankEffect { fund });
        receipts.extend(ledger.append_with(fund, rest, effect).await?);
        rest = tail;
    }
    Ok(receipts)
}

/// Records a `bank_account` entry. The same account registered again with the same
/// details replays the first registration.
pub async fn register_account(
    ledger: &Arc<Ledger>,
    principal: Principal,
    fund: Uuid,
    body: AccountBody,
) -> ApiResult<Receipt> {
    let date = ledger.now().date_naive();
    let request = AppendRequest {
        kind: "bank_account".to_owned(),
        business_date: date,
        idempotency_key: key(
            "bank-account",
            &super::statement::normalise_account(&body.account),
        ),
        body: serde_json::to_value(&body).map_err(ApiError::internal)?,
        principal,
    };
    append(ledger, fund, vec![request])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("append returned no receipt")))
}

/// A statement as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordedStatement {
    pub seq: u64,
    pub statement_id: String,
    pub lines: usize,
    /// True when this statement was recorded before: nothing was added.
    pub replayed: bool,
}

/// Records one `bank_statement` entry per statement, in order; a statement recorded
/// before (same account and statement id, same content) is replayed, not added again.
pub async fn record_statements(
    ledger: &Arc<Ledger>,
    principal: Principal,
    fund: Uuid,
    statements: Vec<StatementBody>,
) -> ApiResult<Vec<RecordedStatement>> {
    let mut requests = Vec::with_capacity(statements.len());
    let mut ids = Vec::with_capacity(statements.len());
    for s in statements {
        ids.push((s.statement_id.clone(), s.lines.len()));
        requests.push(AppendRequest {
            kind: "bank_statement".to_owned(),
            business_date: s.to,
            idempotency_key: key(
                "bank-statement",
                &format!("{}/{}", s.account, s.statement_id),
            ),
            body: serde_json::to_value(&s).map_err(ApiError::internal)?,
            principal: principal.clone(),
        });
    }
    let receipts = append(ledger, fund, requests).await?;
    Ok(receipts
        .into_iter()
        .zip(ids)
        .map(|(r, (statement_id, lines))| RecordedStatement {
            seq: r.entry.seq,
            statement_id,
            lines,
            replayed: r.replayed,
        })
        .collect())
}

/// Tells the fund's whole-fund subscribers what an upload of statements to `account` came
/// to (`import.finished`, with `source: "bank"`): once for the statements it recorded,
/// never for an upload that only replayed statements recorded before. The event's id
/// follows from the recorded statements' seqs, so the same recording is one event.
pub async fn announce_import(
    ledger: &Arc<Ledger>,
    fund: Uuid,
    account: Uuid,
    recorded: &[RecordedStatement],
    run: &RunSummary,
) -> ApiResult<()> {
    let fresh: Vec<&RecordedStatement> = recorded.iter().filter(|s| !s.replayed).collect();
    if fresh.is_empty() {
        return Ok(());
    }
    let seqs: Vec<String> = fresh.iter().map(|s| s.seq.to_string()).collect();
    let id = Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("bank-statements/{fund}/{}", seqs.join(",")).as_bytes(),
    );
    let data = serde_json::json!({
        "source": "bank",
        "account": account,
        "statements": fresh,
        "reconciliation": run,
    });
    let at = ledger.now();
    blocking(ledger, move |conn| {
        crate::notify::events::import_finished(conn, id, fund, None, data, at)
            .map_err(ApiError::internal)?;
        Ok(())
    })
    .await
}

/// What one reconciliation run did.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct RunSummary {
    /// Lines matched by this run (each a new `bank_match` entry).
    pub matched_lines: usize,
    /// Of them, lines paying part of an entry.
    pub partial_matches: usize,
    /// Findings of the run; flags already raised by an earlier run are not raised again.
    pub findings: usize,
    pub flags_raised: usize,
}

/// The id of a reconciliation flag.
pub fn flag_id(fund: Uuid, rule: &str, seq: i64, subject: &str) -> Uuid {
    Uuid::new_v5(&fund, format!("{rule}/{seq}/{subject}").as_bytes())
}

fn flag_row(fund: Uuid, f: &Finding, now: chrono::DateTime<chrono::Utc>) -> FlagRow {
    let mut evidence = vec![Some(f.seq)];
    evidence.extend(f.evidence.iter().map(|s| Some(*s)));
    FlagRow {
        id: flag_id(fund, f.rule, f.seq, &f.subject),
        fund_id: fund,
        rule: f.rule.to_owned(),
        severity: f.severity.to_owned(),
        seq: f.seq,
        evidence,
        ministry_org_id: f.side.ministry(),
        vendor_org_id: None,
        message: f.message.clone(),
        business_date: f.date,
        raised_at: now,
        status: "open".to_owned(),
        subject: f.subject.clone(),
    }
}

/// Matches what is open in `fund`, records the matches and raises flags for what does not
/// reconcile. Running it again adds nothing when nothing changed.
pub async fn reconcile(ledger: &Arc<Ledger>, fund: Uuid) -> ApiResult<RunSummary> {
    let (settings, facts) = blocking(ledger, move |conn| {
        Ok((store::settings(conn, fund)?, store::facts(conn, fund)?))
    })
    .await?;
    let store::Facts {
        lines,
        entries,
        foreign,
        rates,
        coverage,
        statements,
        mut parts,
        accounts_per_side,
    } = facts;
    let mut outcome = matching::reconcile(&settings, &lines, &entries, &foreign, &rates, &coverage);
    let dates: std::collections::HashMap<(i64, i32), NaiveDate> = lines
        .iter()
        .map(|l| ((l.statement_seq, l.line), l.booking_date))
        .collect();
    // Each statement's closing balance against the ledger's, with this run's matches.
    for m in &outcome.matches {
        if let Some(booked) = dates.get(&(m.statement_seq, m.line)) {
            parts.extend(m.parts.iter().map(|(entry, amount)| matching::PartFact {
                entry: *entry,
                account: m.account,
                booked: *booked,
                amount: *amount,
            }));
        }
    }
    let checks =
        matching::balance_checks(&settings, &statements, &entries, &parts, &accounts_per_side);
    outcome
        .findings
        .extend(matching::balance_findings(&settings, &statements, &checks));
    let mut requests = Vec::with_capacity(outcome.matches.len());
    for m in &outcome.matches {
        let body = MatchBody {
            statement: u64::try_from(m.statement_seq).map_err(ApiError::internal)?,
            line: u32::try_from(m.line).map_err(ApiError::internal)?,
            account: m.account,
            entries: m
                .parts
                .iter()
                .map(|(seq, amount)| {
                    Ok(MatchPart {
                        entry: u64::try_from(*seq).map_err(ApiError::internal)?,
                        amount: *amount,
                    })
                })
                .collect::<ApiResult<Vec<_>>>()?,
            partial: m.partial,
            by: m.by.to_owned(),
        };
        requests.push(AppendRequest {
            kind: "bank_match".to_owned(),
            business_date: dates
                .get(&(m.statement_seq, m.line))
                .copied()
                .unwrap_or_else(|| ledger.now().date_naive()),
            idempotency_key: format!("bank-match/{}/{}", m.statement_seq, m.line),
            body: serde_json::to_value(&body).map_err(ApiError::internal)?,
            principal: Principal::system(),
        });
    }
    let mut summary = RunSummary {
        matched_lines: outcome.matches.len(),
        partial_matches: outcome.matches.iter().filter(|m| m.partial).count(),
        findings: outcome.findings.len(),
        flags_raised: 0,
    };
    if !requests.is_empty() {
        append(ledger, fund, requests).await?;
    }
    let now = ledger.now();
    let rows: Vec<FlagRow> = outcome
        .findings
        .iter()
        .map(|f| flag_row(fund, f, now))
        .collect();
    // Each flag new to the fund is inserted with its `flag.raised` event, together.
    summary.flags_raised = blocking(ledger, move |conn| {
        diesel::Connection::transaction::<_, crate::error::ApiError, _>(conn, |conn| {
            let mut raised = 0;
            for chunk in rows.chunks(1_000) {
                raised += insert_and_notify(conn, chunk)?;
            }
            Ok(raised)
        })
    })
    .await?;
    Ok(summary)
}

/// Records a `reconciliation_config` entry (the auditors' change of settings).
pub async fn configure(
    ledger: &Arc<Ledger>,
    principal: Principal,
    fund: Uuid,
    idempotency_key: String,
    body: ConfigBody,
) -> ApiResult<Receipt> {
    let current = blocking(ledger, move |conn| Ok(store::settings(conn, fund)?)).await?;
    current
        .with(&body.settings)
        .map_err(|e| ApiError::unprocessable("invalid_setting", e))?;
    let request = AppendRequest {
        kind: "reconciliation_config".to_owned(),
        business_date: ledger.now().date_naive(),
        idempotency_key,
        body: serde_json::to_value(&body).map_err(ApiError::internal)?,
        principal,
    };
    append(ledger, fund, vec![request])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("append returned no receipt")))
}
