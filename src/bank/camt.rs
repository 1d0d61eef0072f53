//! ISO 20022 `camt.053` (bank-to-customer statement) read into `Statement`s, pure.
//!
//! Versions `.001.02` and `.001.08` are read (the namespace of the root `Document` names
//! the version; any other is refused). What is read, and refused when missing or
//! malformed, is what reconciliation needs and the official schemas require: each
//! statement's `Id`, its account (`Acct/Id/IBAN` or `Acct/Id/Othr/Id`), its balances
//! (`Bal`: type code, `Amt` with `Ccy`, `CdtDbtInd`), and its entries (`Ntry`: `Amt`,
//! `CdtDbtInd`, status, booking date). Amounts follow the schemas' decimal type (at most
//! 18 digits, 5 of them decimals); currencies are three capital letters. The schemas
//! themselves (`schemas/iso20022/`) validate fixtures and generated statements in the
//! tests (docs/reconciliation.md, "Formats").

use chrono::NaiveDate;
use quick_xml::events::Event;
use quick_xml::Reader;
use rust_decimal::Decimal;

use super::statement::{Balance, Line, Statement, StatementError};

/// The namespaces read, and the format each is recorded as.
pub const VERSIONS: [(&str, &str); 2] = [
    (
        "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02",
        "camt.053.001.02",
    ),
    (
        "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08",
        "camt.053.001.08",
    ),
];

/// Text kept per field (the schemas' longest free text is 500 characters).
const TEXT_MAX_CHARS: usize = 500;

fn bad(detail: impl Into<String>) -> StatementError {
    StatementError::new("invalid_statement", detail)
}

/// A balance being read.
#[derive(Default)]
struct BalanceDraft {
    code: String,
    amount: Option<Decimal>,
    currency: String,
    credit: Option<bool>,
    date: Option<NaiveDate>,
}

/// An entry being read.
#[derive(Default)]
struct LineDraft {
    amount: Option<Decimal>,
    currency: String,
    credit: Option<bool>,
    status: String,
    booking_date: Option<NaiveDate>,
    value_date: Option<NaiveDate>,
    references: Vec<String>,
    debtor: String,
    creditor: String,
}

/// A statement being read.
#[derive(Default)]
struct StatementDraft {
    id: String,
    account: String,
    currency: String,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    balances: Vec<Balance>,
    lines: Vec<Line>,
}

