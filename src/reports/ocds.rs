//! OCDS 1.1 release package (docs/exports.md, "OCDS"): one contracting process per
//! tender, published as one compiled release. Pure: `Process` folds a tender's entries
//! (tender, bids, award, contracts, amendments, invoices, payments, reversals) in chain
//! order into the state they give at the pinned checkpoint; `Process::release` renders it.
//!
//! Amounts are written as JSON numbers with the exact decimal digits recorded (through
//! `RawValue`), never through floats.

use std::collections::HashMap;

use chrono::{NaiveDate, SecondsFormat};
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::export_store::ExportRow;
use super::pin::PinnedCheckpoint;
use crate::entries::kinds::{FundEntry, Method};

/// The bid extension (bids are not in the core schema); declared in the package.
pub const BID_EXTENSION: &str =
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/v1.1.5/extension.json";

/// `{prefix}-{fund}-{tender seq}`: unique per tender, stable for ever.
pub fn ocid(prefix: &str, fund: Uuid, tender_seq: u64) -> String {
    format!("{prefix}-{fund}-{tender_seq}")
}

/// OCDS procurementMethod (closed codelist `method`) of a tender method.
pub fn procurement_method(m: Method) -> &'static str {
    match m {
        Method::Open => "open",
        Method::Restricted => "selective",
        Method::RequestForQuotation => "limited",
        Method::Direct => "direct",
    }
}

/// A date as an OCDS date-time (business dates have no time: midnight UTC).
fn date_time(d: NaiveDate) -> String {
    format!("{d}T00:00:00Z")
}

/// An exact decimal written as a JSON number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number(pub Decimal);

