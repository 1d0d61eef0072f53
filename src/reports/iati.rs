//! IATI 2.03 activity XML (docs/exports.md, "IATI"): the fund is one `iati-activity`,
//! its money flows are `transaction`s. Pure: what to write comes in, XML goes out; the
//! element order is the XSD's (`iati-activities-schema.xsd`), which is a sequence, so
//! every element must come in exactly that order.
//!
//! Also the kind → transaction-type mapping and the provider/receiver of each kind, which
//! the ledger CSV shares.

use std::io::Write;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::pin::PinnedCheckpoint;

/// IATI TransactionType code and name (codelist `TransactionType`, version 2.03) of an
/// entry kind; `None` for kinds that move no money between the fund's parties
/// (procurement steps, rates, screening settings). A reversal takes its reversed kind's.
pub fn transaction_type(kind: &str) -> Option<(&'static str, &'static str)> {
    match kind {
        "contribution" => Some(("1", "Incoming Funds")),
        "allocation" => Some(("2", "Outgoing Commitment")),
        "disbursement" => Some(("3", "Disbursement")),
        "payment" | "expenditure" => Some(("4", "Expenditure")),
        "pledge" => Some(("13", "Incoming Pledge")),
        _ => None,
    }
}

/// The kinds the fund's own activity reports as transactions: its incoming pledges and
/// funds, its commitments to ministries and its disbursements to them. What a ministry
/// spends (payments, expenditures: type 4) is the ministry's own transaction, not the
/// fund's: listed beside the disbursements (type 3) that financed it, tools that add 3 and 4
/// would count the same money twice (docs/exports.md, "No money counted twice").
pub const ACTIVITY_KINDS: [&str; 4] = ["pledge", "contribution", "allocation", "disbursement"];

/// The sector of the fund's activity: DAC 5-digit purpose code 15210, "Security system
/// management and reform" (vocabulary 1, OECD DAC CRS), what the pooled funds fundtrail
/// records finance; the IATI ruleset requires a sector on the activity or on every
/// transaction.
pub const SECTOR_DAC5: (&str, &str) = ("15210", "Security system management and reform");

/// Kinds that are IATI transactions.
pub const TRANSACTION_KINDS: [&str; 6] = [
    "pledge",
    "contribution",
    "allocation",
    "disbursement",
    "expenditure",
    "payment",
];

/// The kind an entry counts as: a reversal counts as the kind it reverses.
pub fn effective_kind<'a>(kind: &'a str, ref_kind: Option<&'a str>) -> &'a str {
    if kind == "reversal" {
        ref_kind.unwrap_or(kind)
    } else {
        kind
    }
}

/// A party of an entry, resolved against its index row and the fund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Donor,
    Secretariat,
    Ministry,
    Vendor,
}

/// Where the money of an (effective) kind comes from and goes to. Procurement steps name
/// the buyer and the bidder or supplier, as the money will flow when paid.
pub fn flow(kind: &str) -> (Option<Party>, Option<Party>) {
    use Party::{Donor, Ministry, Secretariat, Vendor};
    match kind {
        "pledge" | "contribution" => (Some(Donor), Some(Secretariat)),
        "allocation" | "disbursement" => (Some(Secretariat), Some(Ministry)),
        "expenditure" | "tender" => (Some(Ministry), None),
        "payment" | "bid" | "award" | "contract" | "contract_amendment" | "invoice" => {
            (Some(Ministry), Some(Vendor))
        }
        _ => (None, None),
    }
}

/// IATI OrganisationRole codes (codelist `OrganisationRole`, version 2.03).
pub const ROLE_FUNDING: &str = "1";
pub const ROLE_EXTENDING: &str = "3";
pub const ROLE_IMPLEMENTING: &str = "4";

/// The reporting organisation's `@ref` (which the XSD requires): its IATI organisation
/// identifier, or, while none is recorded, the local and unregistered `FUNDTRAIL-{id}`
/// (docs/exports.md says what that means for publishing).
pub fn reporting_ref(o: &Org) -> String {
    o.iati_ref
        .clone()
        .unwrap_or_else(|| format!("FUNDTRAIL-{}", o.id))
}

