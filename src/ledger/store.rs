//! The only SQL over ledger tables. Functions take a connection so callers decide the
//! transaction; sizes and sequence numbers are `u64` here and `bigint` in Postgres,
//! converted with checks (never `as`).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bytea, Date, Nullable, SmallInt, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel::PgConnection;
use uuid::Uuid;

use super::entry::Hash;
use super::merkle::NodeId;
use crate::db::prepared::prepared;
use crate::schema::{chain_heads, chains, checkpoints, ledger_entries, signing_keys};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub fn to_i64(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{v} exceeds bigint")))
}

pub fn to_u64(v: i64) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative size or seq {v}")))
}

pub fn to_hash(bytes: &[u8]) -> StoreResult<Hash> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("hash of {} bytes", bytes.len())))
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = chains)]
pub struct ChainRow {
    pub id: Uuid,
    pub kind: String,
    pub origin: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = ledger_entries)]
// Every column is given (none defaulted), which binary COPY requires.
#[diesel(treat_none_as_default_value = false)]
pub struct EntryRow {
    pub chain_id: Uuid,
    pub seq: i64,
    pub kind: String,
    pub business_date: NaiveDate,
    pub recorded_at: DateTime<Utc>,
    pub idempotency_key: String,
    pub canonical: String,
    pub prev_hash: Vec<u8>,
    pub entry_hash: Vec<u8>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = checkpoints)]
pub struct CheckpointRow {
    pub chain_id: Uuid,
    pub tree_size: i64,
    pub root_hash: Vec<u8>,
    pub signed_at: DateTime<Utc>,
    pub key_id: String,
    pub note: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub key_id: String,
    pub name: String,
    pub verifier_key: String,
    pub first_used_at: DateTime<Utc>,
}