impl Serialize for Number {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = serde_json::value::RawValue::from_string(self.0.to_string())
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Value {
    pub amount: Number,
    pub currency: String,
}

impl Value {
    fn of(amount: Decimal, currency: &str) -> Self {
        Self {
            amount: Number(amount),
            currency: currency.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OrgRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Party {
    pub id: String,
    pub name: String,
    pub roles: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Period {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    pub id: String,
    pub description: String,
    pub project: String,
    #[serde(rename = "projectID")]
    pub project_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Planning {
    pub budget: Budget,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenderOut {
    pub id: String,
    pub title: String,
    pub status: &'static str,
    pub procuring_entity: OrgRef,
    pub value: Value,
    pub procurement_method: &'static str,
    pub procurement_method_details: &'static str,
    pub tender_period: Period,
    pub number_of_tenderers: u64,
    pub tenderers: Vec<OrgRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BidOut {
    pub id: String,
    pub date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    pub tenderers: Vec<OrgRef>,
    pub value: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bids {
    pub details: Vec<BidOut>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AwardOut {
    pub id: String,
    pub status: &'static str,
    pub date: String,
    pub value: Value,
    pub suppliers: Vec<OrgRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AmendmentOut {
    pub id: String,
    pub date: String,
    pub rationale: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransactionOut {
    pub id: String,
    pub date: String,
    pub value: Value,
    pub payer: OrgRef,
    pub payee: OrgRef,
}

#[derive(Debug, Clone, Serialize)]
pub struct Implementation {
    pub transactions: Vec<TransactionOut>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractOut {
    pub id: String,
    #[serde(rename = "awardID")]
    pub award_id: String,
    pub status: &'static str,
    pub date_signed: String,
    pub period: Period,
    pub value: Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub amendments: Vec<AmendmentOut>,
    pub implementation: Implementation,
}

/// One compiled release.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub ocid: String,
    pub id: String,
    pub date: String,
    pub tag: [&'static str; 1],
    pub initiation_type: &'static str,
    pub language: &'static str,
    pub parties: Vec<Party>,
    pub buyer: OrgRef,
    pub planning: Planning,
    pub tender: TenderOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bids: Option<Bids>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub awards: Vec<AwardOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contracts: Vec<ContractOut>,
}

/// What every release of the export shares.
#[derive(Debug, Clone)]
pub struct FundInfo {
    pub fund: Uuid,
    pub name: String,
    pub ocid_prefix: String,
}

#[derive(Debug, Clone)]
struct TenderState {
    date: NaiveDate,
    title: String,
    method: Method,
    estimate: (Decimal, String),
    deadline: NaiveDate,
    cancelled: bool,
    /// The publisher's ocid of an imported tender.
    ocid: Option<String>,
}

#[derive(Debug, Clone)]
struct BidState {
    seq: u64,
    /// The publisher's id of an imported bid (else the seq is the id).
    id: Option<String>,
    date: NaiveDate,
    vendor: Uuid,
    value: (Decimal, String),
    withdrawn: bool,
    /// Seq of the standing `bid_disqualified` entry that ruled it out.
    disqualified: Option<u64>,
}

#[derive(Debug, Clone)]
struct AwardState {
    seq: u64,
    id: Option<String>,
    date: NaiveDate,
    vendor: Uuid,
    value: (Decimal, String),
    cancelled: bool,
}

#[derive(Debug, Clone)]
struct AmendmentState {
    seq: u64,
    id: Option<String>,
    date: NaiveDate,
    reason: String,
    changes: String,
    /// What it replaced, restored when it is reversed.
    old: (Decimal, NaiveDate, NaiveDate),
    reversed: Option<(u64, NaiveDate)>,
}

#[derive(Debug, Clone)]
struct ContractState {
    seq: u64,
    id: Option<String>,
    award: u64,
    vendor: Uuid,
    signed: NaiveDate,
    value: Decimal,
    currency: String,
    starts: NaiveDate,
    ends: NaiveDate,
    cancelled: bool,
    amendments: Vec<AmendmentState>,
    /// Payments and payment reversals: (seq, date, amount, currency).
    transactions: Vec<(u64, NaiveDate, Decimal, String)>,
    /// The publisher's transaction ids of imported payments, by payment seq.
    transaction_ids: HashMap<u64, String>,
}

/// A tender's entries folded in chain order.
#[derive(Debug, Clone)]
pub struct Process {
    tender_seq: u64,
    ministry: Option<Uuid>,
    tender: Option<TenderState>,
    bids: Vec<BidState>,
    awards: Vec<AwardState>,
    contracts: Vec<ContractState>,
    /// Invoice seq -> contract seq; payment seq -> contract seq.
    invoice_contract: HashMap<u64, u64>,
    payment_contract: HashMap<u64, u64>,
    last_seq: u64,
    last_date: Option<NaiveDate>,
    entries: u64,
}

/// A row that does not fold (a corrupt or inconsistent body): the export stops.
#[derive(Debug, thiserror::Error)]
#[error("OCDS export, entry {seq}: {detail}")]
pub struct FoldError {
    pub seq: u64,
    pub detail: String,
}

fn seq_u64(v: i64, seq: u64) -> Result<u64, FoldError> {
    u64::try_from(v).map_err(|_| FoldError {
        seq,
        detail: format!("negative seq {v}"),
    })
}

/// The typed body of a row's canonical entry. Parsed straight from the canonical text
/// (the body borrowed raw, then the typed kind read from it) without building a
/// `serde_json::Value` first: this is most of the OCDS export's CPU time.
pub fn parse_body(row: &ExportRow) -> Result<FundEntry, FoldError> {
    #[derive(serde::Deserialize)]
    struct BodyOnly<'a> {
        #[serde(borrow)]
        body: &'a serde_json::value::RawValue,
    }
    let seq = u64::try_from(row.seq).unwrap_or(0);
    let fail = |detail: String| FoldError { seq, detail };
    let canonical = row
        .canonical
        .as_deref()
        .ok_or_else(|| fail("no body".to_owned()))?;
    let entry: BodyOnly<'_> = serde_json::from_str(canonical).map_err(|e| fail(e.to_string()))?;
    let kind = serde_json::to_string(&row.kind).map_err(|e| fail(e.to_string()))?;
    let tagged = format!("{{\"kind\":{kind},\"body\":{}}}", entry.body.get());
    serde_json::from_str(&tagged).map_err(|e| fail(format!("{}: {e}", row.kind)))
}

impl Process {
    pub fn new(tender_seq: u64) -> Self {
        Self {
            tender_seq,
            ministry: None,
            tender: None,
            bids: Vec::new(),
            awards: Vec::new(),
            contracts: Vec::new(),
            invoice_contract: HashMap::new(),
            payment_contract: HashMap::new(),
            last_seq: tender_seq,
            last_date: None,
            entries: 0,
        }
    }

    pub fn tender_seq(&self) -> u64 {
        self.tender_seq
    }

    /// Entries folded so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Organisations the release names (to look their names up first).
    pub fn orgs(&self) -> Vec<Uuid> {
        let mut out: Vec<Uuid> = self.ministry.into_iter().collect();
        out.extend(self.bids.iter().map(|b| b.vendor));
        out.extend(self.awards.iter().map(|a| a.vendor));
        out.extend(self.contracts.iter().map(|c| c.vendor));
        out
    }

    fn contract_mut(&mut self, seq: u64, at: u64) -> Result<&mut ContractState, FoldError> {
        self.contracts
            .iter_mut()
            .find(|c| c.seq == seq)
            .ok_or_else(|| FoldError {
                seq: at,
                detail: format!("contract {seq} is not in tender {}", self.tender_seq),
            })
    }

    /// Folds the next entry of this tender (rows come in seq order).
    pub fn fold(&mut self, row: &ExportRow) -> Result<(), FoldError> {
        let seq = seq_u64(row.seq, 0)?;
        self.entries += 1;
        self.last_seq = self.last_seq.max(seq);
        self.last_date = Some(
            self.last_date
                .map_or(row.business_date, |d| d.max(row.business_date)),
        );
        let date = row.business_date;
        if row.kind == "reversal" {
            return self.fold_reversal(row, seq);
        }
        match parse_body(row)? {
            FundEntry::Tender(t) => {
                self.ministry = Some(t.ministry);
                self.tender = Some(TenderState {
                    date,
                    title: t.title,
                    method: t.method,
                    estimate: (
                        t.estimated_value.value,
                        t.estimated_value.currency.to_string(),
                    ),
                    deadline: t.deadline,
                    cancelled: false,
                    ocid: t.imported.map(|i| i.ocid),
                });
            }
            FundEntry::Bid(b) => self.bids.push(BidState {
                seq,
                id: b.imported.and_then(|i| i.id),
                date,
                vendor: b.vendor,
                value: (b.amount.value, b.amount.currency.to_string()),
                withdrawn: false,
                disqualified: None,
            }),
            FundEntry::BidDisqualified(d) => {
                if let Some(b) = self.bids.iter_mut().find(|b| b.seq == d.bid) {
                    b.disqualified = Some(seq);
                }
            }
            FundEntry::Award(a) => self.awards.push(AwardState {
                seq,
                id: a.imported.and_then(|i| i.id),
                date,
                vendor: a.vendor,
                value: (a.amount.value, a.amount.currency.to_string()),
                cancelled: false,
            }),
            FundEntry::Contract(c) => {
                let vendor = row.vendor_org_id.ok_or_else(|| FoldError {
                    seq,
                    detail: "contract without vendor".to_owned(),
                })?;
                self.contracts.push(ContractState {
                    seq,
                    id: c.imported.and_then(|i| i.id),
                    award: c.award,
                    vendor,
                    signed: date,
                    value: c.value.value,
                    currency: c.value.currency.to_string(),
                    starts: c.starts_on,
                    ends: c.ends_on,
                    cancelled: false,
                    amendments: Vec::new(),
                    transactions: Vec::new(),
                    transaction_ids: HashMap::new(),
                });
            }
            FundEntry::ContractAmendment(a) => {
                let c = self.contract_mut(a.contract, seq)?;
                let old = (c.value, c.starts, c.ends);
                let mut changes = Vec::new();
                if let Some(v) = &a.new_value {
                    changes.push(format!("value {} -> {} {}", c.value, v.value, c.currency));
                    c.value = v.value;
                }
                if let Some(d) = a.new_starts_on {
                    changes.push(format!("start {} -> {d}", c.starts));
                    c.starts = d;
                }
                if let Some(d) = a.new_ends_on {
                    changes.push(format!("end {} -> {d}", c.ends));
                    c.ends = d;
                }
                c.amendments.push(AmendmentState {
                    seq,
                    id: a.imported.and_then(|i| i.id),
                    date,
                    reason: a.reason,
                    changes: changes.join("; "),
                    old,
                    reversed: None,
                });
            }
            FundEntry::Invoice(i) => {
                self.invoice_contract.insert(seq, i.contract);
            }
            FundEntry::Payment(p) => {
                let invoice = p.invoice.ok_or_else(|| FoldError {
                    seq,
                    detail: "a payment in a tender without an invoice".to_owned(),
                })?;
                let contract = *self
                    .invoice_contract
                    .get(&invoice)
                    .ok_or_else(|| FoldError {
                        seq,
                        detail: format!("invoice {invoice} is not in tender {}", self.tender_seq),
                    })?;
                self.payment_contract.insert(seq, contract);
                let c = self.contract_mut(contract, seq)?;
                if let Some(id) = p.imported.and_then(|i| i.id) {
                    c.transaction_ids.insert(seq, id);
                }
                c.transactions.push((
                    seq,
                    date,
                    p.amount.value,
                    p.amount.currency.code().to_owned(),
                ));
            }
            // Approvals change nothing the release shows; other kinds never carry a
            // tender.
            _ => {}
        }
        Ok(())
    }

    fn fold_reversal(&mut self, row: &ExportRow, seq: u64) -> Result<(), FoldError> {
        let target = seq_u64(
            row.ref_seq.ok_or_else(|| FoldError {
                seq,
                detail: "reversal without reference".to_owned(),
            })?,
            seq,
        )?;
        let date = row.business_date;
        match row.ref_kind.as_deref() {
            Some("tender") => {
                if let Some(t) = self.tender.as_mut() {
                    t.cancelled = true;
                }
            }
            Some("bid") => {
                if let Some(b) = self.bids.iter_mut().find(|b| b.seq == target) {
                    b.withdrawn = true;
                }
            }
            Some("bid_disqualified") => {
                if let Some(b) = self
                    .bids
                    .iter_mut()
                    .find(|b| b.disqualified == Some(target))
                {
                    b.disqualified = None;
                }
            }
            Some("award") => {
                if let Some(a) = self.awards.iter_mut().find(|a| a.seq == target) {
                    a.cancelled = true;
                }
            }
            Some("contract") => {
                if let Some(c) = self.contracts.iter_mut().find(|c| c.seq == target) {
                    c.cancelled = true;
                }
            }
            Some("contract_amendment") => {
                for c in &mut self.contracts {
                    if let Some(a) = c.amendments.iter_mut().find(|a| a.seq == target) {
                        a.reversed = Some((seq, date));
                        // Only the latest standing amendment can be reversed
                        // (docs/domain.md), so restoring what it replaced is exact.
                        (c.value, c.starts, c.ends) = a.old;
                    }
                }
            }
            Some("payment") => {
                let contract = *self
                    .payment_contract
                    .get(&target)
                    .ok_or_else(|| FoldError {
                        seq,
                        detail: format!("payment {target} is not in tender {}", self.tender_seq),
                    })?;
                let (amount, currency) =
                    row.amount
                        .zip(row.currency.clone())
                        .ok_or_else(|| FoldError {
                            seq,
                            detail: "payment reversal without amount".to_owned(),
                        })?;
                let c = self.contract_mut(contract, seq)?;
                c.transactions.push((seq, date, amount, currency));
            }
            // An invoice reversal changes nothing the release shows.
            _ => {}
        }
        Ok(())
    }

    /// The compiled release. `name` gives organisation names (looked up beforehand).
    pub fn release(
        &self,
        info: &FundInfo,
        name: &dyn Fn(Uuid) -> String,
    ) -> Result<Release, FoldError> {
        let tender = self.tender.as_ref().ok_or_else(|| FoldError {
            seq: self.tender_seq,
            detail: "tender entries without their tender".to_owned(),
        })?;
        let ministry = self.ministry.ok_or_else(|| FoldError {
            seq: self.tender_seq,
            detail: "tender without ministry".to_owned(),
        })?;
        let r = |id: Uuid| OrgRef {
            id: id.to_string(),
            name: name(id),
        };
        // An imported process keeps the publisher's ocid: import, export and import
        // again finds the same process.
        let ocid = tender
            .ocid
            .clone()
            .unwrap_or_else(|| ocid(&info.ocid_prefix, info.fund, self.tender_seq));

        // Parties: the buyer, then vendors in order of first appearance, then the fund.
        let paid = self.contracts.iter().any(|c| !c.transactions.is_empty());
        let mut buyer_roles = vec!["buyer", "procuringEntity"];
        if paid {
            buyer_roles.push("payer");
        }
        let mut parties = vec![Party {
            id: ministry.to_string(),
            name: name(ministry),
            roles: buyer_roles,
        }];
        let mut vendor_roles: Vec<(Uuid, Vec<&'static str>)> = Vec::new();
        let mut add_role =
            |v: Uuid, role: &'static str| match vendor_roles.iter_mut().find(|(id, _)| *id == v) {
                Some((_, roles)) => {
                    if !roles.contains(&role) {
                        roles.push(role);
                    }
                }
                None => vendor_roles.push((v, vec![role])),
            };
        for b in &self.bids {
            add_role(b.vendor, "tenderer");
        }
        for a in self.awards.iter().filter(|a| !a.cancelled) {
            add_role(a.vendor, "supplier");
        }
        for c in self.contracts.iter().filter(|c| !c.transactions.is_empty()) {
            add_role(c.vendor, "payee");
        }
        parties.extend(vendor_roles.into_iter().map(|(id, roles)| Party {
            id: id.to_string(),
            name: name(id),
            roles,
        }));
        parties.push(Party {
            id: info.fund.to_string(),
            name: info.name.clone(),
            roles: vec!["funder"],
        });

        let mut tenderers: Vec<Uuid> = Vec::new();
        for b in self.bids.iter().filter(|b| !b.withdrawn) {
            if !tenderers.contains(&b.vendor) {
                tenderers.push(b.vendor);
            }
        }
        let live_award = self.awards.iter().any(|a| !a.cancelled);
        let status = if tender.cancelled {
            "cancelled"
        } else if live_award {
            "complete"
        } else {
            "active"
        };
        let bids = (!self.bids.is_empty()).then(|| Bids {
            details: self
                .bids
                .iter()
                .map(|b| BidOut {
                    id: b.id.clone().unwrap_or_else(|| b.seq.to_string()),
                    date: date_time(b.date),
                    status: if b.withdrawn {
                        Some("withdrawn")
                    } else if b.disqualified.is_some() {
                        Some("disqualified")
                    } else {
                        None
                    },
                    tenderers: vec![r(b.vendor)],
                    value: Value::of(b.value.0, &b.value.1),
                })
                .collect(),
        });
        Ok(Release {
            id: format!("{ocid}-{}", self.last_seq),
            ocid,
            date: date_time(self.last_date.unwrap_or(tender.date)),
            tag: ["compiled"],
            initiation_type: "tender",
            language: "en",
            parties,
            buyer: r(ministry),
            planning: Planning {
                budget: Budget {
                    id: info.fund.to_string(),
                    description: format!("Pooled fund {}", info.name),
                    project: info.name.clone(),
                    project_id: info.fund.to_string(),
                },
            },
            tender: TenderOut {
                id: self.tender_seq.to_string(),
                title: tender.title.clone(),
                status,
                procuring_entity: r(ministry),
                value: Value::of(tender.estimate.0, &tender.estimate.1),
                procurement_method: procurement_method(tender.method),
                procurement_method_details: tender.method.as_str(),
                tender_period: Period {
                    start_date: Some(date_time(tender.date)),
                    end_date: Some(date_time(tender.deadline)),
                },
                number_of_tenderers: u64::try_from(tenderers.len()).unwrap_or(u64::MAX),
                tenderers: tenderers.into_iter().map(r).collect(),
            },
            bids,
            awards: self
                .awards
                .iter()
                .map(|a| AwardOut {
                    id: a.id.clone().unwrap_or_else(|| a.seq.to_string()),
                    status: if a.cancelled { "cancelled" } else { "active" },
                    date: date_time(a.date),
                    value: Value::of(a.value.0, &a.value.1),
                    suppliers: vec![r(a.vendor)],
                })
                .collect(),
            contracts: self
                .contracts
                .iter()
                .map(|c| ContractOut {
                    id: c.id.clone().unwrap_or_else(|| {
                        crate::procurement::rules::contract_id(info.fund, c.seq).to_string()
                    }),
                    award_id: self
                        .awards
                        .iter()
                        .find(|a| a.seq == c.award)
                        .and_then(|a| a.id.clone())
                        .unwrap_or_else(|| c.award.to_string()),
                    status: if c.cancelled { "cancelled" } else { "active" },
                    date_signed: date_time(c.signed),
                    period: Period {
                        start_date: Some(date_time(c.starts)),
                        end_date: Some(date_time(c.ends)),
                    },
                    value: Value::of(c.value, &c.currency),
                    amendments: c
                        .amendments
                        .iter()
                        .map(|a| AmendmentOut {
                            id: a.id.clone().unwrap_or_else(|| a.seq.to_string()),
                            date: date_time(a.date),
                            rationale: a.reason.clone(),
                            description: match a.reversed {
                                Some((by, on)) => {
                                    format!("{}; reversed by entry {by} on {on}", a.changes)
                                }
                                None => a.changes.clone(),
                            },
                        })
                        .collect(),
                    implementation: Implementation {
                        transactions: c
                            .transactions
                            .iter()
                            .map(|(seq, date, amount, currency)| TransactionOut {
                                id: c
                                    .transaction_ids
                                    .get(seq)
                                    .cloned()
                                    .unwrap_or_else(|| seq.to_string()),
                                date: date_time(*date),
                                value: Value::of(*amount, currency),
                                payer: r(ministry),
                                payee: r(c.vendor),
                            })
                            .collect(),
                    },
                })
                .collect(),
        })
    }
}

/// The package up to (and including) the opening of `releases`; each release follows,
/// comma-separated, then `PACKAGE_END`.
pub fn package_head(
    info: &FundInfo,
    publisher: &str,
    publisher_id: Uuid,
    cp: &PinnedCheckpoint,
) -> serde_json::Result<String> {
    let head = serde_json::json!({
        "uri": format!("urn:fundtrail:{}:ocds:{}", info.fund, cp.tree_size),
        "version": "1.1",
        "extensions": [BID_EXTENSION],
        "publishedDate": cp.signed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "publisher": {"name": publisher, "scheme": "fundtrail", "uid": publisher_id.to_string()},
        "fundtrailCheckpoint": cp,
    });
    let text = serde_json::to_string(&head)?;
    // `{...}` -> `{...,"releases":[`
    Ok(format!(
        "{},\"releases\":[",
        text.strip_suffix('}').unwrap_or(&text)
    ))
}

pub const PACKAGE_END: &str = "]}\n";

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn row(seq: i64, kind: &str, body: serde_json::Value) -> ExportRow {
        let entry = serde_json::json!({
            "v": 1, "chain": Uuid::nil(), "seq": seq, "kind": kind,
            "business_date": "2026-03-01", "recorded_at": "2026-03-01T10:00:00.000000Z",
            "principal": {"id": "u", "role": "ministry"}, "idempotency_key": format!("k{seq}"),
            "body": body,
        });
        ExportRow {
            seq,
            kind: kind.to_owned(),
            business_date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
                + chrono::Days::new(u64::try_from(seq).unwrap()),
            entry_hash: vec![0; 32],
            canonical: Some(entry.to_string()),
            ministry_org_id: Some(Uuid::from_u128(1)),
            vendor_org_id: Some(Uuid::from_u128(2)),
            donor_org_id: None,
            currency: Some("EUR".to_owned()),
            amount: None,
            amount_fund: None,
            ref_seq: None,
            tender_seq: Some(0),
            ref_kind: None,
        }
    }

    fn eur(v: &str) -> serde_json::Value {
        serde_json::json!({"value": v, "currency": "EUR"})
    }

    #[test]
    fn a_tender_folds_into_one_compiled_release() {
        let (m, v) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut p = Process::new(0);
        p.fold(&row(0, "tender", serde_json::json!({"ministry": m, "title": "Radios", "category": "equipment",
            "method": "request_for_quotation", "estimated_value": eur("100.00"), "deadline": "2026-04-01"}))).unwrap();
        p.fold(&row(
            1,
            "bid",
            serde_json::json!({"tender": 0, "vendor": v, "amount": eur("90.00")}),
        ))
        .unwrap();
        p.fold(&row(2, "award", serde_json::json!({"tender": 0, "vendor": v, "amount": eur("90.00"), "bids_received": 1}))).unwrap();
        p.fold(&row(3, "contract", serde_json::json!({"award": 2, "value": eur("90.00"), "starts_on": "2026-04-01", "ends_on": "2026-06-30"}))).unwrap();
        p.fold(&row(
            4,
            "contract_amendment",
            serde_json::json!({"contract": 3, "new_value": eur("95.00"), "reason": "more"}),
        ))
        .unwrap();
        p.fold(&row(5, "invoice", serde_json::json!({"contract": 3, "vendor": v, "invoice_number": "I-1", "amount": eur("95.00")}))).unwrap();
        p.fold(&row(
            6,
            "payment",
            serde_json::json!({"invoice": 5, "amount": eur("95.00")}),
        ))
        .unwrap();
        let mut rev = row(
            7,
            "reversal",
            serde_json::json!({"entry": 6, "reason": "wrong"}),
        );
        rev.ref_seq = Some(6);
        rev.ref_kind = Some("payment".to_owned());
        rev.amount = Some(Decimal::new(-9500, 2));
        p.fold(&rev).unwrap();
        let info = FundInfo {
            fund: Uuid::from_u128(9),
            name: "Fund".to_owned(),
            ocid_prefix: "ocds-abc123".to_owned(),
        };
        let rel = p.release(&info, &|id| format!("org {id}")).unwrap();
        let json = serde_json::to_value(&rel).unwrap();
        assert_eq!(json["ocid"], format!("ocds-abc123-{}-0", info.fund));
        assert_eq!(json["tender"]["procurementMethod"], "limited");
        assert_eq!(json["tender"]["status"], "complete");
        assert_eq!(json["contracts"][0]["value"]["amount"], 95.0);
        let txs = &json["contracts"][0]["implementation"]["transactions"];
        assert_eq!(txs.as_array().unwrap().len(), 2);
        assert_eq!(txs[1]["value"]["amount"], -95.0);
        assert_eq!(txs[1]["payer"]["name"], format!("org {m}"));
        let text = serde_json::to_string(&rel).unwrap();
        assert!(text.contains("\"amount\":-95.00"), "{text}");
        let roles: Vec<_> = json["parties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["roles"].clone())
            .collect();
        assert_eq!(
            roles[0],
            serde_json::json!(["buyer", "procuringEntity", "payer"])
        );
        assert_eq!(
            roles[1],
            serde_json::json!(["tenderer", "supplier", "payee"])
        );
        assert_eq!(roles[2], serde_json::json!(["funder"]));
    }

    #[test]
    fn disqualified_bids_show_their_status_and_approvals_change_nothing() {
        let (m, v, w) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let mut p = Process::new(0);
        p.fold(&row(
            0,
            "tender",
            serde_json::json!({"ministry": m, "title": "Radios", "category": "equipment",
            "method": "open", "estimated_value": eur("100.00"), "deadline": "2026-04-01"}),
        ))
        .unwrap();
        for (seq, vendor, amount) in [(1, v, "80.00"), (2, w, "90.00"), (3, v, "85.00")] {
            p.fold(&row(
                seq,
                "bid",
                serde_json::json!({"tender": 0, "vendor": vendor, "amount": eur(amount)}),
            ))
            .unwrap();
        }
        p.fold(&row(
            4,
            "bid_disqualified",
            serde_json::json!({"bid": 1, "reason": "late"}),
        ))
        .unwrap();
        p.fold(&row(
            5,
            "bid_disqualified",
            serde_json::json!({"bid": 3, "reason": "unsigned"}),
        ))
        .unwrap();
        let mut rev = row(
            6,
            "reversal",
            serde_json::json!({"entry": 5, "reason": "signed after all"}),
        );
        rev.ref_seq = Some(5);
        rev.ref_kind = Some("bid_disqualified".to_owned());
        p.fold(&rev).unwrap();
        p.fold(&row(7, "award", serde_json::json!({"tender": 0, "vendor": w, "amount": eur("90.00"), "bids_received": 3}))).unwrap();
        p.fold(&row(
            8,
            "approval",
            serde_json::json!({"entry": 7, "decision": "approved"}),
        ))
        .unwrap();
        let info = FundInfo {
            fund: Uuid::from_u128(9),
            name: "Fund".to_owned(),
            ocid_prefix: "ocds-abc123".to_owned(),
        };
        let json =
            serde_json::to_value(p.release(&info, &|id| format!("org {id}")).unwrap()).unwrap();
        let statuses: Vec<_> = json["bids"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["status"].clone())
            .collect();
        assert_eq!(
            statuses,
            [
                serde_json::json!("disqualified"),
                serde_json::Value::Null,
                serde_json::Value::Null
            ]
        );
        assert_eq!(json["awards"].as_array().unwrap().len(), 1);
        assert_eq!(json["id"], format!("ocds-abc123-{}-0-8", info.fund));
    }

    #[test]
    fn methods_map_to_the_closed_codelist() {
        assert_eq!(procurement_method(Method::Open), "open");
        assert_eq!(procurement_method(Method::Restricted), "selective");
        assert_eq!(procurement_method(Method::Direct), "direct");
    }
}
