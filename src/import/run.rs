//! The importer: reads releases (`read`), maps each to planned entries (`map`), resolves
//! its parties to organisations and its references to seqs, and appends what is not yet
//! recorded through the fund's ledger writer with the same `FundEffect` as the API
//! (invariants, derived state and per-entry screening in the append transaction).
//!
//! Idempotency: every entry's key is derived from the ocid and the OCDS element ids. Before
//! appending a process, the importer reads which of its keys the chain already holds and
//! takes their seqs as the targets of references; only the others are appended. A second
//! import of the same file therefore appends nothing (and creates no vendor).
//!
//! The new entries of one process are appended as one batch (all or none), whose
//! references to each other are the seqs they will get: the chain's size before the batch
//! plus their index. An effect wrapped around the `FundEffect` checks, under the chain's
//! head lock, that the batch really starts at that seq; if another writer got in first it
//! refuses with `chain_moved` and the importer plans the process again.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use anyhow::Context;
use diesel::PgConnection;
use serde::Serialize;
use serde_json::{json, Value as Json};
use uuid::Uuid;

use super::map::{self, AwardStatus, BidStatus, MapCtx, PartyRef, Plan, Skip};
use super::read::{self, Format, Item, Record};
use crate::auth::guard::Role;
use crate::auth::store::{self as org_store, OrgRow};
use crate::db::PgPool;
use crate::entries::effect::FundEffect;
use crate::entries::kinds::{FundEntry, Method};
use crate::funds::ctx::{Actor, FundCtx};
use crate::ledger::entry::{Entry, Principal, ADMIN_CHAIN};
use crate::ledger::writer::{AppendError, AppendRequest, Checked, Effect, FnEffect, Receipt};
use crate::ledger::Ledger;
use crate::money::Currency;

/// The principal of every entry the import writes (fund and administrative chains).
pub fn principal() -> Principal {
    Principal {
        id: "ocds-import".to_owned(),
        role: "system".to_owned(),
    }
}

/// Namespace of the ids of vendors the import creates: UUIDv5 of the party's identifier
/// (or name), so that a retried creation names the same organisation.
const VENDOR_NAMESPACE: Uuid = Uuid::from_u128(0x6f63_6473_2d76_656e_646f_722d_6964_0001);
/// Attempts to plan and append one group when other writers keep moving the chain.
const MAX_ATTEMPTS: usize = 5;
/// Entries of several processes appended in one batch (one transaction); at most the
/// writer's batch size.
const MAX_GROUP_ENTRIES: usize = crate::ledger::writer::MAX_BATCH_ENTRIES;
/// Vendors registered in one administrative batch (one transaction).
const MAX_VENDORS_PER_BATCH: usize = crate::ledger::writer::MAX_BATCH_ENTRIES;
/// Examples kept per skip reason in the report.
const EXAMPLES_PER_REASON: usize = 5;
/// Groups handed to the chain's writer and not yet answered: while the writer appends
/// them (it commits the jobs it finds queued together, up to 4,000 entries per
/// transaction), this thread prepares the next.
const IN_FLIGHT: usize = 3;
/// Mapped processes waiting for the importer.
const MAPPED_AHEAD: usize = 64;

/// Time the importer's own thread spends per step (`ledger::phases`). The report gives
/// each step's time over one import, with the chain writer's and the fund effect's.
pub mod phases {
    use crate::ledger::phases::Phase;

    /// Waiting for the next mapped process: reading and mapping are behind.
    pub static WAIT_MAPPED: Phase = Phase::new("import: waiting for read and mapped releases");
    /// Reading which of a group's idempotency keys are recorded (one query per group).
    pub static KEYS: Phase = Phase::new("import: reading a group's recorded keys");
    /// Looking a group's parties up and registering the new vendors in batches.
    pub static VENDORS: Phase = Phase::new("import: registering a group's new vendors");
    /// Resolving references and parties (the vendors left to one at a time), typed bodies.
    pub static PREPARE: Phase = Phase::new("import: preparing entries");
    /// Handing a group to the chain's writer (checks, canonical bodies).
    pub static SUBMIT: Phase = Phase::new("import: handing a group to the writer");
    /// Waiting for the writer's answer to the oldest group in flight.
    pub static WAIT_WRITER: Phase = Phase::new("import: waiting for the writer");

    pub static ALL: [&Phase; 6] = [
        &WAIT_MAPPED,
        &KEYS,
        &VENDORS,
        &PREPARE,
        &SUBMIT,
        &WAIT_WRITER,
    ];
}

/// Every phase an import's time is read from: the importer's, the chain writer's and the
/// fund effect's, with their totals now.
fn phases_now() -> Vec<(&'static str, std::time::Duration, u64)> {
    phases::ALL
        .iter()
        .chain(crate::ledger::phases::writer::ALL.iter())
        .chain(crate::entries::effect::phases::ALL.iter())
        .map(|p| {
            let (took, count) = p.read();
            (p.name, took, count)
        })
        .collect()
}

/// Where an import's time went: one phase, its time and how often it ran. The writer's
/// and the effect's phases count every append of the process meanwhile (the import's,
/// unless `serve` shares the process).
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub phase: &'static str,
    pub seconds: f64,
    pub count: u64,
}

