//! The entries reconciliation records on a fund's chain, and the writer effect that keeps
//! the bank tables in the same transaction as them (`BankEffect`).
//!
//! | kind | what it records | written by |
//! |---|---|---|
//! | `bank_account` | an account of the fund's secretariat or of one of its ministries | admin, treasurer |
//! | `bank_statement` | a statement of a registered account, every booked line in it | treasurer, ministry (own accounts), auditor, `fundtrail import bank` |
//! | `bank_match` | one statement line matched with one or more ledger entries | reconciliation |
//! | `reconciliation_config` | a change to the fund's matching settings | auditor |
//!
//! These kinds are not typed fund entries (`entries::kinds`): they move no money in the
//! ledger's books, so fund positions and screens ignore them; `fundtrail rebuild` replays
//! them through `Rebuild`, between the typed entries in chain order.

use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::statement::StatementBody;
use super::store::{self, AccountRow, LineRow, MatchRow, StatementRow};
use crate::ledger::entry::Entry;
use crate::ledger::writer::{AppendError, Effect};
use crate::money::{decimal_str, Currency};

/// Every kind reconciliation records.
pub const KINDS: [&str; 4] = [
    "bank_account",
    "bank_statement",
    "bank_match",
    "reconciliation_config",
];

/// The body of a `bank_account` entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountBody {
    /// The account's id in fundtrail.
    pub id: Uuid,
    /// The account as its statements name it (IBAN or the bank's identifier).
    pub account: String,
    pub currency: Currency,
    /// `secretariat` (the fund's own account) or `ministry`.
    pub owner: String,
    /// The ministry, for a ministry's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ministry: Option<Uuid>,
    pub name: String,
}

/// One ledger entry's part of a matched line.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchPart {
    pub entry: u64,
    /// The part of the line's amount (absolute) taken by this entry.
    #[serde(with = "decimal_str")]
    #[schema(value_type = String)]
    pub amount: Decimal,
}

/// The body of a `bank_match` entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchBody {
    /// Seq of the bank_statement entry, and the line's position in it.
    pub statement: u64,
    pub line: u32,
    pub account: Uuid,
    pub entries: Vec<MatchPart>,
    /// The line pays only part of its entry.
    pub partial: bool,
    /// `reference` or `amount_date` (docs/reconciliation.md, "Matching").
    pub by: String,
}

/// The body of a `reconciliation_config` entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigBody {
    /// Settings by name: `window_days`, `amount_tolerance`, `require_reference`.
    #[schema(value_type = Object)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub reason: String,
}

fn reject(code: &'static str, detail: impl Into<String>) -> AppendError {
    AppendError::Rejected {
        code,
        detail: detail.into(),
    }
}

fn db(e: diesel::result::Error) -> AppendError {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => AppendError::Conflict {
            code: "already_recorded",
            detail: format!("already recorded ({})", info.message()),
        },
        other => AppendError::Database(anyhow::Error::new(other)),
    }
}

fn i64_of(v: u64) -> Result<i64, AppendError> {
    i64::try_from(v).map_err(|_| reject("invalid_body", "seq out of range"))
}

fn parse<T: serde::de::DeserializeOwned>(e: &Entry) -> Result<T, AppendError> {
    serde_json::from_value(e.body.clone())
        .map_err(|err| reject("invalid_body", format!("{}: {err}", e.kind)))
}

/// The writer effect of reconciliation's entries.
pub struct BankEffect {
    pub fund: Uuid,
}

impl Effect for BankEffect {
    fn apply(&self, conn: &mut PgConnection, entries: &[Entry]) -> Result<(), AppendError> {
        let (active, _) = crate::funds::store::fund_active(conn, self.fund).map_err(db)?;
        if !active {
            return Err(reject(
                "fund_inactive",
                "the fund was deactivated; it takes no new entries",
            ));
        }
        let entries: Vec<&Entry> = entries.iter().collect();
        apply_entries(conn, self.fund, &entries, true)
    }
}

/// The derived tables, each referring only to those before it.
pub const TABLES: [&str; 5] = [
    "bank_accounts",
    "bank_statements",
    "bank_lines",
    "bank_matches",
    "reconciliation_settings",
];

