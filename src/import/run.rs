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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use diesel::PgConnection;
use serde::Serialize;
use serde_json::{json, Value as Json};
use uuid::Uuid;

use super::map::{self, MapCtx, PartyRef, Plan, Skip};
use super::read::{self, Format, Record};
use crate::auth::guard::Role;
use crate::auth::store::{self as org_store, OrgRow};
use crate::db::PgPool;
use crate::entries::effect::FundEffect;
use crate::entries::kinds::FundEntry;
use crate::funds::ctx::{Actor, FundCtx};
use crate::ledger::entry::{Entry, Principal, ADMIN_CHAIN};
use crate::ledger::writer::{AppendError, AppendRequest, Effect, FnEffect};
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
/// Examples kept per skip reason in the report.
const EXAMPLES_PER_REASON: usize = 5;

/// What to import, and where.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The fund's id or name (`startup::find_fund`).
    pub fund: String,
    /// Record every process for this ministry (id or exact name) instead of its buyer.
    pub ministry: Option<String>,
    pub file: PathBuf,
    /// How many days past today a business date may lie (as for the API).
    pub future_skew_days: u32,
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
    pub entries_appended: u64,
    pub entries_already_present: u64,
    pub appended_by_kind: BTreeMap<String, u64>,
    pub vendors_created: u64,
    pub identifiers_added: u64,
    /// Skipped records, processes and elements, by reason.
    pub skipped: Vec<SkipGroup>,
    /// Why reading stopped before the end of the file, if it did.
    pub stopped: Option<String>,
    pub seconds: f64,
}

