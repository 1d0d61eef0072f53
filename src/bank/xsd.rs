//! camt.053 files validated against the official ISO 20022 schema of their version
//! (`schemas/iso20022/`, compiled into the binary) with libxml2's XSD validator, before
//! anything of them is read or recorded (docs/reconciliation.md, "Formats").
//!
//! The schemas are compiled once per process, on one validator thread that owns them:
//! libxml2's compiled schemas and documents are not `Send`, and this crate forbids
//! `unsafe`, so callers hand the file to that thread and wait for its verdict (callers on
//! the async runtime do so on the blocking pool). Validations therefore run one at a
//! time; a statement file is at most a few megabytes and validates in milliseconds.

use std::sync::mpsc;
use std::sync::OnceLock;

use libxml::parser::{Parser, ParserOptions};
use libxml::schemas::{SchemaParserContext, SchemaValidationContext};

use super::statement::StatementError;

/// The official schemas: (namespace of the root `Document`, version, XSD).
const SCHEMAS: [(&str, &str, &[u8]); 2] = [
    (
        "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02",
        "camt.053.001.02",
        include_bytes!("../../schemas/iso20022/camt.053.001.02.xsd"),
    ),
    (
        "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08",
        "camt.053.001.08",
        include_bytes!("../../schemas/iso20022/camt.053.001.08.xsd"),
    ),
];

/// Violations named in a refusal; the count of the others is given.
pub const VIOLATIONS_SHOWN: usize = 5;

/// The stable code of a file that is not well-formed or does not conform to its schema.
pub const CODE: &str = "camt_invalid";

/// One way a file departs from its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// 1-based line of the offending element, where libxml2 knows it.
    pub line: Option<i32>,
    pub message: String,
}

/// The validator's verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid against the schema of this version.
    Valid(&'static str),
    /// The root's namespace is none of the versions read: left to the reader to refuse.
    UnknownVersion,
    /// Not well-formed XML.
    Malformed,
    /// Not valid against the schema of this version.
    Invalid(&'static str, Vec<Violation>),
}

type Job = (String, mpsc::SyncSender<Result<Verdict, String>>);

/// The validator thread's inbox, started on first use.
static VALIDATOR: OnceLock<Result<mpsc::Sender<Job>, String>> = OnceLock::new();

fn violations(errors: Vec<libxml::error::StructuredError>) -> Vec<Violation> {
    errors
        .into_iter()
        .map(|e| Violation {
            line: e.line,
            message: e
                .message
                .unwrap_or_default()
                .trim()
                .replace(['\n', '\r'], " "),
        })
        .collect()
}

/// The compiled schemas, by namespace. Fails only if a shipped schema does not compile.
fn compile() -> Result<Vec<(&'static str, &'static str, SchemaValidationContext)>, String> {
    SCHEMAS
        .iter()
        .map(|(ns, version, xsd)| {
            let mut parser = SchemaParserContext::from_buffer(xsd);
            SchemaValidationContext::from_parser(&mut parser)
                .map(|ctx| (*ns, *version, ctx))
                .map_err(|e| {
                    let first = violations(e).into_iter().next();
                    format!(
                        "the schema of {version} does not compile: {}",
                        first.map(|v| v.message).unwrap_or_default()
                    )
                })
        })
        .collect()
}

fn judge(
    schemas: &mut [(&'static str, &'static str, SchemaValidationContext)],
    xml: &str,
) -> Verdict {
    // Not recovering (a malformed file is refused, not repaired), never reaching the
    // network, loading no external DTD and substituting no external entity (libxml2's
    // defaults without XML_PARSE_NOENT / DTDLOAD).
    let options = ParserOptions {
        recover: false,
        no_net: true,
        no_error: true,
        no_warning: true,
        ..ParserOptions::default()
    };
    let Ok(doc) = Parser::default().parse_string_with_options(xml, options) else {
        return Verdict::Malformed;
    };
    let ns = doc
        .get_root_element()
        .filter(|root| root.get_name() == "Document")
        .and_then(|root| root.get_namespace())
        .map(|ns| ns.get_href());
    let Some(ns) = ns else {
        return Verdict::UnknownVersion;
    };
    let Some((_, version, ctx)) = schemas.iter_mut().find(|(n, _, _)| *n == ns) else {
        return Verdict::UnknownVersion;
    };
    match ctx.validate_document(&doc) {
        Ok(()) => Verdict::Valid(version),
        Err(errors) => Verdict::Invalid(version, violations(errors)),
    }
}

fn start() -> Result<mpsc::Sender<Job>, String> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("camt-xsd".to_owned())
        .spawn(move || {
            let mut schemas = compile();
            for (xml, reply) in rx {
                let verdict = match &mut schemas {
                    Ok(s) => Ok(judge(s, &xml)),
                    Err(e) => Err(e.clone()),
                };
                // The caller may have gone (a dropped request): nothing to tell.
                let _ = reply.send(verdict);
            }
        })
        .map_err(|e| format!("the schema validator did not start: {e}"))?;
    Ok(tx)
}

