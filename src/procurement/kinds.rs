//! The procurement entry kinds (docs/domain.md): a tender and its bids, disqualifications
//! and award, the contract and its amendments, invoices, payments, and approvals. Each body
//! is a struct that refuses unknown fields, with `check` for the rules that need no
//! database; `rules` applies them to the fund's state.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::funds::kinds::{amount, free_text, invalid, text, Invalid};
use crate::money::Money;

/// A break of an entry kind's own rules found in imported evidence (docs/import.md,
/// "Data-quality findings"). The API refuses such an entry; an import records what the
/// publisher published and the break becomes a flag of the `dq-` family.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum Dq {
    /// A period that ends before it starts (a deadline before publication, a contract
    /// that ends before it starts).
    #[serde(rename = "dq-invalid-period")]
    InvalidPeriod,
    /// A value missing or zero: recorded as zero.
    #[serde(rename = "dq-missing-value")]
    MissingValue,
    /// An amount finer than the currency's minor unit, kept as published.
    #[serde(rename = "dq-precision")]
    Precision,
    /// A status outside the codelist and the import's mapping: never read as valid.
    #[serde(rename = "dq-unknown-status")]
    UnknownStatus,
    /// A text with control characters (replaced by spaces) or empty.
    #[serde(rename = "dq-invalid-text")]
    InvalidText,
    /// No submission deadline published: the deadline field holds the publication date
    /// and the tender-period screens ignore it.
    #[serde(rename = "dq-missing-deadline")]
    MissingDeadline,
    /// An element without id: a stable id derived from its content.
    #[serde(rename = "dq-derived-id")]
    DerivedId,
    /// An element without date: the release's date.
    #[serde(rename = "dq-derived-date")]
    DerivedDate,
    /// An amount without currency: the contract's (or tender's) currency.
    #[serde(rename = "dq-derived-currency")]
    DerivedCurrency,
}

impl Dq {
    pub const ALL: [Dq; 9] = [
        Dq::InvalidPeriod,
        Dq::MissingValue,
        Dq::Precision,
        Dq::UnknownStatus,
        Dq::InvalidText,
        Dq::MissingDeadline,
        Dq::DerivedId,
        Dq::DerivedDate,
        Dq::DerivedCurrency,
    ];

    /// The flag rule code (`dq-precision`, ...).
    pub fn code(self) -> &'static str {
        match self {
            Dq::InvalidPeriod => "dq-invalid-period",
            Dq::MissingValue => "dq-missing-value",
            Dq::Precision => "dq-precision",
            Dq::UnknownStatus => "dq-unknown-status",
            Dq::InvalidText => "dq-invalid-text",
            Dq::MissingDeadline => "dq-missing-deadline",
            Dq::DerivedId => "dq-derived-id",
            Dq::DerivedDate => "dq-derived-date",
            Dq::DerivedCurrency => "dq-derived-currency",
        }
    }
}

/// One data-quality finding: its code and what was published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub code: Dq,
    /// What was published and what was recorded instead (at most 500 characters).
    pub detail: String,
}

/// Where an imported entry comes from: the publisher's contracting process and the
/// breaks of this kind's rules that were recorded rather than refused. Only the importer
/// writes it: the API refuses a body that carries it (`imported_reserved`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Imported {
    /// The publisher's OCDS ocid (kept by the OCDS export).
    pub ocid: String,
    /// The OCDS id of the element (bid, award, contract, amendment, transaction) the
    /// entry records, as the import keyed it; the OCDS export writes it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

impl Imported {
    pub fn has(&self, code: Dq) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }

    fn check(&self) -> Result<(), Invalid> {
        text(&self.ocid, "imported.ocid", 200)?;
        if let Some(id) = &self.id {
            text(id, "imported.id", 200)?;
        }
        for f in &self.findings {
            free_text(&f.detail, "imported.findings.detail", 500)?;
        }
        Ok(())
    }
}

/// Whether imported evidence recorded the break `code` (the API's entries never do).
fn allows(imported: Option<&Imported>, code: Dq) -> bool {
    imported.is_some_and(|i| i.has(code))
}

/// An amount: positive with at most the currency's minor units, unless the import
/// recorded the break as a finding (zero with `dq-missing-value`, finer with
/// `dq-precision`). Never negative.
fn amount_of(m: &Money, field: &str, imported: Option<&Imported>) -> Result<(), Invalid> {
    if m.value.is_sign_negative() && !m.value.is_zero() {
        return amount(m, field);
    }
    let zero_ok = m.value.is_zero() && allows(imported, Dq::MissingValue);
    let fine_ok = allows(imported, Dq::Precision);
    match amount(m, field) {
        Ok(()) => Ok(()),
        Err(_) if zero_ok => Ok(()),
        Err(_) if fine_ok && !m.value.is_zero() => Ok(()),
        Err(e) => Err(e),
    }
}

