//! The ledger entries CSV (docs/exports.md, "Entries CSV"): one row per entry of the fund's
//! chain below the pinned size, in seq order. Pure: a row in, cells out; `CsvOut` makes
//! them RFC 4180 and formula-safe.

use uuid::Uuid;

use super::export_store::ExportRow;
use super::iati::{self, Party};
use crate::money::Currency;

pub const HEADER: [&str; 16] = [
    "seq",
    "kind",
    "business_date",
    "iati_transaction_type_code",
    "iati_transaction_type_name",
    "amount",
    "currency",
    "amount_fund",
    "fund_currency",
    "provider_org_id",
    "provider_org_name",
    "receiver_org_id",
    "receiver_org_name",
    "ocid",
    "refers_to",
    "entry_hash",
];

/// What every row shares.
#[derive(Debug, Clone)]
pub struct CsvCtx {
    pub fund: Uuid,
    pub fund_currency: String,
    pub secretariat: Uuid,
    pub ocid_prefix: String,
}

/// The organisation playing `party` in `row`.
pub fn party_org(row: &ExportRow, party: Option<Party>, secretariat: Uuid) -> Option<Uuid> {
    match party? {
        Party::Donor => row.donor_org_id,
        Party::Secretariat => Some(secretariat),
        Party::Ministry => row.ministry_org_id,
        Party::Vendor => row.vendor_org_id,
    }
}

/// The organisations a row names (to look their names up first).
pub fn row_orgs(row: &ExportRow, secretariat: Uuid) -> [Option<Uuid>; 2] {
    let (provider, receiver) = iati::flow(iati::effective_kind(&row.kind, row.ref_kind.as_deref()));
    [
        party_org(row, provider, secretariat),
        party_org(row, receiver, secretariat),
    ]
}

/// The cells of one row; `name` gives organisation names.
pub fn cells(ctx: &CsvCtx, row: &ExportRow, name: &dyn Fn(Uuid) -> String) -> [String; 16] {
    let effective = iati::effective_kind(&row.kind, row.ref_kind.as_deref());
    let (code, code_name) = iati::transaction_type(effective).unwrap_or(("", ""));
    let [provider, receiver] = row_orgs(row, ctx.secretariat);
    let fund_ccy = Currency::parse(&ctx.fund_currency).ok();
    let opt = |v: Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
    let nm = |v: Option<Uuid>| v.map(name).unwrap_or_default();
    [
        row.seq.to_string(),
        row.kind.clone(),
        row.business_date.to_string(),
        code.to_owned(),
        code_name.to_owned(),
        row.amount.map(|a| a.to_string()).unwrap_or_default(),
        row.currency.clone().unwrap_or_default(),
        row.amount_fund
            .map(|a| fund_ccy.map_or_else(|| a.to_string(), |c| c.format(a)))
            .unwrap_or_default(),
        if row.amount_fund.is_some() {
            ctx.fund_currency.clone()
        } else {
            String::new()
        },
        opt(provider),
        nm(provider),
        opt(receiver),
        nm(receiver),
        row.tender_seq
            .and_then(|t| u64::try_from(t).ok())
            .map(|t| super::ocds::ocid(&ctx.ocid_prefix, ctx.fund, t))
            .unwrap_or_default(),
        row.ref_seq.map(|r| r.to_string()).unwrap_or_default(),
        crate::ledger::entry::hex(&row.entry_hash),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use rust_decimal::Decimal;

    #[test]
    fn a_disbursement_reversal_keeps_the_code_and_parties_and_goes_negative() {
        let ctx = CsvCtx {
            fund: Uuid::from_u128(9),
            fund_currency: "EUR".to_owned(),
            secretariat: Uuid::from_u128(1),
            ocid_prefix: "ocds-abc123".to_owned(),
        };
        let row = ExportRow {
            seq: 12,
            kind: "reversal".to_owned(),
            business_date: NaiveDate::from_ymd_opt(2026, 5, 1).unwrap(),
            entry_hash: vec![0xab; 32],
            canonical: None,
            ministry_org_id: Some(Uuid::from_u128(3)),
            vendor_org_id: None,
            donor_org_id: None,
            currency: Some("EUR".to_owned()),
            amount: Some(Decimal::new(-25_000_000, 2)),
            amount_fund: Some(Decimal::new(-250_000, 0)),
            ref_seq: Some(3),
            tender_seq: None,
            ref_kind: Some("disbursement".to_owned()),
        };
        let c = cells(&ctx, &row, &|id| format!("n{}", id.as_u128()));
        assert_eq!(c[3], "3");
        assert_eq!(c[4], "Disbursement");
        assert_eq!(c[5], "-250000.00");
        assert_eq!(c[7], "-250000.00");
        assert_eq!(c[10], "n1");
        assert_eq!(c[12], "n3");
        assert_eq!(c[13], "");
        assert_eq!(c[14], "3");
        assert_eq!(c[15], "ab".repeat(32));
    }
}