/// Creates the chain (and its head) unless it exists; returns it either way.
pub fn ensure_chain(
    conn: &mut PgConnection,
    id: Uuid,
    kind: &str,
    origin: &str,
) -> StoreResult<(ChainRow, bool)> {
    let inserted = diesel::insert_into(chains::table)
        .values((
            chains::id.eq(id),
            chains::kind.eq(kind),
            chains::origin.eq(origin),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    if inserted > 0 {
        diesel::insert_into(chain_heads::table)
            .values((
                chain_heads::chain_id.eq(id),
                chain_heads::size.eq(0_i64),
                chain_heads::head_hash.eq(super::entry::ZERO_HASH.to_vec()),
            ))
            .execute(conn)?;
    }
    let row = chains::table
        .find(id)
        .select(ChainRow::as_select())
        .first(conn)?;
    Ok((row, inserted > 0))
}

pub fn chain(conn: &mut PgConnection, id: Uuid) -> StoreResult<Option<ChainRow>> {
    Ok(chains::table
        .find(id)
        .select(ChainRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn list_chains(conn: &mut PgConnection, limit: i64) -> StoreResult<Vec<ChainRow>> {
    Ok(chains::table
        .order(chains::created_at.asc())
        .limit(limit)
        .select(ChainRow::as_select())
        .load(conn)?)
}

/// One trivial statement: fails when the connection's transaction was aborted by an
/// earlier failed statement.
pub fn ping(conn: &mut PgConnection) -> StoreResult<()> {
    diesel::sql_query("SELECT 1").execute(conn)?;
    Ok(())
}

/// Locks the chain's head row for the rest of the transaction (serialises writers across
/// processes) and returns (size, head hash). `None` if the chain does not exist.
pub fn lock_head(conn: &mut PgConnection, chain: Uuid) -> StoreResult<Option<(u64, Hash)>> {
    let row: Option<(i64, Vec<u8>)> = chain_heads::table
        .find(chain)
        .select((chain_heads::size, chain_heads::head_hash))
        .for_update()
        .first(conn)
        .optional()?;
    row.map(|(size, hash)| Ok((to_u64(size)?, to_hash(&hash)?)))
        .transpose()
}

pub fn head(conn: &mut PgConnection, chain: Uuid) -> StoreResult<Option<(u64, Hash)>> {
    let row: Option<(i64, Vec<u8>)> = chain_heads::table
        .find(chain)
        .select((chain_heads::size, chain_heads::head_hash))
        .first(conn)
        .optional()?;
    row.map(|(size, hash)| Ok((to_u64(size)?, to_hash(&hash)?)))
        .transpose()
}

pub fn entries_by_keys(
    conn: &mut PgConnection,
    chain: Uuid,
    keys: &[&str],
) -> StoreResult<Vec<EntryRow>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    // One unique-index probe per key, whatever the planner's statistics say: a plain
    // `= ANY($2)` turned into a sequential scan on a freshly loaded chain (O(chain) per group).
    // Planned on every call, not prepared: a generic plan made while the table was small
    // (a seq scan per key) stayed cached as it grew, and the lookup took 5.5 ms for 31 keys
    // in the append benchmark; a fresh plan sees the table's current size. The subquery is
    // fenced with `OFFSET 0`: flattened into a join, a planner without statistics (which takes
    // `chain_id = $1` for a handful of rows) hashed every entry of the chain (1.7 ms for a
    // 114-key job at 2,400 entries, in a fresh database before autovacuum's first ANALYZE).
    Ok(diesel::sql_query(
        "SELECT e.chain_id, e.seq, e.kind, e.business_date, e.recorded_at, e.idempotency_key, \
                e.canonical, e.prev_hash, e.entry_hash \
         FROM unnest($2::text[]) AS k(key) \
         CROSS JOIN LATERAL (SELECT * FROM ledger_entries \
             WHERE chain_id = $1 AND idempotency_key = k.key OFFSET 0) e",
    )
    .bind::<SqlUuid, _>(chain)
    .bind::<Array<diesel::sql_types::Text>, _>(keys)
    .load(conn)?)
}

/// Inserts rows with one binary `COPY ... FROM STDIN`: no bind-parameter limit, and less
/// parsing on the server than a multi-row INSERT (docs/benchmarks.md).
pub fn insert_entries(conn: &mut PgConnection, rows: &[EntryRow]) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    diesel::copy_from(ledger_entries::table)
        .from_insertable(rows)
        .execute(conn)?;
    Ok(())
}

/// Merkle nodes below this level are not stored: each is recomputed from the entry hashes
/// of its at most `2^STORED_MIN_LEVEL` leaves, which lie in one aligned block of seqs that
/// one primary-key range scan reads. Storing only levels >= 4 writes one node row per 8
/// entries instead of two per entry (docs/ledger-format.md, "Storage").
pub const STORED_MIN_LEVEL: u8 = 4;

/// Leaves per aligned block of recomputed nodes.
const BLOCK_LEAVES: u64 = 1 << STORED_MIN_LEVEL;

/// The head a group moves: from (`expected_size`, `expected_hash`) to the group's last
/// entry, `new_hash`.
#[derive(Debug, Clone, Copy)]
pub struct GroupHead<'a> {
    pub expected_size: u64,
    pub expected_hash: &'a Hash,
    pub new_hash: &'a Hash,
}

/// Everything a group commit writes, in ONE statement (one round trip): the entries of
/// `rows` (all of one chain), its stored `nodes`, the signed `checkpoint` of the new size
/// and the chain's new head. Each round trip of a group is paid once by every request
/// waiting in it.
///
/// Guarded by the head: every insert reads the head update's result, so if the chain's
/// head is no longer `head.expected_*` (another writer appended, even one that committed
/// while this statement waited for the head row's lock: READ COMMITTED re-checks the
/// updated row) nothing is written and this returns `false`. A statement is atomic, so
/// outside a transaction it is a whole group commit: a unique violation (an idempotency
/// key recorded earlier) also leaves nothing behind.
pub fn write_group(
    conn: &mut PgConnection,
    chain: Uuid,
    rows: &[&EntryRow],
    nodes: &[(NodeId, Hash)],
    checkpoint: &CheckpointRow,
    head: GroupHead<'_>,
) -> StoreResult<bool> {
    let stored: Vec<&(NodeId, Hash)> = nodes
        .iter()
        .filter(|(n, _)| n.level >= STORED_MIN_LEVEL)
        .collect();
    let levels: Vec<i16> = stored.iter().map(|(n, _)| i16::from(n.level)).collect();
    let idxs = stored
        .iter()
        .map(|(n, _)| to_i64(n.index))
        .collect::<StoreResult<Vec<i64>>>()?;
    let hashes: Vec<&[u8]> = stored.iter().map(|(_, h)| h.as_slice()).collect();
    let updated = prepared(
        diesel::sql_query(
            "WITH h AS ( \
                 UPDATE chain_heads SET size = $13, head_hash = $18 \
                 WHERE chain_id = $1 AND size = $19 AND head_hash = $20 \
                 RETURNING chain_id \
             ), e AS ( \
                 INSERT INTO ledger_entries (chain_id, seq, kind, business_date, recorded_at, \
                     idempotency_key, canonical, prev_hash, entry_hash) \
                 SELECT h.chain_id, t.* FROM h, unnest($2::bigint[], $3::text[], $4::date[], \
                     $5::timestamptz[], $6::text[], $7::text[], $8::bytea[], $9::bytea[]) AS t \
             ), n AS ( \
                 INSERT INTO merkle_nodes (chain_id, level, idx, hash) \
                 SELECT h.chain_id, m.* FROM h, unnest($10::smallint[], $11::bigint[], $12::bytea[]) AS m \
             ), c AS ( \
                 INSERT INTO checkpoints (chain_id, tree_size, root_hash, signed_at, key_id, note) \
                 SELECT h.chain_id, $13, $14, $15, $16, $17 FROM h \
             ) \
             SELECT count(*) AS n FROM h",
        )
        .bind::<SqlUuid, _>(chain)
        .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.seq).collect::<Vec<i64>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>())
        .bind::<Array<Date>, _>(rows.iter().map(|r| r.business_date).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.recorded_at).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(
            rows.iter()
                .map(|r| r.idempotency_key.as_str())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Text>, _>(
            rows.iter()
                .map(|r| r.canonical.as_str())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Bytea>, _>(
            rows.iter()
                .map(|r| r.prev_hash.as_slice())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Bytea>, _>(
            rows.iter()
                .map(|r| r.entry_hash.as_slice())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<SmallInt>, _>(levels)
        .bind::<Array<BigInt>, _>(idxs)
        .bind::<Array<Bytea>, _>(hashes)
        .bind::<BigInt, _>(checkpoint.tree_size)
        .bind::<Bytea, _>(checkpoint.root_hash.as_slice())
        .bind::<Timestamptz, _>(checkpoint.signed_at)
        .bind::<Text, _>(checkpoint.key_id.as_str())
        .bind::<Text, _>(checkpoint.note.as_str())
        .bind::<Bytea, _>(head.new_hash.as_slice())
        .bind::<BigInt, _>(to_i64(head.expected_size)?)
        .bind::<Bytea, _>(head.expected_hash.as_slice()),
    )
    .get_result::<Count>(conn)?;
    Ok(updated.n == 1)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct NodeRow {
    #[diesel(sql_type = SmallInt)]
    level: i16,
    #[diesel(sql_type = BigInt)]
    idx: i64,
    #[diesel(sql_type = Bytea)]
    hash: Vec<u8>,
}

/// What a node read asks for: stored nodes by key, and the first seqs of the aligned leaf
/// blocks the lower (`derived`) nodes are recomputed from.
struct NodeRead {
    levels: Vec<i16>,
    idxs: Vec<i64>,
    starts: Vec<i64>,
    derived: Vec<NodeId>,
}

impl NodeRead {
    fn new(ids: &[NodeId]) -> StoreResult<Self> {
        let (stored, derived): (Vec<NodeId>, Vec<NodeId>) =
            ids.iter().partition(|n| n.level >= STORED_MIN_LEVEL);
        let blocks: std::collections::BTreeSet<u64> = derived
            .iter()
            .map(|n| first_leaf(n).map(|leaf| leaf / BLOCK_LEAVES))
            .collect::<StoreResult<_>>()?;
        Ok(Self {
            levels: stored.iter().map(|n| i16::from(n.level)).collect(),
            idxs: stored
                .iter()
                .map(|n| to_i64(n.index))
                .collect::<StoreResult<_>>()?,
            starts: blocks
                .iter()
                .map(|b| to_i64(b.saturating_mul(BLOCK_LEAVES)))
                .collect::<StoreResult<_>>()?,
            derived,
        })
    }

    /// The nodes found, from `(level, idx, hash)` rows where level -1 is an entry hash
    /// (`idx` its seq): stored nodes as read, derived ones rebuilt from their block.
    fn assemble(
        &self,
        rows: impl IntoIterator<Item = (i16, i64, Vec<u8>)>,
    ) -> StoreResult<HashMap<NodeId, Hash>> {
        let mut found = HashMap::new();
        let mut leaves: HashMap<u64, Hash> = HashMap::new();
        for (level, idx, hash) in rows {
            let hash = to_hash(&hash)?;
            if level < 0 {
                leaves.insert(to_u64(idx)?, super::merkle::leaf_hash(&hash));
                continue;
            }
            let level =
                u8::try_from(level).map_err(|_| StoreError::Corrupt(format!("level {level}")))?;
            found.insert(
                NodeId {
                    level,
                    index: to_u64(idx)?,
                },
                hash,
            );
        }
        for id in &self.derived {
            if let Some(hash) = subtree_from_leaves(id, &leaves)? {
                found.insert(*id, hash);
            }
        }
        Ok(found)
    }
}

/// The node read as SQL, `$1` the chain, `$2`/`$3` the stored nodes' levels and indexes,
/// `$4` the leaf blocks' first seqs (renumbered by `with_params`).
///
/// LATERAL forces one primary-key probe per node and one primary-key range scan per
/// block: the planner cannot estimate unnest() and would otherwise hash-join against the
/// whole chain. The LIMIT (a literal, so a prepared statement's generic plan knows it too)
/// tells it how small each range is: without it the range was estimated at 110,981 rows,
/// which crossed the JIT threshold and cost every proof ~15 ms of compilation. Leaf rows
/// come back with level -1.
macro_rules! node_read_sql {
    ($chain:literal, $levels:literal, $idxs:literal, $starts:literal) => {
        concat!(
            "SELECT m.level, m.idx, m.hash FROM unnest(",
            $levels,
            "::smallint[], ",
            $idxs,
            "::bigint[]) AS w(level, idx) \
             CROSS JOIN LATERAL (SELECT level, idx, hash FROM merkle_nodes \
                 WHERE chain_id = ",
            $chain,
            " AND level = w.level AND idx = w.idx) m \
             UNION ALL \
             SELECT -1::smallint, l.seq, l.entry_hash FROM unnest(",
            $starts,
            "::bigint[]) AS b(start) \
             CROSS JOIN LATERAL (SELECT seq, entry_hash FROM ledger_entries \
                 WHERE chain_id = ",
            $chain,
            " AND seq >= b.start AND seq <= b.start + 15 \
                 ORDER BY seq LIMIT 16) l"
        )
    };
}
// `start + 15`, not `start + 16`: a block's start is a multiple of 16 up to 2^63 − 16, so
// its last seq is at most 2^63 − 1 and the bound never overflows `bigint`, even for a
// proof asked at a size near the largest (which then answers 400, not 422 `invalid_value`).
const _: () = assert!(BLOCK_LEAVES == 16, "node_read_sql! spells the block size");

/// Fetches the given nodes (missing ones are simply absent) in one round trip: stored
/// ones by primary key, the lower ones recomputed from the entry hashes of their blocks.
pub fn nodes(
    conn: &mut PgConnection,
    chain: Uuid,
    ids: &[NodeId],
) -> StoreResult<HashMap<NodeId, Hash>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let read = NodeRead::new(ids)?;
    let rows: Vec<NodeRow> = prepared(
        diesel::sql_query(node_read_sql!("$1", "$2", "$3", "$4"))
            .bind::<SqlUuid, _>(chain)
            .bind::<Array<SmallInt>, _>(&read.levels)
            .bind::<Array<BigInt>, _>(&read.idxs)
            .bind::<Array<BigInt>, _>(&read.starts),
    )
    .load(conn)?;
    read.assemble(rows.into_iter().map(|r| (r.level, r.idx, r.hash)))
}

fn first_leaf(id: &NodeId) -> StoreResult<u64> {
    id.index
        .checked_shl(u32::from(id.level))
        .filter(|first| first >> id.level == id.index)
        .ok_or_else(|| StoreError::Corrupt(format!("node {id:?} beyond any tree")))
}

/// The hash of the complete subtree `id` from its leaf hashes, or `None` if one is missing.
fn subtree_from_leaves(id: &NodeId, leaves: &HashMap<u64, Hash>) -> StoreResult<Option<Hash>> {
    let first = first_leaf(id)?;
    let mut level: Vec<Hash> = Vec::with_capacity(1 << id.level);
    for seq in first..first.saturating_add(1 << id.level) {
        match leaves.get(&seq) {
            Some(h) => level.push(*h),
            None => return Ok(None),
        }
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => Ok(super::merkle::node_hash(l, r)),
                _ => Err(StoreError::Corrupt("odd subtree width".to_owned())),
            })
            .collect::<StoreResult<_>>()?;
    }
    Ok(level.pop())
}

#[derive(QueryableByName)]
struct ProofContextRow {
    #[diesel(sql_type = BigInt)]
    head_size: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    seq: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    kind: Option<String>,
    #[diesel(sql_type = Nullable<Date>)]
    business_date: Option<NaiveDate>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    recorded_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    idempotency_key: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    canonical: Option<String>,
    #[diesel(sql_type = Nullable<Bytea>)]
    prev_hash: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Bytea>)]
    entry_hash: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<BigInt>)]
    tree_size: Option<i64>,
    #[diesel(sql_type = Nullable<Bytea>)]
    root_hash: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    signed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    key_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    note: Option<String>,
    #[diesel(sql_type = Array<SmallInt>)]
    node_levels: Vec<i16>,
    #[diesel(sql_type = Array<BigInt>)]
    node_idxs: Vec<i64>,
    #[diesel(sql_type = Array<Bytea>)]
    node_hashes: Vec<Vec<u8>>,
    #[diesel(sql_type = Array<Text>)]
    cosignature_lines: Vec<String>,
}