/// An organisation as IATI names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    pub id: Uuid,
    pub name: String,
    /// Its IATI organisation identifier (`{RegistrationAgency}-{RegistrationNumber}`),
    /// when one is recorded: the `@ref` of the elements that name it, which have none
    /// otherwise (the narrative names it).
    pub iati_ref: Option<String>,
}

/// Everything the activity says before its transactions.
#[derive(Debug, Clone)]
pub struct Activity {
    pub fund: Uuid,
    pub title: String,
    pub currency: String,
    pub secretariat: Org,
    pub checkpoint: PinnedCheckpoint,
    pub donors: Vec<Org>,
    pub ministries: Vec<Org>,
    /// Earliest pledge or contribution: the actual start.
    pub first_funding: Option<NaiveDate>,
    /// When the fund was created: the planned start while nothing was pledged or received.
    pub created_on: NaiveDate,
}

/// One transaction.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// The entry's seq.
    pub seq: u64,
    pub type_code: &'static str,
    pub date: NaiveDate,
    /// Negative for a reversal.
    pub value: Decimal,
    pub currency: String,
    pub description: Option<String>,
    pub provider: Option<Org>,
    pub receiver: Option<Org>,
}

/// `YYYY-MM-DDThh:mm:ssZ`.
fn datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Text as XML 1.0 allows it: characters outside its `Char` production (most C0 controls)
/// become U+FFFD, so no recorded text can make the document ill-formed.
pub fn xml_text(s: &str) -> std::borrow::Cow<'_, str> {
    let ok = |c: char| {
        matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{D7FF}').contains(&c)
            || ('\u{E000}'..='\u{FFFD}').contains(&c)
            || c >= '\u{10000}'
    };
    if s.chars().all(ok) {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(
            s.chars()
                .map(|c| if ok(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

/// The checkpoint comment: a comment may not contain `--` nor end with `-`; the signed
/// note never does (base64, an em dash), but if an operator's log name did, the note is
/// given base64-encoded instead of verbatim.
fn checkpoint_comment(cp: &PinnedCheckpoint) -> String {
    use base64::Engine as _;
    let head = format!(
        " fundtrail checkpoint: chain {} tree_size {} root_hash {} signed_at {}.\n     \
         The export holds exactly the entries with seq < tree_size. Signed note:\n",
        cp.chain,
        cp.tree_size,
        cp.root_hash,
        datetime(cp.signed_at)
    );
    if cp.note.contains("--") || cp.note.ends_with('-') {
        format!(
            "{head}note_base64 {} ",
            base64::engine::general_purpose::STANDARD.encode(cp.note.as_bytes())
        )
    } else {
        format!("{head}{}", cp.note)
    }
}

/// Writes the activity file: `start`, then each `transaction`, then `finish`.
pub struct IatiWriter<W: Write> {
    w: quick_xml::Writer<W>,
}

impl<W: Write> IatiWriter<W> {
    pub fn start(out: W, a: &Activity) -> std::io::Result<Self> {
        let mut me = Self {
            w: quick_xml::Writer::new_with_indent(out, b' ', 1),
        };
        let generated = datetime(a.checkpoint.signed_at);
        me.w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        me.w.write_event(Event::Start(
            BytesStart::new("iati-activities").with_attributes([
                ("version", "2.03"),
                ("generated-datetime", generated.as_str()),
            ]),
        ))?;
        me.w.write_event(Event::Comment(BytesText::from_escaped(checkpoint_comment(
            &a.checkpoint,
        ))))?;
        let secretariat_ref = reporting_ref(&a.secretariat);
        me.w.write_event(Event::Start(
            BytesStart::new("iati-activity").with_attributes([
                ("last-updated-datetime", generated.as_str()),
                ("xml:lang", "en"),
                ("default-currency", a.currency.as_str()),
            ]),
        ))?;
        me.text_element("iati-identifier", &format!("{secretariat_ref}-{}", a.fund))?;
        me.open(
            "reporting-org",
            // OrganisationType 40: multilateral, what pooled-fund secretariats usually are.
            &[("ref", secretariat_ref.as_str()), ("type", "40")],
        )?;
        me.narrative(&a.secretariat.name)?;
        me.close("reporting-org")?;
        me.open("title", &[])?;
        me.narrative(&a.title)?;
        me.close("title")?;
        me.open("description", &[("type", "1")])?;
        me.narrative(&format!(
            "Pooled fund {} in {}, as recorded in the fundtrail ledger: every transaction \
             is a ledger entry of chain {} below the signed checkpoint of size {} (root {}).",
            a.title, a.currency, a.checkpoint.chain, a.checkpoint.tree_size, a.checkpoint.root_hash
        ))?;
        me.close("description")?;
        for d in &a.donors {
            me.participant(d, ROLE_FUNDING)?;
        }
        me.participant(&a.secretariat, ROLE_EXTENDING)?;
        for m in &a.ministries {
            me.participant(m, ROLE_IMPLEMENTING)?;
        }
        // ActivityStatus 2: implementation (docs/exports.md says why never 3 or 4).
        me.empty("activity-status", &[("code", "2")])?;
        match a.first_funding {
            // ActivityDateType 2: actual start.
            Some(d) => me.empty(
                "activity-date",
                &[("type", "2"), ("iso-date", &d.to_string())],
            )?,
            // ActivityDateType 1: planned start.
            None => me.empty(
                "activity-date",
                &[("type", "1"), ("iso-date", &a.created_on.to_string())],
            )?,
        }
        // The whole activity in one sector (the ruleset wants one on the activity or on
        // every transaction).
        let (code, name) = SECTOR_DAC5;
        me.open(
            "sector",
            &[("vocabulary", "1"), ("code", code), ("percentage", "100")],
        )?;
        me.narrative(name)?;
        me.close("sector")?;
        Ok(me)
    }

    pub fn transaction(&mut self, t: &Transaction) -> std::io::Result<()> {
        let date = t.date.to_string();
        self.open("transaction", &[("ref", &t.seq.to_string())])?;
        self.empty("transaction-type", &[("code", t.type_code)])?;
        self.empty("transaction-date", &[("iso-date", &date)])?;
        self.w
            .write_event(Event::Start(BytesStart::new("value").with_attributes([
                ("currency", t.currency.as_str()),
                ("value-date", date.as_str()),
            ])))?;
        self.w
            .write_event(Event::Text(BytesText::new(&t.value.to_string())))?;
        self.close("value")?;
        if let Some(d) = &t.description {
            self.open("description", &[])?;
            self.narrative(d)?;
            self.close("description")?;
        }
        for (tag, org) in [("provider-org", &t.provider), ("receiver-org", &t.receiver)] {
            if let Some(o) = org {
                match &o.iati_ref {
                    Some(r) => self.open(tag, &[("ref", r.as_str())])?,
                    None => self.open(tag, &[])?,
                }
                self.narrative(&o.name)?;
                self.close(tag)?;
            }
        }
        self.close("transaction")
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.close("iati-activity")?;
        self.close("iati-activities")?;
        let mut out = self.w.into_inner();
        out.write_all(b"\n")?;
        Ok(out)
    }

    fn participant(&mut self, o: &Org, role: &str) -> std::io::Result<()> {
        match &o.iati_ref {
            Some(r) => self.open("participating-org", &[("ref", r.as_str()), ("role", role)])?,
            None => self.open("participating-org", &[("role", role)])?,
        }
        self.narrative(&o.name)?;
        self.close("participating-org")
    }

    fn open(&mut self, tag: &str, attrs: &[(&str, &str)]) -> std::io::Result<()> {
        self.w.write_event(Event::Start(
            BytesStart::new(tag).with_attributes(attrs.iter().copied()),
        ))
    }

    fn empty(&mut self, tag: &str, attrs: &[(&str, &str)]) -> std::io::Result<()> {
        self.w.write_event(Event::Empty(
            BytesStart::new(tag).with_attributes(attrs.iter().copied()),
        ))
    }

    fn close(&mut self, tag: &str) -> std::io::Result<()> {
        self.w.write_event(Event::End(BytesEnd::new(tag)))
    }

    fn text_element(&mut self, tag: &str, text: &str) -> std::io::Result<()> {
        self.open(tag, &[])?;
        self.w
            .write_event(Event::Text(BytesText::new(&xml_text(text))))?;
        self.close(tag)
    }

    fn narrative(&mut self, text: &str) -> std::io::Result<()> {
        self.text_element("narrative", text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cp() -> PinnedCheckpoint {
        PinnedCheckpoint {
            chain: Uuid::nil(),
            tree_size: 3,
            root_hash: "ab".repeat(32),
            signed_at: DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
            note: "test.fundtrail/00000000-0000-0000-0000-000000000000\n3\nq83v\n\n\u{2014} test.fundtrail AAAA\n"
                .to_owned(),
        }
    }

    fn org(n: u128, name: &str) -> Org {
        Org {
            id: Uuid::from_u128(n),
            name: name.to_owned(),
            iati_ref: (n == 2).then(|| "XM-DAC-8".to_owned()),
        }
    }

    #[test]
    fn codes_follow_the_mapping_and_reversals_take_the_reversed_kind() {
        assert_eq!(
            transaction_type("contribution"),
            Some(("1", "Incoming Funds"))
        );
        assert_eq!(transaction_type("pledge"), Some(("13", "Incoming Pledge")));
        assert_eq!(transaction_type("tender"), None);
        assert_eq!(
            effective_kind("reversal", Some("disbursement")),
            "disbursement"
        );
        assert_eq!(effective_kind("payment", None), "payment");
        for k in TRANSACTION_KINDS {
            assert!(transaction_type(k).is_some(), "{k}");
        }
    }

    #[test]
    fn writes_the_elements_in_schema_order_escaped() {
        let a = Activity {
            fund: Uuid::from_u128(9),
            title: "Fund <A> & B".to_owned(),
            currency: "EUR".to_owned(),
            secretariat: org(1, "Secretariat"),
            checkpoint: cp(),
            donors: vec![org(2, "Donor \"N\"")],
            ministries: vec![org(3, "Ministry\u{1}")],
            first_funding: NaiveDate::from_ymd_opt(2026, 3, 2),
            created_on: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        };
        let mut w = IatiWriter::start(Vec::new(), &a).unwrap();
        w.transaction(&Transaction {
            seq: 7,
            type_code: "3",
            date: NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(),
            value: Decimal::new(-2_500_000, 2),
            currency: "EUR".to_owned(),
            description: Some("Reversal of entry 5".to_owned()),
            provider: Some(org(1, "Secretariat")),
            receiver: Some(org(3, "Ministry")),
        })
        .unwrap();
        let xml = String::from_utf8(w.finish().unwrap()).unwrap();
        let order = [
            "<iati-identifier>",
            "<reporting-org",
            "<title>",
            "<description",
            "role=\"1\"",
            "role=\"3\"",
            "role=\"4\"",
            "<activity-status code=\"2\"/>",
            "<activity-date type=\"2\" iso-date=\"2026-03-02\"/>",
            "<sector vocabulary=\"1\" code=\"15210\" percentage=\"100\">",
            "<transaction ref=\"7\">",
            "<transaction-type code=\"3\"/>",
            "<value currency=\"EUR\" value-date=\"2026-04-01\">-25000.00</value>",
            "<provider-org",
            "<receiver-org",
        ];
        let mut at = 0;
        for item in order {
            let found = xml[at..]
                .find(item)
                .unwrap_or_else(|| panic!("{item} in {xml}"));
            at += found;
        }
        assert!(xml.contains("Fund &lt;A&gt; &amp; B"), "{xml}");
        // A recorded IATI identifier is the ref; without one, the reporting org has the
        // local ref and the others only their narrative.
        assert!(
            xml.contains("<participating-org ref=\"XM-DAC-8\" role=\"1\">"),
            "{xml}"
        );
        assert!(xml.contains("<participating-org role=\"4\">"), "{xml}");
        assert!(xml.contains("<reporting-org ref=\"FUNDTRAIL-00000000-0000-0000-0000-000000000001\" type=\"40\">"), "{xml}");
        assert!(xml.contains("<receiver-org>"), "{xml}");
        assert!(xml.contains("Ministry\u{FFFD}"), "{xml}");
        assert!(xml.contains("<!-- fundtrail checkpoint: chain"), "{xml}");
        assert!(!xml.contains("\u{1}"));
    }

    #[test]
    fn a_note_that_would_break_the_comment_is_base64() {
        let mut c = cp();
        c.note = "weird--name\n1\n".to_owned();
        let text = checkpoint_comment(&c);
        assert!(!text.contains("--"));
        assert!(text.contains("note_base64"));
    }
}
