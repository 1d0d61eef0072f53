//! The typed entry kinds of a fund chain (docs/domain.md). Each kind's body is a struct
//! that refuses unknown fields; `FundEntry::parse` turns `(kind, body)` into one, and
//! `check` applies the rules that need no database (positive amounts, minor units, date
//! order, text lengths). The body recorded in the ledger is the typed body re-serialised,
//! so the chain holds only known fields, amounts as decimal strings.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::money::{decimal_str, Currency, Money};

/// A refusal that needs no database: 422 with this code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub detail: String,
}

fn invalid(code: &'static str, detail: impl Into<String>) -> Invalid {
    Invalid {
        code,
        detail: detail.into(),
    }
}

fn amount(m: &Money, field: &str) -> Result<(), Invalid> {
    m.check(field).map_err(|d| invalid("invalid_amount", d))
}

fn text(s: &str, field: &str, max: usize) -> Result<(), Invalid> {
    let n = s.trim().chars().count();
    if n == 0 || n > max || n != s.chars().count() {
        return Err(invalid(
            "invalid_text",
            format!("{field} must be 1 to {max} characters without surrounding spaces"),
        ));
    }
    Ok(())
}

/// A promise to contribute.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pledge {
    /// A donor organisation.
    pub donor: Uuid,
    pub amount: Money,
    /// The contribution agreement's reference.
    pub agreement: String,
}

/// Money received by the fund from a donor (value date = the entry's business date).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contribution {
    pub donor: Uuid,
    pub amount: Money,
    pub agreement: String,
}

/// Budget the fund commits to a ministry for a budget line and period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Allocation {
    /// A ministry organisation.
    pub ministry: Uuid,
    pub budget_line: String,
    pub category: String,
    pub amount: Money,
    #[schema(value_type = String, format = Date)]
    pub period_start: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub period_end: NaiveDate,
}

/// A tranche paid to a ministry against an allocation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Disbursement {
    /// Seq of the allocation entry in this fund's chain.
    pub allocation: u64,
    pub amount: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tranche: Option<String>,
}

/// 1 `base` = `rate` `quote` on the entry's business date.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FxRate {
    pub base: Currency,
    pub quote: Currency,
    /// Decimal string, positive.
    #[serde(with = "decimal_str")]
    #[schema(value_type = String, example = "1.0842")]
    pub rate: Decimal,
    /// Where the rate comes from (e.g. "ECB reference rate").
    pub source: String,
}

/// Spend a ministry reports by category.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Expenditure {
    pub ministry: Uuid,
    pub category: String,
    pub amount: Money,
    pub description: String,
}

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

/// Undoes an earlier entry of the same chain (which stays recorded).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reversal {
    /// Seq of the entry reversed.
    pub entry: u64,
    pub reason: String,
}

/// A change to the fund's screening thresholds (docs/screening.md), recorded by an
/// auditor: the named settings replace the current ones, the others stay. Nobody can
/// loosen a screen quietly: the change is an entry like any other.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreeningConfig {
    /// Settings by name, e.g. `{"direct_max": "20000.00", "window_days": 45}`; the names
    /// and defaults are those of docs/screening.md.
    #[schema(value_type = Object)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub reason: String,
}

/// One typed fund entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum FundEntry {
    Pledge(Pledge),
    Contribution(Contribution),
    Allocation(Allocation),
    Disbursement(Disbursement),
    FxRate(FxRate),
    Expenditure(Expenditure),
    Tender(Tender),
    Bid(Bid),
    Award(Award),
    Contract(Contract),
    ContractAmendment(ContractAmendment),
    Invoice(Invoice),
    Payment(Payment),
    Reversal(Reversal),
    ScreeningConfig(ScreeningConfig),
    BidDisqualified(BidDisqualified),
    Approval(Approval),
}

/// Every kind, as recorded in the ledger's `kind` field.
pub const KINDS: [&str; 17] = [
    "pledge",
    "contribution",
    "allocation",
    "disbursement",
    "fx_rate",
    "expenditure",
    "tender",
    "bid",
    "award",
    "contract",
    "contract_amendment",
    "invoice",
    "payment",
    "reversal",
    "screening_config",
    "bid_disqualified",
    "approval",
];

/// Kinds a treasurer records; a ministry records the others (but reversal, by either).
pub const FUND_FLOW_KINDS: [&str; 5] = [
    "pledge",
    "contribution",
    "allocation",
    "disbursement",
    "fx_rate",
];