fn timings_since(before: &[(&'static str, std::time::Duration, u64)]) -> Vec<Timing> {
    before
        .iter()
        .zip(phases_now())
        .map(|((name, t0, n0), (_, t1, n1))| Timing {
            phase: name,
            seconds: t1.saturating_sub(*t0).as_secs_f64(),
            count: n1.saturating_sub(*n0),
        })
        .collect()
}

/// What to import, and where.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The fund's id or name (`startup::find_fund`).
    pub fund: String,
    /// Record every process for this ministry (id or exact name) instead of its buyer.
    pub ministry: Option<String>,
    /// Files and directories, read in order (`inputs`).
    pub files: Vec<PathBuf>,
    /// How many days past today a business date may lie (as for the API).
    pub future_skew_days: u32,
    /// A publisher's own bid statuses mapped to the codelist.
    pub bid_statuses: HashMap<String, BidStatus>,
    /// A publisher's procurement methods mapped to the domain's.
    pub methods: HashMap<String, Method>,
    /// A publisher's award statuses and what they mean.
    pub award_statuses: HashMap<String, AwardStatus>,
    /// Screening settings (docs/screening.md, "Thresholds") recorded as a
    /// `screening_config` entry of the fund before anything is imported, unless the fund
    /// already screens with them: `amount_scale`, `award_tax_share`, ...
    pub screening: serde_json::Map<String, Json>,
    /// Where to write every skip and finding as JSON lines (`--report`), as they happen.
    pub report: Option<PathBuf>,
}

impl ImportOptions {
    /// Options for `files` with no mappings and no report file.
    pub fn new(fund: &str, files: Vec<PathBuf>) -> Self {
        Self {
            fund: fund.to_owned(),
            ministry: None,
            files,
            future_skew_days: 1,
            bid_statuses: HashMap::new(),
            methods: HashMap::new(),
            award_statuses: HashMap::new(),
            screening: serde_json::Map::new(),
            report: None,
        }
    }
}

/// `WORD=CODE` pairs of `--bid-status`.
pub fn bid_statuses(pairs: &[String]) -> anyhow::Result<HashMap<String, BidStatus>> {
    let mut out = HashMap::new();
    for p in pairs {
        let (word, code) = p.split_once('=').with_context(|| {
            format!("--bid-status {p:?}: write WORD=STATUS, e.g. not-qualified=disqualified")
        })?;
        let status = BidStatus::parse(code.trim()).with_context(|| {
            format!("--bid-status {p:?}: {code:?} is not a bid status of the codelist (invited, pending, valid, disqualified, withdrawn)")
        })?;
        out.insert(word.trim().to_owned(), status);
    }
    Ok(out)
}

/// `WORD=METHOD` pairs of `--method` (METHOD an OCDS code: open, selective, limited, direct).
pub fn methods(pairs: &[String]) -> anyhow::Result<HashMap<String, Method>> {
    let mut out = HashMap::new();
    for p in pairs {
        let (word, code) = p
            .split_once('=')
            .with_context(|| format!("--method {p:?}: write WORD=METHOD, e.g. limited=direct"))?;
        let m = map::method(code.trim()).with_context(|| {
            format!("--method {p:?}: {code:?} is not open, selective, limited or direct")
        })?;
        out.insert(word.trim().to_owned(), m);
    }
    Ok(out)
}

/// `WORD=MEANING` pairs of `--award-status` (MEANING: `active`, or `disqualified`: the
/// supplier was ruled out, its bid on the award's lot is disqualified).
pub fn award_statuses(pairs: &[String]) -> anyhow::Result<HashMap<String, AwardStatus>> {
    let mut out = HashMap::new();
    for p in pairs {
        let (word, code) = p.split_once('=').with_context(|| {
            format!("--award-status {p:?}: write WORD=MEANING, e.g. unsuccessful=disqualified")
        })?;
        let status = AwardStatus::parse(code.trim()).with_context(|| {
            format!("--award-status {p:?}: {code:?} is neither active nor disqualified")
        })?;
        out.insert(word.trim().to_owned(), status);
    }
    Ok(out)
}

/// `NAME=VALUE` pairs of `--screening`, and `--amount-scale`, as the settings of a
/// `screening_config`. A value is JSON when it reads as JSON other than a number with a
/// fraction (`30`, `true`, `null`), else a string (`"0.2"`: decimals stay exact); the
/// fund converts it to the setting's type.
pub fn screening_settings(
    pairs: &[String],
    amount_scale: Option<&str>,
) -> anyhow::Result<serde_json::Map<String, Json>> {
    let mut out = serde_json::Map::new();
    for p in pairs {
        let (name, value) = p.split_once('=').with_context(|| {
            format!("--screening {p:?}: write NAME=VALUE, e.g. award_tax_share=0.2")
        })?;
        let value = value.trim();
        let v = match serde_json::from_str::<Json>(value) {
            Ok(Json::Number(n)) if !(n.is_i64() || n.is_u64()) => Json::String(value.to_owned()),
            Ok(v) => v,
            Err(_) => Json::String(value.to_owned()),
        };
        out.insert(name.trim().to_owned(), v);
    }
    if let Some(rate) = amount_scale {
        out.insert(
            "amount_scale".to_owned(),
            Json::String(rate.trim().to_owned()),
        );
    }
    Ok(out)
}

/// The files to read: each argument that is a file, and the `.json`, `.jsonl` and
/// `.ndjson` files of each directory (sorted by name, not recursive). Refuses with a
/// plain message a name that matches nothing, a directory that cannot be read or holds
/// no such file, and a gzip-compressed file.
pub fn inputs(args: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for a in args {
        let meta = std::fs::metadata(a).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                anyhow::anyhow!("{}: no such file or directory", a.display())
            }
            _ => anyhow::anyhow!("{}: cannot be read: {e}", a.display()),
        })?;
        if meta.is_dir() {
            let entries = std::fs::read_dir(a).map_err(|e| {
                anyhow::anyhow!("{}: the directory cannot be read: {e}", a.display())
            })?;
            let mut files: Vec<PathBuf> = Vec::new();
            for e in entries {
                let p = e
                    .map_err(|e| {
                        anyhow::anyhow!("{}: the directory cannot be read: {e}", a.display())
                    })?
                    .path();
                let ext = p.extension().and_then(|x| x.to_str()).unwrap_or("");
                if p.is_file() && matches!(ext, "json" | "jsonl" | "ndjson" | "gz") {
                    files.push(p);
                }
            }
            files.sort();
            anyhow::ensure!(
                !files.is_empty(),
                "{}: the directory holds no .json, .jsonl or .ndjson file",
                a.display()
            );
            out.extend(files);
        } else {
            out.push(a.clone());
        }
    }
    for f in &out {
        let mut magic = [0_u8; 2];
        let n = std::fs::File::open(f)
            .and_then(|mut h| std::io::Read::read(&mut h, &mut magic))
            .map_err(|e| anyhow::anyhow!("{}: cannot be read: {e}", f.display()))?;
        anyhow::ensure!(
            !(n == 2 && magic == [0x1f, 0x8b]),
            "{}: the file is gzip-compressed; decompress it first (gunzip -k {}) and import the .json it gives",
            f.display(),
            f.display()
        );
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct Example {
    pub ocid: String,
    pub element: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SkipGroup {
    pub reason: String,
    pub count: u64,
    /// The first few, in file order.
    pub examples: Vec<Example>,
}

/// The import's outcome (stderr summary; `--report FILE` writes it as JSON).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// The files read, in order.
    pub files: Vec<String>,
    /// The first file (kept for older readers of the report).
    pub file: String,
    pub fund: Uuid,
    pub format: Option<Format>,
    pub records_read: u64,
    /// Processes of which at least one entry was appended by this run.
    pub processes_imported: u64,
    /// Processes whose every mapped entry was already recorded.
    pub processes_already_recorded: u64,
    /// Processes of which nothing could be recorded (see `skipped`).
    pub processes_skipped: u64,
    /// Processes recorded (imported by this run, or already recorded) whose entries
    /// carry at least one data-quality finding.
    pub processes_with_findings: u64,
    /// Elements of recorded processes left out (a non-active award, an invited bid, ...).
    pub elements_skipped: u64,
    /// Data-quality findings the appended entries record, by code (`dq-precision`, ...).
    pub findings_by_code: BTreeMap<String, u64>,
    pub entries_appended: u64,
    pub entries_already_present: u64,
    pub appended_by_kind: BTreeMap<String, u64>,
    pub vendors_created: u64,
    pub identifiers_added: u64,
    /// The seq of the `screening_config` recorded for the import's screening settings
    /// (`None`: none asked for, or already in force).
    pub screening_config: Option<u64>,
    /// Skipped records, processes and elements, by reason.
    pub skipped: Vec<SkipGroup>,
    /// Why reading stopped before the end of the file, if it did.
    pub stopped: Option<String>,
    pub seconds: f64,
    /// Where the time went, by phase (the importer's, the chain writer's, the effect's).
    pub timings: Vec<Timing>,
    /// The `--report` file's writer: one JSON line per skip and per finding.
    #[serde(skip)]
    lines: Option<std::sync::Arc<std::sync::Mutex<std::io::BufWriter<std::fs::File>>>>,
}

impl ImportReport {
    /// One JSON line of the `--report` file.
    fn line(&self, v: &Json) {
        if let Some(w) = &self.lines {
            if let Ok(mut w) = w.lock() {
                let _ = std::io::Write::write_all(&mut *w, format!("{v}\n").as_bytes());
            }
        }
    }

    /// The processes recorded: imported by this run or already recorded.
    pub fn processes_recorded(&self) -> u64 {
        self.processes_imported + self.processes_already_recorded
    }

    fn skip(&mut self, ocid: &str, s: &Skip) {
        self.line(&json!({"type": "skip", "reason": s.reason, "ocid": ocid,
                          "element": s.element, "detail": s.detail}));
        let group = match self.skipped.iter_mut().position(|g| g.reason == s.reason) {
            Some(i) => self.skipped.get_mut(i),
            None => {
                self.skipped.push(SkipGroup {
                    reason: s.reason.to_owned(),
                    count: 0,
                    examples: Vec::new(),
                });
                self.skipped.last_mut()
            }
        };
        if let Some(g) = group {
            g.count += 1;
            if g.examples.len() < EXAMPLES_PER_REASON {
                g.examples.push(Example {
                    ocid: ocid.to_owned(),
                    element: s.element.clone(),
                    detail: s.detail.clone(),
                });
            }
        }
    }

    /// Skips of one reason (0 when none).
    pub fn skipped_count(&self, reason: &str) -> u64 {
        self.skipped
            .iter()
            .find(|g| g.reason == reason)
            .map_or(0, |g| g.count)
    }

    /// The human summary printed to stderr.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "OCDS import of {} into fund {}: {} records read; {} processes imported, {} already recorded ({} with data-quality findings), {} skipped; {} elements skipped; {} entries appended, {} already present",
            self.files.join(", "),
            self.fund,
            self.records_read,
            self.processes_imported,
            self.processes_already_recorded,
            self.processes_with_findings,
            self.processes_skipped,
            self.elements_skipped,
            self.entries_appended,
            self.entries_already_present,
        );
        if !self.appended_by_kind.is_empty() {
            let kinds: Vec<String> = self
                .appended_by_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            out.push_str(&format!(" ({})", kinds.join(", ")));
        }
        out.push_str(&format!(
            "; {} vendors created, {} identifiers added; {:.1} s\n",
            self.vendors_created, self.identifiers_added, self.seconds
        ));
        if self.entries_appended == 0 && self.entries_already_present > 0 {
            out.push_str("everything mapped was already recorded\n");
        }
        if !self.findings_by_code.is_empty() {
            let f: Vec<String> = self
                .findings_by_code
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            out.push_str(&format!(
                "data-quality findings recorded (flags of the dq- family): {}\n",
                f.join(", ")
            ));
        }
        for g in &self.skipped {
            out.push_str(&format!("skipped {} × {}\n", g.count, g.reason));
            for e in &g.examples {
                out.push_str(&format!("  {} {}: {}\n", e.ocid, e.element, e.detail));
            }
        }
        if let Some(why) = &self.stopped {
            out.push_str(&format!("reading stopped: {why}\n"));
        }
        let spent: Vec<String> = self
            .timings
            .iter()
            .filter(|t| t.seconds >= 0.05)
            .map(|t| format!("{} {:.1} s", t.phase, t.seconds))
            .collect();
        if !spent.is_empty() {
            out.push_str(&format!("time by phase: {}\n", spent.join("; ")));
        }
        out
    }
}

