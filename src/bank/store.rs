//! The only SQL over the bank tables: accounts, statements and their lines, matches, the
//! reconciliation settings, and the ledger facts matching reads.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::PgConnection;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::matching::{
    Coverage, EntryFact, LineFact, PartFact, RateFact, Settings, Side, StatementFact,
};
use crate::schema::{
    bank_accounts, bank_lines, bank_matches, bank_statements, fund_entries, fx_rates,
    reconciliation_settings,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = bank_accounts)]
pub struct AccountRow {
    pub id: Uuid,
    pub fund_id: Uuid,
    pub seq: i64,
    pub account: String,
    pub currency: String,
    pub owner: String,
    pub ministry_org_id: Option<Uuid>,
    pub name: String,
}

impl AccountRow {
    pub fn side(&self) -> Side {
        match self.ministry_org_id {
            Some(m) => Side::Ministry(m),
            None => Side::Secretariat,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = bank_statements)]
pub struct StatementRow {
    pub fund_id: Uuid,
    pub seq: i64,
    pub account_id: Uuid,
    pub statement_id: String,
    pub from_date: NaiveDate,
    pub to_date: NaiveDate,
    pub currency: String,
    pub opening: Decimal,
    pub closing: Decimal,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = bank_lines)]
pub struct LineRow {
    pub fund_id: Uuid,
    pub seq: i64,
    pub line: i32,
    pub account_id: Uuid,
    pub booking_date: NaiveDate,
    pub amount: Decimal,
    pub currency: String,
    pub reference: String,
    pub counterparty: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = bank_matches)]
pub struct MatchRow {
    pub fund_id: Uuid,
    pub seq: i64,
    pub statement_seq: i64,
    pub line: i32,
    pub account_id: Uuid,
    pub entry_seq: i64,
    pub amount: Decimal,
}

