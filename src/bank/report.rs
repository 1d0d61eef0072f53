//! The reconciliation report of one account over a period: what matched, what is unmatched
//! on each side, and the bank's closing balance against the ledger's
//! (docs/reconciliation.md, "Report"). Built from what `store` reads; rendered as JSON or
//! CSV.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::matching::{balance_checks, ledger_balance};
use super::store::{self, AccountRow};
use crate::auth::party::{self, Party};
use crate::error::ApiResult;
use crate::money::decimal_str;

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: Uuid,
    pub account: String,
    pub currency: String,
    /// `secretariat` or `ministry`.
    pub owner: String,
    /// The ministry, for a ministry's account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ministry: Option<Party>,
    pub name: String,
    /// Seq of the bank_account entry.
    pub seq: i64,
}

impl AccountView {
    /// The account, its ministry named from `names` (`party::names`).
    pub fn of(a: &AccountRow, names: &HashMap<Uuid, String>) -> Self {
        Self {
            id: a.id,
            account: a.account.clone(),
            currency: a.currency.clone(),
            owner: a.owner.clone(),
            ministry: a.ministry_org_id.map(|id| party::party(names, id)),
            name: a.name.clone(),
            seq: a.seq,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatementView {
    pub seq: i64,
    pub statement_id: String,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    #[serde(with = "decimal_str")]
    #[schema(value_type = String)]
    pub opening: Decimal,
    #[serde(with = "decimal_str")]
    #[schema(value_type = String)]
    pub closing: Decimal,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineView {
    pub statement_seq: i64,
    pub line: i32,
    #[schema(value_type = String, format = Date)]
    pub booking_date: NaiveDate,
    /// Signed: a credit positive, a debit negative.
    #[serde(with = "decimal_str")]
    #[schema(value_type = String)]
    pub amount: Decimal,
    pub currency: String,
    pub reference: String,
    pub counterparty: String,
    /// The ledger entries matched with the line and the part each took; empty when
    /// unmatched.
    pub entries: Vec<MatchedPart>,
    /// Seq of the bank_match entry.
    pub match_seq: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MatchedPart {
    pub entry: i64,
    #[serde(with = "decimal_str")]
    #[schema(value_type = String)]
    pub amount: Decimal,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenEntry {
    pub seq: i64,
    pub kind: String,
    #[schema(value_type = String, format = Date)]
    pub business_date: NaiveDate,
    /// As it should appear on this side's statement (signed).
    #[serde(with = "decimal_str")]
    #[schema(value_type = String)]
    pub expected: Decimal,
    #[serde(with = "decimal_str")]
    #[schema(value_type = String)]
    pub seen: Decimal,
    pub currency: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationReport {
    pub account: AccountView,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub statements: Vec<StatementView>,
    pub matched: Vec<LineView>,
    pub unmatched_lines: Vec<LineView>,
    /// Entries dated in the period, expected on this account's side and not (fully) seen.
    pub unmatched_entries: Vec<OpenEntry>,
    /// The closing balance of the last statement ending in the period.
    #[schema(value_type = Option<String>)]
    pub bank_closing: Option<Decimal>,
    /// The account's first opening balance plus every entry expected on its side up to
    /// that statement's end.
    #[schema(value_type = Option<String>)]
    pub ledger_balance: Option<Decimal>,
    /// bank_closing minus ledger_balance.
    #[schema(value_type = Option<String>)]
    pub balance_difference: Option<Decimal>,
    /// Of ledger_balance, what is in transit at that statement's end: entries the bank
    /// booked after it (or has not yet, within the window), less lines it booked for
    /// entries dated outside the period. `bank-balance-differs` is raised on what
    /// remains (docs/reconciliation.md, "Flags"). None where the account shares its side
    /// and currency with another.
    #[schema(value_type = Option<String>)]
    pub in_transit: Option<Decimal>,
}

/// Builds the report of `account` from `from` to `to` (business and booking dates).
pub fn build(
    conn: &mut PgConnection,
    account: &AccountRow,
    from: NaiveDate,
    to: NaiveDate,
) -> ApiResult<ReconciliationReport> {
    let statements = store::statements_of(conn, account.id)?;
    let lines = store::lines_of(conn, account.id)?;
    let matches = store::matches_of_account(conn, account.id)?;
    let facts = store::facts(conn, account.fund_id)?;
    let settings = store::settings(conn, account.fund_id)?;
    let checks = balance_checks(
        &settings,
        &facts.statements,
        &facts.entries,
        &facts.parts,
        &facts.accounts_per_side,
    );
    let entries = facts.entries;
    let side = account.side();
    let mut by_line: BTreeMap<(i64, i32), (i64, Vec<MatchedPart>)> = BTreeMap::new();
    for m in &matches {
        let e = by_line
            .entry((m.statement_seq, m.line))
            .or_insert_with(|| (m.seq, Vec::new()));
        e.1.push(MatchedPart {
            entry: m.entry_seq,
            amount: m.amount,
        });
    }
    let mut matched = Vec::new();
    let mut unmatched_lines = Vec::new();
    for l in lines
        .into_iter()
        .filter(|l| l.booking_date >= from && l.booking_date <= to)
    {
        let found = by_line.remove(&(l.seq, l.line));
        let view = LineView {
            statement_seq: l.seq,
            line: l.line,
            booking_date: l.booking_date,
            amount: l.amount,
            currency: l.currency,
            reference: l.reference,
            counterparty: l.counterparty,
            match_seq: found.as_ref().map(|f| f.0),
            entries: found.map(|f| f.1).unwrap_or_default(),
        };
        if view.match_seq.is_some() {
            matched.push(view);
        } else {
            unmatched_lines.push(view);
        }
    }
    let side_entries: Vec<_> = entries.into_iter().filter(|e| e.side == side).collect();
    let unmatched_entries = side_entries
        .iter()
        .filter(|e| e.date >= from && e.date <= to && e.matched < e.amount.abs())
        .map(|e| OpenEntry {
            seq: e.seq,
            kind: e.kind.clone(),
            business_date: e.date,
            expected: e.amount,
            seen: e.matched,
            currency: e.currency.clone(),
        })
        .collect();
    let last = statements
        .iter()
        .filter(|s| s.to_date <= to)
        .max_by_key(|s| (s.to_date, s.seq));
    let first = statements.iter().min_by_key(|s| (s.from_date, s.seq));
    // The ledger's balance is the account's only when the side has no other account.
    let in_transit = last.and_then(|l| {
        checks
            .iter()
            .find(|c| c.statement_seq == l.seq)
            .map(|c| c.in_transit)
    });
    let (bank_closing, ledger) = match (last, first) {
        (Some(last), Some(first)) => (
            Some(last.closing),
            Some(ledger_balance(
                first.opening,
                first.from_date,
                last.to_date,
                &side_entries,
            )),
        ),
        _ => (None, None),
    };
    let names = party::names(
        conn,
        &account.ministry_org_id.into_iter().collect::<Vec<_>>(),
    )?;
    Ok(ReconciliationReport {
        account: AccountView::of(account, &names),
        from,
        to,
        statements: statements
            .iter()
            .filter(|s| s.to_date >= from && s.from_date <= to)
            .map(|s| StatementView {
                seq: s.seq,
                statement_id: s.statement_id.clone(),
                from: s.from_date,
                to: s.to_date,
                opening: s.opening,
                closing: s.closing,
            })
            .collect(),
        matched,
        unmatched_lines,
        unmatched_entries,
        balance_difference: bank_closing.zip(ledger).map(|(b, l)| b - l),
        bank_closing,
        ledger_balance: ledger,
        in_transit,
    })
}

/// The report as CSV (RFC 4180, formula-safe): one row per line and per open entry, then
/// the balances.
pub fn csv(r: &ReconciliationReport) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut out = crate::reports::csv::CsvOut::new(&mut buf);
    out.row([
        "section",
        "statement_seq",
        "line",
        "date",
        "amount",
        "currency",
        "reference",
        "counterparty",
        "entries",
        "match_seq",
    ])?;
    let entries = |l: &LineView| {
        l.entries
            .iter()
            .map(|p| format!("{}:{}", p.entry, p.amount))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (section, lines) in [
        ("matched", &r.matched),
        ("unmatched_line", &r.unmatched_lines),
    ] {
        for l in lines {
            out.row([
                section.to_owned(),
                l.statement_seq.to_string(),
                l.line.to_string(),
                l.booking_date.to_string(),
                l.amount.to_string(),
                l.currency.clone(),
                l.reference.clone(),
                l.counterparty.clone(),
                entries(l),
                l.match_seq.map(|s| s.to_string()).unwrap_or_default(),
            ])?;
        }
    }
    for e in &r.unmatched_entries {
        out.row([
            "unmatched_entry".to_owned(),
            String::new(),
            String::new(),
            e.business_date.to_string(),
            e.expected.to_string(),
            e.currency.clone(),
            String::new(),
            String::new(),
            format!("{}:{} seen {}", e.seq, e.kind, e.seen),
            String::new(),
        ])?;
    }
    let opt = |d: Option<Decimal>| d.map(|d| d.to_string()).unwrap_or_default();
    for (name, value) in [
        ("bank_closing", opt(r.bank_closing)),
        ("ledger_balance", opt(r.ledger_balance)),
        ("balance_difference", opt(r.balance_difference)),
        ("in_transit", opt(r.in_transit)),
    ] {
        out.row([
            name.to_owned(),
            String::new(),
            String::new(),
            r.to.to_string(),
            value,
            r.account.currency.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ])?;
    }
    out.flush()?;
    drop(out);
    Ok(buf)
}