/// An organisation by id or exact name.
fn find_org(conn: &mut PgConnection, org: &str) -> anyhow::Result<Option<OrgRow>> {
    Ok(match org.parse::<Uuid>() {
        Ok(id) => org_store::org(conn, id)?,
        Err(_) => org_store::org_by_name(conn, org)?,
    })
}

struct Importer<'a> {
    ledger: &'a Arc<Ledger>,
    pool: &'a PgPool,
    fund: Uuid,
    currency: Currency,
    ministry_override: Option<Uuid>,
    ctx: MapCtx,
    report: ImportReport,
    /// Buyer label -> ministry (or why not).
    ministries: HashMap<String, Result<Uuid, Skip>>,
    /// Party key -> vendor.
    vendors: HashMap<String, Uuid>,
    /// Mapped processes waiting for the next group, with their ministry, and how many
    /// entries they map to.
    queued: Vec<(Plan, Uuid)>,
    queued_entries: usize,
    /// The group being prepared (or appended again), from seq `group_base` on.
    group: Vec<Pending>,
    group_base: Option<u64>,
    /// Idempotency keys of the group being prepared.
    pending_keys: std::collections::HashSet<String>,
    /// Groups handed to the chain's writer, oldest first, not yet answered.
    inflight: VecDeque<InFlight>,
    /// The seqs the entries of the groups in flight get (what a later release of the
    /// same ocid refers to before they are committed).
    inflight_seqs: HashMap<String, u64>,
    /// The chain's size once the groups in flight are appended (`None`: read it).
    next_seq: Option<u64>,
}

/// A group handed to the chain's writer, and its answer to come.
struct InFlight {
    group: Vec<Handed>,
    answer: Pin<Box<dyn Future<Output = Result<Vec<Receipt>, AppendError>>>>,
}

/// A process of a group handed to the writer: what the importer keeps of it once its
/// requests are the writer's (their keys, and the findings to report once appended).
struct Handed {
    plan: Plan,
    ministry: Uuid,
    present: usize,
    keys: Vec<String>,
    findings: Vec<Noted>,
}

/// The data-quality findings an entry records (`imported.findings` of its body).
struct Noted {
    kind: String,
    key: String,
    findings: Vec<Json>,
}

impl Pending {
    /// Its requests (for the writer), and what the importer keeps.
    fn hand(self) -> (Handed, Vec<AppendRequest>) {
        let findings = self
            .requests
            .iter()
            .filter_map(|r| {
                let f = r
                    .body
                    .get("imported")
                    .and_then(|i| i.get("findings"))
                    .and_then(Json::as_array)?;
                Some(Noted {
                    kind: r.kind.clone(),
                    key: r.idempotency_key.clone(),
                    findings: f.clone(),
                })
            })
            .collect();
        let keys = self
            .requests
            .iter()
            .map(|r| r.idempotency_key.clone())
            .collect();
        let handed = Handed {
            plan: self.plan,
            ministry: self.ministry,
            present: self.present,
            keys,
            findings,
        };
        (handed, self.requests)
    }
}

/// A process whose new entries wait in the group.
struct Pending {
    plan: Plan,
    ministry: Uuid,
    requests: Vec<AppendRequest>,
    /// Its entries already recorded before this group.
    present: usize,
}

enum Prepared {
    /// Reported skipped.
    Skipped,
    /// Every entry already recorded (how many).
    AlreadyRecorded(usize),
    /// Entries to append; how many were already recorded.
    New(Vec<AppendRequest>, usize),
}

fn party_key(p: &PartyRef) -> String {
    match (&p.identifier, &p.name) {
        (Some((s, i)), _) => format!("id:{s}/{i}"),
        (None, Some(n)) => format!("name:{n}"),
        (None, None) => format!("ocds:{}", p.ocds_id.clone().unwrap_or_default()),
    }
}

/// What the register knows of a party: the organisation of its identifier, the one of
/// its name (looked up when the identifier names none), and whether that one is a
/// namesake (known by another identifier of the same register: a different vendor).
struct Lookup {
    by_identifier: Option<OrgRow>,
    by_name: Option<OrgRow>,
    namesake: bool,
}

fn lookup(conn: &mut PgConnection, p: &PartyRef) -> anyhow::Result<Lookup> {
    let by_identifier = match &p.identifier {
        Some((s, i)) => org_store::org_by_identifier(conn, s, i)?,
        None => None,
    };
    let by_name = match (&by_identifier, &p.name) {
        (None, Some(n)) => org_store::org_by_name(conn, n)?,
        _ => None,
    };
    let namesake = match (&by_name, &p.identifier) {
        (Some(o), Some((s, i))) => {
            org_store::identifier_in_scheme(conn, o.id, s)?.is_some_and(|known| known != *i)
        }
        _ => false,
    };
    Ok(Lookup {
        by_identifier,
        by_name,
        namesake,
    })
}

/// A vendor the import registers: `vendor_registered` in the administrative chain, its
/// organisation and identifier inserted by the entry's effect.
struct NewVendor {
    party: PartyRef,
    /// The entry's idempotency key.
    key: String,
    id: Uuid,
    name: String,
    body: Json,
}

impl NewVendor {
    /// The vendor of `p` (`None`: it has no name). A namesake is registered under its
    /// name and identifier (organisation names are unique).
    fn of(p: &PartyRef, namesake: bool, ocid: &str) -> Option<Self> {
        let name = p.name.clone()?;
        let name = match (&p.identifier, namesake) {
            (Some((s, i)), true) => {
                let full = format!("{name} ({s} {i})");
                full.chars().take(200).collect::<String>().trim().to_owned()
            }
            _ => name,
        };
        let k = party_key(p);
        let id = Uuid::new_v5(&VENDOR_NAMESPACE, k.as_bytes());
        let body = match &p.identifier {
            Some((s, i)) => {
                json!({"organization": id, "name": name, "source": "ocds", "ocid": ocid,
                                   "identifier": {"scheme": s, "id": i}})
            }
            None => json!({"organization": id, "name": name, "source": "ocds", "ocid": ocid}),
        };
        Some(NewVendor {
            party: p.clone(),
            key: map::key("vendor", &k),
            id,
            name,
            body,
        })
    }

    /// The entry, dated `today` (as every administrative entry of the import).
    fn request(&self, today: chrono::NaiveDate) -> AppendRequest {
        AppendRequest {
            kind: "vendor_registered".to_owned(),
            business_date: today,
            idempotency_key: self.key.clone(),
            body: self.body.clone(),
            principal: principal(),
        }
    }

    /// The organisation and its identifier, as the entry's effect.
    fn insert(&self, conn: &mut PgConnection) -> Result<(), AppendError> {
        org_store::insert_org(conn, self.id, &self.name, "vendor").map_err(|e| {
            crate::auth::admin::db_err(e, "organization_exists", "an organisation with this name")
        })?;
        if let Some((s, i)) = &self.party.identifier {
            org_store::insert_identifier(conn, self.id, s, i).map_err(|e| {
                crate::auth::admin::db_err(e, "identifier_exists", "this identifier")
            })?;
        }
        Ok(())
    }
}

fn skip(reason: &'static str, element: &str, detail: String) -> Skip {
    Skip {
        reason,
        element: element.to_owned(),
        detail,
    }
}

/// Replaces placeholders: `$ref` by seqs, `$party` by vendors, `$ministry` by the ministry.
fn resolve(
    v: &Json,
    seqs: &HashMap<String, u64>,
    vendors: &[Option<Uuid>],
    ministry: Uuid,
) -> Option<Json> {
    Some(match v {
        Json::Object(m) if m.len() == 1 && m.contains_key("$ref") => {
            json!(seqs.get(m.get("$ref")?.as_str()?)?)
        }
        Json::Object(m) if m.len() == 1 && m.contains_key("$party") => {
            let i = usize::try_from(m.get("$party")?.as_u64()?).ok()?;
            json!((*vendors.get(i)?)?)
        }
        Json::Object(m) if m.len() == 1 && m.contains_key("$ministry") => json!(ministry),
        Json::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                out.insert(k.clone(), resolve(x, seqs, vendors, ministry)?);
            }
            Json::Object(out)
        }
        other => other.clone(),
    })
}

