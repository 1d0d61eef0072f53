//! Screening inside the append transaction: gather each new entry's facts (after the
//! job's derived state is written, so the job's own earlier entries count), run the rules,
//! insert the flags. Same transaction as the entry: a flag exists exactly when its entry
//! is committed; a retried append replays without re-running effects, and (fund, rule,
//! seq) is unique, so no flag is raised twice.

use std::collections::HashMap;

use chrono::Duration;
use diesel::PgConnection;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::rules::{self, BidFact, ContractFact, Facts, Prior, TenderFact, Thresholds};
use super::store::{self, FlagRow};
use crate::funds::apply::FundCtx;
use crate::funds::kinds::FundEntry;
use crate::funds::state;
use crate::ledger::entry::Entry;

/// The id of the flag `rule` raised by entry `seq` of `fund`.
pub fn flag_id(fund: Uuid, rule: &str, seq: u64) -> Uuid {
    Uuid::new_v5(&fund, format!("{rule}/{seq}").as_bytes())
}

/// Organisation names, looked up once per job.
struct Names<'a> {
    cache: HashMap<Uuid, String>,
    conn: &'a mut PgConnection,
}

impl Names<'_> {
    fn of(&mut self, org: Option<Uuid>) -> diesel::QueryResult<Option<String>> {
        let Some(org) = org else { return Ok(None) };
        if let Some(n) = self.cache.get(&org) {
            return Ok(Some(n.clone()));
        }
        let name = store::org_name(self.conn, org)?.unwrap_or_else(|| org.to_string());
        self.cache.insert(org, name.clone());
        Ok(Some(name))
    }
}

/// Screens the job's new entries and records their flags.
pub fn raise(
    conn: &mut PgConnection,
    ctx: &FundCtx,
    entries: &[Entry],
    typed: &[FundEntry],
    thresholds: &Thresholds,
) -> diesel::QueryResult<usize> {
    let mut names = Names {
        cache: HashMap::new(),
        conn,
    };
    let mut rows = Vec::new();
    for (entry, typed) in entries.iter().zip(typed) {
        let Some(facts) = facts(&mut names, ctx, entry, typed, thresholds)? else {
            continue;
        };
        let (ministry, vendor) = facts.1;
        for finding in rules::screen(&facts.0, thresholds) {
            rows.push(FlagRow {
                id: flag_id(ctx.fund, finding.rule, entry.seq),
                fund_id: ctx.fund,
                rule: finding.rule.to_owned(),
                severity: finding.severity.as_str().to_owned(),
                seq: facts.0.seq.try_into().unwrap_or(i64::MAX),
                evidence: finding
                    .evidence
                    .iter()
                    .map(|s| i64::try_from(*s).ok())
                    .collect(),
                ministry_org_id: ministry,
                vendor_org_id: vendor,
                message: finding.message,
                business_date: entry.business_date,
                raised_at: entry.recorded_at,
                status: "open".to_owned(),
            });
        }
    }
    let n = rows.len();
    store::insert_flags(names.conn, &rows)?;
    Ok(n)
}

type Parties = (Option<Uuid>, Option<Uuid>);

/// The facts of one entry; `None` for entries no rule looks at.
fn facts(
    names: &mut Names<'_>,
    ctx: &FundCtx,
    entry: &Entry,
    typed: &FundEntry,
    t: &Thresholds,
) -> diesel::QueryResult<Option<(Facts, Parties)>> {
    let fund = ctx.fund;
    let Ok(seq) = i64::try_from(entry.seq) else {
        return Ok(None);
    };
    let Some(row) = state::entry(names.conn, fund, seq)? else {
        return Ok(None);
    };
    if matches!(
        typed,
        FundEntry::Pledge(_) | FundEntry::FxRate(_) | FundEntry::Reversal(_)
    ) {
        return Ok(None);
    }
    let mut f = Facts {
        seq: entry.seq,
        kind: entry.kind.clone(),
        business_date: entry.business_date,
        recorded_at: entry.recorded_at,
        amount: row.amount_fund,
        currency: ctx.currency.code().to_owned(),
        vendor: names.of(row.vendor_org_id)?,
        ministry: names.of(row.ministry_org_id)?,
        deadline: None,
        invoice_number: None,
        direct_purchase: false,
        tender: None,
        contract: None,
        priors: Vec::new(),
    };
    if let Some(tender_seq) = row.tender_seq {
        if matches!(
            typed,
            FundEntry::Tender(_) | FundEntry::Bid(_) | FundEntry::Award(_)
        ) {
            let method = store::tender_method(names.conn, fund, tender_seq)?.unwrap_or_default();
            let mut estimate = Decimal::ZERO;
            let mut published = entry.business_date;
            let mut bids = Vec::new();
            for (s, kind, date, vendor, amount) in
                store::tender_entries(names.conn, fund, tender_seq, &["tender", "bid"])?
            {
                if kind == "tender" {
                    estimate = amount.unwrap_or_default();
                    published = date;
                } else {
                    bids.push(BidFact {
                        seq: u64::try_from(s).unwrap_or_default(),
                        vendor: names.of(vendor)?.unwrap_or_default(),
                        amount: amount.unwrap_or_default(),
                    });
                }
            }
            f.tender = Some(TenderFact {
                seq: u64::try_from(tender_seq).unwrap_or_default(),
                method,
                estimate,
                published,
                bids,
            });
        }
    }
    match typed {
        FundEntry::Tender(t) => f.deadline = Some(t.deadline),
        FundEntry::ContractAmendment(_) => {
            if let Some(c) = row.ref_seq {
                if let Some((original, value, amendments, currency)) =
                    store::contract_values(names.conn, fund, c)?
                {
                    f.currency = currency;
                    f.contract = Some(ContractFact {
                        seq: u64::try_from(c).unwrap_or_default(),
                        original,
                        value,
                        amendments,
                    });
                }
            }
        }
        FundEntry::Invoice(i) => {
            f.invoice_number = Some(i.invoice_number.clone());
            f.priors = store::prior_invoices(names.conn, fund, i.vendor, &i.invoice_number, seq)?
                .into_iter()
                .map(|(s, amount)| Prior {
                    seq: u64::try_from(s).unwrap_or_default(),
                    date: entry.business_date,
                    amount,
                    invoice_number: Some(i.invoice_number.clone()),
                })
                .collect();
        }
        FundEntry::Payment(p) => {
            f.direct_purchase = p.invoice.is_none();
            if let (Some(m), Some(v)) = (row.ministry_org_id, row.vendor_org_id) {
                let since = entry.business_date - Duration::days(t.window_days);
                f.priors = store::prior_payments(names.conn, fund, m, v, seq, since)?
                    .into_iter()
                    .map(|(s, date, amount)| Prior {
                        seq: u64::try_from(s).unwrap_or_default(),
                        date,
                        amount: amount.unwrap_or_default(),
                        invoice_number: None,
                    })
                    .collect();
            }
        }
        _ => {}
    }
    Ok(Some((f, (row.ministry_org_id, row.vendor_org_id))))
}
