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
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Award {
    pub tender: u64,
    pub vendor: Uuid,
    pub amount: Money,
    /// As stated by the ministry; screening compares it with the bids recorded.
    pub bids_received: u32,
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
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invoice {
    pub contract: u64,
    pub vendor: Uuid,
    /// The vendor's own invoice number.
    pub invoice_number: String,
    pub amount: Money,
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
}

/// The only decision an `approval` records today: a refusal is simply no approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
}

/// A ministry user's approval of an invoice, payment, award or contract of their ministry
/// (the second pair of eyes; screening flags `self-approval` when it is the same pair).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Seq of the approved entry.
    pub entry: u64,
    pub decision: Decision,
}

/// Kinds an `approval` may approve.
pub const APPROVABLE_KINDS: [&str; 4] = ["invoice", "payment", "award", "contract"];

impl Tender {
    /// The rules that need no database; `date` is the entry's business date.
    pub fn check(&self, date: NaiveDate) -> Result<(), Invalid> {
        amount(&self.estimated_value, "estimated_value")?;
        text(&self.title, "title", 300)?;
        text(&self.category, "category", 100)?;
        if self.deadline < date {
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
        amount(&self.amount, "amount")
    }
}

impl Award {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        amount(&self.amount, "amount")
    }
}

impl Contract {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        amount(&self.value, "value")?;
        if self.ends_on < self.starts_on {
            return Err(invalid("invalid_dates", "ends_on is before starts_on"));
        }
        Ok(())
    }
}

impl ContractAmendment {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        if let Some(v) = &self.new_value {
            amount(v, "new_value")?;
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
        amount(&self.amount, "amount")?;
        text(&self.invoice_number, "invoice_number", 100)
    }
}

impl Payment {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        amount(&self.amount, "amount")?;
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
        free_text(&self.reason, "reason", 500)
    }
}

impl Approval {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        Ok(())
    }
}