impl Importer<'_> {
    fn conn(&self) -> anyhow::Result<crate::db::PgPooled> {
        Ok(self.pool.get()?)
    }

    /// The ministry a process is recorded for.
    fn ministry(&mut self, buyer: Option<&PartyRef>) -> anyhow::Result<Result<Uuid, Skip>> {
        if let Some(m) = self.ministry_override {
            return Ok(Ok(m));
        }
        let Some(buyer) = buyer else {
            return Ok(Err(skip(
                "no_buyer",
                "buyer",
                "the release names no buyer or procuring entity; pass --ministry".to_owned(),
            )));
        };
        let k = party_key(buyer);
        if let Some(known) = self.ministries.get(&k) {
            return Ok(known.clone());
        }
        let mut conn = self.conn()?;
        let found = match &buyer.identifier {
            Some((s, i)) => org_store::org_by_identifier(&mut conn, s, i)?,
            None => None,
        };
        let found = match (found, &buyer.name) {
            (Some(o), _) => Some(o),
            (None, Some(n)) => org_store::org_by_name(&mut conn, n)?,
            (None, None) => None,
        };
        let label = buyer.label();
        let out = match found {
            None => Err(skip(
                "unknown_buyer",
                "buyer",
                format!("the buyer {label:?} is not a registered organisation (register the ministry, or pass --ministry)"),
            )),
            Some(o) if o.kind != "ministry" => Err(skip(
                "buyer_not_ministry",
                "buyer",
                format!("the buyer {label:?} is an organisation of kind {}", o.kind),
            )),
            Some(o) if !o.active => Err(skip(
                "buyer_inactive",
                "buyer",
                format!("the ministry {label:?} is deactivated"),
            )),
            Some(o) => {
                if crate::funds::state::is_ministry_of(&mut conn, self.fund, o.id)? {
                    Ok(o.id)
                } else {
                    Err(skip(
                        "buyer_not_allocated",
                        "buyer",
                        format!("the fund has made no allocation to {label:?}"),
                    ))
                }
            }
        };
        self.ministries.insert(k, out.clone());
        Ok(out)
    }

    /// Records an administrative-chain entry with `effect`, as the admin API does.
    async fn admin_record(
        &self,
        kind: &str,
        key: String,
        body: Json,
        effect: impl Fn(&mut PgConnection, &[Entry]) -> Result<(), AppendError> + Send + Sync + 'static,
    ) -> Result<bool, AppendError> {
        let receipts = self
            .ledger
            .append_with(
                ADMIN_CHAIN,
                vec![AppendRequest {
                    kind: kind.to_owned(),
                    business_date: self.ledger.now().date_naive(),
                    idempotency_key: key,
                    body,
                    principal: principal(),
                }],
                Arc::new(FnEffect(effect)),
            )
            .await?;
        Ok(receipts.first().is_some_and(|r| !r.replayed))
    }

    /// The vendor organisation of a party: matched by identifier, then by name, else
    /// registered (`vendor_registered` in the administrative chain, as `POST
    /// /api/v1/vendors` records it, with the identifier).
    async fn vendor(&mut self, ocid: &str, p: &PartyRef) -> anyhow::Result<Result<Uuid, Skip>> {
        let k = party_key(p);
        if let Some(v) = self.vendors.get(&k) {
            return Ok(Ok(*v));
        }
        let label = p.label();
        let element = format!("party {label}");
        let Lookup {
            by_identifier,
            by_name,
            namesake,
        } = lookup(&mut *self.conn()?, p)?;
        let found = by_identifier.clone().or(by_name.filter(|_| !namesake));
        if let Some(o) = found {
            if o.kind != "vendor" {
                return Ok(Err(skip(
                    "party_not_vendor",
                    &element,
                    format!(
                        "{label:?} is an organisation of kind {}, not a vendor",
                        o.kind
                    ),
                )));
            }
            if !o.active {
                return Ok(Err(skip(
                    "vendor_inactive",
                    &element,
                    format!("the vendor {label:?} is deactivated"),
                )));
            }
            if let (None, Some((scheme, id))) = (&by_identifier, &p.identifier) {
                // Matched by name: remember its identifier for next time.
                let (org, s, i) = (o.id, scheme.clone(), id.clone());
                let added = self
                    .admin_record(
                        "organization_identifier_added",
                        map::key("identifier", &format!("{scheme}:{id}")),
                        json!({"organization": org, "scheme": scheme, "identifier": id, "source": "ocds", "ocid": ocid}),
                        move |conn, _| {
                            org_store::insert_identifier(conn, org, &s, &i).map_err(|e| {
                                crate::auth::admin::db_err(e, "identifier_exists", "this identifier")
                            })
                        },
                    )
                    .await;
                match added {
                    Ok(true) => self.report.identifiers_added += 1,
                    Ok(false) => {}
                    Err(e) => {
                        return Ok(Err(skip(
                            "identifier_not_recorded",
                            &element,
                            format!("recording identifier {scheme}/{id}: {e}"),
                        )))
                    }
                }
            }
            self.vendors.insert(k, o.id);
            return Ok(Ok(o.id));
        }
        let Some(v) = NewVendor::of(p, namesake, ocid) else {
            return Ok(Err(skip(
                "party_without_name",
                &element,
                "a new vendor needs a name".to_owned(),
            )));
        };
        let name = v.name.clone();
        let (id, request) = (v.id, v.request(self.ledger.now().date_naive()));
        let created = self
            .ledger
            .append_with(
                ADMIN_CHAIN,
                vec![request],
                Arc::new(FnEffect(move |conn: &mut PgConnection, _: &[Entry]| {
                    v.insert(conn)
                })),
            )
            .await
            .map(|r| r.first().is_some_and(|r| !r.replayed));
        match created {
            Ok(new) => {
                if new {
                    self.report.vendors_created += 1;
                }
                self.vendors.insert(k, id);
                Ok(Ok(id))
            }
            Err(e) => Ok(Err(skip(
                "vendor_not_registered",
                &element,
                format!("registering {name:?}: {e}"),
            ))),
        }
    }

    /// Registers the vendors that the queued processes' entries not yet recorded name
    /// and that the register knows neither by identifier nor by name: in batches of the
    /// administrative chain (one transaction each) instead of one append per vendor.
    /// Every other party (known, a namesake, a second party of the same name, a batch
    /// refused) is left to `vendor`, which decides it alone as before.
    async fn register_new_vendors(
        &mut self,
        queued: &[(Plan, Uuid)],
        recorded: &HashMap<String, Entry>,
    ) -> anyhow::Result<()> {
        let mut batch: Vec<NewVendor> = Vec::new();
        {
            let mut conn = self.conn()?;
            let mut seen = std::collections::HashSet::new();
            let mut names = std::collections::HashSet::new();
            for (plan, _) in queued {
                let unrecorded = plan
                    .entries
                    .iter()
                    .filter(|e| !recorded.contains_key(&e.key));
                for i in unrecorded.flat_map(|e| parties_of(&e.body)) {
                    let Some(p) = plan.parties.get(i) else {
                        continue;
                    };
                    let k = party_key(p);
                    if self.vendors.contains_key(&k) || !seen.insert(k) {
                        continue;
                    }
                    let found = lookup(&mut conn, p)?;
                    if found.by_identifier.is_some() || found.by_name.is_some() {
                        continue;
                    }
                    if let Some(v) = NewVendor::of(p, false, &plan.ocid) {
                        if names.insert(v.name.clone()) {
                            batch.push(v);
                        }
                    }
                }
            }
        }
        while !batch.is_empty() {
            let rest = batch.split_off(batch.len().min(MAX_VENDORS_PER_BATCH));
            let chunk = Arc::new(std::mem::replace(&mut batch, rest));
            let today = self.ledger.now().date_naive();
            let requests = chunk.iter().map(|v| v.request(today)).collect();
            let inserting = Arc::clone(&chunk);
            let effect = FnEffect(move |conn: &mut PgConnection, entries: &[Entry]| {
                // Only the entries appended now (a replayed key was registered before).
                for e in entries {
                    if let Some(v) = inserting.iter().find(|v| v.key == e.idempotency_key) {
                        v.insert(conn)?;
                    }
                }
                Ok(())
            });
            // Refused (a name or identifier taken meanwhile): each goes through `vendor`.
            if let Ok(receipts) = self
                .ledger
                .append_with(ADMIN_CHAIN, requests, Arc::new(effect))
                .await
            {
                let created = receipts.iter().filter(|r| !r.replayed).count();
                self.report.vendors_created += u64::try_from(created)?;
                for v in chunk.iter() {
                    self.vendors.insert(party_key(&v.party), v.id);
                }
            }
        }
        Ok(())
    }

    /// Takes one mapped process: resolves its ministry and queues it for the next group,
    /// which is prepared and handed to the writer when full (`MAX_GROUP_ENTRIES`), when
    /// the next process is another ministry's, and at the end.
    async fn process(&mut self, plan: Plan) -> anyhow::Result<()> {
        let ocid = plan.ocid.clone();
        for s in &plan.skips {
            self.report.skip(&ocid, s);
        }
        self.report.elements_skipped += u64::try_from(plan.skips.len())?;
        let ministry = match self.ministry(plan.buyer.as_ref())? {
            Ok(m) => m,
            Err(s) => {
                self.report.processes_skipped += 1;
                self.report.skip(&ocid, &s);
                return Ok(());
            }
        };
        if self.queued.first().is_some_and(|(_, m)| {
            *m != ministry || self.queued_entries + plan.entries.len() > MAX_GROUP_ENTRIES
        }) {
            self.flush().await?;
        }
        self.queued_entries += plan.entries.len();
        self.queued.push((plan, ministry));
        Ok(())
    }

    /// The recorded entries of `keys`, by key: one query.
    fn recorded<'k>(
        &self,
        keys: impl Iterator<Item = &'k str>,
    ) -> anyhow::Result<HashMap<String, Entry>> {
        let keys: Vec<&str> = keys.collect();
        let mut conn = self.conn()?;
        let rows = crate::ledger::store::entries_by_keys(&mut conn, self.fund, &keys)
            .map_err(|e| anyhow::anyhow!("reading recorded entries: {e:?}"))?;
        let mut recorded = HashMap::with_capacity(rows.len());
        for row in rows {
            let entry = Ledger::parse_entry(&row)?;
            recorded.insert(row.idempotency_key.clone(), entry);
        }
        Ok(recorded)
    }

    /// Prepares the queued processes as one group (their recorded entries read in one
    /// query) and hands it to the chain's writer.
    async fn flush(&mut self) -> anyhow::Result<()> {
        let queued = std::mem::take(&mut self.queued);
        self.queued_entries = 0;
        if queued.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let recorded = self.recorded(
            queued
                .iter()
                .flat_map(|(p, _)| p.entries.iter().map(|e| e.key.as_str())),
        )?;
        phases::KEYS.since(started);
        let started = std::time::Instant::now();
        self.register_new_vendors(&queued, &recorded).await?;
        phases::VENDORS.since(started);
        let base = match self.next_seq {
            Some(s) => s,
            None => self.head()?,
        };
        for (plan, ministry) in queued {
            let next = base + u64::try_from(self.group_entries())?;
            let started = std::time::Instant::now();
            let prepared = self.prepare(&plan, ministry, next, Some(&recorded)).await?;
            phases::PREPARE.since(started);
            match prepared {
                Prepared::Skipped => {}
                Prepared::AlreadyRecorded(present) => {
                    self.report.entries_already_present += u64::try_from(present)?;
                    self.report.processes_already_recorded += 1;
                    if plan.findings > 0 {
                        self.report.processes_with_findings += 1;
                    }
                }
                Prepared::New(requests, present) => {
                    for r in &requests {
                        self.pending_keys.insert(r.idempotency_key.clone());
                    }
                    self.group_base.get_or_insert(next);
                    self.group.push(Pending {
                        plan,
                        ministry,
                        requests,
                        present,
                    });
                }
            }
        }
        self.submit().await
    }

    /// Counts the data-quality findings of an appended entry and writes each as a JSON
    /// line of the report.
    fn report_findings(&mut self, ocid: &str, r: &Noted) {
        for f in &r.findings {
            let code = f.get("code").and_then(Json::as_str).unwrap_or("dq");
            *self
                .report
                .findings_by_code
                .entry(code.to_owned())
                .or_default() += 1;
            self.report
                .line(&json!({"type": "finding", "code": code, "ocid": ocid,
                "kind": r.kind, "key": r.key, "detail": f.get("detail")}));
        }
    }

    fn group_entries(&self) -> usize {
        self.group.iter().map(|g| g.requests.len()).sum()
    }

    fn head(&self) -> anyhow::Result<u64> {
        let mut conn = self.conn()?;
        Ok(crate::ledger::store::head(&mut conn, self.fund)
            .map_err(|e| anyhow::anyhow!("reading the chain head: {e:?}"))?
            .map_or(0, |(s, _)| s))
    }

    /// The entries of `plan` not yet recorded (nor in flight, nor pending), with
    /// references resolved as if appended from seq `base` on. Vendors they name are found
    /// or registered. `recorded`: the group's recorded entries, read with it (and what
    /// changed since is reported); `None`: read for this process alone (planning again).
    async fn prepare(
        &mut self,
        plan: &Plan,
        ministry: Uuid,
        base: u64,
        recorded: Option<&HashMap<String, Entry>>,
    ) -> anyhow::Result<Prepared> {
        let ocid = plan.ocid.clone();
        let first = recorded.is_some();
        let own;
        let recorded = match recorded {
            Some(r) => r,
            None => {
                own = self.recorded(plan.entries.iter().map(|p| p.key.as_str()))?;
                &own
            }
        };
        let mut seqs: HashMap<String, u64> = HashMap::new();
        let mut new = Vec::new();
        let mut next = base;
        for p in &plan.entries {
            if let Some(e) = recorded.get(&p.key) {
                seqs.insert(p.key.clone(), e.seq);
            } else if let Some(s) = self.inflight_seqs.get(&p.key) {
                // The same process in a group the writer is appending.
                seqs.insert(p.key.clone(), *s);
            } else if let Some(s) = self.pending_seq(&p.key) {
                // The same process earlier in this group (a file with several releases of
                // one ocid): refer to its pending entry.
                seqs.insert(p.key.clone(), s);
            } else {
                seqs.insert(p.key.clone(), next);
                next += 1;
                new.push(p);
            }
        }
        // Vendors of the entries still to append (none on a re-import).
        let mut vendors: Vec<Option<Uuid>> = vec![None; plan.parties.len()];
        for p in &new {
            for i in parties_of(&p.body) {
                if vendors.get(i).copied().flatten().is_some() {
                    continue;
                }
                let Some(party) = plan.parties.get(i) else {
                    continue;
                };
                match self.vendor(&ocid, party).await? {
                    Ok(v) => {
                        if let Some(slot) = vendors.get_mut(i) {
                            *slot = Some(v);
                        }
                    }
                    Err(s) => {
                        self.report.processes_skipped += 1;
                        self.report.skip(&ocid, &s);
                        return Ok(Prepared::Skipped);
                    }
                }
            }
        }
        // What is recorded already: same content, or report that it changed.
        let present = plan.entries.len() - new.len();
        if first {
            for p in plan
                .entries
                .iter()
                .filter(|p| recorded.contains_key(&p.key))
            {
                let (Some(e), Some(body)) = (
                    recorded.get(&p.key),
                    resolve(&p.body, &seqs, &vendors, ministry),
                ) else {
                    continue;
                };
                let now = FundEntry::parse(p.kind, &body).and_then(|t| {
                    t.body().map_err(|e| crate::funds::kinds::Invalid {
                        code: "invalid_body",
                        detail: e.to_string(),
                    })
                });
                if !now.is_ok_and(|b| same_body(&b, &e.body)) || e.business_date != p.date {
                    self.report.skip(
                        &ocid,
                        &skip(
                            "changed_since_recorded",
                            &p.element,
                            format!(
                                "entry {} ({}) records it differently; the chain keeps what was recorded (correct it with a reversal and a new entry)",
                                e.seq, e.kind
                            ),
                        ),
                    );
                }
            }
        }
        if new.is_empty() {
            return Ok(Prepared::AlreadyRecorded(present));
        }
        let mut requests = Vec::with_capacity(new.len());
        for p in &new {
            let body = resolve(&p.body, &seqs, &vendors, ministry)
                .context("an unresolved reference in a planned entry")?;
            let typed = FundEntry::parse(p.kind, &body)
                .map_err(|i| anyhow::anyhow!("{}: {}: {}", p.element, i.code, i.detail))?;
            requests.push(AppendRequest {
                kind: p.kind.to_owned(),
                business_date: p.date,
                idempotency_key: p.key.clone(),
                body: typed.body()?,
                principal: principal(),
            });
        }
        Ok(Prepared::New(requests, present))
    }

    /// The seq a pending entry of the group will get.
    fn pending_seq(&self, key: &str) -> Option<u64> {
        if !self.pending_keys.contains(key) {
            return None;
        }
        let mut seq = self.group_base?;
        for g in &self.group {
            for r in &g.requests {
                if r.idempotency_key == key {
                    return Some(seq);
                }
                seq += 1;
            }
        }
        None
    }

    /// The effect a group is appended with: the API's `FundEffect` acting for the
    /// group's ministry (every method of `Effect`, so that an imported group shares state
    /// between its jobs and its screens keep what they read, as the API's appends do),
    /// refusing unless the group's `count` entries start at `first`, the seq they were
    /// planned for (their references to each other depend on it).
    fn effect(&self, ministry: Uuid, first: u64, count: usize) -> Arc<dyn Effect> {
        let check = move |entries: &[Entry]| {
            if entries.first().map(|e| e.seq) != Some(first) || entries.len() != count {
                return Err(AppendError::Rejected {
                    code: "chain_moved",
                    detail: "another writer appended first; plan again".to_owned(),
                });
            }
            Ok(())
        };
        Arc::new(Checked {
            check,
            inner: Arc::new(FundEffect {
                ctx: FundCtx {
                    fund: self.fund,
                    currency: self.currency,
                },
                actor: Some(Actor {
                    org: ministry,
                    role: Role::Ministry,
                }),
                screens: Arc::new(crate::screening::Screens),
                screen: true,
            }),
        })
    }

    /// Hands the prepared group to the chain's writer without waiting for its answer
    /// (at most `IN_FLIGHT` groups wait); the next group is planned to follow it.
    async fn submit(&mut self) -> anyhow::Result<()> {
        let Some(first) = self.group.first() else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let ministry = first.ministry;
        let base = self.group_base.context("a pending group without base")?;
        // The requests go to the writer; the importer keeps their keys and findings.
        let mut requests: Vec<AppendRequest> = Vec::with_capacity(self.group_entries());
        let mut group = Vec::with_capacity(self.group.len());
        for g in std::mem::take(&mut self.group) {
            let (handed, r) = g.hand();
            group.push(handed);
            requests.extend(r);
        }
        let count = requests.len();
        let effect = self.effect(ministry, base, count);
        let (ledger, fund) = (Arc::clone(self.ledger), self.fund);
        let mut answer: Pin<Box<dyn Future<Output = Result<Vec<Receipt>, AppendError>>>> =
            Box::pin(async move { ledger.append_with(fund, requests, effect).await });
        // Polled once now: the job is checked and queued to the chain's writer thread
        // here, and waits for its answer while this thread goes on.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if let std::task::Poll::Ready(r) = answer.as_mut().poll(&mut cx) {
            answer = Box::pin(std::future::ready(r));
        }
        let mut seq = base;
        for k in group.iter().flat_map(|g| &g.keys) {
            self.inflight_seqs.insert(k.clone(), seq);
            seq += 1;
        }
        self.pending_keys.clear();
        self.group_base = None;
        self.next_seq = Some(seq);
        self.inflight.push_back(InFlight { group, answer });
        phases::SUBMIT.since(started);
        while self.inflight.len() > IN_FLIGHT {
            self.settle().await?;
        }
        Ok(())
    }

    /// Waits for every group in flight.
    async fn finish(&mut self) -> anyhow::Result<()> {
        self.flush().await?;
        while !self.inflight.is_empty() {
            self.settle().await?;
        }
        Ok(())
    }

    /// Waits for the oldest group in flight. If the fund refused it (or another writer
    /// moved the chain), the groups after it, planned to follow it, are answered too, and
    /// every unappended one is planned again from the chain's head and appended one at a
    /// time (`append_now`).
    async fn settle(&mut self) -> anyhow::Result<()> {
        let Some(oldest) = self.inflight.pop_front() else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let mut answered = vec![(oldest.group, oldest.answer.await)];
        if answered.iter().any(|(_, r)| r.is_err()) {
            while let Some(next) = self.inflight.pop_front() {
                answered.push((next.group, next.answer.await));
            }
            self.next_seq = None;
        }
        phases::WAIT_WRITER.since(started);
        let mut again = Vec::new();
        for (group, result) in answered {
            for k in group.iter().flat_map(|g| &g.keys) {
                self.inflight_seqs.remove(k);
            }
            match result {
                Ok(receipts) => self.account(group, &receipts)?,
                Err(AppendError::Rejected { .. }) => again.push(group),
                Err(e) => return Err(anyhow::anyhow!("appending to fund {}: {e}", self.fund)),
            }
        }
        for group in again {
            // Planned again from the chain's head: only the plans are needed.
            self.group = group
                .into_iter()
                .map(|h| Pending {
                    plan: h.plan,
                    ministry: h.ministry,
                    requests: Vec::new(),
                    present: h.present,
                })
                .collect();
            self.replan(false).await?;
            self.append_now().await?;
        }
        Ok(())
    }

    /// Reports an appended group.
    fn account(&mut self, group: Vec<Handed>, receipts: &[Receipt]) -> anyhow::Result<()> {
        for r in receipts.iter().filter(|r| !r.replayed) {
            *self
                .report
                .appended_by_kind
                .entry(r.entry.kind.clone())
                .or_default() += 1;
        }
        // A replayed receipt: a concurrent importer recorded it in between.
        let appended = receipts.iter().filter(|r| !r.replayed).count();
        let present: usize = group.iter().map(|g| g.present).sum();
        for g in &group {
            if g.plan.findings > 0 {
                self.report.processes_with_findings += 1;
            }
            for r in &g.findings {
                self.report_findings(&g.plan.ocid, r);
            }
        }
        self.report.entries_appended += u64::try_from(appended)?;
        self.report.entries_already_present += u64::try_from(present + receipts.len() - appended)?;
        self.report.processes_imported += u64::try_from(group.len())?;
        Ok(())
    }

    /// Appends the pending group in one batch (all or none) and waits for it. If another
    /// writer moved the chain, the group is planned again; if the fund refuses an entry,
    /// each process is appended alone, so that only the refused process is skipped.
    async fn append_now(&mut self) -> anyhow::Result<()> {
        for attempt in 0..MAX_ATTEMPTS {
            let Some(first) = self.group.first() else {
                return Ok(());
            };
            let ministry = first.ministry;
            let base = self.group_base.context("a pending group without base")?;
            let requests: Vec<AppendRequest> = self
                .group
                .iter()
                .flat_map(|g| g.requests.iter().cloned())
                .collect();
            let effect = self.effect(ministry, base, requests.len());
            match self.ledger.append_with(self.fund, requests, effect).await {
                Ok(receipts) => {
                    let group = std::mem::take(&mut self.group)
                        .into_iter()
                        .map(|g| g.hand().0)
                        .collect();
                    self.pending_keys.clear();
                    self.group_base = None;
                    return self.account(group, &receipts);
                }
                Err(AppendError::Rejected {
                    code: "chain_moved",
                    ..
                }) if attempt + 1 < MAX_ATTEMPTS => {
                    self.replan(false).await?;
                }
                Err(AppendError::Rejected { code, detail }) if self.group.len() == 1 => {
                    let g = std::mem::take(&mut self.group);
                    self.pending_keys.clear();
                    self.group_base = None;
                    self.report.processes_skipped += 1;
                    if let Some(g) = g.first() {
                        self.report.skip(
                            &g.plan.ocid,
                            &skip(code, "process", format!("refused by the fund: {detail}")),
                        );
                    }
                    return Ok(());
                }
                Err(AppendError::Rejected { .. }) => {
                    // Find the refused process: each alone.
                    self.replan(true).await?;
                    return Ok(());
                }
                Err(e) => return Err(anyhow::anyhow!("appending to fund {}: {e}", self.fund)),
            }
        }
        Err(anyhow::anyhow!(
            "other writers kept moving the chain of fund {}; nothing of the last {} processes was appended",
            self.fund,
            self.group.len()
        ))
    }

    /// Plans the pending group again from the chain's current head; `alone`: appends each
    /// process by itself.
    async fn replan(&mut self, alone: bool) -> anyhow::Result<()> {
        let group = std::mem::take(&mut self.group);
        self.pending_keys.clear();
        self.group_base = None;
        for g in group {
            let base = match self.group_base {
                Some(b) => b + u64::try_from(self.group_entries())?,
                None => self.head()?,
            };
            match self.prepare(&g.plan, g.ministry, base, None).await? {
                Prepared::Skipped => {}
                Prepared::AlreadyRecorded(present) => {
                    self.report.entries_already_present += u64::try_from(present)?;
                    self.report.processes_already_recorded += 1;
                }
                Prepared::New(requests, present) => {
                    for r in &requests {
                        self.pending_keys.insert(r.idempotency_key.clone());
                    }
                    self.group_base.get_or_insert(base);
                    self.group.push(Pending {
                        plan: g.plan,
                        ministry: g.ministry,
                        requests,
                        present,
                    });
                    if alone {
                        Box::pin(self.append_now()).await?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Bodies equal but for the scale of amounts: `{"value": "112400.5"}` is the same money
/// as the recorded `{"value": "112400.50"}` (a publisher re-serialising its numbers
/// changes nothing recorded).
fn same_body(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            let money = |m: &serde_json::Map<String, Json>| {
                m.len() == 2 && m.contains_key("value") && m.contains_key("currency")
            };
            if money(x) && money(y) {
                let amount = |m: &serde_json::Map<String, Json>| {
                    m.get("value")
                        .and_then(Json::as_str)
                        .and_then(|v| crate::money::parse_decimal(v).ok())
                };
                return x.get("currency") == y.get("currency")
                    && amount(x).is_some()
                    && amount(x) == amount(y);
            }
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_body(v, w)))
        }
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_body(v, w))
        }
        _ => a == b,
    }
}

