//! A bank's CSV export read into a `Statement` through a declared column mapping, pure.
//! Banks' CSV files differ in every respect (separator, date format, decimal comma, one
//! signed amount or separate debit and credit columns, no balances at all), so nothing is
//! guessed: the mapping names each column and gives what the file lacks (the statement's
//! id and its opening and closing balances).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::statement::{Balance, Line, Statement, StatementError, MAX_LINES};
use crate::money::parse_decimal;

/// How to read a CSV statement (docs/reconciliation.md, "CSV").
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvMapping {
    /// The statement's identification (unique per account): importing the same id twice
    /// records it once.
    pub statement_id: String,
    /// Opening and closing booked balances, signed decimal strings (debit negative).
    pub opening: String,
    pub closing: String,
    /// The period; by default from the first to the last booking date.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub from: Option<NaiveDate>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub to: Option<NaiveDate>,
    /// Field separator, one ASCII character; `,` by default.
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Header of the booking date column.
    pub date: String,
    /// chrono format of the dates, `%Y-%m-%d` by default (e.g. `%d.%m.%Y`).
    #[serde(default)]
    pub date_format: Option<String>,
    /// Header of a signed amount column (debits negative) ...
    #[serde(default)]
    pub amount: Option<String>,
    /// ... or of separate debit and credit columns (both positive, one of them empty).
    #[serde(default)]
    pub debit: Option<String>,
    #[serde(default)]
    pub credit: Option<String>,
    /// Amounts written with a decimal comma (`1.234,50`).
    #[serde(default)]
    pub decimal_comma: bool,
    /// Header of a currency column; the account's currency when absent.
    #[serde(default)]
    pub currency: Option<String>,
    /// Headers of the columns holding references (remittance text, end-to-end id).
    #[serde(default)]
    pub reference: Vec<String>,
    /// Header of the other party's name.
    #[serde(default)]
    pub counterparty: Option<String>,
}

fn bad(detail: impl Into<String>) -> StatementError {
    StatementError::new("invalid_statement", detail)
}

fn number(raw: &str, decimal_comma: bool, what: &str) -> Result<Decimal, StatementError> {
    let s: String = raw.trim().chars().filter(|c| *c != ' ').collect();
    let s = if decimal_comma {
        s.replace('.', "").replace(',', ".")
    } else {
        s.replace(',', "")
    };
    let s = s.strip_prefix('+').unwrap_or(&s).to_owned();
    parse_decimal(&s).map_err(|e| bad(format!("{what}: {e}")))
}