/// Reads every statement of a camt.053 document.
pub fn parse(xml: &str) -> Result<Vec<Statement>, StatementError> {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut format: Option<&'static str> = None;
    let mut statements = Vec::new();
    let mut stmt: Option<StatementDraft> = None;
    let mut bal: Option<BalanceDraft> = None;
    let mut ntry: Option<LineDraft> = None;
    let mut amt_currency = String::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| bad(format!("not well-formed XML: {e}")))?;
        match event {
            Event::Start(e) | Event::Empty(e) if path.is_empty() && format.is_none() => {
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if local != "Document" {
                    return Err(bad(format!("the root element is {local}, not Document")));
                }
                let mut ns = None;
                for a in e.attributes().flatten() {
                    let key = a.key.as_ref();
                    if key == b"xmlns" || key.starts_with(b"xmlns:") {
                        let v = String::from_utf8_lossy(&a.value).into_owned();
                        if let Some((_, f)) = VERSIONS.iter().find(|(n, _)| *n == v) {
                            ns = Some(*f);
                        }
                    }
                }
                let f = ns.ok_or_else(|| {
                    StatementError::new(
                        "unsupported_format",
                        format!(
                            "the document is not camt.053 in a version read here ({})",
                            VERSIONS
                                .iter()
                                .map(|(_, f)| *f)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
                format = Some(f);
                path.push(local);
            }
            Event::Start(e) => {
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                text.clear();
                if local == "Amt" {
                    amt_currency.clear();
                    for a in e.attributes().flatten() {
                        if a.key.as_ref() == b"Ccy" {
                            amt_currency = String::from_utf8_lossy(&a.value).into_owned();
                        }
                    }
                }
                match (local.as_str(), path.last().map(String::as_str)) {
                    ("Stmt", Some("BkToCstmrStmt")) => stmt = Some(StatementDraft::default()),
                    ("Bal", Some("Stmt")) => bal = Some(BalanceDraft::default()),
                    ("Ntry", Some("Stmt")) => ntry = Some(LineDraft::default()),
                    _ => {}
                }
                path.push(local);
                if path.len() > 64 {
                    return Err(bad("elements nest deeper than 64 levels"));
                }
            }
            Event::Empty(_) => {}
            Event::Text(t) => {
                let s = t
                    .decode()
                    .map_err(|e| bad(format!("text is not UTF-8: {e}")))?;
                text.push_str(&s);
            }
            Event::CData(t) => text.push_str(&String::from_utf8_lossy(&t)),
            Event::GeneralRef(r) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| bad(format!("reference: {e}")))?;
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| bad(format!("unknown entity &{name};")))?;
                    text.push_str(resolved);
                }
            }
            Event::End(_) => {
                let value = text.trim().to_owned();
                text.clear();
                let rel = relative(&path);
                if let Some(b) = bal.as_mut() {
                    read_balance(b, &rel, &value, &amt_currency)?;
                }
                if let Some(n) = ntry.as_mut() {
                    read_line(n, &rel, &value, &amt_currency)?;
                }
                if let Some(s) = stmt.as_mut() {
                    read_statement(s, &rel, &value)?;
                }
                match rel.as_str() {
                    "Stmt/Bal" => {
                        if let (Some(b), Some(s)) = (bal.take(), stmt.as_mut()) {
                            s.balances.push(finish_balance(b, s.balances.len() + 1)?);
                        }
                    }
                    "Stmt/Ntry" => {
                        if let (Some(n), Some(s)) = (ntry.take(), stmt.as_mut()) {
                            let index = s.lines.len() + 1;
                            if let Some(line) = finish_line(n, index)? {
                                s.lines.push(line);
                            }
                        }
                    }
                    "Stmt" => {
                        if let (Some(s), Some(f)) = (stmt.take(), format) {
                            statements.push(finish_statement(s, f)?);
                        }
                    }
                    _ => {}
                }
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if format.is_none() {
        return Err(bad("the document has no Document element"));
    }
    if statements.is_empty() {
        return Err(bad("the document holds no statement (BkToCstmrStmt/Stmt)"));
    }
    Ok(statements)
}

/// The path below `Document/BkToCstmrStmt`, e.g. `Stmt/Ntry/Amt`.
fn relative(path: &[String]) -> String {
    path.get(2..).map(|p| p.join("/")).unwrap_or_default()
}

fn clip(s: &str) -> String {
    s.chars().take(TEXT_MAX_CHARS).collect()
}

fn date(value: &str, what: &str) -> Result<NaiveDate, StatementError> {
    // ISODate, or the date of an ISODateTime.
    value
        .get(..10)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| bad(format!("{what} {value:?} is not a date")))
}

/// An amount as the schemas' `ActiveOrHistoricCurrencyAndAmount`: at most 18 digits, 5
/// of them decimals, not negative.
pub fn amount(value: &str, what: &str) -> Result<Decimal, StatementError> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    let ok = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && (frac.len() <= 5)
        && (int.len() + frac.len() <= 18)
        && !(value.contains('.') && frac.is_empty());
    if !ok {
        return Err(bad(format!(
            "{what} {value:?} is not an amount (digits, at most 5 decimals, 18 digits in all)"
        )));
    }
    Decimal::from_str_exact(value).map_err(|e| bad(format!("{what} {value:?}: {e}")))
}

fn currency(value: &str, what: &str) -> Result<String, StatementError> {
    if value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(value.to_owned())
    } else {
        Err(bad(format!(
            "{what} currency {value:?} is not three capital letters"
        )))
    }
}

fn credit(value: &str) -> Result<bool, StatementError> {
    match value {
        "CRDT" => Ok(true),
        "DBIT" => Ok(false),
        other => Err(bad(format!("CdtDbtInd {other:?} is neither CRDT nor DBIT"))),
    }
}

fn read_statement(s: &mut StatementDraft, rel: &str, value: &str) -> Result<(), StatementError> {
    match rel {
        "Stmt/Id" => s.id = clip(value),
        "Stmt/Acct/Id/IBAN" | "Stmt/Acct/Id/Othr/Id" => s.account = clip(value),
        "Stmt/Acct/Ccy" => s.currency = currency(value, "Acct/Ccy")?,
        "Stmt/FrToDt/FrDtTm" => s.from = Some(date(value, "FrToDt/FrDtTm")?),
        "Stmt/FrToDt/ToDtTm" => s.to = Some(date(value, "FrToDt/ToDtTm")?),
        _ => {}
    }
    Ok(())
}

fn read_balance(
    b: &mut BalanceDraft,
    rel: &str,
    value: &str,
    amt_currency: &str,
) -> Result<(), StatementError> {
    match rel {
        "Stmt/Bal/Tp/CdOrPrtry/Cd" => b.code = clip(value),
        "Stmt/Bal/Amt" => {
            b.amount = Some(amount(value, "Bal/Amt")?);
            b.currency = currency(amt_currency, "Bal/Amt")?;
        }
        "Stmt/Bal/CdtDbtInd" => b.credit = Some(credit(value)?),
        "Stmt/Bal/Dt/Dt" | "Stmt/Bal/Dt/DtTm" => b.date = Some(date(value, "Bal/Dt")?),
        _ => {}
    }
    Ok(())
}

