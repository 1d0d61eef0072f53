//! What every typed entry of a fund's chain is applied with, whichever capability owns its
//! kind: the fund it is appended to (`FundCtx`), who posts it (`Actor`), its position and
//! date (`Posting`), and the refusals and checked arithmetic the rules of `funds` and
//! `procurement` share. A refusal is an `AppendError::Rejected`: 422 with its code, and
//! the whole job rolls back.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::derived::Derived;
use super::state::FundEntryRow;
use crate::auth::guard::Role;
use crate::ledger::writer::AppendError;
use crate::money::{Currency, Money};

/// The fund an entry is appended to.
#[derive(Debug, Clone, Copy)]
pub struct FundCtx {
    pub fund: Uuid,
    pub currency: Currency,
}

/// Who posts: their organisation and role. `None` when replaying (rebuild), where what
/// was authorised at write time is not re-decided.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub org: Uuid,
    pub role: Role,
}

/// One entry as it is applied: the fund, who posts it (`None` when replaying), the id of
/// the user who posted it (the ledger entry's principal, which an approval records), its
/// position in the chain and its business date.
#[derive(Debug, Clone, Copy)]
pub struct Posting<'a> {
    pub ctx: &'a FundCtx,
    pub actor: Option<&'a Actor>,
    pub poster: &'a str,
    pub seq: u64,
    pub date: NaiveDate,
    /// When the ledger recorded it (the entry's `recorded_at`): the clock of request
    /// expiry.
    pub at: DateTime<Utc>,
}

impl Posting<'_> {
    /// The entry's position as the derived tables store it.
    pub fn seq_i64(&self) -> Result<i64> {
        seq_i64(self.seq)
    }
}

pub type Result<T> = std::result::Result<T, AppendError>;

pub fn reject(code: &'static str, detail: impl Into<String>) -> AppendError {
    AppendError::Rejected {
        code,
        detail: detail.into(),
    }
}

pub fn unknown(what: &str, seq: u64) -> AppendError {
    reject(
        "unknown_reference",
        format!("entry {seq} of this fund is not a {what} you can refer to"),
    )
}

pub fn seq_i64(seq: u64) -> Result<i64> {
    i64::try_from(seq).map_err(|_| reject("unknown_reference", format!("no entry {seq}")))
}

pub fn add(a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_add(b)
        .ok_or_else(|| reject("amount_out_of_range", "the total exceeds the decimal range"))
}

pub fn sub(a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_sub(b)
        .ok_or_else(|| reject("amount_out_of_range", "the total exceeds the decimal range"))
}

/// The roles that may post `kind` (reversals: the role that may post the reversed kind).
/// A ministry actor may only act for itself. References to another ministry's entries
/// read as unknown (the ministry cannot see them); naming another ministry is refused.
pub fn own_ministry(actor: Option<&Actor>, ministry: Uuid) -> Result<()> {
    match actor {
        Some(a) if a.role == Role::Ministry && a.org != ministry => Err(reject(
            "not_own_ministry",
            "a ministry records entries for itself only",
        )),
        _ => Ok(()),
    }
}

pub fn own_reference(actor: Option<&Actor>, ministry: Uuid, what: &str, seq: u64) -> Result<()> {
    match actor {
        Some(a) if a.role == Role::Ministry && a.org != ministry => Err(unknown(what, seq)),
        _ => Ok(()),
    }
}

/// `org` must be an organisation of `kind`: active when posting; when replaying (no
/// actor) merely existing, since it may have been deactivated after the entry.
pub fn require_org(
    st: &mut Derived<'_>,
    actor: Option<&Actor>,
    org: Uuid,
    kind: &str,
    field: &str,
) -> Result<()> {
    let found = st.org_kind(org, actor.is_some())?;
    match found {
        Some(k) if k == kind => Ok(()),
        Some(_) => Err(reject(
            "wrong_organization_kind",
            format!("{field} must be an organisation of kind {kind}"),
        )),
        None => Err(reject(
            "unknown_reference",
            format!("{field}: no active organisation {org}"),
        )),
    }
}

/// `money` in the fund's currency: as is, or converted at the rate recorded for the
/// business date (either direction), rounded half-to-even to the fund's minor unit.
pub fn to_fund(
    st: &mut Derived<'_>,
    ctx: &FundCtx,
    money: &Money,
    date: NaiveDate,
) -> Result<Decimal> {
    if money.currency == ctx.currency {
        return Ok(money.value);
    }
    let (from, to) = (money.currency.code(), ctx.currency.code());
    let converted = if let Some(rate) = st.rate_on(from, to, date)? {
        money.value.checked_mul(rate)
    } else if let Some(rate) = st.rate_on(to, from, date)? {
        money.value.checked_div(rate)
    } else {
        return Err(reject(
            "no_fx_rate",
            format!(
                "the fund holds {to}; record an fx_rate {from}/{to} for {date} before posting {money}"
            ),
        ));
    };
    converted.map(|v| ctx.currency.round(v)).ok_or_else(|| {
        reject(
            "amount_out_of_range",
            "the converted amount is out of range",
        )
    })
}

pub fn same_currency(expected: &str, got: &Money, what: &str) -> Result<()> {
    if got.currency.code() != expected {
        return Err(reject(
            "currency_mismatch",
            format!("{what} is in {expected}; got {}", got.currency),
        ));
    }
    Ok(())
}

/// The index row every entry gets.
pub fn row(ctx: &FundCtx, seq: i64, kind: &str, date: NaiveDate) -> FundEntryRow {
    FundEntryRow {
        fund_id: ctx.fund,
        seq,
        kind: kind.to_owned(),
        business_date: date,
        ..FundEntryRow::default()
    }
}

pub fn with_money(mut r: FundEntryRow, m: &Money, fund_amount: Decimal) -> FundEntryRow {
    r.currency = Some(m.currency.code().to_owned());
    r.amount = Some(m.value);
    r.amount_fund = Some(fund_amount);
    r
}

/// A reversal of `target` that cannot be applied, and why.
pub fn blocked(target: &FundEntryRow, why: &str) -> AppendError {
    reject(
        "reversal_blocked",
        format!("{} {} cannot be reversed: {why}", target.kind, target.seq),
    )
}
