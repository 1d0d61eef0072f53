//! Bank statements that mirror a seeded fund's year, with known discrepancies injected
//! (docs/reconciliation.md, "Measured precision and recall").
//!
//! Every contribution, disbursement and payment the ledger expects on a side with an
//! account becomes a booked line of that account, 0 to 3 days after its business date,
//! naming its entry as `FT-<seq>` six times in ten (the others carry no reference and are
//! matched by amount and date). Lines are grouped into one camt.053.001.08 statement per
//! account and month, balances running from zero. Then, on the ministries' accounts, for
//! each case `per_case` times: a payment's line is left out (**unpaid**), a payment's line
//! is 10% larger and names it (**amount mismatch**), a debit with no entry is added
//! (**unrecorded debit**). The truth says which flag each injection must raise.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::bank::matching::{EntryFact, Side};
use crate::bank::statement::{Line, StatementBody};

/// What one injection must raise: the rule, and the entry the flag is about (unpaid,
/// amount mismatch) or the statement line (unrecorded debit, filled in once recorded).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Injected {
    pub rule: String,
    pub account: Uuid,
    /// The payment, for an unpaid payment or an amount mismatch.
    pub entry: Option<i64>,
    /// The statement (its id) and line (from 1) of an injected debit.
    pub statement_id: Option<String>,
    pub line: Option<i32>,
    /// What the bank shows (the injected debit, the larger amount), or the unpaid amount.
    pub amount: String,
}

/// The statements of one account, in month order, and the injections.
#[derive(Debug, Clone)]
pub struct Generated {
    pub statements: BTreeMap<Uuid, Vec<StatementBody>>,
    pub injected: Vec<Injected>,
}

fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

fn month_end(d: NaiveDate) -> NaiveDate {
    let next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    };
    next.map_or(d, |n| n - Duration::days(1))
}

/// Generates the statements of `accounts` (side → (account id, currency)) from the
/// entries the ledger expects on them. Deterministic for a `seed`.
pub fn generate(
    entries: &[EntryFact],
    accounts: &BTreeMap<Side, (Uuid, String)>,
    seed: u64,
    per_case: u32,
) -> Generated {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut lines: BTreeMap<Uuid, Vec<Line>> = BTreeMap::new();
    let mut injected = Vec::new();
    let last = entries.iter().map(|e| e.date).max();
    // Payments that may carry an injection: on a ministry's account, 30 days or more
    // before the year's end (so the statements reach past their window).
    let mut candidates: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e.kind == "payment"
                && matches!(e.side, Side::Ministry(_))
                && last.is_some_and(|l| e.date + Duration::days(30) < l)
        })
        .map(|(i, _)| i)
        .collect();
    let mut pick = |rng: &mut StdRng| -> Option<usize> {
        if candidates.is_empty() {
            return None;
        }
        let i = rng.gen_range(0..candidates.len());
        Some(candidates.swap_remove(i))
    };
    let mut unpaid = std::collections::HashSet::new();
    let mut larger = std::collections::HashSet::new();
    for _ in 0..per_case {
        if let Some(i) = pick(&mut rng) {
            unpaid.insert(i);
        }
        if let Some(i) = pick(&mut rng) {
            larger.insert(i);
        }
    }
    for (i, e) in entries.iter().enumerate() {
        let Some((account, currency)) = accounts.get(&e.side) else {
            continue;
        };
        if &e.currency != currency {
            continue;
        }
        let lag = rng.gen_range(0..=3);
        let with_reference = rng.gen_bool(0.6);
        if unpaid.contains(&i) {
            injected.push(Injected {
                rule: crate::bank::matching::UNPAID_ENTRY.to_owned(),
                account: *account,
                entry: Some(e.seq),
                statement_id: None,
                line: None,
                amount: e.amount.abs().to_string(),
            });
            continue;
        }
        let mut amount = e.amount;
        let mut reference = if with_reference {
            format!("FT-{}", e.seq)
        } else {
            String::new()
        };
        if larger.contains(&i) {
            amount = (e.amount * Decimal::new(11, 1)).round_dp(2);
            reference = format!("FT-{}", e.seq);
            injected.push(Injected {
                rule: crate::bank::matching::AMOUNT_MISMATCH.to_owned(),
                account: *account,
                entry: Some(e.seq),
                statement_id: None,
                line: None,
                amount: amount.abs().to_string(),
            });
        }
        lines.entry(*account).or_default().push(Line {
            booking_date: e.date + Duration::days(lag),
            amount,
            currency: currency.clone(),
            reference,
            counterparty: format!("{} counterparty", e.kind),
        });
    }
    // Debits with no entry, on the ministries' accounts, before the year's last month.
    let ministry_accounts: Vec<(Uuid, String)> = accounts
        .iter()
        .filter(|(s, _)| matches!(s, Side::Ministry(_)))
        .map(|(_, a)| a.clone())
        .collect();
    let first = entries.iter().map(|e| e.date).min();
    if let (Some(first), Some(last)) = (first, last) {
        let span = (last - first).num_days() - 30;
        for n in 0..per_case {
            if ministry_accounts.is_empty() || span <= 0 {
                break;
            }
            let (account, currency) = ministry_accounts
                .get(rng.gen_range(0..ministry_accounts.len()))
                .cloned()
                .unwrap_or_default();
            let date = first + Duration::days(rng.gen_range(0..span));
            let cents: i64 = rng.gen_range(100_000..2_000_000);
            let amount = Decimal::new(cents, 2) + Decimal::new(37, 2);
            lines.entry(account).or_default().push(Line {
                booking_date: date,
                amount: -amount,
                currency,
                reference: format!("Cash withdrawal {n}"),
                counterparty: "Unknown".to_owned(),
            });
            injected.push(Injected {
                rule: crate::bank::matching::UNRECORDED_DEBIT.to_owned(),
                account,
                entry: None,
                statement_id: None,
                line: None,
                amount: amount.to_string(),
            });
        }
    }
    let mut statements = BTreeMap::new();
    for (account, mut ls) in lines {
        ls.sort_by_key(|l| l.booking_date);
        let currency = ls.first().map(|l| l.currency.clone()).unwrap_or_default();
        let mut by_month: BTreeMap<NaiveDate, Vec<Line>> = BTreeMap::new();
        for l in ls {
            by_month
                .entry(month_start(l.booking_date))
                .or_default()
                .push(l);
        }
        let mut balance = Decimal::ZERO;
        let mut out = Vec::new();
        for (start, ls) in by_month {
            let opening = balance;
            balance += ls.iter().map(|l| l.amount).sum::<Decimal>();
            let statement_id = format!(
                "{}-{}",
                account.simple().to_string().get(..8).unwrap_or_default(),
                start.format("%Y-%m")
            );
            for (i, l) in ls.iter().enumerate() {
                if l.counterparty == "Unknown" {
                    if let Some(inj) = injected.iter_mut().find(|j| {
                        j.rule == crate::bank::matching::UNRECORDED_DEBIT
                            && j.account == account
                            && j.statement_id.is_none()
                            && j.amount == (-l.amount).to_string()
                    }) {
                        inj.statement_id = Some(statement_id.clone());
                        inj.line = i32::try_from(i + 1).ok();
                    }
                }
            }
            out.push(StatementBody {
                account,
                format: "camt.053.001.08".to_owned(),
                statement_id,
                from: start,
                to: month_end(start),
                currency: currency.clone(),
                opening,
                closing: balance,
                lines: ls,
            });
        }
        statements.insert(account, out);
    }
    Generated {
        statements,
        injected,
    }
}

fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// A statement as a camt.053.001.08 document, as a bank would send it.
pub fn camt053(s: &StatementBody, iban: &str) -> String {
    let bal = |code: &str, v: Decimal, date: NaiveDate| {
        let ind = if v < Decimal::ZERO { "DBIT" } else { "CRDT" };
        format!(
            "<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"{c}\">{a}</Amt>\
             <CdtDbtInd>{ind}</CdtDbtInd><Dt><Dt>{date}</Dt></Dt></Bal>",
            c = s.currency,
            a = v.abs()
        )
    };
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt>\
         <GrpHdr><MsgId>{id}</MsgId><CreDtTm>{to}T20:00:00</CreDtTm></GrpHdr>\
         <Stmt><Id>{id}</Id><CreDtTm>{to}T20:00:00</CreDtTm>\
         <FrToDt><FrDtTm>{from}T00:00:00</FrDtTm><ToDtTm>{to}T23:59:59</ToDtTm></FrToDt>\
         <Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>{c}</Ccy></Acct>{open}{close}",
        id = escape(&s.statement_id),
        from = s.from,
        to = s.to,
        iban = escape(iban),
        c = s.currency,
        open = bal("OPBD", s.opening, s.from),
        close = bal("CLBD", s.closing, s.to),
    );
    for l in &s.lines {
        let ind = if l.amount < Decimal::ZERO {
            "DBIT"
        } else {
            "CRDT"
        };
        let role = if l.amount < Decimal::ZERO {
            "Cdtr"
        } else {
            "Dbtr"
        };
        let rmt = if l.reference.is_empty() {
            String::new()
        } else {
            format!("<RmtInf><Ustrd>{}</Ustrd></RmtInf>", escape(&l.reference))
        };
        out.push_str(&format!(
            "<Ntry><Amt Ccy=\"{c}\">{a}</Amt><CdtDbtInd>{ind}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>\
             <BookgDt><Dt>{d}</Dt></BookgDt><ValDt><Dt>{d}</Dt></ValDt>\
             <BkTxCd><Prtry><Cd>TRF</Cd></Prtry></BkTxCd><NtryDtls><TxDtls>\
             <Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>\
             <RltdPties><{role}><Pty><Nm>{p}</Nm></Pty></{role}></RltdPties>{rmt}</TxDtls></NtryDtls></Ntry>",
            c = l.currency,
            a = l.amount.abs(),
            d = l.booking_date,
            p = escape(&l.counterparty),
        ));
    }
    out.push_str("</Stmt></BkToCstmrStmt></Document>\n");
    out
}

/// The side's IBAN-like account identifier in generated statements.
pub fn account_name(side: Side) -> String {
    match side {
        Side::Secretariat => "XX00FUND0000000001".to_owned(),
        Side::Ministry(m) => format!(
            "XX00MIN{}",
            &m.simple()
                .to_string()
                .get(..11)
                .unwrap_or("0")
                .to_uppercase()
        ),
    }
}
