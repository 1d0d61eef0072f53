//! Matching statement lines to ledger entries, and what stays unmatched, pure
//! (docs/reconciliation.md, "Matching").
//!
//! Each registered account is on one *side* of the fund's money: the secretariat's (the
//! fund's own accounts) or a ministry's. A ledger entry is expected on a side with a sign:
//! a contribution as a credit on the secretariat's side, a disbursement as a debit there
//! and a credit on the receiving ministry's side, a payment as a debit on the paying
//! ministry's side. A line is matched, in this order:
//!
//! 1. by reference: the line's references name entries as `FT-<seq>`; the named entries
//!    of the line's side and sign take the line if their open amounts add up to it (one
//!    line for several entries), or the one named entry takes it in part if the line is
//!    smaller (a partial match). Anything else (a larger amount, another currency) is an
//!    amount mismatch, with the line and the entries as evidence.
//! 2. unless the fund requires references: by amount, currency and date window: the entry
//!    of the same side, sign and currency, dated within `window_days` of the booking, whose
//!    open amount equals the line's (within `amount_tolerance`), nearest in date first;
//!    else two or three such entries that add up to it.
//!
//! A line left over is money that moved with no entry. An entry still open once the
//! side's statements cover its date plus the window was never seen at the bank (or only
//! in part).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Candidates tried for combinations of two or three entries, nearest in date first.
const COMBINATION_CANDIDATES_MAX: usize = 24;

/// The fund's reconciliation settings (a `reconciliation_config` entry changes them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Days between an entry's business date and the booking that matches it, either way;
    /// also how long an entry may stay unseen before it is flagged. 1 to 366, default 10.
    pub window_days: u32,
    /// Largest difference between a line and its entries still matched in full (bank
    /// charges), a decimal string, default `0`.
    #[serde(with = "crate::money::decimal_str")]
    #[schema(value_type = String)]
    pub amount_tolerance: Decimal,
    /// Match only by reference (`FT-<seq>`), never by amount and date alone. Default false.
    pub require_reference: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            window_days: 10,
            amount_tolerance: Decimal::ZERO,
            require_reference: false,
        }
    }
}

impl Settings {
    /// The settings with `changes` applied (names as the fields above).
    pub fn with(
        &self,
        changes: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, String> {
        let mut merged = serde_json::to_value(self).map_err(|e| e.to_string())?;
        if let Some(obj) = merged.as_object_mut() {
            for (k, v) in changes {
                if !obj.contains_key(k) {
                    return Err(format!(
                        "{k:?} is not a reconciliation setting; one of window_days, amount_tolerance, require_reference"
                    ));
                }
                obj.insert(k.clone(), v.clone());
            }
        }
        let s: Settings = serde_json::from_value(merged).map_err(|e| e.to_string())?;
        if !(1..=366).contains(&s.window_days) {
            return Err("window_days is 1 to 366".to_owned());
        }
        if s.amount_tolerance < Decimal::ZERO {
            return Err("amount_tolerance is not negative".to_owned());
        }
        Ok(s)
    }
}

/// Whose money an account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Secretariat,
    Ministry(Uuid),
}

impl Side {
    pub fn ministry(self) -> Option<Uuid> {
        match self {
            Side::Secretariat => None,
            Side::Ministry(m) => Some(m),
        }
    }
}

/// A statement line as matching sees it.
#[derive(Debug, Clone)]
pub struct LineFact {
    pub statement_seq: i64,
    pub line: i32,
    pub account: Uuid,
    pub side: Side,
    pub booking_date: NaiveDate,
    /// Signed: credit positive.
    pub amount: Decimal,
    pub currency: String,
    pub reference: String,
    pub counterparty: String,
    /// Already matched by an earlier run.
    pub matched: bool,
}

/// A ledger entry expected on one side.
#[derive(Debug, Clone)]
pub struct EntryFact {
    pub seq: i64,
    pub kind: String,
    pub side: Side,
    pub date: NaiveDate,
    /// Signed as it should appear on the side's statement.
    pub amount: Decimal,
    pub currency: String,
    /// What earlier runs matched of it on this side (absolute).
    pub matched: Decimal,
}

impl EntryFact {
    fn open(&self) -> Decimal {
        self.amount.abs() - self.matched
    }
}

/// How far the statements of a side reach.
#[derive(Debug, Clone, Copy)]
pub struct Coverage {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// One line matched with one or more entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub statement_seq: i64,
    pub line: i32,
    pub account: Uuid,
    /// (entry seq, absolute amount of the line taken by it).
    pub parts: Vec<(i64, Decimal)>,
    /// The line covers only part of its entry.
    pub partial: bool,
    /// `reference` or `amount_date`.
    pub by: &'static str,
}

