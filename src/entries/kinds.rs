//! The typed entries of a fund's chain as one type (docs/domain.md): `FundEntry`, the union
//! of the fund-flow kinds (`funds::kinds`), the procurement kinds (`procurement::kinds`)
//! and the kinds every chain has: `reversal`, `screening_config`, `evidence_attached` and
//! two-person control's `approval_policy` and `approval_expired` (`approvals`). `parse` turns a
//! posted or stored `(kind, body)` into one and `check` applies the rules that need no
//! database. The body recorded in the ledger is the typed body re-serialised, so the chain
//! holds only known fields, amounts as decimal strings.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use super::approvals::{ApprovalExpired, ApprovalPolicy, PolicyRule};
use crate::auth::guard::Role;
use crate::funds::derived::References;
use crate::funds::kinds::{free_text, invalid, Invalid};
pub use crate::funds::kinds::{
    Allocation, Contribution, Disbursement, Expenditure, FxRate, Pledge,
};
pub use crate::procurement::kinds::{
    Approval, Award, Bid, BidDisqualified, Contract, ContractAmendment, Decision, Dq, Finding,
    Imported, Invoice, Method, Payment, Tender, TenderStatus, APPROVABLE_KINDS,
};

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

/// A document attached to an earlier entry of the chain as its evidence (an invoice, a
/// contract, a delivery note, a bank advice). The document itself is in the document
/// store under its SHA-256; this entry records the hash, size and media type, so an
/// inclusion proof of this entry proves the document. Recorded by uploading the document
/// (`POST /api/v1/funds/{fund}/entries/{seq}/evidence`), never posted as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceAttached {
    /// Seq of the entry the document is evidence for.
    pub entry: u64,
    /// Lowercase hex SHA-256 of the document's bytes.
    pub sha256: String,
    /// The document's length in bytes.
    pub size_bytes: u64,
    /// The media type sniffed from the document's first bytes (never the client's).
    pub media_type: String,
    /// The file name the uploader gave, if any (1 to 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl EvidenceAttached {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        if crate::docstore::DocumentHash::parse(&self.sha256).is_none() {
            return Err(invalid(
                "invalid_body",
                "sha256 is 64 lowercase hexadecimal digits",
            ));
        }
        if self.size_bytes == 0 {
            return Err(invalid("invalid_body", "size_bytes is at least 1"));
        }
        crate::funds::kinds::text(&self.media_type, "media_type", 100)?;
        match &self.name {
            Some(name) => crate::funds::kinds::text(name, "name", 200),
            None => Ok(()),
        }
    }
}

impl Reversal {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        free_text(&self.reason, "reason", 500)
    }
}

impl ScreeningConfig {
    /// The rules that need no database.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.settings.is_empty() {
            return Err(invalid(
                "invalid_body",
                "settings names at least one setting",
            ));
        }
        free_text(&self.reason, "reason", 500)
    }
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
    EvidenceAttached(EvidenceAttached),
    ApprovalPolicy(ApprovalPolicy),
    ApprovalExpired(ApprovalExpired),
}

