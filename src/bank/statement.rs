//! A bank statement as fundtrail records it, whichever format it came in (`camt`, `csv`),
//! and the checks made before it is recorded: the account and currency it must be for,
//! and its balances against its lines. Pure.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::money::decimal_str;

/// Lines per statement, at most (a daily or monthly statement of one account).
pub const MAX_LINES: usize = 5_000;

/// Why a statement is refused: a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementError {
    pub code: &'static str,
    pub detail: String,
}

impl StatementError {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// A balance of a statement: signed (credit positive, debit negative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// The ISO 20022 balance type code (`OPBD`, `PRCD`, `CLBD`, ...).
    pub code: String,
    pub amount: Decimal,
    pub currency: String,
    pub date: Option<NaiveDate>,
}

/// A booked line of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Line {
    #[schema(value_type = String, format = Date)]
    pub booking_date: NaiveDate,
    /// Signed: a credit positive, a debit negative.
    #[serde(with = "decimal_str")]
    #[schema(value_type = String, example = "-1250.00")]
    pub amount: Decimal,
    pub currency: String,
    /// The references the bank reported (end-to-end id, remittance information, ...),
    /// joined with ` | `.
    pub reference: String,
    /// The other party's name, when the bank reported it.
    pub counterparty: String,
}

/// A statement as read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `camt.053.001.02`, `camt.053.001.08` or `csv`.
    pub format: String,
    pub statement_id: String,
    /// The account as the statement names it.
    pub account: String,
    pub currency: Option<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub opening: Option<Balance>,
    pub closing: Option<Balance>,
    pub lines: Vec<Line>,
}

/// The body of a `bank_statement` entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementBody {
    /// The registered account's id.
    pub account: uuid::Uuid,
    pub format: String,
    pub statement_id: String,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub currency: String,
    #[serde(with = "decimal_str")]
    #[schema(value_type = String)]
    pub opening: Decimal,
    #[serde(with = "decimal_str")]
    #[schema(value_type = String)]
    pub closing: Decimal,
    pub lines: Vec<Line>,
}

/// The account identifier as compared: no spaces, capitals.
pub fn normalise_account(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Checks `s` against the registered account (`account`, `currency`) and its own
/// balances, and turns it into the entry body. A statement whose opening balance plus its
/// lines is not its closing balance is refused (`statement_unbalanced`): the bank's own
/// document is then incomplete or altered, and recording it would match against lines
/// that are not all there.
pub fn check(
    s: &Statement,
    account_id: uuid::Uuid,
    account: &str,
    currency: &str,
) -> Result<StatementBody, StatementError> {
    if normalise_account(&s.account) != normalise_account(account) {
        return Err(StatementError::new(
            "account_mismatch",
            format!(
                "statement {} is for account {}, not the registered {account}",
                s.statement_id, s.account
            ),
        ));
    }
    if s.lines.len() > MAX_LINES {
        return Err(StatementError::new(
            "statement_too_long",
            format!("a statement holds at most {MAX_LINES} lines"),
        ));
    }
    let wrong_currency = |what: &str, got: &str| {
        StatementError::new(
            "currency_mismatch",
            format!(
                "statement {}: {what} is in {got}; the account is in {currency}",
                s.statement_id
            ),
        )
    };
    if let Some(c) = s.currency.as_deref().filter(|c| *c != currency) {
        return Err(wrong_currency("the account", c));
    }
    let (opening, closing) = match (&s.opening, &s.closing) {
        (Some(o), Some(c)) => (o, c),
        _ => {
            return Err(StatementError::new(
                "statement_unbalanced",
                format!(
                    "statement {} lacks an opening (OPBD or PRCD) or closing (CLBD) booked balance",
                    s.statement_id
                ),
            ))
        }
    };
    for b in [opening, closing] {
        if b.currency != currency {
            return Err(wrong_currency(&format!("balance {}", b.code), &b.currency));
        }
    }
    let mut sum = opening.amount;
    for (i, l) in s.lines.iter().enumerate() {
        if l.currency != currency {
            return Err(wrong_currency(&format!("line {}", i + 1), &l.currency));
        }
        if l.booking_date < s.from || l.booking_date > s.to {
            return Err(StatementError::new(
                "invalid_statement",
                format!(
                    "statement {} line {} is booked on {}, outside the statement's {} to {}",
                    s.statement_id,
                    i + 1,
                    l.booking_date,
                    s.from,
                    s.to
                ),
            ));
        }
        sum = sum
            .checked_add(l.amount)
            .ok_or_else(|| StatementError::new("invalid_statement", "the lines' sum overflows"))?;
    }
    if sum != closing.amount {
        return Err(StatementError::new(
            "statement_unbalanced",
            format!(
                "statement {}: opening {} plus its lines is {sum}, but its closing balance is {}",
                s.statement_id, opening.amount, closing.amount
            ),
        ));
    }
    Ok(StatementBody {
        account: account_id,
        format: s.format.clone(),
        statement_id: s.statement_id.clone(),
        from: s.from,
        to: s.to,
        currency: currency.to_owned(),
        opening: opening.amount,
        closing: closing.amount,
        lines: s.lines.clone(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    fn stmt(opening: &str, lines: &[&str], closing: &str) -> Statement {
        let bal = |code: &str, a: &str| Balance {
            code: code.to_owned(),
            amount: Decimal::from_str(a).unwrap(),
            currency: "EUR".to_owned(),
            date: None,
        };
        Statement {
            format: "csv".to_owned(),
            statement_id: "S1".to_owned(),
            account: "NL26 VAYB 8060 4768 90".to_owned(),
            currency: None,
            from: day(1),
            to: day(31),
            opening: Some(bal("OPBD", opening)),
            closing: Some(bal("CLBD", closing)),
            lines: lines
                .iter()
                .map(|a| Line {
                    booking_date: day(2),
                    amount: Decimal::from_str(a).unwrap(),
                    currency: "EUR".to_owned(),
                    reference: String::new(),
                    counterparty: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_balanced_statement_for_the_account_is_accepted() {
        let s = stmt("100.00", &["50.00", "-30.00"], "120.00");
        let body = check(&s, uuid::Uuid::nil(), "nl26vayb8060476890", "EUR").unwrap();
        assert_eq!(body.lines.len(), 2);
        assert_eq!(body.closing, Decimal::from_str("120.00").unwrap());
    }

    #[test]
    fn an_unbalanced_statement_is_refused() {
        let s = stmt("100.00", &["50.00", "-30.00"], "121.00");
        let e = check(&s, uuid::Uuid::nil(), "NL26VAYB8060476890", "EUR").unwrap_err();
        assert_eq!(e.code, "statement_unbalanced");
        assert!(
            e.detail.contains("120.00") && e.detail.contains("121.00"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn another_account_or_currency_is_refused() {
        let s = stmt("0", &[], "0");
        let e = check(&s, uuid::Uuid::nil(), "DE89370400440532013000", "EUR").unwrap_err();
        assert_eq!(e.code, "account_mismatch");
        let e = check(&s, uuid::Uuid::nil(), "NL26VAYB8060476890", "USD").unwrap_err();
        assert_eq!(e.code, "currency_mismatch");
    }
}