/// Something that does not reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: &'static str,
    /// The seq the flag is raised on (the statement's for a line, else the entry's).
    pub seq: i64,
    /// The other entries of the evidence (statement and ledger side).
    pub evidence: Vec<i64>,
    pub side: Side,
    pub date: NaiveDate,
    pub subject: String,
    pub message: String,
}

pub const UNRECORDED_DEBIT: &str = "bank-unrecorded-debit";
pub const UNRECORDED_CREDIT: &str = "bank-unrecorded-credit";
pub const UNPAID_ENTRY: &str = "bank-unpaid-entry";
pub const AMOUNT_MISMATCH: &str = "bank-amount-mismatch";
pub const CURRENCY_MISMATCH: &str = "bank-currency-mismatch";
pub const BALANCE_DIFFERS: &str = "bank-balance-differs";
/// Every rule reconciliation raises.
pub const RULES: [&str; 6] = [
    UNRECORDED_DEBIT,
    UNRECORDED_CREDIT,
    UNPAID_ENTRY,
    AMOUNT_MISMATCH,
    CURRENCY_MISMATCH,
    BALANCE_DIFFERS,
];

/// A recorded exchange rate (an unreversed `fx_rate` entry): one `base` is `rate` `quote`.
#[derive(Debug, Clone)]
pub struct RateFact {
    pub seq: i64,
    pub base: String,
    pub quote: String,
    pub date: NaiveDate,
    pub rate: Decimal,
}

impl RateFact {
    /// `amount` of `from` in `to` at this rate, if the rate is between the two.
    fn convert(&self, amount: Decimal, from: &str, to: &str) -> Option<Decimal> {
        if self.base == from && self.quote == to {
            amount.checked_mul(self.rate)
        } else if self.base == to && self.quote == from && !self.rate.is_zero() {
            amount.checked_div(self.rate)
        } else {
            None
        }
    }
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub matches: Vec<Match>,
    pub findings: Vec<Finding>,
}

