//! The fund-flow entry kinds (docs/domain.md): pledges and contributions from donors,
//! allocations and disbursements to ministries, exchange rates and ministries' reported
//! expenditure. Each body is a struct that refuses unknown fields, with `check` for the
//! rules that need no database (positive amounts, minor units, date order, text lengths);
//! `rules` applies them to the fund's state. `Invalid` and the text and amount checks are
//! shared with the procurement kinds.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::money::{decimal_str, Currency, Money};
use crate::text::Text;

/// The kinds defined here, as recorded in the ledger's `kind` field.
pub const KINDS: [&str; 6] = [
    "pledge",
    "contribution",
    "allocation",
    "disbursement",
    "fx_rate",
    "expenditure",
];

/// A refusal that needs no database: 422 with this code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub detail: String,
}

/// A refusal with `code`.
pub fn invalid(code: &'static str, detail: impl Into<String>) -> Invalid {
    Invalid {
        code,
        detail: detail.into(),
    }
}

/// A positive amount in at most the currency's minor units.
pub fn amount(m: &Money, field: &str) -> Result<(), Invalid> {
    m.check(field).map_err(|d| invalid("invalid_amount", d))
}

/// A one-line text (a name, code, number or reference) of 1 to `max` characters without
/// surrounding spaces or any control character (`crate::text`).
pub fn text(s: &str, field: &str, max: usize) -> Result<(), Invalid> {
    bounded(s, field, max, Text::Line)
}

/// A free text (a description or reason) of 1 to `max` characters without surrounding
/// spaces; of the control characters it may hold line feeds, carriage returns and tabs.
pub fn free_text(s: &str, field: &str, max: usize) -> Result<(), Invalid> {
    bounded(s, field, max, Text::Free)
}

fn bounded(s: &str, field: &str, max: usize, kind: Text) -> Result<(), Invalid> {
    let n = s.trim().chars().count();
    if n == 0 || n > max || n != s.chars().count() {
        return Err(invalid(
            "invalid_text",
            format!("{field} must be 1 to {max} characters without surrounding spaces"),
        ));
    }
    crate::text::check(s, field, kind).map_err(|d| invalid("invalid_text", d))
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

impl Pledge {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        amount(&self.amount, "amount")?;
        text(&self.agreement, "agreement", 200)
    }
}

impl Contribution {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        amount(&self.amount, "amount")?;
        text(&self.agreement, "agreement", 200)
    }
}

impl Allocation {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        amount(&self.amount, "amount")?;
        text(&self.budget_line, "budget_line", 200)?;
        text(&self.category, "category", 100)?;
        if self.period_end < self.period_start {
            return Err(invalid(
                "invalid_dates",
                "period_end is before period_start",
            ));
        }
        Ok(())
    }
}

impl Disbursement {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        amount(&self.amount, "amount")?;
        match &self.tranche {
            Some(t) => text(t, "tranche", 100),
            None => Ok(()),
        }
    }
}

impl FxRate {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.rate <= Decimal::ZERO {
            return Err(invalid("invalid_amount", "rate must be positive"));
        }
        if self.base == self.quote {
            return Err(invalid("invalid_fx_rate", "base and quote are the same"));
        }
        text(&self.source, "source", 200)
    }
}

impl Expenditure {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        amount(&self.amount, "amount")?;
        text(&self.category, "category", 100)?;
        free_text(&self.description, "description", 500)
    }
}