/// The `$party` indexes a body refers to.
fn parties_of(v: &Json) -> Vec<usize> {
    let mut out = Vec::new();
    if let Json::Object(m) = v {
        if let (1, Some(i)) = (m.len(), m.get("$party").and_then(Json::as_u64)) {
            out.extend(usize::try_from(i).ok());
        } else {
            for x in m.values() {
                out.extend(parties_of(x));
            }
        }
    }
    out
}

/// Records `settings` as a `screening_config` of the fund (principal `ocds-import`),
/// unless each of them is already the fund's: importing again with the same options
/// records nothing. Refused settings (`unknown_setting`, `invalid_setting`) stop the
/// import before anything is read. The seq recorded, if any.
async fn configure(
    ledger: &Arc<Ledger>,
    pool: &PgPool,
    fund: Uuid,
    currency: Currency,
    settings: &serde_json::Map<String, Json>,
) -> anyhow::Result<Option<u64>> {
    if settings.is_empty() {
        return Ok(None);
    }
    let current = {
        let mut conn = pool.get()?;
        crate::screening::store::thresholds(&mut conn, fund)?
            .unwrap_or_else(|| crate::screening::rules::Thresholds::for_currency(currency.code()))
    };
    let current = serde_json::to_value(&current)?;
    // Each value in the type the fund keeps the setting in (a decimal as a string).
    let mut typed = serde_json::Map::new();
    for (name, v) in settings {
        let v = match (current.get(name), v) {
            (Some(Json::String(_)), Json::Number(n)) => Json::String(n.to_string()),
            _ => v.clone(),
        };
        typed.insert(name.clone(), v);
    }
    if typed
        .iter()
        .all(|(k, v)| current.get(k).is_some_and(|c| same_setting(c, v)))
    {
        return Ok(None);
    }
    let names: Vec<&str> = typed.keys().map(String::as_str).collect();
    let receipts = ledger
        .append_with(
            fund,
            vec![AppendRequest {
                kind: "screening_config".to_owned(),
                business_date: ledger.now().date_naive(),
                idempotency_key: format!("ocds:screening_config:{}", Uuid::new_v4()),
                body: json!({"settings": typed,
                             "reason": format!("set with fundtrail import ocds: {}", names.join(", "))}),
                principal: principal(),
            }],
            Arc::new(FundEffect {
                ctx: FundCtx { fund, currency },
                actor: None,
                screens: Arc::new(crate::screening::Screens),
                screen: true,
            }),
        )
        .await
        .map_err(|e| anyhow::anyhow!("the screening settings were refused: {e}"))?;
    Ok(receipts.first().map(|r| r.entry.seq))
}