pub fn insert_account(conn: &mut PgConnection, row: &AccountRow) -> QueryResult<()> {
    diesel::insert_into(bank_accounts::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn accounts_of(conn: &mut PgConnection, fund: Uuid) -> QueryResult<Vec<AccountRow>> {
    bank_accounts::table
        .filter(bank_accounts::fund_id.eq(fund))
        .order((bank_accounts::seq, bank_accounts::id))
        .select(AccountRow::as_select())
        .load(conn)
}

/// The account of `fund` named by its id or by its account identifier.
pub fn find_account(
    conn: &mut PgConnection,
    fund: Uuid,
    name: &str,
) -> QueryResult<Option<AccountRow>> {
    let wanted = super::statement::normalise_account(name);
    Ok(accounts_of(conn, fund)?.into_iter().find(|a| {
        Uuid::parse_str(name).ok() == Some(a.id)
            || super::statement::normalise_account(&a.account) == wanted
    }))
}

pub fn insert_statement(
    conn: &mut PgConnection,
    row: &StatementRow,
    lines: &[LineRow],
) -> QueryResult<()> {
    diesel::insert_into(bank_statements::table)
        .values(row)
        .execute(conn)?;
    // Bounded by `statement::MAX_LINES`: 9 parameters a line, in chunks under Postgres's
    // 65,535.
    for chunk in lines.chunks(1_000) {
        diesel::insert_into(bank_lines::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(())
}

pub fn statements_of(conn: &mut PgConnection, account: Uuid) -> QueryResult<Vec<StatementRow>> {
    bank_statements::table
        .filter(bank_statements::account_id.eq(account))
        .order((bank_statements::from_date, bank_statements::seq))
        .select(StatementRow::as_select())
        .load(conn)
}

pub fn line(
    conn: &mut PgConnection,
    fund: Uuid,
    seq: i64,
    line: i32,
) -> QueryResult<Option<LineRow>> {
    bank_lines::table
        .find((fund, seq, line))
        .select(LineRow::as_select())
        .first(conn)
        .optional()
}

pub fn lines_of(conn: &mut PgConnection, account: Uuid) -> QueryResult<Vec<LineRow>> {
    bank_lines::table
        .filter(bank_lines::account_id.eq(account))
        .order((bank_lines::booking_date, bank_lines::seq, bank_lines::line))
        .select(LineRow::as_select())
        .load(conn)
}

pub fn line_matched(conn: &mut PgConnection, fund: Uuid, seq: i64, line: i32) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        bank_matches::table
            .filter(bank_matches::fund_id.eq(fund))
            .filter(bank_matches::statement_seq.eq(seq))
            .filter(bank_matches::line.eq(line)),
    ))
    .get_result(conn)
}

pub fn insert_matches(conn: &mut PgConnection, rows: &[MatchRow]) -> QueryResult<()> {
    diesel::insert_into(bank_matches::table)
        .values(rows)
        .execute(conn)
        .map(|_| ())
}

pub fn matches_of_account(conn: &mut PgConnection, account: Uuid) -> QueryResult<Vec<MatchRow>> {
    bank_matches::table
        .filter(bank_matches::account_id.eq(account))
        .order((bank_matches::seq, bank_matches::entry_seq))
        .select(MatchRow::as_select())
        .load(conn)
}

pub fn settings(conn: &mut PgConnection, fund: Uuid) -> QueryResult<Settings> {
    let stored: Option<serde_json::Value> = reconciliation_settings::table
        .find(fund)
        .select(reconciliation_settings::settings)
        .first(conn)
        .optional()?;
    Ok(stored
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default())
}

pub fn save_settings(
    conn: &mut PgConnection,
    fund: Uuid,
    seq: i64,
    settings: &Settings,
) -> QueryResult<()> {
    let value = serde_json::to_value(settings)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    diesel::insert_into(reconciliation_settings::table)
        .values((
            reconciliation_settings::fund_id.eq(fund),
            reconciliation_settings::seq.eq(seq),
            reconciliation_settings::settings.eq(&value),
        ))
        .on_conflict(reconciliation_settings::fund_id)
        .do_update()
        .set((
            reconciliation_settings::seq.eq(seq),
            reconciliation_settings::settings.eq(&value),
        ))
        .execute(conn)
        .map(|_| ())
}

/// An entry of the fund that moves money through a bank account: (seq, kind, date,
/// ministry, currency, amount).
type MovementRow = (
    i64,
    String,
    NaiveDate,
    Option<Uuid>,
    Option<String>,
    Option<Decimal>,
);

/// What matching reads: lines, entries, and how far each side's statements reach.
pub struct Facts {
    pub lines: Vec<LineFact>,
    pub entries: Vec<EntryFact>,
    /// Entries expected on a side that has accounts, none of them in the entry's currency.
    pub foreign: Vec<EntryFact>,
    /// The fund's unreversed exchange rates.
    pub rates: Vec<RateFact>,
    pub coverage: HashMap<Side, Coverage>,
    pub statements: Vec<StatementFact>,
    /// What each line took of each entry, with the line's booking date.
    pub parts: Vec<PartFact>,
    /// How many accounts each side has in each currency.
    pub accounts_per_side: HashMap<(Side, String), usize>,
}

/// What matching reads for `fund`: every line with its account's side and whether it is
/// matched; every unreversed contribution, disbursement and payment as expected on each
/// side that has an account in the entry's currency, with what is matched of it there; and how far each side's
/// statements reach.
pub fn facts(conn: &mut PgConnection, fund: Uuid) -> QueryResult<Facts> {
    let accounts: HashMap<Uuid, AccountRow> = accounts_of(conn, fund)?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let side_of = |id: &Uuid| accounts.get(id).map(AccountRow::side);
    let matched_lines: Vec<(i64, i32)> = bank_matches::table
        .filter(bank_matches::fund_id.eq(fund))
        .select((bank_matches::statement_seq, bank_matches::line))
        .distinct()
        .load(conn)?;
    let matched_lines: std::collections::HashSet<(i64, i32)> = matched_lines.into_iter().collect();
    let rows: Vec<LineRow> = bank_lines::table
        .filter(bank_lines::fund_id.eq(fund))
        .select(LineRow::as_select())
        .load(conn)?;
    let lines = rows
        .into_iter()
        .filter_map(|r| {
            Some(LineFact {
                side: side_of(&r.account_id)?,
                matched: matched_lines.contains(&(r.seq, r.line)),
                statement_seq: r.seq,
                line: r.line,
                account: r.account_id,
                booking_date: r.booking_date,
                amount: r.amount,
                currency: r.currency,
                reference: r.reference,
                counterparty: r.counterparty,
            })
        })
        .collect();
    let mut matched: HashMap<(i64, Side), Decimal> = HashMap::new();
    let match_rows: Vec<(i64, Uuid, Decimal)> = bank_matches::table
        .filter(bank_matches::fund_id.eq(fund))
        .select((
            bank_matches::entry_seq,
            bank_matches::account_id,
            bank_matches::amount,
        ))
        .load(conn)?;
    for (seq, account, amount) in match_rows {
        if let Some(side) = side_of(&account) {
            *matched.entry((seq, side)).or_default() += amount;
        }
    }
    // An entry is expected where the side has an account in the entry's currency.
    let sides: std::collections::HashSet<(Side, String)> = accounts
        .values()
        .map(|a| (a.side(), a.currency.clone()))
        .collect();
    let movements: Vec<MovementRow> = fund_entries::table
        .filter(fund_entries::fund_id.eq(fund))
        .filter(fund_entries::kind.eq_any(["contribution", "disbursement", "payment"]))
        .filter(fund_entries::reversed_by.is_null())
        .select((
            fund_entries::seq,
            fund_entries::kind,
            fund_entries::business_date,
            fund_entries::ministry_org_id,
            fund_entries::currency,
            fund_entries::amount,
        ))
        .order(fund_entries::seq)
        .load(conn)?;
    let with_accounts: std::collections::HashSet<Side> =
        accounts.values().map(AccountRow::side).collect();
    let mut entries = Vec::new();
    let mut foreign = Vec::new();
    for (seq, kind, date, ministry, currency, amount) in movements {
        let (Some(currency), Some(amount)) = (currency, amount) else {
            continue;
        };
        let expected: Vec<(Side, Decimal)> = match (kind.as_str(), ministry) {
            ("contribution", _) => vec![(Side::Secretariat, amount)],
            ("disbursement", Some(m)) => {
                vec![(Side::Secretariat, -amount), (Side::Ministry(m), amount)]
            }
            ("payment", Some(m)) => vec![(Side::Ministry(m), -amount)],
            _ => Vec::new(),
        };
        for (side, signed) in expected {
            let fact = EntryFact {
                seq,
                kind: kind.clone(),
                side,
                date,
                amount: signed,
                currency: currency.clone(),
                matched: matched.get(&(seq, side)).copied().unwrap_or_default(),
            };
            if sides.contains(&(side, currency.clone())) {
                entries.push(fact);
            } else if with_accounts.contains(&side) {
                foreign.push(fact);
            }
        }
    }
    let recorded: Vec<StatementRow> = bank_statements::table
        .filter(bank_statements::fund_id.eq(fund))
        .select(StatementRow::as_select())
        .load(conn)?;
    let mut coverage: HashMap<Side, Coverage> = HashMap::new();
    let mut statements = Vec::with_capacity(recorded.len());
    for r in recorded {
        let (account, from, to) = (r.account_id, r.from_date, r.to_date);
        if let Some(a) = accounts.get(&account) {
            statements.push(StatementFact {
                seq: r.seq,
                account,
                name: a.account.clone(),
                side: a.side(),
                currency: r.currency.clone(),
                from,
                to,
                opening: r.opening,
                closing: r.closing,
            });
        }
        if let Some(side) = side_of(&account) {
            coverage
                .entry(side)
                .and_modify(|c| {
                    c.from = c.from.min(from);
                    c.to = c.to.max(to);
                })
                .or_insert(Coverage { from, to });
        }
    }
    let parts: Vec<PartFact> = bank_matches::table
        .inner_join(
            bank_lines::table.on(bank_lines::fund_id
                .eq(bank_matches::fund_id)
                .and(bank_lines::seq.eq(bank_matches::statement_seq))
                .and(bank_lines::line.eq(bank_matches::line))),
        )
        .filter(bank_matches::fund_id.eq(fund))
        .select((
            bank_matches::entry_seq,
            bank_matches::account_id,
            bank_lines::booking_date,
            bank_matches::amount,
        ))
        .load::<(i64, Uuid, NaiveDate, Decimal)>(conn)?
        .into_iter()
        .map(|(entry, account, booked, amount)| PartFact {
            entry,
            account,
            booked,
            amount,
        })
        .collect();
    let rates = fx_rates::table
        .filter(fx_rates::fund_id.eq(fund))
        .filter(fx_rates::reversed.eq(false))
        .select((
            fx_rates::seq,
            fx_rates::base,
            fx_rates::quote,
            fx_rates::rate_date,
            fx_rates::rate,
        ))
        .order(fx_rates::seq)
        .load::<(i64, String, String, NaiveDate, Decimal)>(conn)?
        .into_iter()
        .map(|(seq, base, quote, date, rate)| RateFact {
            seq,
            base,
            quote,
            date,
            rate,
        })
        .collect();
    let mut accounts_per_side: HashMap<(Side, String), usize> = HashMap::new();
    for a in accounts.values() {
        *accounts_per_side
            .entry((a.side(), a.currency.clone()))
            .or_default() += 1;
    }
    Ok(Facts {
        lines,
        entries,
        foreign,
        rates,
        coverage,
        statements,
        parts,
        accounts_per_side,
    })
}