/// `fundtrail rebuild`'s replay of the bank tables: the same writes as the append, without
/// the checks of the moment of recording (the fund still takes entries, a statement
/// continues its neighbours): they held when the entries were recorded, or predate them.
pub struct Rebuild;

impl crate::entries::rebuild::Replay for Rebuild {
    fn tables(&self) -> &[&'static str] {
        &TABLES
    }

    fn replay(
        &self,
        conn: &mut PgConnection,
        fund: Uuid,
        entries: &[&Entry],
    ) -> Result<(), String> {
        apply_entries(conn, fund, entries, false).map_err(|e| e.to_string())
    }
}

/// Writes the bank tables for `entries`; `recording` adds the checks made only when an
/// entry is recorded.
fn apply_entries(
    conn: &mut PgConnection,
    fund: Uuid,
    entries: &[&Entry],
    recording: bool,
) -> Result<(), AppendError> {
    for e in entries.iter().copied() {
        let seq = i64_of(e.seq)?;
        match e.kind.as_str() {
            "bank_account" => account(conn, fund, seq, &parse(e)?)?,
            "bank_statement" => statement(conn, fund, seq, &parse(e)?, recording)?,
            "bank_match" => matched(conn, fund, seq, &parse(e)?)?,
            "reconciliation_config" => config(conn, fund, seq, &parse(e)?)?,
            other => {
                return Err(reject(
                    "unknown_kind",
                    format!("{other} is not a reconciliation entry"),
                ))
            }
        }
    }
    Ok(())
}

fn account(
    conn: &mut PgConnection,
    fund: Uuid,
    seq: i64,
    a: &AccountBody,
) -> Result<(), AppendError> {
    let ministry = match (a.owner.as_str(), a.ministry) {
        ("secretariat", None) => None,
        ("ministry", Some(m)) => {
            if !crate::funds::state::is_ministry_of(conn, fund, m).map_err(db)?
                && crate::funds::store::org_kind(conn, m)
                    .map_err(db)?
                    .as_deref()
                    != Some("ministry")
            {
                return Err(reject(
                    "unknown_reference",
                    format!("ministry: no ministry {m}"),
                ));
            }
            Some(m)
        }
        _ => {
            return Err(reject(
                "invalid_body",
                "owner is secretariat (no ministry) or ministry (with its ministry)",
            ))
        }
    };
    store::insert_account(
        conn,
        &AccountRow {
            id: a.id,
            fund_id: fund,
            seq,
            account: a.account.clone(),
            currency: a.currency.code().to_owned(),
            owner: a.owner.clone(),
            ministry_org_id: ministry,
            name: a.name.clone(),
        },
    )
    .map_err(db)
}

fn statement(
    conn: &mut PgConnection,
    fund: Uuid,
    seq: i64,
    s: &StatementBody,
    recording: bool,
) -> Result<(), AppendError> {
    let known = store::accounts_of(conn, fund)
        .map_err(db)?
        .into_iter()
        .any(|a| a.id == s.account);
    if !known {
        return Err(reject(
            "unknown_reference",
            format!("account: no bank account {} in this fund", s.account),
        ));
    }
    if recording {
        continuous(conn, s)?;
    }
    let lines = s
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(LineRow {
                fund_id: fund,
                seq,
                line: i32::try_from(i + 1)
                    .map_err(|_| reject("statement_too_long", "too many lines"))?,
                account_id: s.account,
                booking_date: l.booking_date,
                amount: l.amount,
                currency: l.currency.clone(),
                reference: l.reference.clone(),
                counterparty: l.counterparty.clone(),
            })
        })
        .collect::<Result<Vec<_>, AppendError>>()?;
    store::insert_statement(
        conn,
        &StatementRow {
            fund_id: fund,
            seq,
            account_id: s.account,
            statement_id: s.statement_id.clone(),
            from_date: s.from,
            to_date: s.to,
            currency: s.currency.clone(),
            opening: s.opening,
            closing: s.closing,
        },
        &lines,
    )
    .map_err(|e| match db(e) {
        AppendError::Conflict { .. } => AppendError::Conflict {
            code: "statement_recorded",
            detail: format!(
                "statement {} of this account is already recorded with other content",
                s.statement_id
            ),
        },
        other => other,
    })
}