impl FundEntry {
    /// `(kind, body)` as posted or as stored in the ledger.
    pub fn parse(kind: &str, body: &serde_json::Value) -> Result<Self, Invalid> {
        if !KINDS.contains(&kind) {
            return Err(invalid(
                "unknown_kind",
                format!(
                    "{kind:?} is not a fund entry kind; one of {}",
                    KINDS.join(", ")
                ),
            ));
        }
        serde_json::from_value(serde_json::json!({"kind": kind, "body": body}))
            .map_err(|e| invalid("invalid_body", format!("{kind}: {e}")))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            FundEntry::Pledge(_) => "pledge",
            FundEntry::Contribution(_) => "contribution",
            FundEntry::Allocation(_) => "allocation",
            FundEntry::Disbursement(_) => "disbursement",
            FundEntry::FxRate(_) => "fx_rate",
            FundEntry::Expenditure(_) => "expenditure",
            FundEntry::Tender(_) => "tender",
            FundEntry::Bid(_) => "bid",
            FundEntry::Award(_) => "award",
            FundEntry::Contract(_) => "contract",
            FundEntry::ContractAmendment(_) => "contract_amendment",
            FundEntry::Invoice(_) => "invoice",
            FundEntry::Payment(_) => "payment",
            FundEntry::Reversal(_) => "reversal",
            FundEntry::ScreeningConfig(_) => "screening_config",
            FundEntry::BidDisqualified(_) => "bid_disqualified",
            FundEntry::Approval(_) => "approval",
        }
    }

    /// The body as it is recorded: the typed body re-serialised.
    pub fn body(&self) -> Result<serde_json::Value, serde_json::Error> {
        let tagged = serde_json::to_value(self)?;
        Ok(tagged
            .get("body")
            .cloned()
            .unwrap_or(serde_json::Value::Null))
    }

    /// Rules that need no database. `date` is the entry's business date.
    pub fn check(&self, date: NaiveDate) -> Result<(), Invalid> {
        match self {
            FundEntry::Pledge(p) => {
                amount(&p.amount, "amount")?;
                text(&p.agreement, "agreement", 200)
            }
            FundEntry::Contribution(c) => {
                amount(&c.amount, "amount")?;
                text(&c.agreement, "agreement", 200)
            }
            FundEntry::Allocation(a) => {
                amount(&a.amount, "amount")?;
                text(&a.budget_line, "budget_line", 200)?;
                text(&a.category, "category", 100)?;
                if a.period_end < a.period_start {
                    return Err(invalid(
                        "invalid_dates",
                        "period_end is before period_start",
                    ));
                }
                Ok(())
            }
            FundEntry::Disbursement(d) => {
                amount(&d.amount, "amount")?;
                match &d.tranche {
                    Some(t) => text(t, "tranche", 100),
                    None => Ok(()),
                }
            }
            FundEntry::FxRate(r) => {
                if r.rate <= Decimal::ZERO {
                    return Err(invalid("invalid_amount", "rate must be positive"));
                }
                if r.base == r.quote {
                    return Err(invalid("invalid_fx_rate", "base and quote are the same"));
                }
                text(&r.source, "source", 200)
            }
            FundEntry::Expenditure(e) => {
                amount(&e.amount, "amount")?;
                text(&e.category, "category", 100)?;
                text(&e.description, "description", 500)
            }
            FundEntry::Tender(t) => {
                amount(&t.estimated_value, "estimated_value")?;
                text(&t.title, "title", 300)?;
                text(&t.category, "category", 100)?;
                if t.deadline < date {
                    return Err(invalid(
                        "invalid_dates",
                        "the deadline is before the tender's publication (business) date",
                    ));
                }
                Ok(())
            }
            FundEntry::Bid(b) => amount(&b.amount, "amount"),
            FundEntry::Award(a) => amount(&a.amount, "amount"),
            FundEntry::Contract(c) => {
                amount(&c.value, "value")?;
                if c.ends_on < c.starts_on {
                    return Err(invalid("invalid_dates", "ends_on is before starts_on"));
                }
                Ok(())
            }
            FundEntry::ContractAmendment(a) => {
                if let Some(v) = &a.new_value {
                    amount(v, "new_value")?;
                }
                if a.new_value.is_none() && a.new_starts_on.is_none() && a.new_ends_on.is_none() {
                    return Err(invalid(
                        "invalid_body",
                        "an amendment changes new_value, new_starts_on or new_ends_on",
                    ));
                }
                text(&a.reason, "reason", 500)
            }
            FundEntry::Invoice(i) => {
                amount(&i.amount, "amount")?;
                text(&i.invoice_number, "invoice_number", 100)
            }
            FundEntry::Payment(p) => {
                amount(&p.amount, "amount")?;
                if let Some(c) = &p.category {
                    text(c, "category", 100)?;
                }
                if p.invoice.is_none() && (p.vendor.is_none() || p.ministry.is_none()) {
                    return Err(invalid(
                        "invalid_body",
                        "a payment names its invoice, or (a direct purchase) its vendor and ministry",
                    ));
                }
                Ok(())
            }
            FundEntry::Reversal(r) => text(&r.reason, "reason", 500),
            FundEntry::ScreeningConfig(c) => {
                if c.settings.is_empty() {
                    return Err(invalid(
                        "invalid_body",
                        "settings names at least one setting",
                    ));
                }
                text(&c.reason, "reason", 500)
            }
            FundEntry::BidDisqualified(d) => text(&d.reason, "reason", 500),
            FundEntry::Approval(_) => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
    }

    #[test]
    fn bodies_round_trip_without_unknown_fields() {
        let body = json!({"donor": Uuid::nil(), "amount": {"value": "100.00", "currency": "EUR"}, "agreement": "A-1"});
        let e = FundEntry::parse("contribution", &body).unwrap();
        assert_eq!(e.kind(), "contribution");
        assert_eq!(e.body().unwrap(), body);
        let extra = json!({"donor": Uuid::nil(), "amount": {"value": "1", "currency": "EUR"}, "agreement": "A", "note": "x"});
        assert_eq!(
            FundEntry::parse("contribution", &extra).unwrap_err().code,
            "invalid_body"
        );
        assert_eq!(
            FundEntry::parse("gift", &body).unwrap_err().code,
            "unknown_kind"
        );
    }

    #[test]
    fn static_rules_refuse_with_their_codes() {
        let e = |kind: &str, body: serde_json::Value| {
            FundEntry::parse(kind, &body)
                .unwrap()
                .check(date())
                .err()
                .map(|i| i.code)
        };
        let eur = |v: &str| json!({"value": v, "currency": "EUR"});
        assert_eq!(
            e(
                "pledge",
                json!({"donor": Uuid::nil(), "amount": eur("0.00"), "agreement": "A"})
            ),
            Some("invalid_amount")
        );
        assert_eq!(
            e(
                "pledge",
                json!({"donor": Uuid::nil(), "amount": eur("1.001"), "agreement": "A"})
            ),
            Some("invalid_amount")
        );
        assert_eq!(
            e(
                "allocation",
                json!({"ministry": Uuid::nil(), "budget_line": "B", "category": "C", "amount": eur("5"),
                "period_start": "2026-12-31", "period_end": "2026-01-01"})
            ),
            Some("invalid_dates")
        );
        assert_eq!(
            e(
                "tender",
                json!({"ministry": Uuid::nil(), "title": "T", "category": "C", "method": "open",
                "estimated_value": eur("5"), "deadline": "2026-02-01"})
            ),
            Some("invalid_dates")
        );
        assert_eq!(
            e(
                "fx_rate",
                json!({"base": "EUR", "quote": "EUR", "rate": "1", "source": "S"})
            ),
            Some("invalid_fx_rate")
        );
        assert_eq!(
            e("payment", json!({"amount": eur("5")})),
            Some("invalid_body")
        );
        assert_eq!(
            e(
                "contract_amendment",
                json!({"contract": 3, "reason": "none"})
            ),
            Some("invalid_body")
        );
        assert_eq!(
            e("reversal", json!({"entry": 3, "reason": " padded"})),
            Some("invalid_text")
        );
        assert_eq!(
            e("payment", json!({"invoice": 4, "amount": eur("5")})),
            None
        );
        assert_eq!(
            e("bid_disqualified", json!({"bid": 5, "reason": ""})),
            Some("invalid_text")
        );
        assert_eq!(
            e(
                "bid_disqualified",
                json!({"bid": 5, "reason": "Bid bond missing"})
            ),
            None
        );
        assert_eq!(
            e("approval", json!({"entry": 9, "decision": "approved"})),
            None
        );
    }

    #[test]
    fn approvals_record_one_decision() {
        let body = json!({"entry": 9, "decision": "approved"});
        let e = FundEntry::parse("approval", &body).unwrap();
        assert_eq!((e.kind(), e.body().unwrap()), ("approval", body));
        for bad in [
            json!({"entry": 9, "decision": "rejected"}),
            json!({"entry": 9}),
            json!({"entry": 9, "decision": "approved", "by": "someone"}),
        ] {
            assert_eq!(
                FundEntry::parse("approval", &bad).unwrap_err().code,
                "invalid_body"
            );
        }
    }
}