/// Every kind, as recorded in the ledger's `kind` field.
pub const KINDS: [&str; 20] = [
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
    "evidence_attached",
    "approval_policy",
    "approval_expired",
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
        serde_json::from_value(serde_json::json!({"kind": kind, "body": body})).map_err(|_| {
            invalid(
                "invalid_body",
                format!("{kind}: {}", Self::refusal(kind, body)),
            )
        })
    }

    /// Why `body` is not a `kind`, naming the field (`body.period_start: …`). Read again
    /// as text with the tag first: a `Value` puts `body` before `kind`, and serde then
    /// buffers the body, which loses the path. Only on the refusal path.
    fn refusal(kind: &str, body: &serde_json::Value) -> String {
        let source = match (serde_json::to_string(kind), serde_json::to_string(body)) {
            (Ok(k), Ok(b)) => format!("{{\"kind\":{k},\"body\":{b}}}"),
            _ => return "the body cannot be read".to_owned(),
        };
        let mut de = serde_json::Deserializer::from_str(&source);
        match serde_path_to_error::deserialize::<_, FundEntry>(&mut de) {
            Err(e) => crate::extract::named(&e),
            Ok(_) => "the body does not match the kind".to_owned(),
        }
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
            FundEntry::EvidenceAttached(_) => "evidence_attached",
            FundEntry::ApprovalPolicy(_) => "approval_policy",
            FundEntry::ApprovalExpired(_) => "approval_expired",
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
            FundEntry::Pledge(e) => e.check(),
            FundEntry::Contribution(e) => e.check(),
            FundEntry::Allocation(e) => e.check(),
            FundEntry::Disbursement(e) => e.check(),
            FundEntry::FxRate(e) => e.check(),
            FundEntry::Expenditure(e) => e.check(),
            FundEntry::Tender(e) => e.check(date),
            FundEntry::Bid(e) => e.check(),
            FundEntry::Award(e) => e.check(),
            FundEntry::Contract(e) => e.check(),
            FundEntry::ContractAmendment(e) => e.check(),
            FundEntry::Invoice(e) => e.check(),
            FundEntry::Payment(e) => e.check(),
            FundEntry::Reversal(e) => e.check(),
            FundEntry::ScreeningConfig(e) => e.check(),
            FundEntry::BidDisqualified(e) => e.check(),
            FundEntry::Approval(e) => e.check(),
            FundEntry::EvidenceAttached(e) => e.check(),
            FundEntry::ApprovalPolicy(e) => e.check(),
            FundEntry::ApprovalExpired(e) => e.check(),
        }
    }

    /// Where an imported entry comes from (`None` for the API's entries).
    pub fn imported(&self) -> Option<&Imported> {
        match self {
            FundEntry::Tender(e) => e.imported.as_ref(),
            FundEntry::Bid(e) => e.imported.as_ref(),
            FundEntry::Award(e) => e.imported.as_ref(),
            FundEntry::Contract(e) => e.imported.as_ref(),
            FundEntry::ContractAmendment(e) => e.imported.as_ref(),
            FundEntry::Invoice(e) => e.imported.as_ref(),
            FundEntry::Payment(e) => e.imported.as_ref(),
            FundEntry::BidDisqualified(e) => e.imported.as_ref(),
            _ => None,
        }
    }

    /// Adds the earlier entries this one refers to, by the derived table they are in, so
    /// that a job's references are read in one query per table (`Derived::prefetch`).
    pub fn references(&self, refs: &mut References) {
        let seq = |s: u64| i64::try_from(s).ok();
        match self {
            FundEntry::Pledge(p) => refs.orgs.push(p.donor),
            FundEntry::Contribution(c) => refs.orgs.push(c.donor),
            FundEntry::Allocation(a) => refs.orgs.push(a.ministry),
            FundEntry::Expenditure(e) => refs.orgs.push(e.ministry),
            FundEntry::Tender(t) => refs.orgs.push(t.ministry),
            FundEntry::Disbursement(d) => refs.allocations.extend(seq(d.allocation)),
            FundEntry::Bid(b) => {
                refs.tenders.extend(seq(b.tender));
                refs.orgs.push(b.vendor);
            }
            FundEntry::Award(a) => {
                refs.tenders.extend(seq(a.tender));
                refs.disqualified_tenders.extend(seq(a.tender));
                refs.orgs.push(a.vendor);
            }
            FundEntry::Contract(c) => refs.entries.extend(seq(c.award)),
            FundEntry::ContractAmendment(a) => refs.contracts.extend(seq(a.contract)),
            FundEntry::Invoice(i) => refs.contracts.extend(seq(i.contract)),
            FundEntry::Payment(p) => {
                refs.invoices.extend(p.invoice.and_then(seq));
                refs.orgs.extend(p.vendor);
                refs.orgs.extend(p.ministry);
            }
            FundEntry::Reversal(r) => refs.entries.extend(seq(r.entry)),
            FundEntry::BidDisqualified(d) => refs.entries.extend(seq(d.bid)),
            FundEntry::Approval(a) => refs.entries.extend(seq(a.entry)),
            FundEntry::EvidenceAttached(a) => refs.entries.extend(seq(a.entry)),
            _ => {}
        }
    }
}