/// The seqs a reference names as `FT-<seq>` (case-insensitive, digits up to a non-digit).
pub fn referenced_seqs(reference: &str) -> Vec<i64> {
    let upper = reference.to_ascii_uppercase();
    let mut out = Vec::new();
    let mut rest = upper.as_str();
    while let Some(i) = rest.find("FT-") {
        let before_ok = upper.len() - rest.len() + i == 0
            || !upper
                .as_bytes()
                .get(upper.len() - rest.len() + i - 1)
                .is_some_and(u8::is_ascii_alphanumeric);
        let after = rest.get(i + 3..).unwrap_or("");
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if before_ok && !digits.is_empty() && digits.len() <= 15 {
            if let Ok(seq) = digits.parse::<i64>() {
                out.push(seq);
            }
        }
        rest = after;
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn describe_line(l: &LineFact) -> String {
    let dir = if l.amount < Decimal::ZERO {
        "debit"
    } else {
        "credit"
    };
    let mut s = format!(
        "{dir} of {} {} booked {} (statement entry {}, line {})",
        l.amount.abs(),
        l.currency,
        l.booking_date,
        l.statement_seq,
        l.line
    );
    if !l.counterparty.is_empty() {
        s.push_str(&format!(", counterparty {:?}", l.counterparty));
    }
    if !l.reference.is_empty() {
        s.push_str(&format!(", reference {:?}", l.reference));
    }
    s
}

fn describe_entry(e: &EntryFact) -> String {
    format!(
        "{} entry {} of {} {} dated {}",
        e.kind,
        e.seq,
        e.amount.abs(),
        e.currency,
        e.date
    )
}

fn days_apart(a: NaiveDate, b: NaiveDate) -> i64 {
    (a - b).num_days().abs()
}

/// Matches the open lines against the open entries and lists what does not reconcile.
/// `coverage` says, per side, how far its statements reach.
///
/// `foreign` are entries expected on a side that has no account in their currency, and
/// `rates` the recorded exchange rates: a line naming such an entry, or equal to an
/// entry of another currency at a recorded rate, is a currency mismatch rather than
/// money with no entry.
pub fn reconcile(
    settings: &Settings,
    lines: &[LineFact],
    entries: &[EntryFact],
    foreign: &[EntryFact],
    rates: &[RateFact],
    coverage: &HashMap<Side, Coverage>,
) -> Outcome {
    let mut out = Outcome::default();
    let window = i64::from(settings.window_days);
    let tol = settings.amount_tolerance;
    // Entries by (seq, side): one entry may be expected on two sides.
    let mut open: BTreeMap<(i64, Side), EntryFact> = entries
        .iter()
        .map(|e| ((e.seq, e.side), e.clone()))
        .collect();
    let mut explained: HashSet<(i64, Side)> = HashSet::new();
    // Foreign entries already cited by a currency mismatch.
    let mut cited: HashSet<(i64, Side)> = HashSet::new();
    let mut ordered: Vec<&LineFact> = lines.iter().filter(|l| !l.matched).collect();
    ordered.sort_by_key(|l| (l.booking_date, l.statement_seq, l.line));
    for l in ordered {
        let size = l.amount.abs();
        let same_sign = |e: &EntryFact| (e.amount < Decimal::ZERO) == (l.amount < Decimal::ZERO);
        let named: Vec<(i64, Side)> = referenced_seqs(&l.reference)
            .into_iter()
            .map(|s| (s, l.side))
            .filter(|k| open.get(k).is_some_and(same_sign))
            .collect();
        if !named.is_empty() {
            let facts: Vec<EntryFact> = named.iter().filter_map(|k| open.get(k).cloned()).collect();
            let total: Decimal = facts.iter().map(EntryFact::open).sum();
            let currency_ok = facts.iter().all(|e| e.currency == l.currency);
            if currency_ok && (size - total).abs() <= tol && total > Decimal::ZERO {
                out.matches.push(Match {
                    statement_seq: l.statement_seq,
                    line: l.line,
                    account: l.account,
                    parts: facts.iter().map(|e| (e.seq, e.open())).collect(),
                    partial: false,
                    by: "reference",
                });
                for k in &named {
                    open.remove(k);
                }
            } else if currency_ok && facts.len() == 1 && size < total {
                out.matches.push(Match {
                    statement_seq: l.statement_seq,
                    line: l.line,
                    account: l.account,
                    parts: facts.iter().map(|e| (e.seq, size)).collect(),
                    partial: true,
                    by: "reference",
                });
                if let Some(e) = named.first().and_then(|k| open.get_mut(k)) {
                    e.matched += size;
                }
            } else {
                let (rule, what) = if currency_ok {
                    (AMOUNT_MISMATCH, "amount")
                } else {
                    (CURRENCY_MISMATCH, "currency")
                };
                out.findings.push(Finding {
                    rule,
                    severity: "high",
                    seq: l.statement_seq,
                    evidence: facts.iter().map(|e| e.seq).collect(),
                    side: l.side,
                    date: l.booking_date,
                    subject: format!("bank/{}/{}", l.statement_seq, l.line),
                    message: format!(
                        "The bank shows a {} that names {}, but the {what} differs: the ledger expects {} {} in all.",
                        describe_line(l),
                        facts.iter().map(describe_entry).collect::<Vec<_>>().join(" and "),
                        total,
                        facts.first().map_or("", |e| e.currency.as_str()),
                    ),
                });
                explained.extend(named);
            }
            continue;
        }
        let named_foreign: Vec<&EntryFact> = referenced_seqs(&l.reference)
            .into_iter()
            .filter_map(|seq| {
                foreign
                    .iter()
                    .find(|e| e.seq == seq && e.side == l.side && same_sign(e))
            })
            .collect();
        if !named_foreign.is_empty() {
            cited.extend(named_foreign.iter().map(|e| (e.seq, e.side)));
            out.findings
                .push(currency_mismatch(l, &named_foreign, None, "names"));
            continue;
        }
        if settings.require_reference {
            out.findings.push(unrecorded(l));
            continue;
        }
        let mut candidates: Vec<&EntryFact> = open
            .values()
            .filter(|e| {
                e.side == l.side
                    && same_sign(e)
                    && e.currency == l.currency
                    && e.open() > Decimal::ZERO
                    && days_apart(e.date, l.booking_date) <= window
                    && !explained.contains(&(e.seq, e.side))
            })
            .collect();
        candidates.sort_by_key(|e| (days_apart(e.date, l.booking_date), e.seq));
        let exact = candidates
            .iter()
            .find(|e| (e.open() - size).abs() <= tol)
            .map(|e| vec![(e.seq, e.open())]);
        let chosen = exact.or_else(|| {
            combination(
                &candidates
                    .iter()
                    .take(COMBINATION_CANDIDATES_MAX)
                    .map(|e| (e.seq, e.open()))
                    .collect::<Vec<_>>(),
                size,
                tol,
            )
        });
        match chosen {
            Some(parts) => {
                for (seq, _) in &parts {
                    open.remove(&(*seq, l.side));
                }
                out.matches.push(Match {
                    statement_seq: l.statement_seq,
                    line: l.line,
                    account: l.account,
                    parts,
                    partial: false,
                    by: "amount_date",
                });
            }
            None => {
                // Equal to an entry of another currency at a recorded rate: the money
                // moved, in a currency the ledger did not record it in.
                let other = open
                    .values()
                    .filter(|e| !explained.contains(&(e.seq, e.side)))
                    .chain(foreign.iter().filter(|e| !cited.contains(&(e.seq, e.side))))
                    .filter(|e| {
                        e.side == l.side
                            && same_sign(e)
                            && e.currency != l.currency
                            && e.open() > Decimal::ZERO
                            && days_apart(e.date, l.booking_date) <= window
                    })
                    .find_map(|e| {
                        rates
                            .iter()
                            .filter(|r| {
                                days_apart(r.date, e.date) <= window
                                    || days_apart(r.date, l.booking_date) <= window
                            })
                            .find(|r| {
                                r.convert(e.open(), &e.currency, &l.currency)
                                    .is_some_and(|c| (c.round_dp(size.scale()) - size).abs() <= tol)
                            })
                            .map(|r| (e.clone(), r.clone()))
                    });
                match other {
                    Some((e, r)) => {
                        let key = (e.seq, e.side);
                        if open.contains_key(&key) {
                            explained.insert(key);
                        } else {
                            cited.insert(key);
                        }
                        out.findings.push(currency_mismatch(
                            l,
                            &[&e],
                            Some(&r),
                            "equals at a recorded rate",
                        ));
                    }
                    None => out.findings.push(unrecorded(l)),
                }
            }
        }
    }
    for (key, e) in &open {
        if explained.contains(key) || e.open() <= Decimal::ZERO {
            continue;
        }
        let Some(c) = coverage.get(&e.side) else {
            continue;
        };
        let due = e.date + chrono::Duration::days(window);
        if e.date < c.from || due >= c.to {
            continue;
        }
        let side_name = match e.side {
            Side::Secretariat => "the fund's accounts".to_owned(),
            Side::Ministry(_) => "the ministry's accounts".to_owned(),
        };
        let (rule, message) = if e.matched > Decimal::ZERO {
            (
                AMOUNT_MISMATCH,
                format!(
                    "Only {} of {} was seen on {side_name} by {} ({} days after the entry).",
                    e.matched,
                    describe_entry(e),
                    c.to,
                    settings.window_days
                ),
            )
        } else {
            (
                UNPAID_ENTRY,
                format!(
                    "{} never appeared on {side_name}: their statements up to {} show no matching {}.",
                    describe_entry(e),
                    c.to,
                    if e.amount < Decimal::ZERO { "debit" } else { "credit" }
                ),
            )
        };
        out.findings.push(Finding {
            rule,
            severity: "high",
            seq: e.seq,
            evidence: Vec::new(),
            side: e.side,
            date: e.date,
            subject: match e.side {
                Side::Secretariat => "bank/entry/secretariat".to_owned(),
                Side::Ministry(m) => format!("bank/entry/{m}"),
            },
            message,
        });
    }
    out
}

fn currency_mismatch(
    l: &LineFact,
    entries: &[&EntryFact],
    rate: Option<&RateFact>,
    how: &str,
) -> Finding {
    let mut evidence: Vec<i64> = entries.iter().map(|e| e.seq).collect();
    let at = match rate {
        Some(r) => {
            evidence.push(r.seq);
            format!(
                " (1 {} = {} {}, fx_rate entry {} of {})",
                r.base, r.rate, r.quote, r.seq, r.date
            )
        }
        None => String::new(),
    };
    Finding {
        rule: CURRENCY_MISMATCH,
        severity: "high",
        seq: l.statement_seq,
        evidence,
        side: l.side,
        date: l.booking_date,
        subject: format!("bank/{}/{}", l.statement_seq, l.line),
        message: format!(
            "The bank shows a {} that {how} {}{at}, but the currency differs: the bank moved {}, the ledger recorded {}.",
            describe_line(l),
            entries
                .iter()
                .map(|e| describe_entry(e))
                .collect::<Vec<_>>()
                .join(" and "),
            l.currency,
            entries
                .iter()
                .map(|e| e.currency.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
    }
}

fn unrecorded(l: &LineFact) -> Finding {
    let debit = l.amount < Decimal::ZERO;
    Finding {
        rule: if debit {
            UNRECORDED_DEBIT
        } else {
            UNRECORDED_CREDIT
        },
        severity: if debit { "high" } else { "medium" },
        seq: l.statement_seq,
        evidence: Vec::new(),
        side: l.side,
        date: l.booking_date,
        subject: format!("bank/{}/{}", l.statement_seq, l.line),
        message: format!(
            "The bank shows a {} that no ledger entry accounts for.",
            describe_line(l)
        ),
    }
}

/// Two or three of `candidates` whose amounts add up to `target` (within `tol`).
fn combination(
    candidates: &[(i64, Decimal)],
    target: Decimal,
    tol: Decimal,
) -> Option<Vec<(i64, Decimal)>> {
    for (i, a) in candidates.iter().enumerate() {
        for (j, b) in candidates.iter().enumerate().skip(i + 1) {
            if (a.1 + b.1 - target).abs() <= tol {
                return Some(vec![*a, *b]);
            }
            for c in candidates.iter().skip(j + 1) {
                if (a.1 + b.1 + c.1 - target).abs() <= tol {
                    return Some(vec![*a, *b, *c]);
                }
            }
        }
    }
    None
}

/// A recorded statement as the balance check sees it.
#[derive(Debug, Clone)]
pub struct StatementFact {
    pub seq: i64,
    pub account: Uuid,
    /// The account as its statements name it.
    pub name: String,
    pub side: Side,
    pub currency: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Signed: credit positive.
    pub opening: Decimal,
    pub closing: Decimal,
}

/// The part of an entry that a line of an account took (a `bank_match` row).
#[derive(Debug, Clone)]
pub struct PartFact {
    pub entry: i64,
    pub account: Uuid,
    pub booked: NaiveDate,
    /// Absolute.
    pub amount: Decimal,
}

/// One statement's closing balance against the ledger's balance of its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceCheck {
    pub statement_seq: i64,
    pub account: Uuid,
    pub to: NaiveDate,
    pub bank_closing: Decimal,
    /// The account's opening position (its first statement's opening balance) plus
    /// every entry expected on its side dated from that statement's start to `to`.
    pub ledger_balance: Decimal,
    /// Entries in transit at `to`, signed as the ledger moved them: recorded by `to` but
    /// booked by the bank after it (or not yet, within the window), less lines booked by
    /// `to` for entries dated outside the period.
    pub in_transit: Decimal,
    /// Bank closing minus (ledger balance minus in transit).
    pub difference: Decimal,
}

/// Checks every statement's closing balance against the ledger's balance of its account
/// at that date. An account shares its side's entries with every other account of the
/// side in its currency, so only an account alone on its side in its currency is checked.
pub fn balance_checks(
    settings: &Settings,
    statements: &[StatementFact],
    entries: &[EntryFact],
    parts: &[PartFact],
    accounts_per_side: &HashMap<(Side, String), usize>,
) -> Vec<BalanceCheck> {
    let window = i64::from(settings.window_days);
    let mut by_account: BTreeMap<Uuid, Vec<&StatementFact>> = BTreeMap::new();
    for s in statements {
        by_account.entry(s.account).or_default().push(s);
    }
    let mut out = Vec::new();
    for (account, mut stmts) in by_account {
        let Some(first) = stmts.iter().min_by_key(|s| (s.from, s.seq)).copied() else {
            continue;
        };
        if accounts_per_side.get(&(first.side, first.currency.clone())) != Some(&1) {
            continue;
        }
        stmts.sort_by_key(|s| (s.to, s.seq));
        let side_entries: Vec<&EntryFact> = entries
            .iter()
            .filter(|e| e.side == first.side && e.currency == first.currency)
            .collect();
        let dates: HashMap<i64, (NaiveDate, bool)> = side_entries
            .iter()
            .map(|e| (e.seq, (e.date, e.amount < Decimal::ZERO)))
            .collect();
        let mut parts_of: HashMap<i64, Vec<&PartFact>> = HashMap::new();
        for p in parts.iter().filter(|p| p.account == account) {
            parts_of.entry(p.entry).or_default().push(p);
        }
        let start = first.from;
        let signed = |debit: bool, a: Decimal| if debit { -a } else { a };
        for s in stmts {
            let end = s.to;
            let in_period = |d: NaiveDate| d >= start && d <= end;
            let mut ledger = first.opening;
            let mut in_transit = Decimal::ZERO;
            for e in side_entries.iter().filter(|e| in_period(e.date)) {
                ledger += e.amount;
                let debit = e.amount < Decimal::ZERO;
                let took = parts_of.get(&e.seq).map(Vec::as_slice).unwrap_or_default();
                let later: Decimal = took
                    .iter()
                    .filter(|p| p.booked > end)
                    .map(|p| p.amount)
                    .sum();
                let seen: Decimal = took.iter().map(|p| p.amount).sum();
                let open = (e.amount.abs() - seen).max(Decimal::ZERO);
                let pending = if (end - e.date).num_days() <= window {
                    open
                } else {
                    Decimal::ZERO
                };
                in_transit += signed(debit, later + pending);
            }
            for (entry, took) in &parts_of {
                let Some((date, debit)) = dates.get(entry) else {
                    continue;
                };
                if in_period(*date) {
                    continue;
                }
                let early: Decimal = took
                    .iter()
                    .filter(|p| in_period(p.booked))
                    .map(|p| p.amount)
                    .sum();
                in_transit -= signed(*debit, early);
            }
            // No "-0" in the evidence.
            if in_transit.is_zero() {
                in_transit = Decimal::ZERO;
            }
            out.push(BalanceCheck {
                statement_seq: s.seq,
                account,
                to: end,
                bank_closing: s.closing,
                ledger_balance: ledger,
                in_transit,
                difference: s.closing - (ledger - in_transit),
            });
        }
    }
    out
}

/// A `bank-balance-differs` finding for each statement whose closing balance disagrees
/// with the ledger's by another amount than the account's previous statement did
/// (beyond `amount_tolerance`): the flag marks where a difference arises or changes, not
/// every later statement it carries into.
pub fn balance_findings(
    settings: &Settings,
    statements: &[StatementFact],
    checks: &[BalanceCheck],
) -> Vec<Finding> {
    let mut previous: HashMap<Uuid, Decimal> = HashMap::new();
    let mut out = Vec::new();
    for c in checks {
        let before = previous.insert(c.account, c.difference).unwrap_or_default();
        if c.difference.is_zero() || (c.difference - before).abs() <= settings.amount_tolerance {
            continue;
        }
        let Some(s) = statements.iter().find(|s| s.seq == c.statement_seq) else {
            continue;
        };
        let ccy = &s.currency;
        out.push(Finding {
            rule: BALANCE_DIFFERS,
            severity: "high",
            seq: c.statement_seq,
            evidence: Vec::new(),
            side: s.side,
            date: c.to,
            subject: format!("bank/{}/balance", c.statement_seq),
            message: format!(
                "Account {} closed {} at {} {ccy} by the bank (statement entry {}), but the ledger's balance of the account at that date is {} {ccy} ({} {ccy} of it in transit), a difference of {} {ccy}{}.",
                s.name,
                c.to,
                c.bank_closing,
                c.statement_seq,
                c.ledger_balance,
                c.in_transit,
                c.difference,
                if before.is_zero() {
                    String::new()
                } else {
                    format!(" (it was {before} {ccy} at the previous statement)")
                },
            ),
        });
    }
    out
}

/// The ledger's balance of a side's account against the bank's: the first statement's
/// opening balance plus every entry expected on the side dated from its start to `to`.
pub fn ledger_balance(
    opening: Decimal,
    from: NaiveDate,
    to: NaiveDate,
    entries: &[EntryFact],
) -> Decimal {
    opening
        + entries
            .iter()
            .filter(|e| e.date >= from && e.date <= to)
            .map(|e| e.amount)
            .sum::<Decimal>()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }
    fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, n).unwrap()
    }
    const MIN: Uuid = Uuid::from_u128(7);

    fn line(n: i32, date: u32, amount: &str, reference: &str) -> LineFact {
        LineFact {
            statement_seq: 100,
            line: n,
            account: Uuid::nil(),
            side: Side::Ministry(MIN),
            booking_date: day(date),
            amount: d(amount),
            currency: "EUR".to_owned(),
            reference: reference.to_owned(),
            counterparty: "ACME".to_owned(),
            matched: false,
        }
    }
    fn payment(seq: i64, date: u32, amount: &str) -> EntryFact {
        EntryFact {
            seq,
            kind: "payment".to_owned(),
            side: Side::Ministry(MIN),
            date: day(date),
            amount: -d(amount),
            currency: "EUR".to_owned(),
            matched: Decimal::ZERO,
        }
    }
    fn covered(to: u32) -> HashMap<Side, Coverage> {
        HashMap::from([(
            Side::Ministry(MIN),
            Coverage {
                from: day(1),
                to: day(to),
            },
        )])
    }

    #[test]
    fn references_name_seqs() {
        assert_eq!(
            referenced_seqs("inv 4 / FT-12, ft-7 and xFT-9 FT-"),
            vec![7, 12]
        );
        assert!(referenced_seqs("no reference").is_empty());
    }

    #[test]
    fn a_line_matches_its_entry_by_amount_currency_and_date() {
        let out = reconcile(
            &Settings::default(),
            &[line(1, 5, "-100.00", "")],
            &[payment(10, 3, "100.00"), payment(11, 30, "100.00")],
            &[],
            &[],
            &covered(10),
        );
        assert_eq!(out.matches.len(), 1);
        assert_eq!(out.matches[0].parts, vec![(10, d("100.00"))]);
        assert_eq!(out.matches[0].by, "amount_date");
        assert!(out.findings.is_empty(), "{:?}", out.findings);
    }

    #[test]
    fn a_line_outside_the_window_or_in_another_currency_does_not_match() {
        let mut usd = line(2, 5, "-100.00", "");
        usd.currency = "USD".to_owned();
        let out = reconcile(
            &Settings::default(),
            &[line(1, 28, "-100.00", ""), usd],
            &[payment(10, 3, "100.00")],
            &[],
            &[],
            &covered(31),
        );
        assert!(out.matches.is_empty());
        let rules: Vec<_> = out.findings.iter().map(|f| f.rule).collect();
        assert_eq!(
            rules,
            vec![UNRECORDED_DEBIT, UNRECORDED_DEBIT, UNPAID_ENTRY]
        );
        assert!(out.findings[0].message.contains("ACME"));
    }

    #[test]
    fn one_line_pays_several_entries_by_reference_or_by_sum() {
        let out = reconcile(
            &Settings::default(),
            &[
                line(1, 5, "-300.00", "FT-10 FT-11"),
                line(2, 6, "-70.00", ""),
            ],
            &[
                payment(10, 3, "100.00"),
                payment(11, 3, "200.00"),
                payment(12, 4, "30.00"),
                payment(13, 4, "40.00"),
            ],
            &[],
            &[],
            &covered(8),
        );
        assert_eq!(out.matches.len(), 2, "{:?}", out);
        assert_eq!(out.matches[0].parts.len(), 2);
        assert_eq!(out.matches[0].by, "reference");
        assert_eq!(
            out.matches[1].parts,
            vec![(12, d("30.00")), (13, d("40.00"))]
        );
        assert!(out.findings.is_empty());
    }

    #[test]
    fn partial_payments_match_and_what_stays_open_is_flagged_after_the_window() {
        let out = reconcile(
            &Settings::default(),
            &[line(1, 5, "-40.00", "FT-10")],
            &[payment(10, 3, "100.00")],
            &[],
            &[],
            &covered(31),
        );
        assert_eq!(out.matches.len(), 1);
        assert!(out.matches[0].partial);
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.findings[0].rule, AMOUNT_MISMATCH);
        assert!(
            out.findings[0].message.contains("Only 40.00"),
            "{}",
            out.findings[0].message
        );
    }

    #[test]
    fn a_larger_line_naming_an_entry_is_an_amount_mismatch_with_both_sides() {
        let out = reconcile(
            &Settings::default(),
            &[line(1, 5, "-120.00", "FT-10")],
            &[payment(10, 3, "100.00")],
            &[],
            &[],
            &covered(31),
        );
        assert!(out.matches.is_empty());
        assert_eq!(out.findings.len(), 1, "{:?}", out.findings);
        let f = &out.findings[0];
        assert_eq!(
            (f.rule, f.seq, f.evidence.clone()),
            (AMOUNT_MISMATCH, 100, vec![10])
        );
        assert!(f.message.contains("120.00") && f.message.contains("100.00"));
    }

    #[test]
    fn an_entry_is_flagged_only_once_the_statements_cover_its_window() {
        let entries = [payment(10, 3, "100.00")];
        let out = reconcile(&Settings::default(), &[], &entries, &[], &[], &covered(12));
        assert!(out.findings.is_empty());
        let out = reconcile(&Settings::default(), &[], &entries, &[], &[], &covered(14));
        assert_eq!(out.findings[0].rule, UNPAID_ENTRY);
        let out = reconcile(
            &Settings::default(),
            &[],
            &entries,
            &[],
            &[],
            &HashMap::new(),
        );
        assert!(
            out.findings.is_empty(),
            "no statement of the side: nothing to say"
        );
    }

    #[test]
    fn tolerance_and_required_references_are_settings() {
        let mut s = Settings {
            amount_tolerance: d("1.50"),
            ..Settings::default()
        };
        let out = reconcile(
            &s,
            &[line(1, 5, "-98.50", "")],
            &[payment(10, 3, "100.00")],
            &[],
            &[],
            &covered(8),
        );
        assert_eq!(out.matches.len(), 1);
        s.require_reference = true;
        let out = reconcile(
            &s,
            &[line(1, 5, "-100.00", "")],
            &[payment(10, 3, "100.00")],
            &[],
            &[],
            &covered(8),
        );
        assert_eq!(out.findings[0].rule, UNRECORDED_DEBIT);
        let changed = Settings::default()
            .with(serde_json::json!({"window_days": 20}).as_object().unwrap())
            .unwrap();
        assert_eq!(changed.window_days, 20);
        assert!(Settings::default()
            .with(serde_json::json!({"window": 20}).as_object().unwrap())
            .is_err());
        assert!(Settings::default()
            .with(serde_json::json!({"window_days": 0}).as_object().unwrap())
            .is_err());
    }

    fn usd(mut e: EntryFact) -> EntryFact {
        e.currency = "USD".to_owned();
        e
    }

    #[test]
    fn a_line_in_another_currency_than_its_entry_is_a_currency_mismatch_with_both_sides() {
        // By reference: the line names a USD payment on a side with only EUR accounts.
        let out = reconcile(
            &Settings::default(),
            &[line(1, 5, "-100.00", "FT-10")],
            &[],
            &[usd(payment(10, 3, "100.00"))],
            &[],
            &covered(31),
        );
        assert!(out.matches.is_empty());
        assert_eq!(out.findings.len(), 1, "{:?}", out.findings);
        let f = &out.findings[0];
        assert_eq!(
            (f.rule, f.seq, f.evidence.clone()),
            (CURRENCY_MISMATCH, 100, vec![10])
        );
        assert!(
            f.message.contains("100.00 EUR") && f.message.contains("100.00 USD"),
            "{}",
            f.message
        );

        // By amount at a recorded rate: 1 EUR = 1.10 USD, a 110.00 EUR debit for a
        // 121.00 USD payment; no rate, or another amount, is money with no entry.
        let rate = RateFact {
            seq: 7,
            base: "EUR".to_owned(),
            quote: "USD".to_owned(),
            date: day(2),
            rate: d("1.10"),
        };
        let out = reconcile(
            &Settings::default(),
            &[line(1, 5, "-110.00", "")],
            &[],
            &[usd(payment(10, 3, "121.00"))],
            std::slice::from_ref(&rate),
            &covered(31),
        );
        assert_eq!(out.findings.len(), 1, "{:?}", out.findings);
        let f = &out.findings[0];
        assert_eq!(
            (f.rule, f.evidence.clone()),
            (CURRENCY_MISMATCH, vec![10, 7])
        );
        assert!(
            f.message.contains("110.00 EUR")
                && f.message.contains("121.00 USD")
                && f.message.contains("1.10"),
            "{}",
            f.message
        );
        for (rates, amount) in [
            (&[][..], "-110.00"),
            (std::slice::from_ref(&rate), "-111.00"),
        ] {
            let out = reconcile(
                &Settings::default(),
                &[line(1, 5, amount, "")],
                &[],
                &[usd(payment(10, 3, "121.00"))],
                rates,
                &covered(31),
            );
            let rules: Vec<_> = out.findings.iter().map(|f| f.rule).collect();
            assert_eq!(rules, vec![UNRECORDED_DEBIT], "{amount}");
        }

        // A side with accounts in both currencies: the named EUR entry paid in USD.
        let out = reconcile(
            &Settings::default(),
            &[{
                let mut l = line(1, 5, "-100.00", "FT-10");
                l.currency = "USD".to_owned();
                l
            }],
            &[payment(10, 3, "100.00")],
            &[],
            &[],
            &covered(31),
        );
        let rules: Vec<_> = out.findings.iter().map(|f| f.rule).collect();
        assert_eq!(rules, vec![CURRENCY_MISMATCH], "{:?}", out.findings);
    }

    fn statement(seq: i64, from: u32, to: u32, opening: &str, closing: &str) -> StatementFact {
        StatementFact {
            seq,
            account: Uuid::nil(),
            name: "DE89".to_owned(),
            side: Side::Ministry(MIN),
            currency: "EUR".to_owned(),
            from: day(from),
            to: day(to),
            opening: d(opening),
            closing: d(closing),
        }
    }
    fn part(entry: i64, booked: u32, amount: &str) -> PartFact {
        PartFact {
            entry,
            account: Uuid::nil(),
            booked: day(booked),
            amount: d(amount),
        }
    }
    fn one_account() -> HashMap<(Side, String), usize> {
        HashMap::from([((Side::Ministry(MIN), "EUR".to_owned()), 1)])
    }

    #[test]
    fn a_closing_balance_is_checked_against_the_ledgers_with_entries_in_transit_excluded() {
        let settings = Settings::default();
        // 1,000 opening; payments of 100 (3rd, booked the 5th) and 50 (14th, booked on
        // the 16th, after the first statement's end): in transit at the 15th, not a
        // difference.
        let statements = [
            statement(100, 1, 15, "1000.00", "900.00"),
            statement(101, 16, 31, "900.00", "850.00"),
        ];
        let entries = [payment(10, 3, "100.00"), payment(11, 14, "50.00")];
        let parts = [part(10, 5, "100.00"), part(11, 16, "50.00")];
        let checks = balance_checks(&settings, &statements, &entries, &parts, &one_account());
        assert_eq!(checks.len(), 2);
        assert_eq!(
            (
                checks[0].ledger_balance,
                checks[0].in_transit,
                checks[0].difference
            ),
            (d("850.00"), d("-50.00"), d("0.00"))
        );
        assert_eq!(checks[1].difference, d("0.00"));
        assert!(balance_findings(&settings, &statements, &checks).is_empty());

        // 70.00 left the account with no entry in the second period (and a gap hides
        // nothing here): flagged once, at the statement where the difference arises.
        let statements = [
            statement(100, 1, 15, "1000.00", "900.00"),
            statement(101, 16, 25, "900.00", "780.00"),
            statement(102, 26, 31, "780.00", "780.00"),
        ];
        let checks = balance_checks(&settings, &statements, &entries, &parts, &one_account());
        let found = balance_findings(&settings, &statements, &checks);
        assert_eq!(found.len(), 1, "{found:?}");
        let f = &found[0];
        assert_eq!((f.rule, f.seq), (BALANCE_DIFFERS, 101));
        assert!(
            f.message.contains("780.00 EUR")
                && f.message.contains("850.00 EUR")
                && f.message.contains("-70.00 EUR"),
            "{}",
            f.message
        );

        // An account sharing its side and currency with another is not checked.
        let two = HashMap::from([((Side::Ministry(MIN), "EUR".to_owned()), 2)]);
        assert!(balance_checks(&settings, &statements, &entries, &parts, &two).is_empty());
    }
}