/// A tender's status (OCDS `tenderStatus` codelist) when the publisher states one: a
/// cancelled, unsuccessful or withdrawn tender is not screened as a live competition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenderStatus {
    Planning,
    Planned,
    Active,
    Cancelled,
    Unsuccessful,
    Complete,
    Withdrawn,
}

impl TenderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenderStatus::Planning => "planning",
            TenderStatus::Planned => "planned",
            TenderStatus::Active => "active",
            TenderStatus::Cancelled => "cancelled",
            TenderStatus::Unsuccessful => "unsuccessful",
            TenderStatus::Complete => "complete",
            TenderStatus::Withdrawn => "withdrawn",
        }
    }

    /// The OCDS code, if it is one.
    pub fn parse(s: &str) -> Option<Self> {
        [
            TenderStatus::Planning,
            TenderStatus::Planned,
            TenderStatus::Active,
            TenderStatus::Cancelled,
            TenderStatus::Unsuccessful,
            TenderStatus::Complete,
            TenderStatus::Withdrawn,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// Whether the tender ended without a competition to screen.
    pub fn ended_without_award(self) -> bool {
        matches!(
            self,
            TenderStatus::Cancelled | TenderStatus::Unsuccessful | TenderStatus::Withdrawn
        )
    }
}

/// The kinds defined here, as recorded in the ledger's `kind` field.
pub const KINDS: [&str; 9] = [
    "tender",
    "bid",
    "bid_disqualified",
    "award",
    "contract",
    "contract_amendment",
    "invoice",
    "payment",
    "approval",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Open,
    Restricted,
    RequestForQuotation,
    Direct,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Open => "open",
            Method::Restricted => "restricted",
            Method::RequestForQuotation => "request_for_quotation",
            Method::Direct => "direct",
        }
    }
}

/// A call for bids (published on the business date).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tender {
    pub ministry: Uuid,
    pub title: String,
    pub category: String,
    pub method: Method,
    pub estimated_value: Money,
    /// Last day for submissions.
    #[schema(value_type = String, format = Date)]
    pub deadline: NaiveDate,
    /// The publisher's tender status (OCDS), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TenderStatus>,
    /// Set by the OCDS import only (`Imported`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

/// A bid received on a tender.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Bid {
    /// Seq of the tender entry.
    pub tender: u64,
    /// A vendor organisation.
    pub vendor: Uuid,
    pub amount: Money,
    /// The lot of the tender this is for (OCDS `relatedLots`): bids and awards are
    /// compared within their lot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    /// The publisher's bid status when it is neither in the codelist nor mapped: the
    /// bid is recorded and never read as valid by the screens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_status: Option<String>,
    /// Set by the OCDS import only (`Imported`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Award {
    pub tender: u64,
    pub vendor: Uuid,
    pub amount: Money,
    /// As stated by the ministry; screening compares it with the bids recorded.
    pub bids_received: u32,
    /// The lot of the tender this is for (OCDS `relatedLots`): bids and awards are
    /// compared within their lot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    /// Set by the OCDS import only (`Imported`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// Seq of the award entry.
    pub award: u64,
    pub value: Money,
    #[schema(value_type = String, format = Date)]
    pub starts_on: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub ends_on: NaiveDate,
    /// Set by the OCDS import only (`Imported`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

/// A change to a contract's value or dates; at least one of the `new_*` fields.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractAmendment {
    /// Seq of the contract entry.
    pub contract: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_value: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub new_starts_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub new_ends_on: Option<NaiveDate>,
    pub reason: String,
    /// Set by the OCDS import only (`Imported`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invoice {
    pub contract: u64,
    pub vendor: Uuid,
    /// The vendor's own invoice number.
    pub invoice_number: String,
    pub amount: Money,
    /// Set by the OCDS import only (`Imported`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

/// A payment of an invoice, or (no invoice) a direct purchase from a vendor, which is
/// accepted and left to screening (`payment-without-contract`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// Seq of the invoice entry; absent for a direct purchase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<u64>,
    /// Required for a direct purchase; must match the invoice's vendor otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<Uuid>,
    /// Required for a direct purchase (the paying ministry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ministry: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub amount: Money,
    /// Set by the OCDS import only (`Imported`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