/// The role that posts `kind` (`None` for a reversal and an evidence_attached: the role
/// that may post the kind they refer to; for a request pending approval, indexed as
/// `approval_request`, and an expiry: the role of the requested kind, decided by the
/// request).
pub fn poster_of(kind: &str) -> Option<Role> {
    if matches!(
        kind,
        "reversal" | "evidence_attached" | "approval_request" | "approval_expired"
    ) {
        None
    } else if kind == "screening_config" || kind == "approval_policy" {
        Some(Role::Auditor)
    } else if FUND_FLOW_KINDS.contains(&kind) {
        Some(Role::Treasurer)
    } else {
        Some(Role::Ministry)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

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
            json!({"entry": 9}),
            json!({"entry": 9, "decision": "withdrawn"}),
            json!({"entry": 9, "decision": "approved", "by": "someone"}),
        ] {
            assert_eq!(
                FundEntry::parse("approval", &bad).unwrap_err().code,
                "invalid_body"
            );
        }
        // A rejection states its reason.
        let unexplained =
            FundEntry::parse("approval", &json!({"entry": 9, "decision": "rejected"}));
        assert_eq!(
            unexplained.unwrap().check(date()).unwrap_err().code,
            "invalid_body"
        );
        let rejected = json!({"entry": 9, "decision": "rejected", "reason": "No delivery note"});
        let e = FundEntry::parse("approval", &rejected).unwrap();
        assert!(e.check(date()).is_ok());
        assert_eq!(e.body().unwrap(), rejected);
    }

    #[test]
    fn approval_policies_name_covered_kinds_once() {
        let eur = |v: &str| json!({"value": v, "currency": "EUR"});
        let policy = |rules: serde_json::Value, hours: u32| {
            FundEntry::parse(
                "approval_policy",
                &json!({"rules": rules, "expiry_hours": hours, "reason": "Board decision 4/2026"}),
            )
            .unwrap()
            .check(date())
            .err()
            .map(|i| i.code)
        };
        let m = Uuid::nil();
        assert_eq!(
            policy(
                json!([{"kind": "disbursement", "above": eur("50000.00")},
                       {"kind": "payment", "above": eur("10000.00")},
                       {"kind": "payment", "above": eur("5000.00"), "ministry": m}]),
                72
            ),
            None
        );
        assert_eq!(policy(json!([]), 72), None);
        assert_eq!(
            policy(json!([{"kind": "pledge", "above": eur("1.00")}]), 72),
            Some("invalid_body")
        );
        assert_eq!(
            policy(
                json!([{"kind": "payment", "above": eur("1.00")}, {"kind": "payment", "above": eur("2.00")}]),
                72
            ),
            Some("invalid_body")
        );
        assert_eq!(
            policy(json!([{"kind": "payment", "above": eur("0.00")}]), 72),
            Some("invalid_amount")
        );
        assert_eq!(policy(json!([]), 0), Some("invalid_body"));
        assert_eq!(policy(json!([]), 2_161), Some("invalid_body"));
    }

    #[test]
    fn the_ministry_rule_takes_precedence() {
        let eur = |v: &str| json!({"value": v, "currency": "EUR"});
        let m = Uuid::from_u128(7);
        let p: ApprovalPolicy = serde_json::from_value(json!({
            "rules": [{"kind": "payment", "above": eur("10000.00")},
                      {"kind": "payment", "above": eur("500.00"), "ministry": m}],
            "expiry_hours": 24, "reason": "r"}))
        .unwrap();
        let above = |ministry| {
            p.rule_for("payment", ministry)
                .map(|r| r.above.value.to_string())
        };
        assert_eq!(above(Some(m)).as_deref(), Some("500.00"));
        assert_eq!(above(Some(Uuid::nil())).as_deref(), Some("10000.00"));
        assert_eq!(above(None).as_deref(), Some("10000.00"));
        assert!(p.rule_for("contract", Some(m)).is_none());
    }
}