/// A setting equal to the fund's: decimals by value (`0.20` is `0.2`).
fn same_setting(current: &Json, asked: &Json) -> bool {
    match (current, asked) {
        (Json::String(a), Json::String(b)) => {
            match (
                crate::money::parse_decimal(a),
                crate::money::parse_decimal(b),
            ) {
                (Ok(x), Ok(y)) => x == y,
                _ => a == b,
            }
        }
        _ => current == asked,
    }
}

/// Told the bytes read so far and the report as it stands.
pub type Progress<'a> = &'a dyn Fn(u64, &ImportReport);

/// What the mapping thread hands the importer.
enum Mapped {
    /// A whole process (the `n`-th record of its file; 0: merged from several), mapped,
    /// or why it is skipped whole (with its ocid, or the record's place).
    Plan(u64, Result<Plan, (String, Skip)>),
    /// One of several releases of a process: set aside until every file is read.
    Part {
        n: u64,
        ocid: String,
        date: Option<String>,
        release: Box<serde_json::value::RawValue>,
    },
    Bad {
        record: u64,
        reason: &'static str,
        detail: String,
    },
    Fatal(String),
}

/// One release mapped, or why not (with its ocid, or the record's place).
fn map_one(release: &crate::import::model::Release, n: u64, ctx: &MapCtx) -> Mapped {
    Mapped::Plan(
        n,
        map::plan(release, ctx).map_err(|s| {
            let ocid = release
                .ocid
                .clone()
                .unwrap_or_else(|| format!("(record {n})"));
            (ocid, s)
        }),
    )
}