impl ImportReport {
    fn skip(&mut self, ocid: &str, s: &Skip) {
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
            "OCDS import of {} into fund {}: {} records read; {} processes imported, {} already recorded, {} skipped; {} entries appended, {} already present",
            self.file,
            self.fund,
            self.records_read,
            self.processes_imported,
            self.processes_already_recorded,
            self.processes_skipped,
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
        for g in &self.skipped {
            out.push_str(&format!("skipped {} × {}\n", g.count, g.reason));
            for e in &g.examples {
                out.push_str(&format!("  {} {}: {}\n", e.ocid, e.element, e.detail));
            }
        }
        if let Some(why) = &self.stopped {
            out.push_str(&format!("reading stopped: {why}\n"));
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

/// Appends the process's new entries only if they start at the seq they were planned
/// for (their references to each other depend on it), then applies them like the API.
struct AtSeq {
    first: u64,
    count: usize,
    inner: FundEffect,
}

impl Effect for AtSeq {
    fn apply(&self, conn: &mut PgConnection, entries: &[Entry]) -> Result<(), AppendError> {
        if entries.first().map(|e| e.seq) != Some(self.first) || entries.len() != self.count {
            return Err(AppendError::Rejected {
                code: "chain_moved",
                detail: "another writer appended first; plan again".to_owned(),
            });
        }
        self.inner.apply(conn, entries)
    }
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
    /// Processes waiting to be appended together, from seq `group_base` on.
    group: Vec<Pending>,
    group_base: Option<u64>,
    /// Idempotency keys of the pending group.
    pending_keys: std::collections::HashSet<String>,
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
        let (by_identifier, by_name) = {
            let mut conn = self.conn()?;
            let by_identifier = match &p.identifier {
                Some((s, i)) => org_store::org_by_identifier(&mut conn, s, i)?,
                None => None,
            };
            let by_name = match (&by_identifier, &p.name) {
                (None, Some(n)) => org_store::org_by_name(&mut conn, n)?,
                _ => None,
            };
            (by_identifier, by_name)
        };
        let found = by_identifier.clone().or(by_name);
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
        let Some(name) = p.name.clone() else {
            return Ok(Err(skip(
                "party_without_name",
                &element,
                "a new vendor needs a name".to_owned(),
            )));
        };
        let id = Uuid::new_v5(&VENDOR_NAMESPACE, k.as_bytes());
        let body = match &p.identifier {
            Some((s, i)) => {
                json!({"organization": id, "name": name, "source": "ocds", "ocid": ocid,
                                   "identifier": {"scheme": s, "id": i}})
            }
            None => json!({"organization": id, "name": name, "source": "ocds", "ocid": ocid}),
        };
        let (n, ident) = (name.clone(), p.identifier.clone());
        let created = self
            .admin_record(
                "vendor_registered",
                map::key("vendor", &k),
                body,
                move |conn, _| {
                    org_store::insert_org(conn, id, &n, "vendor").map_err(|e| {
                        crate::auth::admin::db_err(
                            e,
                            "organization_exists",
                            "an organisation with this name",
                        )
                    })?;
                    if let Some((s, i)) = &ident {
                        org_store::insert_identifier(conn, id, s, i).map_err(|e| {
                            crate::auth::admin::db_err(e, "identifier_exists", "this identifier")
                        })?;
                    }
                    Ok(())
                },
            )
            .await;
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

    /// Takes one process: resolves its ministry and adds what it still needs to the
    /// pending group, which is appended when full (`MAX_GROUP_ENTRIES`), when the next
    /// process is another ministry's, and at the end of the file.
    async fn process(&mut self, plan: Plan) -> anyhow::Result<()> {
        let ocid = plan.ocid.clone();
        for s in &plan.skips {
            self.report.skip(&ocid, s);
        }
        let ministry = match self.ministry(plan.buyer.as_ref())? {
            Ok(m) => m,
            Err(s) => {
                self.report.processes_skipped += 1;
                self.report.skip(&ocid, &s);
                return Ok(());
            }
        };
        if self.group.first().is_some_and(|g| {
            g.ministry != ministry || self.group_entries() + plan.entries.len() > MAX_GROUP_ENTRIES
        }) {
            self.flush().await?;
        }
        let base = match self.group_base {
            Some(b) => b + u64::try_from(self.group_entries())?,
            None => self.head()?,
        };
        match self.prepare(&plan, ministry, base, true).await? {
            Prepared::Skipped => {}
            Prepared::AlreadyRecorded(present) => {
                self.report.entries_already_present += u64::try_from(present)?;
                self.report.processes_already_recorded += 1;
            }
            Prepared::New(requests, present) => {
                for r in &requests {
                    self.pending_keys.insert(r.idempotency_key.clone());
                }
                if self.group_base.is_none() {
                    self.group_base = Some(base);
                }
                self.group.push(Pending {
                    plan,
                    ministry,
                    requests,
                    present,
                });
            }
        }
        Ok(())
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

    /// The entries of `plan` not yet recorded (nor pending), with references resolved as if
    /// appended from seq `base` on. Vendors they name are found or registered.
    async fn prepare(
        &mut self,
        plan: &Plan,
        ministry: Uuid,
        base: u64,
        first: bool,
    ) -> anyhow::Result<Prepared> {
        let ocid = plan.ocid.clone();
        let keys: Vec<&str> = plan.entries.iter().map(|p| p.key.as_str()).collect();
        let recorded = {
            let mut conn = self.conn()?;
            let rows = crate::ledger::store::entries_by_keys(&mut conn, self.fund, &keys)
                .map_err(|e| anyhow::anyhow!("reading recorded entries: {e:?}"))?;
            let mut recorded = HashMap::new();
            for row in rows {
                let entry = Ledger::parse_entry(&row)?;
                recorded.insert(row.idempotency_key.clone(), entry);
            }
            recorded
        };
        let mut seqs: HashMap<String, u64> = HashMap::new();
        let mut new = Vec::new();
        let mut next = base;
        for p in &plan.entries {
            if let Some(e) = recorded.get(&p.key) {
                seqs.insert(p.key.clone(), e.seq);
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

    /// Appends the pending group in one batch (all or none). If another writer moved the
    /// chain, the group is planned again; if the fund refuses an entry, each process is
    /// appended alone, so that only the refused process is skipped.
    async fn flush(&mut self) -> anyhow::Result<()> {
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
            let effect = Arc::new(AtSeq {
                first: base,
                count: requests.len(),
                inner: FundEffect {
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
                },
            });
            match self.ledger.append_with(self.fund, requests, effect).await {
                Ok(receipts) => {
                    let group = std::mem::take(&mut self.group);
                    self.pending_keys.clear();
                    self.group_base = None;
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
                    self.report.entries_appended += u64::try_from(appended)?;
                    self.report.entries_already_present +=
                        u64::try_from(present + receipts.len() - appended)?;
                    self.report.processes_imported += u64::try_from(group.len())?;
                    return Ok(());
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
            match self.prepare(&g.plan, g.ministry, base, false).await? {
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
                        Box::pin(self.flush()).await?;
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

/// Imports `opts.file` into the fund. `progress` is told the bytes read so far.
pub async fn import(
    ledger: &Arc<Ledger>,
    pool: &PgPool,
    opts: &ImportOptions,
    progress: Option<&dyn Fn(u64)>,
) -> anyhow::Result<ImportReport> {
    let started = std::time::Instant::now();
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
    let format =
        read::detect(&opts.file).with_context(|| format!("reading {}", opts.file.display()))?;
    let read_bytes = Arc::new(AtomicU64::new(0));
    let rx = read::spawn(&opts.file, format, read_bytes.clone())
        .with_context(|| format!("reading {}", opts.file.display()))?;
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
        },
        report: ImportReport {
            file: opts.file.display().to_string(),
            fund: fund.id,
            format: Some(format),
            ..ImportReport::default()
        },
        ministries: HashMap::new(),
        vendors: HashMap::new(),
        group: Vec::new(),
        group_base: None,
        pending_keys: std::collections::HashSet::new(),
    };
    while let Ok(record) = rx.recv() {
        if let Some(p) = progress {
            p(read_bytes.load(Ordering::Relaxed));
        }
        match record {
            Record::Release(n, release) => {
                importer.report.records_read = n;
                match map::plan(&release, importer.ctx) {
                    Ok(plan) => importer.process(plan).await?,
                    Err(s) => {
                        importer.report.processes_skipped += 1;
                        let ocid = release
                            .ocid
                            .clone()
                            .unwrap_or_else(|| format!("(record {n})"));
                        importer.report.skip(&ocid, &s);
                    }
                }
            }
            Record::Bad {
                record,
                reason,
                detail,
            } => {
                importer.report.records_read = record;
                importer.report.skip(
                    &format!("(record {record})"),
                    &skip(reason, "record", detail),
                );
            }
            Record::Fatal(why) => importer.report.stopped = Some(why),
        }
    }
    importer.flush().await?;
    if let Some(p) = progress {
        p(read_bytes.load(Ordering::Relaxed));
    }
    importer.report.seconds = started.elapsed().as_secs_f64();
    Ok(importer.report)
}

/// `fundtrail import ocds`: opens the database, imports, prints the summary to stderr
/// and writes the JSON report if asked. Fails (exit 2) when reading stopped early.
pub fn run_cli(args: &super::ImportOcdsArgs) -> anyhow::Result<ImportReport> {
    use std::io::IsTerminal;
    let (database, pool, ledger) = crate::startup::open_ledger(&args.db, &args.ledger)?;
    let opts = ImportOptions {
        fund: args.fund.clone(),
        ministry: args.ministry.clone(),
        file: args.file.clone(),
        future_skew_days: args.ledger.future_skew_days,
    };
    let bar = if std::io::stderr().is_terminal() {
        let size = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
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
    let report = actix_web::rt::System::new().block_on(async {
        ledger
            .bootstrap()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let tick = |n: u64| {
            if let Some(b) = &bar {
                b.set_position(n);
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
    if let Some(path) = &args.report {
        write_report(path, &report)?;
    }
    if let Some(why) = &report.stopped {
        anyhow::bail!("reading {} stopped: {why}", args.file.display());
    }
    Ok(report)
}

fn write_report(path: &Path, report: &ImportReport) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}