/// A bid ruled out of its tender by the ministry that runs it, before the award: no award
/// may then go to that vendor on that tender (docs/domain.md).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BidDisqualified {
    /// Seq of the bid entry.
    pub bid: u64,
    /// Why the bid was ruled out (1 to 500 characters).
    pub reason: String,
    /// Set by the OCDS import only (`Imported`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

/// What an `approval` decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    /// Only a pending request (two-person control, docs/domain.md) can be rejected, with a
    /// reason.
    Rejected,
}

/// A second person's decision on an entry. On a request pending under the fund's
/// approval policy, `approved` puts the entry into effect at this approval's seq and
/// `rejected` closes it (docs/domain.md, "Two-person control"). On an entry recorded
/// without a policy (an invoice, payment, award or contract of the approver's ministry)
/// it is the second pair of eyes that screening checks (`self-approval`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Seq of the approved (or rejected) entry.
    pub entry: u64,
    pub decision: Decision,
    /// Why (1 to 500 characters): required for a rejection, optional otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Kinds an `approval` may approve.
pub const APPROVABLE_KINDS: [&str; 4] = ["invoice", "payment", "award", "contract"];

/// The import's own fields: the ocid and findings well-formed, the lot a short text.
fn provenance(imported: Option<&Imported>, lot: Option<&String>) -> Result<(), Invalid> {
    if let Some(i) = imported {
        i.check()?;
    }
    if let Some(l) = lot {
        text(l, "lot", 200)?;
    }
    Ok(())
}

impl Tender {
    /// The rules that need no database; `date` is the entry's business date.
    pub fn check(&self, date: NaiveDate) -> Result<(), Invalid> {
        let imp = self.imported.as_ref();
        provenance(imp, None)?;
        amount_of(&self.estimated_value, "estimated_value", imp)?;
        text(&self.title, "title", 300)?;
        text(&self.category, "category", 100)?;
        if self.deadline < date && !allows(imp, Dq::InvalidPeriod) {
            return Err(invalid(
                "invalid_dates",
                "the deadline is before the tender's publication (business) date",
            ));
        }
        Ok(())
    }
}

impl Bid {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        let imp = self.imported.as_ref();
        provenance(imp, self.lot.as_ref())?;
        if let Some(s) = &self.unknown_status {
            text(s, "unknown_status", 100)?;
        }
        amount_of(&self.amount, "amount", imp)
    }
}

impl Award {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        let imp = self.imported.as_ref();
        provenance(imp, self.lot.as_ref())?;
        amount_of(&self.amount, "amount", imp)
    }
}

impl Contract {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        let imp = self.imported.as_ref();
        provenance(imp, None)?;
        amount_of(&self.value, "value", imp)?;
        if self.ends_on < self.starts_on && !allows(imp, Dq::InvalidPeriod) {
            return Err(invalid("invalid_dates", "ends_on is before starts_on"));
        }
        Ok(())
    }
}

impl ContractAmendment {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        let imp = self.imported.as_ref();
        provenance(imp, None)?;
        if let Some(v) = &self.new_value {
            amount_of(v, "new_value", imp)?;
        }
        if self.new_value.is_none() && self.new_starts_on.is_none() && self.new_ends_on.is_none() {
            return Err(invalid(
                "invalid_body",
                "an amendment changes new_value, new_starts_on or new_ends_on",
            ));
        }
        free_text(&self.reason, "reason", 500)
    }
}

impl Invoice {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        let imp = self.imported.as_ref();
        provenance(imp, None)?;
        amount_of(&self.amount, "amount", imp)?;
        text(&self.invoice_number, "invoice_number", 100)
    }
}

impl Payment {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        let imp = self.imported.as_ref();
        provenance(imp, None)?;
        amount_of(&self.amount, "amount", imp)?;
        if let Some(c) = &self.category {
            text(c, "category", 100)?;
        }
        if self.invoice.is_none() && (self.vendor.is_none() || self.ministry.is_none()) {
            return Err(invalid(
                "invalid_body",
                "a payment names its invoice, or (a direct purchase) its vendor and ministry",
            ));
        }
        Ok(())
    }
}

impl BidDisqualified {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        provenance(self.imported.as_ref(), None)?;
        free_text(&self.reason, "reason", 500)
    }
}

impl Approval {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        match (&self.reason, self.decision) {
            (Some(r), _) => free_text(r, "reason", 500),
            (None, Decision::Rejected) => {
                Err(invalid("invalid_body", "a rejection states its reason"))
            }
            (None, Decision::Approved) => Ok(()),
        }
    }
}