/// Maps the reader's releases on a thread of its own, so that reading, mapping and
/// appending go on at the same time; the release is dropped once mapped.
fn spawn_mapper(rx: Receiver<Record>, ctx: MapCtx) -> anyhow::Result<Receiver<Mapped>> {
    let (tx, out) = sync_channel(MAPPED_AHEAD);
    std::thread::Builder::new()
        .name("ocds-mapper".to_owned())
        .spawn(move || {
            for record in rx {
                let m = match record {
                    Record::Release(n, Item::Compiled(release)) => map_one(&release, n, &ctx),
                    Record::Release(
                        n,
                        Item::Part {
                            ocid,
                            date,
                            release,
                        },
                    ) => Mapped::Part {
                        n,
                        ocid,
                        date,
                        release,
                    },
                    Record::Bad {
                        record,
                        reason,
                        detail,
                    } => Mapped::Bad {
                        record,
                        reason,
                        detail,
                    },
                    Record::Fatal(why) => Mapped::Fatal(why),
                };
                if tx.send(m).is_err() {
                    return;
                }
            }
        })?;
    Ok(out)
}

/// Releases that are one of several of their process, written to a temporary file as
/// they are read; memory holds only where each is (ocid, date, offset, length). Merged
/// per ocid once every file is read. The file is removed when this is dropped.
#[derive(Default)]
struct Parts {
    file: Option<(PathBuf, BufWriter<std::fs::File>)>,
    written: u64,
    index: HashMap<String, Vec<(Option<String>, u64, usize)>>,
    /// The ocids, in the order first seen.
    order: Vec<String>,
}