/// What a proof needs, in one round trip: the chain's size, the entry `seq` (if asked and
/// recorded), the checkpoint signed at `size` (default: the chain's size) if any, with its
/// witnesses' cosignature lines (as `cosignatures_at` orders them), and the Merkle nodes
/// of `nodes` that exist (as `nodes` returns them). `None` if there is
/// no such chain.
pub type ProofContext = (
    u64,
    Option<EntryRow>,
    Option<CheckpointRow>,
    HashMap<NodeId, Hash>,
    Vec<String>,
);

pub fn proof_context(
    conn: &mut PgConnection,
    chain: Uuid,
    seq: Option<u64>,
    size: Option<u64>,
    nodes: &[NodeId],
) -> StoreResult<Option<ProofContext>> {
    let read = NodeRead::new(nodes)?;
    let row: Option<ProofContextRow> = prepared(
        diesel::sql_query(concat!(
            "SELECT h.size AS head_size, e.seq, e.kind, e.business_date, e.recorded_at, \
                e.idempotency_key, e.canonical, e.prev_hash, e.entry_hash, \
                c.tree_size, c.root_hash, c.signed_at, c.key_id, c.note, \
                nd.levels AS node_levels, nd.idxs AS node_idxs, nd.hashes AS node_hashes, \
                cs.lines AS cosignature_lines \
         FROM chain_heads h \
         LEFT JOIN ledger_entries e ON e.chain_id = h.chain_id AND e.seq = $2 \
         LEFT JOIN checkpoints c ON c.chain_id = h.chain_id AND c.tree_size = COALESCE($3, h.size) \
         CROSS JOIN LATERAL (SELECT COALESCE(array_agg(x.level), '{}') AS levels, \
                 COALESCE(array_agg(x.idx), '{}') AS idxs, \
                 COALESCE(array_agg(x.hash), '{}') AS hashes \
             FROM (",
            node_read_sql!("$1", "$4", "$5", "$6"),
            ") x) nd \
         CROSS JOIN LATERAL (SELECT COALESCE(array_agg(s.line ORDER BY s.witness), '{}') AS lines \
             FROM checkpoint_cosignatures s \
             WHERE s.chain_id = h.chain_id AND s.tree_size = c.tree_size) cs \
         WHERE h.chain_id = $1"
        ))
        .bind::<SqlUuid, _>(chain)
        .bind::<Nullable<BigInt>, _>(seq.map(to_i64).transpose()?)
        .bind::<Nullable<BigInt>, _>(size.map(to_i64).transpose()?)
        .bind::<Array<SmallInt>, _>(&read.levels)
        .bind::<Array<BigInt>, _>(&read.idxs)
        .bind::<Array<BigInt>, _>(&read.starts),
    )
    .get_result(conn)
    .optional()?;
    let Some(r) = row else {
        return Ok(None);
    };
    let found = read.assemble(
        r.node_levels
            .into_iter()
            .zip(r.node_idxs)
            .zip(r.node_hashes)
            .map(|((level, idx), hash)| (level, idx, hash)),
    )?;
    let entry = match (
        r.seq,
        r.kind,
        r.business_date,
        r.recorded_at,
        r.idempotency_key,
        r.canonical,
        r.prev_hash,
        r.entry_hash,
    ) {
        (
            Some(seq),
            Some(kind),
            Some(business_date),
            Some(recorded_at),
            Some(idempotency_key),
            Some(canonical),
            Some(prev_hash),
            Some(entry_hash),
        ) => Some(EntryRow {
            chain_id: chain,
            seq,
            kind,
            business_date,
            recorded_at,
            idempotency_key,
            canonical,
            prev_hash,
            entry_hash,
        }),
        _ => None,
    };
    let checkpoint = match (r.tree_size, r.root_hash, r.signed_at, r.key_id, r.note) {
        (Some(tree_size), Some(root_hash), Some(signed_at), Some(key_id), Some(note)) => {
            Some(CheckpointRow {
                chain_id: chain,
                tree_size,
                root_hash,
                signed_at,
                key_id,
                note,
            })
        }
        _ => None,
    };
    Ok(Some((
        to_u64(r.head_size)?,
        entry,
        checkpoint,
        found,
        r.cosignature_lines,
    )))
}