/// Reads `text` with `m`; `currency` is the account's.
pub fn parse(text: &str, m: &CsvMapping, currency: &str) -> Result<Statement, StatementError> {
    let delimiter = match m.delimiter.as_deref() {
        None => b',',
        Some(d) if d.len() == 1 && d.is_ascii() => d.as_bytes().first().copied().unwrap_or(b','),
        Some(d) => return Err(bad(format!("delimiter {d:?} is not one ASCII character"))),
    };
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| bad(format!("the header row: {e}")))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| bad(format!("no column {name:?} in the header row")))
    };
    let date_col = col(&m.date)?;
    let amounts = match (&m.amount, &m.debit, &m.credit) {
        (Some(a), None, None) => (Some(col(a)?), None, None),
        (None, Some(d), Some(c)) => (None, Some(col(d)?), Some(col(c)?)),
        _ => {
            return Err(bad(
                "the mapping names either amount, or both debit and credit",
            ))
        }
    };
    let currency_col = m.currency.as_deref().map(col).transpose()?;
    let reference_cols = m
        .reference
        .iter()
        .map(|r| col(r))
        .collect::<Result<Vec<_>, _>>()?;
    let counterparty_col = m.counterparty.as_deref().map(col).transpose()?;
    let format = m.date_format.as_deref().unwrap_or("%Y-%m-%d");
    let mut lines = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        let r = record.map_err(|e| bad(format!("row {row}: {e}")))?;
        if r.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if lines.len() >= MAX_LINES {
            return Err(StatementError::new(
                "statement_too_long",
                format!("a statement holds at most {MAX_LINES} lines"),
            ));
        }
        let field = |c: usize| r.get(c).unwrap_or("").trim();
        let booking_date = NaiveDate::parse_from_str(field(date_col), format).map_err(|_| {
            bad(format!(
                "row {row}: date {:?} does not match {format}",
                field(date_col)
            ))
        })?;
        let amount = match amounts {
            (Some(a), _, _) => number(field(a), m.decimal_comma, &format!("row {row} amount"))?,
            (None, Some(d), Some(c)) => match (field(d).is_empty(), field(c).is_empty()) {
                (false, true) => {
                    -number(field(d), m.decimal_comma, &format!("row {row} debit"))?.abs()
                }
                (true, false) => {
                    number(field(c), m.decimal_comma, &format!("row {row} credit"))?.abs()
                }
                _ => {
                    return Err(bad(format!(
                        "row {row}: exactly one of the debit and credit columns holds an amount"
                    )))
                }
            },
            _ => return Err(bad("the mapping names no amount column")),
        };
        if amount.is_zero() {
            return Err(bad(format!("row {row}: the amount is zero")));
        }
        let line_currency = currency_col.map_or(currency, field).to_owned();
        let reference = reference_cols
            .iter()
            .map(|c| field(*c))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" | ");
        lines.push(Line {
            booking_date,
            amount,
            currency: line_currency,
            reference: reference.chars().take(500).collect(),
            counterparty: counterparty_col
                .map(field)
                .unwrap_or("")
                .chars()
                .take(500)
                .collect(),
        });
    }
    let from = m
        .from
        .or_else(|| lines.iter().map(|l| l.booking_date).min())
        .ok_or_else(|| bad("the file has no line and the mapping gives no period"))?;
    let to =
        m.to.or_else(|| lines.iter().map(|l| l.booking_date).max())
            .unwrap_or(from);
    let balance = |code: &str, v: &str| -> Result<Balance, StatementError> {
        Ok(Balance {
            code: code.to_owned(),
            amount: parse_decimal(v).map_err(|e| bad(format!("{code}: {e}")))?,
            currency: currency.to_owned(),
            date: None,
        })
    };
    let id = m.statement_id.trim();
    if id.is_empty() || id.chars().count() > 200 {
        return Err(bad("statement_id is 1 to 200 characters"));
    }
    Ok(Statement {
        format: "csv".to_owned(),
        statement_id: id.to_owned(),
        account: String::new(),
        currency: Some(currency.to_owned()),
        from,
        to,
        opening: Some(balance("OPBD", &m.opening)?),
        closing: Some(balance("CLBD", &m.closing)?),
        lines,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn mapping() -> CsvMapping {
        serde_json::from_value(serde_json::json!({
            "statement_id": "2026-03", "opening": "1000,00", "closing": "0",
            "delimiter": ";", "date": "Buchungstag", "date_format": "%d.%m.%Y",
            "debit": "Soll", "credit": "Haben", "decimal_comma": true,
            "reference": ["Verwendungszweck"], "counterparty": "Name"
        }))
        .unwrap()
    }

    #[test]
    fn reads_debit_and_credit_columns_with_a_decimal_comma() {
        let text = "Buchungstag;Name;Verwendungszweck;Soll;Haben\n\
                    02.03.2026;ACME;FT-12 invoice 7;1.234,50;\n\
                    03.03.2026;Donor;grant;;500,00\n";
        let mut m = mapping();
        m.opening = "1000.00".to_owned();
        let s = parse(text, &m, "EUR").unwrap();
        assert_eq!(s.lines.len(), 2);
        assert_eq!(s.lines[0].amount, Decimal::from_str("-1234.50").unwrap());
        assert_eq!(s.lines[0].reference, "FT-12 invoice 7");
        assert_eq!(s.lines[1].amount, Decimal::from_str("500.00").unwrap());
        assert_eq!(s.from, NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
    }

    #[test]
    fn refuses_a_missing_column_or_a_bad_date() {
        let m = mapping();
        let e = parse("Datum;Soll;Haben\n", &m, "EUR").unwrap_err();
        assert!(e.detail.contains("Buchungstag"), "{}", e.detail);
        let mut m = mapping();
        m.opening = "0".to_owned();
        let text = "Buchungstag;Name;Verwendungszweck;Soll;Haben\n2026-03-02;A;B;1,00;\n";
        let e = parse(text, &m, "EUR").unwrap_err();
        assert_eq!(e.code, "invalid_statement");
        assert!(e.detail.contains("row 2"), "{}", e.detail);
    }
}
