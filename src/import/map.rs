//! From one OCDS release to the fund entries that record its contracting process
//! (docs/import.md has the mapping table). Pure: no database. Parties and references
//! between entries are left as placeholders that the importer resolves
//! (`{"$ministry": 0}`, `{"$party": i}` for the i-th party of the plan, `{"$ref": key}`
//! for the seq of the entry with that idempotency key), so the same plan serves a first
//! import and a re-import, where the referenced entries are already in the chain.
//!
//! An element the domain cannot record (an award that is not active, a transaction that
//! would invoice more than the contract, an amount of zero, ...) is skipped with a reason,
//! and so is everything that depends on it; the rest of the process is still recorded.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate};
use rust_decimal::Decimal;
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

use super::model::{self, Id, OrgRef, Release};
use crate::entries::kinds::{Dq, Finding, FundEntry, Imported, Method, TenderStatus};
use crate::money::{parse_decimal, Currency, Money};

/// Longest text the domain takes in a tender title, category and amendment reason.
const TITLE_MAX_CHARS: usize = 300;
const CATEGORY_MAX_CHARS: usize = 100;
const REASON_MAX_CHARS: usize = 500;
const NAME_MAX_CHARS: usize = 200;
/// Elements of one release beyond these are skipped (a release is imported in one
/// append, at most `MAX_BATCH_ENTRIES` entries).
pub const MAX_ENTRIES_PER_PROCESS: usize = crate::ledger::writer::MAX_BATCH_ENTRIES;

/// One entry to append, with placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// Its idempotency key, derived from the ocid and the element's ids.
    pub key: String,
    /// The OCDS element it comes from, for the report (`bid 2`, `contract c1 transaction 3`).
    pub element: String,
    pub kind: &'static str,
    pub date: NaiveDate,
    pub body: Json,
}

/// A party a plan refers to: how the importer finds (or creates) its organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyRef {
    pub ocds_id: Option<String>,
    pub name: Option<String>,
    /// `(scheme, id)` of the party's `identifier`, when the release gives one.
    pub identifier: Option<(String, String)>,
}

impl PartyRef {
    pub fn label(&self) -> String {
        match (&self.name, &self.identifier, &self.ocds_id) {
            (Some(n), _, _) => n.clone(),
            (None, Some((s, i)), _) => format!("{s}/{i}"),
            (None, None, Some(id)) => format!("party {id}"),
            (None, None, None) => "unnamed party".to_owned(),
        }
    }
}

/// Something left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// Stable code (docs/import.md lists them).
    pub reason: &'static str,
    pub element: String,
    pub detail: String,
}

/// What one release becomes.
#[derive(Debug, Clone)]
pub struct Plan {
    pub ocid: String,
    /// The buyer (or procuring entity): the ministry the entries are recorded for.
    pub buyer: Option<PartyRef>,
    /// Vendors, indexed by the `$party` placeholders.
    pub parties: Vec<PartyRef>,
    pub entries: Vec<Planned>,
    pub skips: Vec<Skip>,
    /// Data-quality findings the entries record.
    pub findings: usize,
}

/// A bid status as the domain reads it: the OCDS codelist (`invited`, `pending`,
/// `valid`, `disqualified`, `withdrawn`), which a publisher's own words map to with
/// `--bid-status WORD=CODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BidStatus {
    Invited,
    Pending,
    Valid,
    Disqualified,
    Withdrawn,
}

impl BidStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "invited" => Some(BidStatus::Invited),
            "pending" => Some(BidStatus::Pending),
            "valid" => Some(BidStatus::Valid),
            "disqualified" => Some(BidStatus::Disqualified),
            "withdrawn" => Some(BidStatus::Withdrawn),
            _ => None,
        }
    }
}

/// What a publisher's own award status means (`--award-status WORD=MEANING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwardStatus {
    /// An award in effect, recorded like the codelist's `active` (a publisher that
    /// leaves `pending` the awards whose contracts it signed and paid).
    Active,
    /// The supplier was ruled out: the award is not recorded and the supplier's bid on
    /// the award's lot is recorded as disqualified (Prozorro's `unsuccessful`: the
    /// qualification of the bidder failed, and the next bid was examined).
    Disqualified,
}

impl AwardStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(AwardStatus::Active),
            "disqualified" => Some(AwardStatus::Disqualified),
            _ => None,
        }
    }
}

/// What the mapping needs to know besides the release.
#[derive(Debug, Clone)]
pub struct MapCtx {
    /// Business dates after this are refused by the domain (today plus the skew).
    pub latest_date: NaiveDate,
    /// Whether the fund has a `bid_disqualified` kind to record disqualified bids with.
    pub bid_disqualified: bool,
    /// The fund's currency: the currency of a zero recorded for a process that states no
    /// value nor currency anywhere.
    pub fund_currency: Currency,
    /// A publisher's own bid statuses mapped to the codelist (`not-qualified` →
    /// disqualified).
    pub bid_statuses: HashMap<String, BidStatus>,
    /// A publisher's procurement methods mapped to the domain's (`limited` → direct).
    pub methods: HashMap<String, Method>,
    /// A publisher's award statuses and what they mean (`unsuccessful` → disqualified).
    pub award_statuses: HashMap<String, AwardStatus>,
}

/// The idempotency key of an element: `ocds:<ocid>:<path>` when that is a valid key
/// (printable ASCII, at most 128 bytes), else `ocds:sha256:<hex of that text>`.
pub fn key(ocid: &str, path: &str) -> String {
    let full = format!("ocds:{ocid}:{path}");
    if full.len() <= 128 && full.chars().all(|c| c.is_ascii_graphic()) {
        full
    } else {
        format!(
            "ocds:sha256:{}",
            hex::encode(Sha256::digest(full.as_bytes()))
        )
    }
}

/// The invoice number of a transaction's invoice: `<ocid>/<contract id>/<transaction id>`
/// (OCDS transactions carry no invoice number; this one is unique per transaction, so
/// the "same invoice number" test of `duplicate-payment` never fires on imported data),
/// or `sha256:<hex>` of that text when it is longer than the domain's 100 characters.
pub fn invoice_number(ocid: &str, contract: &str, transaction: &str) -> String {
    let full = format!("{ocid}/{contract}/{transaction}");
    if full.chars().count() <= 100 && full.trim() == full && !full.chars().any(char::is_control) {
        full
    } else {
        format!("sha256:{}", hex::encode(Sha256::digest(full.as_bytes())))
    }
}

/// Text without control characters (each replaced by a space), cut to `max` characters
/// and trimmed; `None` when nothing is left. The flag says whether anything was replaced.
fn clean(s: &str, max: usize) -> (Option<String>, bool) {
    let replaced = s.chars().any(char::is_control);
    let spaced: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cut: String = spaced.trim().chars().take(max).collect();
    let cut = cut.trim().to_owned();
    ((!cut.is_empty()).then_some(cut), replaced)
}

fn text(s: &str, max: usize) -> Option<String> {
    clean(s, max).0
}

/// An OCDS date-time (`2026-03-01T09:00:00+01:00`) as the calendar date it names; a plain
/// `YYYY-MM-DD` is accepted too.
pub fn date(s: &str) -> Option<NaiveDate> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.date_naive())
        .ok()
        .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .or_else(|| {
            // Some publishers omit the offset (`2016-04-05T00:00:00`).
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|d| d.date())
        })
}

fn opt_date(s: Option<&String>) -> Option<NaiveDate> {
    s.and_then(|s| date(s))
}

/// A JSON number's text as an exact decimal: its own digits (`0.13999999999999999` stays
/// that value), an exponent applied exactly (`1.5e3` is 1500), never through a float.
pub fn exact(raw: &str) -> Result<Decimal, String> {
    if raw.contains(['e', 'E']) {
        return Decimal::from_scientific(raw).map_err(|e| format!("{raw:?}: {e}"));
    }
    parse_decimal(raw)
}

/// An OCDS `value` as money: the amount's exact digits and an ISO 4217 currency with a
/// minor unit. Strict: the API's rules (positive, at most the currency's decimals).
pub fn money(v: Option<&model::Value>) -> Result<Money, (&'static str, String)> {
    let v = v.ok_or(("no_value", "no value".to_owned()))?;
    let raw = v
        .amount
        .as_ref()
        .map(|r| r.get().trim().to_owned())
        .filter(|t| t != "null")
        .ok_or(("no_value", "value without amount".to_owned()))?;
    let value = parse_decimal(&raw).map_err(|e| ("invalid_amount", e))?;
    let code = v
        .currency
        .as_deref()
        .ok_or(("invalid_currency", "value without currency".to_owned()))?;
    let currency =
        Currency::parse(code).map_err(|e| ("invalid_currency", format!("{code:?}: {e}")))?;
    let m = Money { value, currency };
    m.check("amount").map_err(|e| ("invalid_amount", e))?;
    Ok(m)
}

