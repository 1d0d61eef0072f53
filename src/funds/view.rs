//! How a typed entry is shown by the read APIs (the entries API, a contract's history, a
//! flag's evidence): its index row joined with its ledger entry.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::state::FundEntryRow;
use crate::error::{ApiError, ApiResult};
use crate::ledger::entry::Principal as LedgerPrincipal;
use crate::money::Currency;

#[derive(Debug, Serialize, ToSchema)]
pub struct Amount {
    pub value: String,
    pub currency: String,
}

/// A typed entry as the read API shows it: the ledger entry (with its hash, so anyone can
/// ask `/api/v1/chains/{fund}/entries/{seq}/proof` for it) and what the fund derived.
#[derive(Debug, Serialize, ToSchema)]
pub struct FundEntryView {
    pub seq: u64,
    pub kind: String,
    #[schema(value_type = String, format = Date)]
    pub business_date: NaiveDate,
    pub recorded_at: DateTime<Utc>,
    pub principal: LedgerPrincipal,
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    pub entry_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ministry: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub donor: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// As recorded (negated for a reversal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// In the fund's currency, at the business date's recorded rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_fund: Option<Amount>,
    /// The entry it refers to (allocation, tender, invoice, reversed entry, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refers_to: Option<u64>,
    /// Seq of the reversal that undid it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reversed_by: Option<u64>,
}

fn to_u64(v: i64) -> ApiResult<u64> {
    u64::try_from(v).map_err(|_| ApiError::Internal(anyhow::anyhow!("negative seq {v}")))
}

/// Joins index rows with their ledger entries, in order.
pub fn views(
    conn: &mut diesel::PgConnection,
    fund: Uuid,
    fund_currency: &str,
    rows: &[FundEntryRow],
) -> ApiResult<Vec<FundEntryView>> {
    let fund_ccy = Currency::parse(fund_currency).ok();
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    let ledger_rows = crate::ledger::store::entries_at(conn, fund, &seqs)
        .map_err(crate::ledger::service::LedgerError::from)?;
    let mut by_seq: std::collections::HashMap<i64, _> =
        ledger_rows.into_iter().map(|r| (r.seq, r)).collect();
    rows.iter()
        .map(|r| {
            let lr = by_seq.remove(&r.seq).ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("index row {} without entry", r.seq))
            })?;
            let entry = crate::ledger::Ledger::parse_entry(&lr)?;
            Ok(FundEntryView {
                seq: to_u64(r.seq)?,
                kind: r.kind.clone(),
                business_date: r.business_date,
                recorded_at: entry.recorded_at,
                principal: entry.principal,
                body: entry.body,
                entry_hash: crate::ledger::entry::hex(&lr.entry_hash),
                ministry: r.ministry_org_id,
                vendor: r.vendor_org_id,
                donor: r.donor_org_id,
                category: r.category.clone(),
                amount: r.amount.zip(r.currency.clone()).map(|(v, c)| Amount {
                    value: v.to_string(),
                    currency: c,
                }),
                amount_fund: r.amount_fund.map(|v| Amount {
                    value: fund_ccy.map_or_else(|| v.to_string(), |c| c.format(v)),
                    currency: fund_currency.to_owned(),
                }),
                refers_to: r.ref_seq.map(to_u64).transpose()?,
                reversed_by: r.reversed_by.map(to_u64).transpose()?,
            })
        })
        .collect()
}
