//! How an entry is shown by every read API (a chain's entries, a fund's entries, a
//! contract's history, a flag's evidence): one shape, the ledger entry as it was hashed
//! with its hashes, and — for an entry of a fund's chain — what the fund derived from it.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::state::{self, FundEntryRow};
use crate::auth::party::{self, Party};
use crate::error::{ApiError, ApiResult};
use crate::ledger::entry::Entry;
use crate::ledger::store::EntryRow;
use crate::money::Currency;

#[derive(Debug, Serialize, ToSchema)]
pub struct Amount {
    pub value: String,
    pub currency: String,
}

/// An entry as every read shows it (and as a receipt holds it): its seq, its
/// `entry_hash` and `prev_hash`, the ledger `entry` exactly as it was hashed (its
/// canonical bytes are computed from it, docs/ledger-format.md; prove it with
/// `/api/v1/chains/{chain}/entries/{seq}/proof`), and, for an entry of a fund's chain,
/// the parties, category and amounts the fund derived from it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub seq: u64,
    pub entry_hash: String,
    pub prev_hash: String,
    pub entry: Entry,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ministry: Option<Party>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<Party>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub donor: Option<Party>,
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
    /// A `contract` entry's contract id (for `GET /api/v1/contracts/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract_id: Option<Uuid>,
}

/// The id of the contract recorded by the `contract` entry `seq` of `fund`'s chain: a
/// UUID v5 in the fund's namespace (docs/domain.md).
pub fn contract_id(fund: Uuid, seq: u64) -> Uuid {
    Uuid::new_v5(&fund, seq.to_string().as_bytes())
}

fn to_u64(v: i64) -> ApiResult<u64> {
    u64::try_from(v).map_err(|_| ApiError::Internal(anyhow::anyhow!("negative seq {v}")))
}

impl EntryView {
    /// The ledger entry alone (an administrative or generic chain's).
    pub fn plain(row: &EntryRow) -> ApiResult<Self> {
        Ok(Self {
            seq: to_u64(row.seq)?,
            entry: crate::ledger::Ledger::parse_entry(row)?,
            entry_hash: crate::ledger::entry::hex(&row.entry_hash),
            prev_hash: crate::ledger::entry::hex(&row.prev_hash),
            ministry: None,
            vendor: None,
            donor: None,
            category: None,
            amount: None,
            amount_fund: None,
            refers_to: None,
            reversed_by: None,
            contract_id: None,
        })
    }

    /// Adds what the fund derived from the entry (its index row).
    fn derive(
        &mut self,
        r: &FundEntryRow,
        names: &HashMap<Uuid, String>,
        fund_currency: &str,
    ) -> ApiResult<()> {
        let fund_ccy = Currency::parse(fund_currency).ok();
        let named = |id: Option<Uuid>| id.map(|id| party::party(names, id));
        self.ministry = named(r.ministry_org_id);
        self.vendor = named(r.vendor_org_id);
        self.donor = named(r.donor_org_id);
        self.category = r.category.clone();
        self.amount = r.amount.zip(r.currency.clone()).map(|(v, c)| Amount {
            value: v.to_string(),
            currency: c,
        });
        self.amount_fund = r.amount_fund.map(|v| Amount {
            value: fund_ccy.map_or_else(|| v.to_string(), |c| c.format(v)),
            currency: fund_currency.to_owned(),
        });
        self.refers_to = r.ref_seq.map(to_u64).transpose()?;
        self.reversed_by = r.reversed_by.map(to_u64).transpose()?;
        if r.kind == "contract" {
            self.contract_id = Some(contract_id(r.fund_id, self.seq));
        }
        Ok(())
    }
}

fn party_ids(rows: &[FundEntryRow]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = rows
        .iter()
        .flat_map(|r| [r.ministry_org_id, r.vendor_org_id, r.donor_org_id])
        .flatten()
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Joins index rows with their ledger entries, in order.
pub fn views(
    conn: &mut diesel::PgConnection,
    fund: Uuid,
    fund_currency: &str,
    rows: &[FundEntryRow],
) -> ApiResult<Vec<EntryView>> {
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    let ledger_rows = crate::ledger::store::entries_at(conn, fund, &seqs)
        .map_err(crate::ledger::service::LedgerError::from)?;
    let mut by_seq: HashMap<i64, _> = ledger_rows.into_iter().map(|r| (r.seq, r)).collect();
    let names = party::names(conn, &party_ids(rows))?;
    rows.iter()
        .map(|r| {
            let lr = by_seq.remove(&r.seq).ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("index row {} without entry", r.seq))
            })?;
            let mut view = EntryView::plain(&lr)?;
            view.derive(r, &names, fund_currency)?;
            Ok(view)
        })
        .collect()
}

/// Adds what the fund derived to entries of a chain read as a ledger chain: nothing for
/// an administrative or generic chain, the index rows' parties and amounts for a fund's.
pub fn derive_all(
    conn: &mut diesel::PgConnection,
    chain: Uuid,
    views: &mut [EntryView],
) -> ApiResult<()> {
    if views.is_empty() {
        return Ok(());
    }
    let Some(fund) = super::store::fund(conn, chain)? else {
        return Ok(());
    };
    let seqs = views
        .iter()
        .map(|v| i64::try_from(v.entry.seq).map_err(ApiError::internal))
        .collect::<ApiResult<Vec<i64>>>()?;
    let rows = state::entries_at(conn, chain, &seqs)?;
    let names = party::names(conn, &party_ids(&rows))?;
    let by_seq: HashMap<i64, &FundEntryRow> = rows.iter().map(|r| (r.seq, r)).collect();
    for view in views.iter_mut() {
        let seq = i64::try_from(view.entry.seq).map_err(ApiError::internal)?;
        if let Some(r) = by_seq.get(&seq) {
            view.derive(r, &names, &fund.currency)?;
        }
    }
    Ok(())
}