/// An amount as published, for imported evidence: kept exactly, whatever its precision
/// (`dq-precision`); missing, zero or negative recorded as zero (`dq-missing-value`); no
/// currency: `fallback`'s (`dq-derived-currency`). `Err` only when it cannot be read at
/// all (not a number, more than 28 digits, a currency that is not ISO 4217).
fn evidence_money(
    v: Option<&model::Value>,
    fallback: Currency,
    what: &str,
    findings: &mut Vec<Finding>,
) -> Result<Money, (&'static str, String)> {
    // An empty string is how some publishers write "no amount" (Moldova: `"amount": ""`).
    let raw = v
        .and_then(|v| v.amount.as_ref())
        .map(|r| r.get().trim().to_owned())
        .filter(|t| t != "null" && t != "\"\"");
    let code = v.and_then(|v| v.currency.as_deref()).map(str::trim);
    let currency = match code {
        // ISO 4217 codes are upper case; some publishers write them in lower case ("mdl").
        Some(c) if !c.is_empty() => Currency::parse(&c.to_ascii_uppercase())
            .map_err(|e| ("invalid_currency", format!("{what}: {e}")))?,
        _ => {
            if raw.is_some() {
                findings.push(Finding {
                    code: Dq::DerivedCurrency,
                    detail: format!("{what} has no currency; recorded in {fallback}"),
                });
            }
            fallback
        }
    };
    let Some(raw) = raw else {
        findings.push(Finding {
            code: Dq::MissingValue,
            detail: format!("{what} has no amount; recorded as 0 {currency}"),
        });
        return Ok(Money {
            value: Decimal::ZERO,
            currency,
        });
    };
    let value = exact(&raw).map_err(|e| ("invalid_amount", format!("{what}: {e}")))?;
    if value <= Decimal::ZERO {
        findings.push(Finding {
            code: Dq::MissingValue,
            detail: format!("{what} is {raw} {currency}; recorded as 0"),
        });
        return Ok(Money {
            value: Decimal::ZERO,
            currency,
        });
    }
    if value.normalize().scale() > currency.minor_units() {
        findings.push(Finding {
            code: Dq::Precision,
            detail: format!(
                "{what} {raw} {currency} is finer than the currency's {} decimals; kept as published",
                currency.minor_units()
            ),
        });
    }
    Ok(Money { value, currency })
}

fn money_json(m: &Money) -> Json {
    json!({"value": m.value.to_string(), "currency": m.currency.code()})
}

/// `open`/`selective`/`limited`/`direct` (closed codelist `method`) as the domain's method;
/// the reverse of the OCDS export (`reports::ocds::procurement_method`).
pub fn method(m: &str) -> Option<Method> {
    match m {
        "open" => Some(Method::Open),
        "selective" => Some(Method::Restricted),
        "limited" => Some(Method::RequestForQuotation),
        "direct" => Some(Method::Direct),
        _ => None,
    }
}

/// Parties of a plan, deduplicated by OCDS party id (else identifier, else name).
struct Parties<'a> {
    release: &'a Release,
    list: Vec<PartyRef>,
    index: HashMap<String, usize>,
}

impl Parties<'_> {
    /// The `parties` entry an organisation reference points to (OCDS: `id` matches); an
    /// identifier inside the reference itself (older style) counts too.
    fn resolve(&self, r: &OrgRef) -> PartyRef {
        let party = r.id.as_ref().and_then(|id| {
            self.release
                .parties
                .iter()
                .find(|p| p.id.as_ref() == Some(id))
        });
        let identifier = party
            .and_then(|p| p.identifier.as_ref())
            .or(r.identifier.as_ref())
            .and_then(|i| {
                let scheme = i.scheme.as_deref().and_then(|s| text(s, 100))?;
                let id = i.id.as_ref().and_then(|id| text(&id.0, 200))?;
                Some((scheme, id))
            });
        let name = party
            .and_then(|p| p.name.as_deref())
            .or(r.name.as_deref())
            .and_then(|n| text(n, NAME_MAX_CHARS));
        PartyRef {
            ocds_id: r.id.as_ref().map(|i| i.0.clone()),
            name,
            identifier,
        }
    }

    fn index_of(&mut self, r: &OrgRef) -> Option<usize> {
        let p = self.resolve(r);
        // The identifier first: one organisation referred to by `parties` id in one place
        // and embedded with only its identifier in another (Prozorro's compiled releases:
        // suppliers by id, tenderers embedded) is one party.
        let k = match (&p.identifier, &p.ocds_id, &p.name) {
            (Some((s, i)), _, _) => format!("identifier:{s}/{i}"),
            (None, Some(id), _) => format!("id:{id}"),
            (None, None, Some(n)) => format!("name:{n}"),
            (None, None, None) => return None,
        };
        if let Some(i) = self.index.get(&k) {
            return Some(*i);
        }
        self.list.push(p);
        let i = self.list.len() - 1;
        self.index.insert(k, i);
        Some(i)
    }
}

/// The recorded body must parse and pass the domain's static checks (with placeholders
/// standing in for seqs and organisations), so an element the domain would refuse is
/// skipped here instead of failing the whole process.
fn static_check(kind: &str, date: NaiveDate, body: &Json) -> Result<(), (&'static str, String)> {
    fn fill(v: &Json) -> Json {
        match v {
            Json::Object(m) if m.len() == 1 && m.contains_key("$ref") => json!(0),
            Json::Object(m)
                if m.len() == 1 && (m.contains_key("$party") || m.contains_key("$ministry")) =>
            {
                json!(uuid::Uuid::nil())
            }
            Json::Object(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), fill(v))).collect()),
            other => other.clone(),
        }
    }
    let e = FundEntry::parse(kind, &fill(body)).map_err(|i| (i.code, i.detail))?;
    e.check(date).map_err(|i| (i.code, i.detail))
}

struct Builder<'a> {
    ocid: String,
    ctx: &'a MapCtx,
    parties: Parties<'a>,
    entries: Vec<Planned>,
    skips: Vec<Skip>,
    keys: HashSet<String>,
    /// Data-quality findings recorded, by code (the report counts them).
    findings: usize,
}

impl Builder<'_> {
    fn skip(&mut self, reason: &'static str, element: &str, detail: impl Into<String>) {
        self.skips.push(Skip {
            reason,
            element: element.to_owned(),
            detail: detail.into(),
        });
    }

    /// Adds an entry unless it would be refused statically; `Some(key)` when added. The
    /// body gets its `imported` provenance: the ocid, the element's OCDS id and the
    /// findings.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        path: &str,
        element: &str,
        kind: &'static str,
        date: NaiveDate,
        mut body: Json,
        id: Option<&str>,
        findings: Vec<Finding>,
    ) -> Option<String> {
        let key = key(&self.ocid, path);
        if self.keys.contains(&key) {
            self.skip(
                "duplicate_id",
                element,
                format!("{element} appears twice in the release"),
            );
            return None;
        }
        if date > self.ctx.latest_date {
            self.skip(
                "business_date_in_future",
                element,
                format!("dated {date}, after {}", self.ctx.latest_date),
            );
            return None;
        }
        if self.entries.len() >= MAX_ENTRIES_PER_PROCESS {
            self.skip(
                "too_many_entries",
                element,
                format!("a process is recorded with at most {MAX_ENTRIES_PER_PROCESS} entries"),
            );
            return None;
        }
        let n = findings.len();
        let imported = Imported {
            ocid: text(&self.ocid, 200).unwrap_or_default(),
            id: id.and_then(|i| text(i, 200)),
            findings: findings
                .into_iter()
                .map(|f| Finding {
                    code: f.code,
                    detail: text(&f.detail, 500).unwrap_or_else(|| f.code.code().to_owned()),
                })
                .collect(),
        };
        if let (Json::Object(m), Ok(v)) = (&mut body, serde_json::to_value(&imported)) {
            m.insert("imported".to_owned(), v);
        }
        if let Err((code, detail)) = static_check(kind, date, &body) {
            self.skip(code, element, detail);
            return None;
        }
        self.findings += n;
        self.keys.insert(key.clone());
        self.entries.push(Planned {
            key: key.clone(),
            element: element.to_owned(),
            kind,
            date,
            body,
        });
        Some(key)
    }
}

fn r(key: &str) -> Json {
    json!({ "$ref": key })
}