/// Validates a camt.053 file against the schema its root's namespace names. Blocks until
/// the validator thread answers. `Err` only if the validator cannot run (an internal
/// fault, not the file's).
pub fn verdict(xml: &str) -> Result<Verdict, String> {
    let tx = VALIDATOR
        .get_or_init(start)
        .as_ref()
        .map_err(Clone::clone)?;
    let (reply, answer) = mpsc::sync_channel(1);
    tx.send((xml.to_owned(), reply))
        .map_err(|_| "the schema validator stopped".to_owned())?;
    answer
        .recv()
        .map_err(|_| "the schema validator stopped".to_owned())?
}

/// The refusal of a file that is not well-formed or not valid, naming the first
/// violations with their lines.
pub fn refusal(verdict: &Verdict) -> Option<StatementError> {
    match verdict {
        Verdict::Valid(_) | Verdict::UnknownVersion => None,
        Verdict::Malformed => Some(StatementError::new(CODE, "the file is not well-formed XML")),
        Verdict::Invalid(version, found) => {
            let shown: Vec<String> = found
                .iter()
                .take(VIOLATIONS_SHOWN)
                .map(|v| match v.line {
                    Some(line) => format!("line {line}: {}", v.message),
                    None => v.message.clone(),
                })
                .collect();
            let more = found.len().saturating_sub(VIOLATIONS_SHOWN);
            Some(StatementError::new(
                CODE,
                format!(
                    "the file does not conform to the official {version} schema: {}{}",
                    shown.join("; "),
                    if more > 0 {
                        format!(" (and {more} more)")
                    } else {
                        String::new()
                    }
                ),
            ))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/camt053/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn the_published_samples_are_valid_against_their_schemas() {
        for (file, version) in [
            ("genkgo-camt053.v2.minimal.xml", "camt.053.001.02"),
            ("genkgo-camt053.v2.multi.statement.xml", "camt.053.001.02"),
            ("genkgo-camt053.v2.all-balance-types.xml", "camt.053.001.02"),
            ("genkgo-camt053.v2.five.decimals.xml", "camt.053.001.02"),
            ("genkgo-camt053.v8.xml", "camt.053.001.08"),
        ] {
            assert_eq!(
                verdict(&fixture(file)).unwrap(),
                Verdict::Valid(version),
                "{file}"
            );
        }
    }

    #[test]
    fn an_element_out_of_order_and_a_bad_amount_are_named_with_their_lines() {
        let xml = fixture("genkgo-camt053.v2.minimal.xml");
        // CdtDbtInd before Amt in the first balance: out of the schema's sequence.
        let amt_start = xml.find("<Amt").unwrap();
        let amt_end = xml[amt_start..].find("</Amt>").unwrap() + amt_start + "</Amt>".len();
        let ind_start = xml[amt_end..].find("<CdtDbtInd>").unwrap() + amt_end;
        let ind_end =
            xml[ind_start..].find("</CdtDbtInd>").unwrap() + ind_start + "</CdtDbtInd>".len();
        let swapped = format!(
            "{}{}{}{}{}",
            &xml[..amt_start],
            &xml[ind_start..ind_end],
            &xml[amt_end..ind_start],
            &xml[amt_start..amt_end],
            &xml[ind_end..]
        );
        let line = xml[..amt_start].matches('\n').count() + 1;
        let Verdict::Invalid(version, found) = verdict(&swapped).unwrap() else {
            panic!("an element out of order was accepted");
        };
        assert_eq!(version, "camt.053.001.02");
        assert!(found[0].message.contains("CdtDbtInd"), "{found:?}");
        assert_eq!(found[0].line, Some(i32::try_from(line).unwrap()));
        let e = refusal(&Verdict::Invalid(version, found)).unwrap();
        assert_eq!(e.code, "camt_invalid");
        assert!(e.detail.contains(&format!("line {line}:")), "{}", e.detail);

        // An amount with a comma and six decimals is not the schema's decimal.
        let amount = &xml[amt_start..amt_end];
        let value_start = amount.find('>').unwrap() + 1;
        let bad = format!(
            "{}{}12,345678</Amt>{}",
            &xml[..amt_start],
            &amount[..value_start],
            &xml[amt_end..]
        );
        let Verdict::Invalid(_, found) = verdict(&bad).unwrap() else {
            panic!("a bad amount was accepted");
        };
        assert!(found[0].message.contains("12,345678"), "{found:?}");
        assert_eq!(found[0].line, Some(i32::try_from(line).unwrap()));
    }

    #[test]
    fn malformed_files_are_refused_and_other_documents_left_to_the_reader() {
        assert_eq!(
            verdict("<Document><BkToCstmrStmt></Document>").unwrap(),
            Verdict::Malformed
        );
        assert!(refusal(&Verdict::Malformed).is_some());
        assert_eq!(
            verdict("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.052.001.02\"/>")
                .unwrap(),
            Verdict::UnknownVersion
        );
        assert!(refusal(&Verdict::UnknownVersion).is_none());
    }
}