/// A statement that directly follows (or precedes) a recorded statement of its account,
/// the day after it ends, opens at that statement's closing balance (closes at the next
/// one's opening). A gap between periods is a statement not yet recorded: nothing to check.
fn continuous(conn: &mut PgConnection, s: &StatementBody) -> Result<(), AppendError> {
    let recorded = store::statements_of(conn, s.account).map_err(db)?;
    let before = recorded
        .iter()
        .filter(|r| r.to_date.succ_opt() == Some(s.from))
        .find(|r| r.closing != s.opening);
    if let Some(r) = before {
        return Err(reject(
            "statement_discontinuous",
            format!(
                "statement {} opens at {} but statement {} of this account, ending the day before, closed at {}",
                s.statement_id, s.opening, r.statement_id, r.closing
            ),
        ));
    }
    let after = recorded
        .iter()
        .filter(|r| s.to.succ_opt() == Some(r.from_date))
        .find(|r| r.opening != s.closing);
    if let Some(r) = after {
        return Err(reject(
            "statement_discontinuous",
            format!(
                "statement {} closes at {} but statement {} of this account, starting the day after, opened at {}",
                s.statement_id, s.closing, r.statement_id, r.opening
            ),
        ));
    }
    Ok(())
}

fn matched(
    conn: &mut PgConnection,
    fund: Uuid,
    seq: i64,
    m: &MatchBody,
) -> Result<(), AppendError> {
    let statement_seq = i64_of(m.statement)?;
    let line = i32::try_from(m.line).map_err(|_| reject("invalid_body", "line out of range"))?;
    let found = store::line(conn, fund, statement_seq, line)
        .map_err(db)?
        .ok_or_else(|| reject("unknown_reference", "no such statement line"))?;
    if store::line_matched(conn, fund, statement_seq, line).map_err(db)? {
        return Err(AppendError::Conflict {
            code: "line_matched",
            detail: format!("line {line} of statement entry {statement_seq} is already matched"),
        });
    }
    let total: Decimal = m.entries.iter().map(|p| p.amount).sum();
    if m.entries.is_empty()
        || total > found.amount.abs()
        || m.entries.iter().any(|p| p.amount <= Decimal::ZERO)
    {
        return Err(reject(
            "invalid_body",
            "a match names one or more entries whose positive parts add up to at most the line",
        ));
    }
    let rows = m
        .entries
        .iter()
        .map(|p| {
            Ok(MatchRow {
                fund_id: fund,
                seq,
                statement_seq,
                line,
                account_id: found.account_id,
                entry_seq: i64_of(p.entry)?,
                amount: p.amount,
            })
        })
        .collect::<Result<Vec<_>, AppendError>>()?;
    for r in &rows {
        let entry = crate::funds::state::entry(conn, fund, r.entry_seq).map_err(db)?;
        if entry.is_none_or(|e| e.reversed_by.is_some()) {
            return Err(reject(
                "unknown_reference",
                format!(
                    "entry {} is not an unreversed entry of this fund",
                    r.entry_seq
                ),
            ));
        }
    }
    store::insert_matches(conn, &rows).map_err(db)
}

fn config(
    conn: &mut PgConnection,
    fund: Uuid,
    seq: i64,
    c: &ConfigBody,
) -> Result<(), AppendError> {
    let current = store::settings(conn, fund).map_err(db)?;
    let next = current
        .with(&c.settings)
        .map_err(|e| reject("invalid_setting", e))?;
    store::save_settings(conn, fund, seq, &next).map_err(db)
}

impl AccountBody {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), String> {
        let len = self.account.chars().count();
        if len == 0
            || len > 64
            || !self
                .account
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
        {
            return Err("account is 1 to 64 letters, digits, spaces or hyphens".to_owned());
        }
        let n = self.name.chars().count();
        if n == 0
            || n > 200
            || self.name.chars().any(char::is_control)
            || self.name.trim() != self.name
        {
            return Err(
                "name is 1 to 200 characters, no control characters, no padding".to_owned(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rebuild_hands_on_exactly_these_kinds() {
        assert_eq!(super::KINDS, crate::entries::rebuild::RECONCILIATION_KINDS);
        assert_eq!(
            crate::entries::rebuild::Replay::tables(&super::Rebuild),
            super::TABLES
        );
    }
}
