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
pub const BALANCE_DIFFERS: &str = "bank-balance-differs";
/// Every rule reconciliation raises.
pub const RULES: [&str; 5] = [
    UNRECORDED_DEBIT,
    UNRECORDED_CREDIT,
    UNPAID_ENTRY,
    AMOUNT_MISMATCH,
    BALANCE_DIFFERS,
];

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
pub fn reconcile(
    settings: &Settings,
    lines: &[LineFact],
    entries: &[EntryFact],
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
                let what = if currency_ok { "amount" } else { "currency" };
                out.findings.push(Finding {
                    rule: AMOUNT_MISMATCH,
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
            None => out.findings.push(unrecorded(l)),
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
        let out = reconcile(&Settings::default(), &[], &entries, &covered(12));
        assert!(out.findings.is_empty());
        let out = reconcile(&Settings::default(), &[], &entries, &covered(14));
        assert_eq!(out.findings[0].rule, UNPAID_ENTRY);
        let out = reconcile(&Settings::default(), &[], &entries, &HashMap::new());
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
            &covered(8),
        );
        assert_eq!(out.matches.len(), 1);
        s.require_reference = true;
        let out = reconcile(
            &s,
            &[line(1, 5, "-100.00", "")],
            &[payment(10, 3, "100.00")],
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
}