impl Parts {
    fn add(&mut self, ocid: String, date: Option<String>, text: &str) -> anyhow::Result<()> {
        if self.file.is_none() {
            let path = std::env::temp_dir().join(format!(
                "fundtrail-ocds-releases-{}-{}.json",
                std::process::id(),
                Uuid::new_v4()
            ));
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            self.file = Some((path, BufWriter::new(f)));
        }
        if let Some((path, w)) = &mut self.file {
            w.write_all(text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        let list = self.index.entry(ocid.clone()).or_default();
        if list.is_empty() {
            self.order.push(ocid);
        }
        list.push((date, self.written, text.len()));
        self.written += u64::try_from(text.len())?;
        Ok(())
    }

    /// Merges each process's releases (`ocdskit compile`) and maps it, on a thread of
    /// its own, in the order the ocids were first seen.
    fn spawn_merge(mut self, ctx: MapCtx) -> anyhow::Result<Receiver<Mapped>> {
        let (tx, out) = sync_channel(MAPPED_AHEAD);
        let mut file = match self.file.take() {
            None => None,
            Some((path, w)) => {
                let f = w
                    .into_inner()
                    .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
                // Kept so that the file is removed after the merge.
                self.file = Some((path, BufWriter::new(f.try_clone()?)));
                Some(f)
            }
        };
        std::thread::Builder::new()
            .name("ocds-merger".to_owned())
            .spawn(move || {
                for ocid in std::mem::take(&mut self.order) {
                    let list = self.index.remove(&ocid).unwrap_or_default();
                    let mut values: Vec<(Option<String>, Json)> = Vec::with_capacity(list.len());
                    for (date, at, len) in list {
                        let mut text = vec![0_u8; len];
                        let read = file.as_mut().map(|f| {
                            f.seek(SeekFrom::Start(at))
                                .and_then(|_| f.read_exact(&mut text))
                        });
                        if let Some(Ok(())) = read {
                            if let Ok(v) = serde_json::from_slice(&text) {
                                values.push((date, v));
                            }
                        }
                    }
                    let compiled = super::merge::compile(values);
                    let m = match serde_json::from_value::<crate::import::model::Release>(compiled)
                    {
                        Ok(release) => map_one(&release, 0, &ctx),
                        Err(e) => Mapped::Plan(
                            0,
                            Err((
                                ocid,
                                skip(
                                    "invalid_release",
                                    "process",
                                    format!("the compiled release: {e}"),
                                ),
                            )),
                        ),
                    };
                    if tx.send(m).is_err() {
                        return;
                    }
                }
                drop(self);
            })?;
        Ok(out)
    }
}

impl Drop for Parts {
    fn drop(&mut self) {
        if let Some((path, _)) = self.file.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Imports `opts.files` into the fund. `progress` is told the bytes read so far and the
/// report as it stands.
pub async fn import(
    ledger: &Arc<Ledger>,
    pool: &PgPool,
    opts: &ImportOptions,
    progress: Option<Progress<'_>>,
) -> anyhow::Result<ImportReport> {
    let started = std::time::Instant::now();
    let phases_before = phases_now();
    let files = inputs(&opts.files)?;
    let (fund, ministry_override) = {
        let mut conn = pool.get()?;
        let fund = crate::startup::find_fund(&mut conn, &opts.fund)?;
        let ministry = match &opts.ministry {
            None => None,
            Some(m) => {
                let org = find_org(&mut conn, m)?
                    .with_context(|| format!("--ministry: no organisation {m:?}"))?;
                anyhow::ensure!(
                    org.kind == "ministry" && org.active,
                    "--ministry: {m:?} is not an active ministry (it is a {} organisation{})",
                    org.kind,
                    if org.active { "" } else { ", deactivated" }
                );
                Some(org.id)
            }
        };
        (fund, ministry)
    };
    let currency = Currency::parse(&fund.currency).map_err(|e| anyhow::anyhow!(e))?;
    let screening_config = configure(ledger, pool, fund.id, currency, &opts.screening).await?;
    let lines = match &opts.report {
        Some(p) => Some(Arc::new(std::sync::Mutex::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("writing {}", p.display()))?,
        )))),
        None => None,
    };
    let mut importer = Importer {
        ledger,
        pool,
        fund: fund.id,
        currency,
        ministry_override,
        ctx: MapCtx {
            latest_date: ledger.now().date_naive()
                + chrono::Days::new(u64::from(opts.future_skew_days)),
            bid_disqualified: crate::entries::kinds::KINDS.contains(&"bid_disqualified"),
            fund_currency: currency,
            bid_statuses: opts.bid_statuses.clone(),
            methods: opts.methods.clone(),
            award_statuses: opts.award_statuses.clone(),
        },
        report: ImportReport {
            files: files.iter().map(|f| f.display().to_string()).collect(),
            file: files
                .first()
                .map(|f| f.display().to_string())
                .unwrap_or_default(),
            fund: fund.id,
            lines,
            screening_config,
            ..ImportReport::default()
        },
        ministries: HashMap::new(),
        vendors: HashMap::new(),
        queued: Vec::new(),
        queued_entries: 0,
        group: Vec::new(),
        group_base: None,
        pending_keys: std::collections::HashSet::new(),
        inflight: VecDeque::new(),
        inflight_seqs: HashMap::new(),
        next_seq: None,
    };
    // Releases that are one of several of their process: set aside until every file is
    // read, then merged per ocid.
    let mut parts = Parts::default();
    let read_bytes = Arc::new(AtomicU64::new(0));
    let mut records = 0_u64;
    for file in &files {
        let format = read::detect(file).with_context(|| format!("reading {}", file.display()))?;
        importer.report.format.get_or_insert(format);
        let rx = read::spawn(file, format, read_bytes.clone())
            .with_context(|| format!("reading {}", file.display()))?;
        let rx = spawn_mapper(rx, importer.ctx.clone())?;
        let base = records;
        loop {
            let waited = std::time::Instant::now();
            let Ok(m) = rx.recv() else {
                break;
            };
            phases::WAIT_MAPPED.since(waited);
            if let Some(p) = progress {
                p(read_bytes.load(Ordering::Relaxed), &importer.report);
            }
            match m {
                Mapped::Plan(n, plan) => {
                    records = base + n;
                    importer.report.records_read = records;
                    importer.take(plan).await?;
                }
                Mapped::Part {
                    n,
                    ocid,
                    date,
                    release,
                } => {
                    records = base + n;
                    importer.report.records_read = records;
                    parts.add(ocid, date, release.get())?;
                }
                Mapped::Bad {
                    record,
                    reason,
                    detail,
                } => {
                    records = base + record;
                    importer.report.records_read = records;
                    importer.report.skip(
                        &format!("({} record {record})", file.display()),
                        &skip(reason, "record", detail),
                    );
                }
                Mapped::Fatal(why) => {
                    importer.report.stopped = Some(format!("{}: {why}", file.display()));
                }
            }
        }
    }
    // The processes published as separate releases: compiled like `ocdskit compile`.
    let merged = parts.spawn_merge(importer.ctx.clone())?;
    loop {
        let waited = std::time::Instant::now();
        let Ok(m) = merged.recv() else {
            break;
        };
        phases::WAIT_MAPPED.since(waited);
        if let Mapped::Plan(_, plan) = m {
            importer.take(plan).await?;
        }
        if let Some(p) = progress {
            p(read_bytes.load(Ordering::Relaxed), &importer.report);
        }
    }
    importer.finish().await?;
    if let Some(p) = progress {
        p(read_bytes.load(Ordering::Relaxed), &importer.report);
    }
    importer.report.seconds = started.elapsed().as_secs_f64();
    importer.report.timings = timings_since(&phases_before);
    let summary = serde_json::to_value(&importer.report)?;
    notify_finished(pool, &importer.report, ledger.now())?;
    importer
        .report
        .line(&json!({"type": "summary", "report": summary}));
    if let Some(w) = &importer.report.lines {
        if let Ok(mut w) = w.lock() {
            std::io::Write::flush(&mut *w).context("writing the report")?;
        }
    }
    Ok(importer.report)
}

/// Writes the `import.finished` event of `report` (what was read, recorded and skipped,
/// by count; file names without their directories) to the webhook outbox.
fn notify_finished(
    pool: &PgPool,
    report: &ImportReport,
    at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let files: Vec<String> = report
        .files
        .iter()
        .map(|f| {
            std::path::Path::new(f)
                .file_name()
                .map_or_else(|| f.clone(), |n| n.to_string_lossy().into_owned())
        })
        .collect();
    let data = json!({
        "fund": report.fund,
        "format": "ocds",
        "files": files,
        "records_read": report.records_read,
        "processes_imported": report.processes_imported,
        "processes_already_recorded": report.processes_already_recorded,
        "processes_skipped": report.processes_skipped,
        "entries_appended": report.entries_appended,
        "entries_already_present": report.entries_already_present,
        "vendors_created": report.vendors_created,
        "findings_by_code": report.findings_by_code,
        "stopped": report.stopped,
    });
    let mut conn = pool.get()?;
    crate::notify::events::import_finished(&mut conn, Uuid::new_v4(), report.fund, None, data, at)
        .context("recording the import.finished event")?;
    Ok(())
}

impl Importer<'_> {
    /// Takes one mapped process (or reports it skipped).
    async fn take(&mut self, plan: Result<Plan, (String, Skip)>) -> anyhow::Result<()> {
        match plan {
            Ok(plan) => self.process(plan).await,
            Err((ocid, s)) => {
                self.report.processes_skipped += 1;
                self.report.skip(&ocid, &s);
                Ok(())
            }
        }
    }
}

/// `fundtrail import ocds`: opens the database, imports, prints the summary to stderr
/// and writes the report if asked. Fails (exit 2) when reading stopped early or nothing
/// could be recorded.
pub fn run_cli(args: &super::ImportOcdsArgs) -> anyhow::Result<ImportReport> {
    use std::io::IsTerminal;
    let opts = ImportOptions {
        fund: args.fund.clone(),
        ministry: args.ministry.clone(),
        files: args.files.clone(),
        future_skew_days: args.ledger.future_skew_days,
        bid_statuses: bid_statuses(&args.bid_status)?,
        methods: methods(&args.method)?,
        award_statuses: award_statuses(&args.award_status)?,
        screening: screening_settings(&args.screening, args.amount_scale.as_deref())?,
        report: args.report.clone(),
    };
    // Plain messages for what cannot be read, before opening the database.
    let files = inputs(&opts.files)?;
    let (database, pool, ledger) = crate::startup::open_ledger(&args.db, &args.ledger)?;
    let terminal = std::io::stderr().is_terminal();
    let bar = if terminal {
        let size = files
            .iter()
            .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
            .sum();
        let bar = indicatif::ProgressBar::new(size);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} [{bar:40}] {percent}% {elapsed_precise} (eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Some(bar)
    } else {
        None
    };
    // Not a terminal (a log, a CI job): a progress line every PROGRESS_EVERY.
    let last_line = std::cell::Cell::new(std::time::Instant::now());
    let report = actix_web::rt::System::new().block_on(async {
        ledger
            .bootstrap()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let tick = |n: u64, r: &ImportReport| {
            if let Some(b) = &bar {
                b.set_position(n);
            } else if last_line.get().elapsed() >= PROGRESS_EVERY {
                last_line.set(std::time::Instant::now());
                eprintln!(
                    "progress: {n} bytes read, {} records, {} processes recorded, {} skipped, {} entries appended",
                    r.records_read,
                    r.processes_recorded(),
                    r.processes_skipped,
                    r.entries_appended
                );
            }
        };
        import(&ledger, &pool, &opts, Some(&tick)).await
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    drop(database);
    let report = report?;
    eprint!("{}", report.summary());
    if let Some(why) = &report.stopped {
        anyhow::bail!("reading stopped: {why}");
    }
    if report.processes_recorded() == 0 {
        anyhow::bail!(
            "nothing could be recorded: {} records read, {} processes skipped (see the reasons above)",
            report.records_read,
            report.processes_skipped
        );
    }
    Ok(report)
}

/// How often a progress line is printed when stderr is not a terminal.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