fn party(i: usize) -> Json {
    json!({ "$party": i })
}

/// The category of a tender: its first item's classification (`<scheme> <id>`, e.g.
/// `CPV 32344210`), else its main procurement category (`goods`, `works`, `services`).
fn category(t: &model::Tender) -> String {
    let classified = t.items.iter().find_map(|i| {
        let c = i.classification.as_ref()?;
        let id = c.id.as_ref()?.0.trim().to_owned();
        if id.is_empty() {
            return None;
        }
        Some(match c.scheme.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => format!("{s} {id}"),
            _ => id,
        })
    });
    classified
        .or_else(|| t.main_procurement_category.clone())
        .and_then(|c| text(&c, CATEGORY_MAX_CHARS))
        .unwrap_or_else(|| "uncategorised".to_owned())
}

/// What the release's amendments changed, from their structured `changes`
/// (`value.amount`/`value`, `period.startDate`, `period.endDate` with the former value).
struct Changes {
    value: Option<Decimal>,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
}

fn former_changes(a: &model::Amendment) -> Result<Changes, String> {
    let mut out = Changes {
        value: None,
        start: None,
        end: None,
    };
    for c in &a.changes {
        let (Some(p), Some(raw)) = (c.property.as_deref(), c.former_value.as_ref()) else {
            continue;
        };
        let raw = raw.get().trim();
        match p {
            "value.amount" => {
                out.value = Some(exact(raw).map_err(|e| format!("former value.amount: {e}"))?);
            }
            "value" => {
                let v: model::Value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
                out.value = Some(money(Some(&v)).map_err(|(_, d)| d)?.value);
            }
            "period.startDate" | "period.endDate" => {
                let s: String = serde_json::from_str(raw).map_err(|e| e.to_string())?;
                let d = date(&s).ok_or_else(|| format!("former {p}: {s:?} is not a date"))?;
                if p == "period.startDate" {
                    out.start = Some(d);
                } else {
                    out.end = Some(d);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A stable id for an element the publisher gave none: `derived-` and the first 16 hex
/// digits of SHA-256 of what identifies it, numbered when identical elements repeat.
fn derived_id(seen: &mut HashMap<String, usize>, content: &str) -> String {
    let h = hex::encode(Sha256::digest(content.as_bytes()));
    let short: String = h.chars().take(16).collect();
    let n = seen.entry(short.clone()).or_insert(0);
    *n += 1;
    if *n == 1 {
        format!("derived-{short}")
    } else {
        format!("derived-{short}-{n}")
    }
}

/// The element id a reference names (a lot), as text.
fn lot_of(id: Option<&Id>) -> Option<String> {
    id.and_then(|i| text(&i.0, 200))
}

/// Maps one release. `Err` only when the process cannot be identified (no ocid) or
/// holds nothing the domain records (no tender, award nor contract); otherwise `Ok` with
/// the entries it records, their data-quality findings, and the elements it skipped.
pub fn plan(release: &Release, ctx: &MapCtx) -> Result<Plan, Skip> {
    let whole = |reason: &'static str, detail: String| Skip {
        reason,
        element: "process".to_owned(),
        detail,
    };
    let ocid = release
        .ocid
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .ok_or_else(|| whole("no_ocid", "the release has no ocid".to_owned()))?
        .to_owned();
    if release.tender.is_none() && release.awards.is_empty() && release.contracts.is_empty() {
        return Err(whole(
            "no_procurement",
            "the release has no tender, award nor contract (planning only): nothing the ledger records".to_owned(),
        ));
    }
    let empty = model::Tender::default();
    let tender = release.tender.as_ref().unwrap_or(&empty);
    let mut b = Builder {
        ocid: ocid.clone(),
        ctx,
        parties: Parties {
            release,
            list: Vec::new(),
            index: HashMap::new(),
        },
        entries: Vec::new(),
        skips: Vec::new(),
        keys: HashSet::new(),
        findings: 0,
    };
    let release_date = opt_date(release.date.as_ref());

    // The buyer: `buyer`, else the tender's procuring entity, else a party in that role.
    let buyer_ref = release
        .buyer
        .clone()
        .or_else(|| tender.procuring_entity.clone())
        .or_else(|| {
            release
                .parties
                .iter()
                .find(|p| {
                    p.roles
                        .iter()
                        .any(|r| r == "buyer" || r == "procuringEntity")
                })
                .map(|p| OrgRef {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    identifier: p.identifier.clone(),
                })
        });
    let buyer = buyer_ref.as_ref().map(|r| b.parties.resolve(r));

    // The process's currency, for amounts published without one: the tender's, else the
    // first award's or contract's, else the fund's.
    let currency = std::iter::once(tender.value.as_ref())
        .chain(release.awards.iter().map(|a| a.value.as_ref()))
        .chain(release.contracts.iter().map(|c| c.value.as_ref()))
        .flatten()
        .find_map(|v| v.currency.as_deref().and_then(|c| Currency::parse(c).ok()))
        .unwrap_or(ctx.fund_currency);

    // Tender.
    let mut tf = Vec::new();
    let method_code = tender.procurement_method.as_deref().unwrap_or("");
    let method = match ctx
        .methods
        .get(method_code)
        .copied()
        .or_else(|| method(method_code))
    {
        Some(m) => m,
        None => {
            tf.push(Finding {
                code: Dq::UnknownStatus,
                detail: if method_code.is_empty() {
                    "no procurementMethod published; recorded as direct".to_owned()
                } else {
                    format!("procurementMethod {method_code:?} is not in the codelist nor mapped (--method); recorded as direct")
                },
            });
            Method::Direct
        }
    };
    let estimate = evidence_money(tender.value.as_ref(), currency, "tender.value", &mut tf)
        .map_err(|(code, d)| whole(code, d))?;
    let period = tender.tender_period.clone().unwrap_or_default();
    let first_award = release
        .awards
        .iter()
        .filter_map(|a| opt_date(a.date.as_ref()))
        .min();
    let first_contract = release
        .contracts
        .iter()
        .filter_map(|c| opt_date(c.date_signed.as_ref()))
        .min();
    let published = opt_date(period.start_date.as_ref())
        .or(first_award)
        .or(first_contract)
        .or(release_date)
        .ok_or_else(|| {
            whole(
                "no_date",
                "neither tenderPeriod.startDate, an award or contract date nor the release date"
                    .to_owned(),
            )
        })?;
    let deadline = match opt_date(period.end_date.as_ref()) {
        Some(d) if d < published => {
            tf.push(Finding {
                code: Dq::InvalidPeriod,
                detail: format!(
                    "tenderPeriod ends {d}, before it starts {published}; recorded as published"
                ),
            });
            d
        }
        Some(d) => d,
        None => {
            if release.tender.is_some() {
                tf.push(Finding {
                    code: Dq::MissingDeadline,
                    detail: "no tenderPeriod.endDate published; the tender-period screens skip this tender".to_owned(),
                });
            }
            published
        }
    };
    let (title, replaced) = tender
        .title
        .as_deref()
        .map_or((None, false), |t| clean(t, TITLE_MAX_CHARS));
    if replaced {
        tf.push(Finding {
            code: Dq::InvalidText,
            detail: "tender.title holds control characters; each recorded as a space".to_owned(),
        });
    }
    let title =
        title.unwrap_or_else(|| text(&format!("OCDS {ocid}"), TITLE_MAX_CHARS).unwrap_or_default());
    let status = match tender.status.as_deref() {
        None => None,
        Some(s) => match TenderStatus::parse(s) {
            Some(t) => Some(t),
            None => {
                tf.push(Finding {
                    code: Dq::UnknownStatus,
                    detail: format!("tender.status {s:?} is not in the codelist; not recorded"),
                });
                None
            }
        },
    };
    let mut tender_body = json!({"ministry": {"$ministry": 0}, "title": title, "category": category(tender),
               "method": method.as_str(), "estimated_value": money_json(&estimate),
               "deadline": deadline.to_string()});
    if let (Some(s), Json::Object(m)) = (status, &mut tender_body) {
        m.insert("status".to_owned(), json!(s.as_str()));
    }
    let tender_id = tender.id.as_ref().map(|i| i.0.clone());
    let tender_key = b
        .push(
            "tender",
            "tender",
            "tender",
            published,
            tender_body,
            tender_id.as_deref(),
            tf,
        )
        .ok_or_else(|| {
            let why = b.skips.pop();
            whole(
                why.as_ref().map_or("invalid_tender", |s| s.reason),
                why.map_or_else(String::new, |s| format!("tender: {}", s.detail)),
            )
        })?;

    // Bids (bid extension): one entry per bid, by its first tenderer.
    // (lot, party) of recorded bids, and of disqualified ones.
    let mut bidders: HashSet<(Option<String>, usize)> = HashSet::new();
    let mut disqualified: HashSet<(Option<String>, usize)> = HashSet::new();
    let mut derived: HashMap<String, usize> = HashMap::new();
    // (lot, party, award id, date) of awards whose status says the supplier was ruled
    // out (`--award-status WORD=disqualified`), unless the supplier holds an active award
    // on that lot: its bid there is recorded as disqualified.
    let award_status = |a: &model::Award| {
        let published = a.status.as_deref().unwrap_or("active");
        match ctx.award_statuses.get(published) {
            Some(s) => Some(*s),
            None => (published == "active").then_some(AwardStatus::Active),
        }
    };
    let mut ruled_out_by_award: Vec<(Option<String>, usize, String, Option<NaiveDate>)> =
        Vec::new();
    let mut awarded: HashSet<(Option<String>, usize)> = HashSet::new();
    for a in &release.awards {
        let Some(supplier) = a.suppliers.first().and_then(|s| b.parties.index_of(s)) else {
            continue;
        };
        match award_status(a) {
            Some(AwardStatus::Active) => {
                awarded.insert((lot_of(a.lot()), supplier));
            }
            Some(AwardStatus::Disqualified) => ruled_out_by_award.push((
                lot_of(a.lot()),
                supplier,
                a.id.as_ref().map(|i| i.0.clone()).unwrap_or_default(),
                opt_date(a.date.as_ref()),
            )),
            None => {}
        }
    }
    let bids = release
        .bids
        .as_ref()
        .map(|b| b.details.as_slice())
        .unwrap_or_default();
    for (i, bid) in bids.iter().enumerate() {
        let mut f = Vec::new();
        let Some(tenderer) = bid.tenderers.first().and_then(|t| b.parties.index_of(t)) else {
            b.skip("no_party", &format!("bid #{i}"), "a bid without tenderer");
            continue;
        };
        let id = match bid.id.as_ref() {
            Some(id) => id.0.clone(),
            None => {
                let label = b.parties.list.get(tenderer).map(PartyRef::label);
                let id = derived_id(
                    &mut derived,
                    &format!(
                        "bid|{}|{}|{}",
                        label.unwrap_or_default(),
                        bid.date.clone().unwrap_or_default(),
                        bid.value
                            .as_ref()
                            .and_then(|v| v.amount.as_ref())
                            .map(|a| a.get().to_owned())
                            .unwrap_or_default()
                    ),
                );
                f.push(Finding {
                    code: Dq::DerivedId,
                    detail: format!("bid #{i} has no id; recorded as {id}"),
                });
                id
            }
        };
        let element = format!("bid {id}");
        let published_status = bid.status.as_deref().unwrap_or("valid");
        let status = ctx
            .bid_statuses
            .get(published_status)
            .copied()
            .or_else(|| BidStatus::parse(published_status));
        if matches!(status, Some(BidStatus::Invited | BidStatus::Withdrawn)) {
            b.skip(
                "bid_not_submitted",
                &element,
                format!("status {published_status}: not a bid received"),
            );
            continue;
        }
        let unknown_status = if status.is_none() {
            f.push(Finding {
                code: Dq::UnknownStatus,
                detail: format!(
                    "bid status {published_status:?} is not in the codelist nor mapped (--bid-status {published_status}=CODE); the screens never read this bid as valid"
                ),
            });
            text(published_status, 100)
        } else {
            None
        };
        let amount = match evidence_money(bid.value.as_ref(), currency, "bid value", &mut f) {
            Ok(m) => m,
            Err((code, d)) => {
                b.skip(code, &element, d);
                continue;
            }
        };
        let lot = lot_of(bid.lot());
        let on = opt_date(bid.date.as_ref()).unwrap_or(deadline);
        // An award without lot rules its supplier out on every lot; one with a lot, on
        // that lot (and on a bid without lot).
        let same_lot = |l: &Option<String>| l.is_none() || lot.is_none() || *l == lot;
        let by_award = ruled_out_by_award
            .iter()
            .find(|(l, p, _, _)| {
                *p == tenderer
                    && same_lot(l)
                    && !awarded
                        .iter()
                        .any(|(al, ap)| *ap == tenderer && same_lot(al))
            })
            .filter(|_| status != Some(BidStatus::Disqualified));
        let mut body = json!({"tender": r(&tender_key), "vendor": party(tenderer), "amount": money_json(&amount)});
        if let Json::Object(m) = &mut body {
            if let Some(l) = &lot {
                m.insert("lot".to_owned(), json!(l));
            }
            if let Some(u) = &unknown_status {
                m.insert("unknown_status".to_owned(), json!(u));
            }
        }
        let Some(bid_key) = b.push(
            &format!("bid:{id}"),
            &element,
            "bid",
            on,
            body,
            Some(&id),
            f,
        ) else {
            continue;
        };
        bidders.insert((lot.clone(), tenderer));
        if let (Some((_, _, award, award_date)), true) = (by_award, ctx.bid_disqualified) {
            let award_status = release
                .awards
                .iter()
                .find(|a| a.id.as_ref().is_some_and(|i| i.0 == *award))
                .and_then(|a| a.status.clone())
                .unwrap_or_default();
            let recorded = b.push(
                &format!("bid:{id}:disqualified"),
                &format!("{element} disqualification"),
                "bid_disqualified",
                award_date.unwrap_or(deadline).max(on),
                json!({"bid": r(&bid_key), "reason": format!("award {award} {award_status} (OCDS award status read as a disqualification, {ocid})")}),
                Some(&id),
                Vec::new(),
            );
            if recorded.is_some() {
                disqualified.insert((lot, tenderer));
            }
        } else if status == Some(BidStatus::Disqualified) {
            if ctx.bid_disqualified {
                // OCDS gives no date for a disqualification: bids are evaluated once the
                // submission period closed, so it is dated the deadline (or the bid, if later).
                let recorded = b.push(
                    &format!("bid:{id}:disqualified"),
                    &format!("{element} disqualification"),
                    "bid_disqualified",
                    on.max(deadline),
                    json!({"bid": r(&bid_key), "reason": format!("{published_status} (OCDS bid status, {ocid})")}),
                    Some(&id),
                    Vec::new(),
                );
                if recorded.is_some() {
                    disqualified.insert((lot, tenderer));
                }
            } else {
                b.skip(
                    "bid_status_not_recorded",
                    &element,
                    "the bid is recorded; its status \"disqualified\" is not (the fund has no entry kind for it)",
                );
            }
        }
    }
    let bids_published = !bidders.is_empty();

    // Awards: every active one (several per tender: lots, or several suppliers).
    let mut awards: HashMap<Id, (String, usize, NaiveDate, Currency)> = HashMap::new();
    let mut active = release.awards.iter().enumerate().collect::<Vec<_>>();
    active.sort_by_key(|(i, a)| (opt_date(a.date.as_ref()), *i));
    for (i, award) in active {
        let mut f = Vec::new();
        let id = match award.id.as_ref() {
            Some(id) => id.clone(),
            None => {
                let id = derived_id(
                    &mut derived,
                    &format!(
                        "award|{}|{}",
                        award.date.clone().unwrap_or_default(),
                        award
                            .suppliers
                            .first()
                            .and_then(|s| s.name.clone())
                            .unwrap_or_default()
                    ),
                );
                f.push(Finding {
                    code: Dq::DerivedId,
                    detail: format!("award #{i} has no id; recorded as {id}"),
                });
                Id(id)
            }
        };
        let element = format!("award {id}");
        let status = award.status.as_deref().unwrap_or("active");
        match award_status(award) {
            Some(AwardStatus::Active) => {}
            Some(AwardStatus::Disqualified) => {
                b.skip(
                    "award_not_active",
                    &element,
                    format!("status {status:?}: the supplier was ruled out (its bid on this lot is recorded as disqualified)"),
                );
                continue;
            }
            None => {
                b.skip(
                    "award_not_active",
                    &element,
                    format!("status {status:?}: only active awards are recorded"),
                );
                continue;
            }
        }
        let Some(supplier) = award.suppliers.first().and_then(|s| b.parties.index_of(s)) else {
            b.skip("no_party", &element, "an award without supplier");
            continue;
        };
        let lot = lot_of(award.lot());
        // A bid without lot counts for every lot; an award without lot (Prozorro's
        // single-lot tenders: the bid names the lot, the award does not) for every bid.
        let bid_on_lot = bidders.contains(&(lot.clone(), supplier))
            || (lot.is_some() && bidders.contains(&(None, supplier)))
            || (lot.is_none() && bidders.iter().any(|(_, v)| *v == supplier));
        if bids_published && method != Method::Direct && !bid_on_lot {
            b.skip(
                "vendor_did_not_bid",
                &element,
                format!(
                    "the supplier {} has no recorded bid on this {} tender{}",
                    b.parties
                        .list
                        .get(supplier)
                        .map(PartyRef::label)
                        .unwrap_or_default(),
                    method.as_str(),
                    lot.as_ref()
                        .map(|l| format!(" (lot {l})"))
                        .unwrap_or_default()
                ),
            );
            continue;
        }
        let ruled_out = disqualified.contains(&(lot.clone(), supplier))
            || (lot.is_none() && disqualified.iter().any(|(_, p)| *p == supplier))
            || disqualified.contains(&(None, supplier));
        if ruled_out {
            b.skip(
                "vendor_disqualified",
                &element,
                "the supplier's bid on this tender (lot) is disqualified (the domain refuses the award)",
            );
            continue;
        }
        let amount = match evidence_money(award.value.as_ref(), currency, "award value", &mut f) {
            Ok(m) => m,
            Err((code, d)) => {
                b.skip(code, &element, d);
                continue;
            }
        };
        let on = opt_date(award.date.as_ref()).unwrap_or(deadline);
        let received = tender.number_of_tenderers.unwrap_or_else(|| {
            let n = bidders
                .iter()
                .filter(|(l, _)| lot.is_none() || l == &lot || l.is_none())
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        });
        let mut body = json!({"tender": r(&tender_key), "vendor": party(supplier), "amount": money_json(&amount),
               "bids_received": received});
        if let (Some(l), Json::Object(m)) = (&lot, &mut body) {
            m.insert("lot".to_owned(), json!(l));
        }
        if let Some(k) = b.push(
            &format!("award:{id}"),
            &element,
            "award",
            on,
            body,
            Some(&id.0),
            f,
        ) {
            awards.insert(id.clone(), (k, supplier, on, amount.currency));
        }
    }

    // Contracts, each with its amendments and transactions.
    for (i, c) in release.contracts.iter().enumerate() {
        let mut f = Vec::new();
        let id = match c.id.as_ref() {
            Some(id) => id.clone(),
            None => {
                let id = derived_id(
                    &mut derived,
                    &format!(
                        "contract|{}|{}",
                        c.award_id.as_ref().map(|a| a.0.clone()).unwrap_or_default(),
                        c.date_signed.clone().unwrap_or_default()
                    ),
                );
                f.push(Finding {
                    code: Dq::DerivedId,
                    detail: format!("contract #{i} has no id; recorded as {id}"),
                });
                Id(id)
            }
        };
        let element = format!("contract {id}");
        let status = c.status.as_deref().unwrap_or("active");
        if !matches!(status, "active" | "terminated") {
            b.skip(
                "contract_not_signed",
                &element,
                format!("status {status:?}: only active and terminated contracts are recorded"),
            );
            continue;
        }
        // The award: the one named, else the only one recorded.
        let named = c.award_id.as_ref().and_then(|a| awards.get(a)).cloned();
        let only = (c.award_id.is_none() && awards.len() == 1)
            .then(|| awards.values().next().cloned())
            .flatten();
        let Some((award_key, supplier, award_date, award_currency)) = named.or(only) else {
            b.skip(
                "award_not_recorded",
                &element,
                format!(
                    "its award {} is not recorded",
                    c.award_id
                        .as_ref()
                        .map_or("(none)".to_owned(), |a| a.0.clone())
                ),
            );
            continue;
        };
        let current =
            match evidence_money(c.value.as_ref(), award_currency, "contract value", &mut f) {
                Ok(m) => m,
                Err((code, d)) => {
                    b.skip(code, &element, d);
                    continue;
                }
            };
        let period = c.period.clone().unwrap_or_default();
        let signed = opt_date(c.date_signed.as_ref())
            .or_else(|| opt_date(period.start_date.as_ref()))
            .unwrap_or(award_date);
        let mut starts = opt_date(period.start_date.as_ref()).unwrap_or(signed);
        let transactions_end = c
            .implementation
            .as_ref()
            .into_iter()
            .flat_map(|i| i.transactions.iter())
            .filter_map(|t| opt_date(t.date.as_ref()))
            .max();
        let mut ends = match opt_date(period.end_date.as_ref())
            .or_else(|| opt_date(period.max_extent_date.as_ref()))
        {
            Some(e) => e,
            None => {
                let e = transactions_end.unwrap_or(starts).max(starts);
                f.push(Finding {
                    code: Dq::DerivedDate,
                    detail: format!(
                        "no contract period end published; recorded as {e} (its latest transaction, else its start)"
                    ),
                });
                e
            }
        };
        if ends < starts {
            f.push(Finding {
                code: Dq::InvalidPeriod,
                detail: format!(
                    "the contract period ends {ends}, before it starts {starts}; recorded as published"
                ),
            });
        }

        // Amendments in date order; what each changed comes from the former values.
        let mut amendments: Vec<(usize, &model::Amendment)> =
            c.amendments.iter().enumerate().collect();
        amendments.sort_by_key(|(i, a)| (opt_date(a.date.as_ref()), *i));
        let mut changes = Vec::new();
        for (ai, a) in &amendments {
            let ael = format!(
                "{element} amendment {}",
                a.id.as_ref()
                    .map_or_else(|| format!("#{ai}"), |x| x.0.clone())
            );
            match former_changes(a) {
                Ok(ch) => changes.push((ael, *a, ch)),
                Err(e) => b.skip("invalid_amendment", &ael, e),
            }
        }
        // Walk backwards from the current state: each amendment's "after" is the next
        // one's former value, the last one's is the release's current value.
        let (mut value_after, mut start_after, mut end_after) = (current.value, starts, ends);
        let mut afters = Vec::with_capacity(changes.len());
        for (_, _, ch) in changes.iter().rev() {
            afters.push((
                ch.value.map(|_| value_after),
                ch.start.map(|_| start_after),
                ch.end.map(|_| end_after),
            ));
            value_after = ch.value.unwrap_or(value_after);
            start_after = ch.start.unwrap_or(start_after);
            end_after = ch.end.unwrap_or(end_after);
        }
        afters.reverse();
        // The contract as signed: before the first amendment.
        let original = Money {
            value: value_after,
            currency: current.currency,
        };
        (starts, ends) = (start_after, end_after);
        let Some(contract_key) = b.push(
            &format!("contract:{id}"),
            &element,
            "contract",
            signed,
            json!({"award": r(&award_key), "value": money_json(&original),
                   "starts_on": starts.to_string(), "ends_on": ends.to_string()}),
            Some(&id.0),
            f,
        ) else {
            continue;
        };
        for ((ael, a, _), (value, start, end)) in changes.iter().zip(afters) {
            if value.is_none() && start.is_none() && end.is_none() {
                b.skip(
                    "amendment_unstructured",
                    ael,
                    "no structured change (changes with value.amount or period dates and their former values); the contract is recorded at the value the release states",
                );
                continue;
            }
            let Some(aid) = a.id.as_ref() else {
                b.skip("no_id", ael, "an amendment without id cannot be keyed");
                continue;
            };
            let reason = a
                .rationale
                .as_deref()
                .or(a.description.as_deref())
                .and_then(|t| text(t, REASON_MAX_CHARS))
                .unwrap_or_else(|| format!("OCDS amendment {aid}"));
            let mut body = serde_json::Map::new();
            body.insert("contract".to_owned(), r(&contract_key));
            body.insert("reason".to_owned(), json!(reason));
            let mut af = Vec::new();
            if let Some(v) = value {
                let m = Money {
                    value: v,
                    currency: current.currency,
                };
                if v.normalize().scale() > current.currency.minor_units() {
                    af.push(Finding {
                        code: Dq::Precision,
                        detail: format!("amended value {v} {} is finer than the currency allows; kept as published", current.currency),
                    });
                }
                body.insert("new_value".to_owned(), money_json(&m));
            }
            if let Some(d) = start {
                body.insert("new_starts_on".to_owned(), json!(d.to_string()));
            }
            if let Some(d) = end {
                body.insert("new_ends_on".to_owned(), json!(d.to_string()));
            }
            let on = opt_date(a.date.as_ref()).unwrap_or(signed);
            b.push(
                &format!("contract:{id}:amendment:{aid}"),
                ael,
                "contract_amendment",
                on,
                Json::Object(body),
                Some(&aid.0),
                af,
            );
        }

        // Transactions: each an invoice of the contract and its payment.
        let mut transactions: Vec<(usize, &model::Transaction)> = c
            .implementation
            .as_ref()
            .map(|i| i.transactions.iter().enumerate().collect())
            .unwrap_or_default();
        transactions.sort_by_key(|(i, t)| (opt_date(t.date.as_ref()), *i));
        // Transactions beyond the contract's value are recorded too: the over-contract
        // screen flags them.
        for (ti, t) in transactions {
            let mut tf = Vec::new();
            let value = t.value.as_ref().or(t.amount.as_ref());
            let on = match opt_date(t.date.as_ref()) {
                Some(d) => d,
                None => {
                    let Some(d) = release_date else {
                        b.skip(
                            "no_date",
                            &format!("{element} transaction #{ti}"),
                            "a transaction without date in a release without date",
                        );
                        continue;
                    };
                    tf.push(Finding {
                        code: Dq::DerivedDate,
                        detail: format!(
                            "transaction #{ti} has no date; recorded at the release date {d}"
                        ),
                    });
                    d
                }
            };
            let tid = match t.id.as_ref() {
                Some(id) => id.0.clone(),
                None => {
                    let id = derived_id(
                        &mut derived,
                        &format!(
                            "tx|{id}|{}|{}|{}|{}",
                            t.date.clone().unwrap_or_default(),
                            value
                                .and_then(|v| v.amount.as_ref())
                                .map(|a| a.get().to_owned())
                                .unwrap_or_default(),
                            value.and_then(|v| v.currency.clone()).unwrap_or_default(),
                            t.payee
                                .as_ref()
                                .and_then(|p| p.name.clone())
                                .unwrap_or_default()
                        ),
                    );
                    tf.push(Finding {
                        code: Dq::DerivedId,
                        detail: format!("transaction #{ti} has no id; recorded as {id}"),
                    });
                    id
                }
            };
            let tel = format!("{element} transaction {tid}");
            let amount = match evidence_money(value, current.currency, "transaction value", &mut tf)
            {
                Ok(m) => m,
                Err((code, d)) => {
                    b.skip(code, &tel, d);
                    continue;
                }
            };
            if amount.currency != current.currency {
                b.skip(
                    "currency_mismatch",
                    &tel,
                    format!(
                        "paid in {}, the contract is in {}",
                        amount.currency, current.currency
                    ),
                );
                continue;
            }
            if let Some(payee) = t.payee.as_ref().and_then(|p| b.parties.index_of(p)) {
                let same = payee == supplier
                    || match (b.parties.list.get(payee), b.parties.list.get(supplier)) {
                        (Some(x), Some(y)) => {
                            (x.identifier.is_some() && x.identifier == y.identifier)
                                || (x.name.is_some() && x.name == y.name)
                        }
                        _ => false,
                    };
                if !same {
                    b.skip(
                        "payee_not_supplier",
                        &tel,
                        "the payee is not the contract's supplier",
                    );
                    continue;
                }
            }
            let number = invoice_number(&ocid, &id.0, &tid);
            let Some(invoice_key) = b.push(
                &format!("contract:{id}:tx:{tid}:invoice"),
                &format!("{tel} (invoice)"),
                "invoice",
                on,
                json!({"contract": r(&contract_key), "vendor": party(supplier),
                       "invoice_number": number, "amount": money_json(&amount)}),
                Some(&tid),
                tf.clone(),
            ) else {
                continue;
            };
            b.push(
                &format!("contract:{id}:tx:{tid}:payment"),
                &tel,
                "payment",
                on,
                json!({"invoice": r(&invoice_key), "amount": money_json(&amount)}),
                Some(&tid),
                tf,
            );
        }
    }

    Ok(Plan {
        ocid,
        buyer,
        parties: b.parties.list,
        entries: b.entries,
        skips: b.skips,
        findings: b.findings,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn ctx() -> MapCtx {
        MapCtx {
            latest_date: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            bid_disqualified: false,
            fund_currency: Currency::parse("EUR").unwrap(),
            bid_statuses: HashMap::new(),
            methods: HashMap::new(),
            award_statuses: HashMap::new(),
        }
    }

    fn codes(e: &Planned) -> Vec<String> {
        e.body["imported"]["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| f["code"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn release(v: Json) -> Release {
        serde_json::from_str(&v.to_string()).unwrap()
    }

    /// A process: open tender, bid by V1, active award, contract with `contract` merged in.
    fn process(method: &str, contract: Json) -> Json {
        let mut c = json!({"id": "C1", "awardID": "A1", "status": "active", "dateSigned": "2026-04-01T00:00:00Z",
            "period": {"startDate": "2026-04-01T00:00:00Z", "endDate": "2026-12-31T00:00:00Z"},
            "value": {"amount": 1000, "currency": "EUR"}});
        for (k, v) in contract.as_object().unwrap() {
            c[k] = v.clone();
        }
        json!({"ocid": "ocds-abc-1", "buyer": {"id": "M", "name": "Ministry"},
            "parties": [{"id": "V1", "name": "Vendor One", "identifier": {"scheme": "XI-REG", "id": 17}}],
            "tender": {"procurementMethod": method, "value": {"amount": 1200, "currency": "EUR"},
                       "tenderPeriod": {"startDate": "2026-03-01T23:30:00-05:00", "endDate": "2026-03-20T00:00:00Z"}},
            "bids": {"details": [{"id": 1, "date": "2026-03-10T00:00:00Z", "tenderers": [{"id": "V1", "name": "Vendor One"}],
                                  "value": {"amount": 990, "currency": "EUR"}}]},
            "awards": [{"id": "A1", "status": "active", "date": "2026-03-25T00:00:00Z",
                        "value": {"amount": 990, "currency": "EUR"}, "suppliers": [{"id": "V1"}]}],
            "contracts": [c]})
    }

    fn kinds(p: &Plan) -> Vec<&str> {
        p.entries.iter().map(|e| e.kind).collect()
    }

    fn reasons(p: &Plan) -> Vec<&str> {
        p.skips.iter().map(|s| s.reason).collect()
    }

    #[test]
    fn keys_are_valid_idempotency_keys() {
        assert_eq!(key("ocds-abc-1", "bid:7"), "ocds:ocds-abc-1:bid:7");
        let long = key(&"x".repeat(200), "bid:7");
        assert!(
            long.starts_with("ocds:sha256:") && long.len() <= 128,
            "{long}"
        );
        let spaced = key("ocds abc", "bid:7");
        assert!(spaced.starts_with("ocds:sha256:"));
        assert_ne!(
            key(&"x".repeat(200), "bid:7"),
            key(&"x".repeat(200), "bid:8")
        );
        assert!(invoice_number(&"y".repeat(120), "C", "T").starts_with("sha256:"));
    }

    #[test]
    fn amounts_are_exact_decimals_never_floats() {
        let v = |a: &str, c: &str| -> model::Value {
            serde_json::from_str(&format!(r#"{{"amount": {a}, "currency": "{c}"}}"#)).unwrap()
        };
        assert_eq!(
            money(Some(&v("112400.50", "EUR")))
                .unwrap()
                .value
                .to_string(),
            "112400.50"
        );
        assert_eq!(
            money(Some(&v("0.1", "EUR"))).unwrap().value.to_string(),
            "0.1"
        );
        assert_eq!(
            money(Some(&v("1e5", "EUR"))).unwrap_err().0,
            "invalid_amount"
        );
        assert_eq!(money(Some(&v("0", "EUR"))).unwrap_err().0, "invalid_amount");
        assert_eq!(
            money(Some(&v("10.005", "EUR"))).unwrap_err().0,
            "invalid_amount"
        );
        assert_eq!(money(Some(&v("null", "EUR"))).unwrap_err().0, "no_value");
        assert_eq!(
            money(Some(&v("10", "XAU"))).unwrap_err().0,
            "invalid_currency"
        );
    }

    #[test]
    fn methods_and_dates() {
        assert_eq!(method("selective"), Some(Method::Restricted));
        assert_eq!(method("limited"), Some(Method::RequestForQuotation));
        assert_eq!(method("negotiated"), None);
        // The calendar date the publisher wrote, in its own offset.
        assert_eq!(
            date("2026-03-01T23:30:00-05:00"),
            NaiveDate::from_ymd_opt(2026, 3, 1)
        );
        assert_eq!(date("2026-03-01"), NaiveDate::from_ymd_opt(2026, 3, 1));
        assert_eq!(date("March 1st"), None);
    }

    #[test]
    fn a_process_maps_to_its_entries_with_placeholders() {
        let p = plan(&release(process("open", json!({}))), &ctx()).unwrap();
        assert_eq!(kinds(&p), ["tender", "bid", "award", "contract"]);
        assert!(p.skips.is_empty(), "{:?}", p.skips);
        assert_eq!(
            p.entries[0].date,
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
        );
        assert_eq!(p.entries[0].body["category"], "uncategorised");
        assert_eq!(
            p.entries[1].body,
            json!({"tender": {"$ref": "ocds:ocds-abc-1:tender"}, "vendor": {"$party": 0},
                   "amount": {"value": "990", "currency": "EUR"},
                   "imported": {"ocid": "ocds-abc-1", "id": "1"}})
        );
        assert_eq!(p.entries[2].key, "ocds:ocds-abc-1:award:A1");
        assert_eq!(p.entries[2].body["bids_received"], 1);
        assert_eq!(
            p.parties,
            vec![PartyRef {
                ocds_id: Some("V1".to_owned()),
                name: Some("Vendor One".to_owned()),
                identifier: Some(("XI-REG".to_owned(), "17".to_owned())),
            }]
        );
        assert_eq!(p.buyer.unwrap().name.as_deref(), Some("Ministry"));
    }

    #[test]
    fn structured_amendments_give_the_original_value_and_each_step() {
        let p = plan(
            &release(process(
                "open",
                json!({"value": {"amount": 1500, "currency": "EUR"},
                   "period": {"startDate": "2026-04-01T00:00:00Z", "endDate": "2027-03-31T00:00:00Z"},
                   "amendments": [
                    {"id": "2", "date": "2026-06-01T00:00:00Z", "rationale": "more",
                     "changes": [{"property": "value.amount", "former_value": 1200},
                                 {"property": "period.endDate", "former_value": "2026-12-31T00:00:00Z"}]},
                    {"id": "1", "date": "2026-05-01T00:00:00Z", "description": "first",
                     "changes": [{"property": "value.amount", "former_value": 1000}]},
                    {"id": "3", "date": "2026-07-01T00:00:00Z", "rationale": "unclear"}]}),
            )),
            &ctx(),
        )
        .unwrap();
        assert_eq!(
            kinds(&p),
            [
                "tender",
                "bid",
                "award",
                "contract",
                "contract_amendment",
                "contract_amendment"
            ]
        );
        assert_eq!(p.entries[3].body["value"]["value"], "1000");
        assert_eq!(p.entries[3].body["ends_on"], "2026-12-31");
        assert_eq!(p.entries[4].body["new_value"]["value"], "1200");
        assert_eq!(p.entries[4].body["reason"], "first");
        assert_eq!(p.entries[5].body["new_value"]["value"], "1500");
        assert_eq!(p.entries[5].body["new_ends_on"], "2027-03-31");
        assert_eq!(reasons(&p), ["amendment_unstructured"]);
    }

    #[test]
    fn transactions_become_invoice_and_payment_even_beyond_the_contract_value() {
        let p = plan(
            &release(process(
                "open",
                json!({"implementation": {"transactions": [
                    {"id": "t1", "date": "2026-05-01T00:00:00Z", "value": {"amount": 600, "currency": "EUR"}, "payee": {"id": "V1"}},
                    {"id": "t2", "date": "2026-05-02T00:00:00Z", "value": {"amount": 600, "currency": "EUR"}},
                    {"id": "t3", "date": "2026-05-03T00:00:00Z", "value": {"amount": 100, "currency": "USD"}},
                    {"id": "t4", "date": "2026-05-04T00:00:00Z", "value": {"amount": -50, "currency": "EUR"}},
                    {"id": "t5", "date": "2026-05-05T00:00:00Z", "value": {"amount": 10, "currency": "EUR"}, "payee": {"id": "X", "name": "Other"}},
                    {"id": "t6", "date": "2027-05-05T00:00:00Z", "value": {"amount": 10, "currency": "EUR"}}]}}),
            )),
            &ctx(),
        )
        .unwrap();
        // t2 takes the payments to 1,200 of a 1,000 contract: recorded (over-contract flags
        // it); t4's negative amount is recorded as zero with a finding.
        assert_eq!(
            kinds(&p),
            [
                "tender", "bid", "award", "contract", "invoice", "payment", "invoice", "payment",
                "invoice", "payment"
            ]
        );
        assert_eq!(p.entries[8].body["amount"]["value"], "0");
        assert_eq!(codes(&p.entries[8]), ["dq-missing-value"]);
        assert_eq!(
            p.entries[4].body,
            json!({"contract": {"$ref": "ocds:ocds-abc-1:contract:C1"}, "vendor": {"$party": 0},
                   "invoice_number": "ocds-abc-1/C1/t1", "amount": {"value": "600", "currency": "EUR"},
                   "imported": {"ocid": "ocds-abc-1", "id": "t1"}})
        );
        assert_eq!(
            p.entries[5].body["invoice"],
            json!({"$ref": "ocds:ocds-abc-1:contract:C1:tx:t1:invoice"})
        );
        assert_eq!(
            reasons(&p),
            [
                "currency_mismatch",
                "payee_not_supplier",
                "business_date_in_future"
            ]
        );
    }

    #[test]
    fn without_published_bids_awards_are_recorded_with_bids_they_need_one() {
        // A publisher that publishes no bids: the award and its contract are recorded.
        let mut r = process("open", json!({}));
        r["bids"] = json!(null);
        let p = plan(&release(r.clone()), &ctx()).unwrap();
        assert_eq!(kinds(&p), ["tender", "award", "contract"]);
        // Several active awards are all recorded; a pending one is not.
        let awards = r["awards"].as_array_mut().unwrap();
        awards.push(
            json!({"id": "A2", "status": "active", "date": "2026-03-26T00:00:00Z",
            "value": {"amount": 5, "currency": "EUR"}, "suppliers": [{"id": "V1"}]}),
        );
        awards.push(json!({"id": "A3", "status": "pending", "suppliers": [{"id": "V1"}]}));
        let p = plan(&release(r.clone()), &ctx()).unwrap();
        assert_eq!(kinds(&p), ["tender", "award", "award", "contract"]);
        assert_eq!(reasons(&p), ["award_not_active"]);
        // With bids published, an award to a supplier without a bid is not recorded.
        r["bids"] = json!({"details": [{"id": 9, "tenderers": [{"id": "V2", "name": "Other"}],
                                        "value": {"amount": 7, "currency": "EUR"}}]});
        let p = plan(&release(r), &ctx()).unwrap();
        assert!(reasons(&p).contains(&"vendor_did_not_bid"), "{:?}", p.skips);
    }

    #[test]
    fn what_breaks_the_entry_rules_is_recorded_with_findings() {
        let mut r = process(
            "open",
            json!({"period": {"startDate": "2026-04-01T00:00:00Z"}}),
        );
        r["tender"]["tenderPeriod"] =
            json!({"startDate": "2026-03-10T00:00:00Z", "endDate": "2026-03-01T00:00:00Z"});
        r["tender"]["value"] = json!({"amount": 0.13999999999999999, "currency": "EUR"});
        r["tender"]["status"] = json!("suspended");
        r["tender"]["title"] = json!("Radios\u{7} for the police");
        r["bids"]["details"][0]["status"] = json!("not-qualified");
        r["contracts"][0]["implementation"] = json!({"transactions": [{"value": {"amount": 10}}]});
        r["date"] = json!("2026-05-05T00:00:00Z");
        let p = plan(&release(r.clone()), &ctx()).unwrap();
        let tender = &p.entries[0];
        assert_eq!(
            tender.body["estimated_value"]["value"],
            "0.13999999999999999"
        );
        assert_eq!(tender.body["deadline"], "2026-03-01");
        assert_eq!(tender.body["title"], "Radios  for the police");
        assert_eq!(
            codes(tender),
            [
                "dq-precision",
                "dq-invalid-period",
                "dq-invalid-text",
                "dq-unknown-status"
            ]
        );
        // The unmapped bid status: recorded, reported, never valid.
        assert_eq!(p.entries[1].body["unknown_status"], "not-qualified");
        assert_eq!(codes(&p.entries[1]), ["dq-unknown-status"]);
        // No contract end: derived; a transaction without id, date and currency: derived.
        let contract = p.entries.iter().find(|e| e.kind == "contract").unwrap();
        assert_eq!(codes(contract), ["dq-derived-date"]);
        let pay = p.entries.iter().find(|e| e.kind == "payment").unwrap();
        assert_eq!(
            codes(pay),
            ["dq-derived-date", "dq-derived-id", "dq-derived-currency"]
        );
        assert_eq!(pay.date, NaiveDate::from_ymd_opt(2026, 5, 5).unwrap());
        assert!(pay.body["imported"]["id"]
            .as_str()
            .unwrap()
            .starts_with("derived-"));
        // The same release maps to the same derived ids (a re-import finds them).
        let again = plan(&release(r.clone()), &ctx()).unwrap();
        assert_eq!(
            again.entries.iter().map(|e| &e.key).collect::<Vec<_>>(),
            p.entries.iter().map(|e| &e.key).collect::<Vec<_>>()
        );
        // Mapped, the publisher's word is the codelist's.
        let mut mapped = ctx();
        mapped
            .bid_statuses
            .insert("not-qualified".to_owned(), BidStatus::Disqualified);
        mapped.bid_disqualified = true;
        let p = plan(&release(r), &mapped).unwrap();
        assert!(p.entries[1].body.get("unknown_status").is_none());
        assert_eq!(p.entries[2].kind, "bid_disqualified");
    }

    #[test]
    fn a_disqualification_on_one_lot_leaves_the_award_of_another() {
        let mut r = process("open", json!({}));
        r["bids"] = json!({"details": [
            {"id": "b1", "status": "disqualified", "relatedLots": ["A"], "tenderers": [{"id": "V1"}],
             "value": {"amount": 990, "currency": "EUR"}},
            {"id": "b2", "status": "valid", "relatedLots": ["B"], "tenderers": [{"id": "V1"}],
             "value": {"amount": 500, "currency": "EUR"}}]});
        r["awards"] = json!([
            {"id": "A1", "status": "active", "relatedLots": ["A"], "value": {"amount": 990, "currency": "EUR"}, "suppliers": [{"id": "V1"}]},
            {"id": "A2", "status": "active", "relatedLots": ["B"], "value": {"amount": 500, "currency": "EUR"}, "suppliers": [{"id": "V1"}]}]);
        r["contracts"] = json!([]);
        let p = plan(
            &release(r),
            &MapCtx {
                bid_disqualified: true,
                ..ctx()
            },
        )
        .unwrap();
        assert_eq!(
            kinds(&p),
            ["tender", "bid", "bid_disqualified", "bid", "award"]
        );
        assert_eq!(p.entries[4].body["lot"], "B");
        assert_eq!(reasons(&p), ["vendor_disqualified"]);
    }

    #[test]
    fn a_release_without_what_the_domain_needs_is_skipped_whole() {
        let reason = |v: Json| plan(&release(v), &ctx()).unwrap_err().reason;
        assert_eq!(reason(json!({"tender": {}})), "no_ocid");
        assert_eq!(
            reason(json!({"ocid": "o", "planning": {}})),
            "no_procurement"
        );
        assert_eq!(
            reason(json!({"ocid": "o", "tender": {"procurementMethod": "open"}})),
            "no_date"
        );
        assert_eq!(
            reason(
                json!({"ocid": "o", "date": "2026-01-01", "tender": {"value": {"amount": 1, "currency": "XAU"}}})
            ),
            "invalid_currency"
        );
        // What the domain's own entries refuse is recorded: an unknown method, no value.
        let p = plan(
            &release(json!({"ocid": "o", "date": "2026-01-01",
                            "tender": {"procurementMethod": "negotiated"}})),
            &ctx(),
        )
        .unwrap();
        assert_eq!(p.entries[0].body["method"], "direct");
        assert_eq!(
            codes(&p.entries[0]),
            [
                "dq-unknown-status",
                "dq-missing-value",
                "dq-missing-deadline"
            ]
        );
    }

    #[test]
    fn disqualified_bids_are_recorded_with_the_kind_when_the_fund_has_it() {
        let mut r = process("open", json!({}));
        r["bids"]["details"][0]["status"] = json!("disqualified");
        let p = plan(&release(r.clone()), &ctx()).unwrap();
        assert_eq!(reasons(&p), ["bid_status_not_recorded"]);
        let p = plan(
            &release(r),
            &MapCtx {
                bid_disqualified: true,
                ..ctx()
            },
        )
        .unwrap();
        // The award to the disqualified vendor would be refused: it is skipped, and the
        // contract on it with it.
        assert_eq!(kinds(&p), ["tender", "bid", "bid_disqualified"]);
        assert_eq!(
            p.entries[2].body,
            json!({"bid": {"$ref": "ocds:ocds-abc-1:bid:1"}, "reason": "disqualified (OCDS bid status, ocds-abc-1)",
                   "imported": {"ocid": "ocds-abc-1", "id": "1"}})
        );
        assert_eq!(
            p.entries[2].date,
            NaiveDate::from_ymd_opt(2026, 3, 20).unwrap()
        );
        assert_eq!(reasons(&p), ["vendor_disqualified", "award_not_recorded"]);
    }

    #[test]
    fn an_award_status_read_as_a_disqualification_rules_out_the_bid_on_its_lot_only() {
        // V1 bid on lots L1 and L2: its award on L1 is `unsuccessful` (ruled out), on L2
        // active; V2 won L1.
        let r = release(
            json!({"ocid": "ocds-abc-2", "buyer": {"id": "M", "name": "Ministry"},
            "parties": [{"id": "V1", "name": "Vendor One"}, {"id": "V2", "name": "Vendor Two"}],
            "tender": {"procurementMethod": "open", "value": {"amount": 1200, "currency": "EUR"},
                       "tenderPeriod": {"startDate": "2026-03-01T00:00:00Z", "endDate": "2026-03-20T00:00:00Z"}},
            "bids": {"details": [
                {"id": "B1", "status": "valid", "tenderers": [{"id": "V1"}], "relatedLots": ["L1"], "value": {"amount": 900, "currency": "EUR"}},
                {"id": "B2", "status": "valid", "tenderers": [{"id": "V1"}], "relatedLots": ["L2"], "value": {"amount": 400, "currency": "EUR"}},
                {"id": "B3", "status": "valid", "tenderers": [{"id": "V2"}], "relatedLots": ["L1"], "value": {"amount": 950, "currency": "EUR"}}]},
            "awards": [
                {"id": "A1", "status": "unsuccessful", "date": "2026-03-25T00:00:00Z", "suppliers": [{"id": "V1"}], "relatedLots": ["L1"], "value": {"amount": 900, "currency": "EUR"}},
                {"id": "A2", "status": "active", "date": "2026-03-26T00:00:00Z", "suppliers": [{"id": "V2"}], "relatedLots": ["L1"], "value": {"amount": 950, "currency": "EUR"}},
                {"id": "A3", "status": "active", "date": "2026-03-26T00:00:00Z", "suppliers": [{"id": "V1"}], "relatedLots": ["L2"], "value": {"amount": 400, "currency": "EUR"}}]}),
        );
        let mut c = ctx();
        c.bid_disqualified = true;
        // Unmapped: the unsuccessful award is only skipped; no bid is disqualified.
        let p = plan(&r, &c).unwrap();
        assert!(p.entries.iter().all(|e| e.kind != "bid_disqualified"));
        assert_eq!(p.entries.iter().filter(|e| e.kind == "award").count(), 2);
        c.award_statuses
            .insert("unsuccessful".to_owned(), AwardStatus::Disqualified);
        let p = plan(&r, &c).unwrap();
        let disqualified: Vec<&Planned> = p
            .entries
            .iter()
            .filter(|e| e.kind == "bid_disqualified")
            .collect();
        assert_eq!(disqualified.len(), 1, "{:?}", p.entries);
        assert_eq!(disqualified[0].key, "ocds:ocds-abc-2:bid:B1:disqualified");
        assert_eq!(disqualified[0].date.to_string(), "2026-03-25");
        assert!(disqualified[0].body["reason"]
            .as_str()
            .unwrap()
            .contains("award A1 unsuccessful"));
        // Both active awards stand: V1's bid on L2 is not ruled out.
        assert_eq!(p.entries.iter().filter(|e| e.kind == "award").count(), 2);
        assert!(!reasons(&p).contains(&"vendor_disqualified"));
        // `pending=active`: an award the publisher left pending is recorded.
        let mut pending = r.clone();
        if let Some(a) = pending.awards.get_mut(1) {
            a.status = Some("pending".to_owned());
        }
        assert_eq!(
            plan(&pending, &c)
                .unwrap()
                .entries
                .iter()
                .filter(|e| e.kind == "award")
                .count(),
            1
        );
        c.award_statuses
            .insert("pending".to_owned(), AwardStatus::Active);
        assert_eq!(
            plan(&pending, &c)
                .unwrap()
                .entries
                .iter()
                .filter(|e| e.kind == "award")
                .count(),
            2
        );
    }
}