fn read_line(
    n: &mut LineDraft,
    rel: &str,
    value: &str,
    amt_currency: &str,
) -> Result<(), StatementError> {
    let Some(rest) = rel.strip_prefix("Stmt/Ntry/") else {
        return Ok(());
    };
    match rest {
        "Amt" => {
            n.amount = Some(amount(value, "Ntry/Amt")?);
            n.currency = currency(amt_currency, "Ntry/Amt")?;
        }
        "CdtDbtInd" => n.credit = Some(credit(value)?),
        // .001.02: `<Sts>BOOK</Sts>`; .001.08: `<Sts><Cd>BOOK</Cd></Sts>`.
        "Sts" | "Sts/Cd" | "Sts/Prtry" if !value.is_empty() => n.status = clip(value),
        "BookgDt/Dt" | "BookgDt/DtTm" => n.booking_date = Some(date(value, "Ntry/BookgDt")?),
        "ValDt/Dt" | "ValDt/DtTm" => n.value_date = Some(date(value, "Ntry/ValDt")?),
        "NtryRef"
        | "AcctSvcrRef"
        | "AddtlNtryInf"
        | "NtryDtls/TxDtls/Refs/EndToEndId"
        | "NtryDtls/TxDtls/Refs/InstrId"
        | "NtryDtls/TxDtls/RmtInf/Ustrd"
        | "NtryDtls/TxDtls/RmtInf/Strd/CdtrRefInf/Ref"
        | "NtryDtls/TxDtls/AddtlTxInf"
            if !value.is_empty() && value != "NOTPROVIDED" =>
        {
            n.references.push(clip(value));
        }
        "NtryDtls/TxDtls/RltdPties/Dbtr/Nm" | "NtryDtls/TxDtls/RltdPties/Dbtr/Pty/Nm" => {
            n.debtor = clip(value);
        }
        "NtryDtls/TxDtls/RltdPties/Cdtr/Nm" | "NtryDtls/TxDtls/RltdPties/Cdtr/Pty/Nm" => {
            n.creditor = clip(value);
        }
        _ => {}
    }
    Ok(())
}

fn finish_balance(b: BalanceDraft, index: usize) -> Result<Balance, StatementError> {
    let missing = |what: &str| bad(format!("balance {index} has no {what}"));
    let amount = b.amount.ok_or_else(|| missing("Amt"))?;
    let credit = b.credit.ok_or_else(|| missing("CdtDbtInd"))?;
    Ok(Balance {
        code: b.code,
        amount: if credit { amount } else { -amount },
        currency: b.currency,
        date: b.date,
    })
}

/// A booked entry as a line; pending and information-only entries are not (yet) money
/// that moved, and are left out.
fn finish_line(n: LineDraft, index: usize) -> Result<Option<Line>, StatementError> {
    let missing = |what: &str| bad(format!("entry {index} has no {what}"));
    let amount = n.amount.ok_or_else(|| missing("Amt"))?;
    let credit = n.credit.ok_or_else(|| missing("CdtDbtInd"))?;
    if !n.status.is_empty() && n.status != "BOOK" {
        return Ok(None);
    }
    let booking_date = n
        .booking_date
        .or(n.value_date)
        .ok_or_else(|| missing("BookgDt"))?;
    let mut references = n.references;
    references.dedup();
    Ok(Some(Line {
        booking_date,
        amount: if credit { amount } else { -amount },
        currency: n.currency,
        reference: clip(&references.join(" | ")),
        counterparty: if credit { n.debtor } else { n.creditor },
    }))
}