pub fn insert_checkpoint(conn: &mut PgConnection, row: &CheckpointRow) -> StoreResult<()> {
    diesel::insert_into(checkpoints::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

pub fn latest_checkpoint(
    conn: &mut PgConnection,
    chain: Uuid,
) -> StoreResult<Option<CheckpointRow>> {
    Ok(checkpoints::table
        .filter(checkpoints::chain_id.eq(chain))
        .order(checkpoints::tree_size.desc())
        .select(CheckpointRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn checkpoint_at(
    conn: &mut PgConnection,
    chain: Uuid,
    size: u64,
) -> StoreResult<Option<CheckpointRow>> {
    Ok(checkpoints::table
        .find((chain, to_i64(size)?))
        .select(CheckpointRow::as_select())
        .first(conn)
        .optional()?)
}

/// Checkpoints with `from < tree_size <= to`, in size order.
pub fn checkpoints_in(
    conn: &mut PgConnection,
    chain: Uuid,
    from: u64,
    to: u64,
) -> StoreResult<Vec<CheckpointRow>> {
    Ok(checkpoints::table
        .filter(checkpoints::chain_id.eq(chain))
        .filter(checkpoints::tree_size.gt(to_i64(from)?))
        .filter(checkpoints::tree_size.le(to_i64(to)?))
        .order(checkpoints::tree_size.asc())
        .select(CheckpointRow::as_select())
        .load(conn)?)
}

pub fn ensure_signing_key(
    conn: &mut PgConnection,
    key_id: &str,
    name: &str,
    verifier_key: &str,
) -> StoreResult<bool> {
    let inserted = diesel::insert_into(signing_keys::table)
        .values((
            signing_keys::key_id.eq(key_id),
            signing_keys::name.eq(name),
            signing_keys::verifier_key.eq(verifier_key),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(inserted > 0)
}

pub fn signing_keys(conn: &mut PgConnection) -> StoreResult<Vec<SigningKeyRow>> {
    Ok(signing_keys::table
        .order(signing_keys::first_used_at.asc())
        .select(SigningKeyRow::as_select())
        .load(conn)?)
}

pub fn entry(conn: &mut PgConnection, chain: Uuid, seq: u64) -> StoreResult<Option<EntryRow>> {
    Ok(ledger_entries::table
        .find((chain, to_i64(seq)?))
        .select(EntryRow::as_select())
        .first(conn)
        .optional()?)
}

/// Filters of the entry listing.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    pub kind: Option<String>,
    pub from_date: Option<NaiveDate>,
    pub to_date: Option<NaiveDate>,
}

/// One keyset page: entries with `seq > after` matching the filter, in seq order.
pub fn entries_page(
    conn: &mut PgConnection,
    chain: Uuid,
    after: Option<u64>,
    limit: i64,
    filter: &EntryFilter,
) -> StoreResult<Vec<EntryRow>> {
    let mut q = ledger_entries::table
        .filter(ledger_entries::chain_id.eq(chain))
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(ledger_entries::seq.gt(to_i64(after)?));
    }
    if let Some(kind) = &filter.kind {
        q = q.filter(ledger_entries::kind.eq(kind.clone()));
    }
    if let Some(from) = filter.from_date {
        q = q.filter(ledger_entries::business_date.ge(from));
    }
    if let Some(to) = filter.to_date {
        q = q.filter(ledger_entries::business_date.le(to));
    }
    Ok(q.order(ledger_entries::seq.asc())
        .limit(limit)
        .select(EntryRow::as_select())
        .load(conn)?)
}

/// Entries after `after` (exclusive; `None` = from the start), at most `limit`, in seq order.
pub fn entries_after(
    conn: &mut PgConnection,
    chain: Uuid,
    after: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<EntryRow>> {
    let mut q = ledger_entries::table
        .filter(ledger_entries::chain_id.eq(chain))
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(ledger_entries::seq.gt(after));
    }
    Ok(q.order(ledger_entries::seq.asc())
        .limit(limit)
        .select(EntryRow::as_select())
        .load(conn)?)
}

/// The entries of `chain` at these seqs, in seq order (missing seqs are skipped).
pub fn entries_at(
    conn: &mut PgConnection,
    chain: Uuid,
    seqs: &[i64],
) -> StoreResult<Vec<EntryRow>> {
    Ok(ledger_entries::table
        .filter(ledger_entries::chain_id.eq(chain))
        .filter(ledger_entries::seq.eq_any(seqs))
        .order(ledger_entries::seq.asc())
        .select(EntryRow::as_select())
        .load(conn)?)
}

/// A witness's cosignature line of the checkpoint of `chain` at `tree_size`.
#[derive(Debug, Clone, QueryableByName)]
pub struct CosignatureRow {
    #[diesel(sql_type = BigInt)]
    pub tree_size: i64,
    /// The witness's cosigner verifier key.
    #[diesel(sql_type = Text)]
    pub witness: String,
    /// The signature line as the witness returned it.
    #[diesel(sql_type = Text)]
    pub line: String,
}

/// Records witnesses' cosignature lines (a line already recorded is kept as it was).
pub fn insert_cosignatures(
    conn: &mut PgConnection,
    chain: Uuid,
    tree_size: u64,
    lines: &[(String, String)],
) -> StoreResult<usize> {
    let mut n = 0;
    for (witness, line) in lines {
        n += diesel::sql_query(
            "INSERT INTO checkpoint_cosignatures (chain_id, tree_size, witness, line) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind::<SqlUuid, _>(chain)
        .bind::<BigInt, _>(to_i64(tree_size)?)
        .bind::<Text, _>(witness)
        .bind::<Text, _>(line)
        .execute(conn)?;
    }
    Ok(n)
}

/// The cosignature lines recorded for the checkpoint of `chain` at `tree_size`.
pub fn cosignatures_at(
    conn: &mut PgConnection,
    chain: Uuid,
    tree_size: u64,
) -> StoreResult<Vec<CosignatureRow>> {
    Ok(diesel::sql_query(
        "SELECT tree_size, witness, line FROM checkpoint_cosignatures \
         WHERE chain_id = $1 AND tree_size = $2 ORDER BY witness",
    )
    .bind::<SqlUuid, _>(chain)
    .bind::<BigInt, _>(to_i64(tree_size)?)
    .load(conn)?)
}

/// The largest size of `chain` that `witness` cosigned, if any.
pub fn witnessed_size(
    conn: &mut PgConnection,
    chain: Uuid,
    witness: &str,
) -> StoreResult<Option<u64>> {
    #[derive(QueryableByName)]
    struct Size {
        #[diesel(sql_type = Nullable<BigInt>)]
        size: Option<i64>,
    }
    let row: Size = diesel::sql_query(
        "SELECT max(tree_size) AS size FROM checkpoint_cosignatures \
         WHERE witness = $1 AND chain_id = $2",
    )
    .bind::<Text, _>(witness)
    .bind::<SqlUuid, _>(chain)
    .get_result(conn)?;
    row.size.map(to_u64).transpose()
}

/// Every chain's id and size (every committed group signs a checkpoint of its new size,
/// so this is the latest checkpoint's), for the witness pusher.
pub fn latest_sizes(conn: &mut PgConnection) -> StoreResult<Vec<(Uuid, u64)>> {
    #[derive(QueryableByName)]
    struct Latest {
        #[diesel(sql_type = SqlUuid)]
        chain_id: Uuid,
        #[diesel(sql_type = BigInt)]
        size: i64,
    }
    let rows: Vec<Latest> =
        diesel::sql_query("SELECT chain_id, size FROM chain_heads ORDER BY chain_id").load(conn)?;
    rows.into_iter()
        .map(|r| Ok((r.chain_id, to_u64(r.size)?)))
        .collect()
}

/// The largest size of `chain` whose checkpoint at least `k` of `witnesses` (cosigner
/// verifier keys) cosigned, if any.
pub fn latest_witnessed_size(
    conn: &mut PgConnection,
    chain: Uuid,
    witnesses: &[String],
    k: usize,
) -> StoreResult<Option<u64>> {
    #[derive(QueryableByName)]
    struct Size {
        #[diesel(sql_type = BigInt)]
        tree_size: i64,
    }
    let k = i64::try_from(k).map_err(|_| StoreError::Corrupt("witness count".to_owned()))?;
    let row: Option<Size> = diesel::sql_query(
        "SELECT tree_size FROM checkpoint_cosignatures \
         WHERE chain_id = $1 AND witness = ANY($2) \
         GROUP BY tree_size HAVING count(DISTINCT witness) >= $3 \
         ORDER BY tree_size DESC LIMIT 1",
    )
    .bind::<SqlUuid, _>(chain)
    .bind::<Array<Text>, _>(witnesses)
    .bind::<BigInt, _>(k)
    .get_result(conn)
    .optional()?;
    row.map(|r| to_u64(r.tree_size)).transpose()
}

/// The entries of `chain` of one `kind`, in seq order.
pub fn entries_of_kind(
    conn: &mut PgConnection,
    chain: Uuid,
    kind: &str,
) -> StoreResult<Vec<EntryRow>> {
    Ok(ledger_entries::table
        .filter(ledger_entries::chain_id.eq(chain))
        .filter(ledger_entries::kind.eq(kind))
        .order(ledger_entries::seq.asc())
        .select(EntryRow::as_select())
        .load(conn)?)
}

/// The size of the latest checkpoint of `chain` signed at or before `at`, if any.
pub fn checkpoint_size_signed_by(
    conn: &mut PgConnection,
    chain: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<Option<u64>> {
    let size: Option<i64> = checkpoints::table
        .filter(checkpoints::chain_id.eq(chain))
        .filter(checkpoints::signed_at.le(at))
        .select(diesel::dsl::max(checkpoints::tree_size))
        .first(conn)?;
    size.map(to_u64).transpose()
}