fn finish_statement(s: StatementDraft, format: &str) -> Result<Statement, StatementError> {
    if s.id.is_empty() {
        return Err(bad("a statement has no Id"));
    }
    if s.account.is_empty() {
        return Err(bad(format!(
            "statement {} names no account (Acct/Id/IBAN or Acct/Id/Othr/Id)",
            s.id
        )));
    }
    let pick = |codes: &[&str]| {
        codes
            .iter()
            .find_map(|c| s.balances.iter().find(|b| b.code == *c).cloned())
    };
    // Opening: the opening booked balance, else the previous closing booked one.
    let opening = pick(&["OPBD", "PRCD"]);
    let closing = pick(&["CLBD"]);
    let dates = s.lines.iter().map(|l| l.booking_date);
    let from = s
        .from
        .or_else(|| opening.as_ref().and_then(|b| b.date))
        .or_else(|| dates.clone().min())
        .ok_or_else(|| bad(format!("statement {} has no period and no entries", s.id)))?;
    let to =
        s.to.or_else(|| closing.as_ref().and_then(|b| b.date))
            .or_else(|| dates.max())
            .unwrap_or(from);
    Ok(Statement {
        format: format.to_owned(),
        statement_id: s.id,
        account: s.account,
        currency: (!s.currency.is_empty()).then_some(s.currency),
        from,
        to,
        opening,
        closing,
        lines: s.lines,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/camt053/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn reads_a_published_v02_statement() {
        let s = parse(&fixture("genkgo-camt053.v2.minimal.xml")).unwrap();
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(s.format, "camt.053.001.02");
        assert_eq!(s.statement_id, "253EURNL26VAYB8060476890");
        assert_eq!(s.account, "NL26VAYB8060476890");
        assert!(!s.lines.is_empty());
        assert!(s.lines.iter().all(|l| !l.amount.is_zero()));
        assert!(s.opening.is_some() && s.closing.is_some());
    }

    #[test]
    fn reads_every_statement_of_a_multi_statement_file() {
        let s = parse(&fixture("genkgo-camt053.v2.multi.statement.xml")).unwrap();
        assert!(s.len() >= 2, "{} statements", s.len());
        let ids: std::collections::BTreeSet<_> = s.iter().map(|s| &s.statement_id).collect();
        assert_eq!(ids.len(), s.len(), "statement ids are distinct");
    }

    #[test]
    fn reads_a_published_v08_statement_with_signed_balances() {
        let s = parse(&fixture("genkgo-camt053.v8.xml")).unwrap();
        let s = &s[0];
        assert_eq!(s.format, "camt.053.001.08");
        assert_eq!(s.account, "NL26VAYB8060476890");
        let opening = s.opening.as_ref().unwrap();
        assert_eq!(
            (opening.amount, opening.currency.as_str()),
            (d("18.15"), "EUR")
        );
        // The sample's closing booked balance is a debit: negative here.
        let closing = s.closing.as_ref().unwrap();
        assert_eq!(
            (closing.amount, closing.currency.as_str()),
            (d("-27.00"), "SEK")
        );
        assert_eq!(s.from, NaiveDate::from_ymd_opt(2007, 10, 18).unwrap());
        assert_eq!(s.lines[0].amount, d("8.85"));
        assert_eq!(
            s.lines[0].booking_date,
            NaiveDate::from_ymd_opt(2014, 12, 31).unwrap()
        );
    }

    #[test]
    fn keeps_amounts_exactly_as_written() {
        let s = parse(&fixture("genkgo-camt053.v2.five.decimals.xml")).unwrap();
        assert_eq!(s[0].lines[0].amount.to_string(), "8.850");
        assert_eq!(s[0].opening.as_ref().unwrap().amount.to_string(), "18.150");
    }

    #[test]
    fn refuses_what_is_not_camt053() {
        // A camt.053 document with a group header and no statement.
        let e = parse(&fixture("genkgo-camt053.v2.wrong.xml")).unwrap_err();
        assert_eq!(e.code, "invalid_statement", "{}", e.detail);
        let e = parse("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.052.001.02\"/>")
            .unwrap_err();
        assert_eq!(e.code, "unsupported_format");
        assert_eq!(parse("not xml <").unwrap_err().code, "invalid_statement");
        assert_eq!(parse("").unwrap_err().code, "invalid_statement");
    }

    #[test]
    fn refuses_malformed_amounts_and_indicators() {
        let doc = |amt: &str, ind: &str| {
            format!(
                "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt>\
                 <Stmt><Id>S1</Id><Acct><Id><IBAN>X1</IBAN></Id></Acct>\
                 <Ntry><Amt Ccy=\"EUR\">{amt}</Amt><CdtDbtInd>{ind}</CdtDbtInd><Sts>BOOK</Sts>\
                 <BookgDt><Dt>2026-01-02</Dt></BookgDt></Ntry></Stmt></BkToCstmrStmt></Document>"
            )
        };
        assert!(parse(&doc("10.00", "DBIT")).is_ok());
        assert_eq!(
            parse(&doc("10.00", "DBIT")).unwrap()[0].lines[0].amount,
            d("-10.00")
        );
        for (amt, ind) in [
            ("-1", "DBIT"),
            ("1.123456", "CRDT"),
            ("1e3", "CRDT"),
            ("5", "BOTH"),
        ] {
            assert_eq!(
                parse(&doc(amt, ind)).unwrap_err().code,
                "invalid_statement",
                "{amt} {ind}"
            );
        }
    }
}
