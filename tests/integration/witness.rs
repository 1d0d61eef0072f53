//! `fundtrail witness`: the tlog-witness application in-process over a temporary data
//! directory, fed checkpoints signed the way the service signs them, over real Merkle
//! trees. No database.

use std::collections::HashMap;
use std::path::PathBuf;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use sha2::{Digest, Sha256};

use fundtrail::ledger::cosignature::{verify_cosignatures, Cosigner, CosignerKey};
use fundtrail::ledger::merkle::{self, Frontier, Hash, NodeId};
use fundtrail::ledger::note::{self, Checkpoint, SigningKey};
use fundtrail::witness::client::{self, AddOutcome};
use fundtrail::witness::state::{origin_hash, StateDir};
use fundtrail::witness::{LogConfig, Witness};

const ORIGIN: &str = "fundtrail/86807e3c-4ee6-4063-b922-5164384137b2";
const NOW: u64 = 1_767_225_600;

/// A chain as the service keeps it: entry hashes as leaves, every complete node stored,
/// checkpoints signed with the log's key.
struct Log {
    key: SigningKey,
    /// Distinguishes the entries of two histories of one chain.
    variant: &'static str,
    frontier: Frontier,
    nodes: HashMap<NodeId, Hash>,
}

impl Log {
    fn new(key: &SigningKey, variant: &'static str) -> Self {
        Self {
            key: key.clone(),
            variant,
            frontier: Frontier::new(),
            nodes: HashMap::new(),
        }
    }

    fn grow_to(mut self, size: u64) -> Self {
        while self.frontier.size() < size {
            let entry_hash: Hash =
                Sha256::digest(format!("{}-{}", self.variant, self.frontier.size())).into();
            for (id, hash) in self.frontier.push(merkle::leaf_hash(&entry_hash)) {
                self.nodes.insert(id, hash);
            }
        }
        self
    }

    fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The signed checkpoint of the current size, as the writer signs it.
    fn checkpoint(&self) -> String {
        let checkpoint = Checkpoint {
            origin: ORIGIN.to_owned(),
            size: self.size(),
            root: self.frontier.root(),
            extensions: vec![format!(
                "time 2026-12-0{}T10:00:00.000000Z",
                self.size() % 9 + 1
            )],
        };
        note::sign_checkpoint(&self.key, &checkpoint).unwrap()
    }

    /// The consistency proof from `old` to the current size.
    fn proof(&self, old: u64) -> Vec<Hash> {
        merkle::consistency_proof(old, self.size(), |id| self.nodes.get(&id).copied()).unwrap()
    }
}

struct Setup {
    dir: PathBuf,
    log_key: SigningKey,
    cosigner: Cosigner,
}

impl Setup {
    fn new() -> Self {
        Self {
            dir: std::env::temp_dir().join(format!("ft-witness-{}", uuid::Uuid::new_v4().simple())),
            log_key: SigningKey::generate("fundtrail").unwrap(),
            cosigner: Cosigner::generate("witness.donor.example/w1").unwrap(),
        }
    }

    /// A witness over the setup's data directory (a fresh process each call).
    fn witness(&self) -> web::Data<Witness> {
        let logs = vec![LogConfig {
            origin: ORIGIN.to_owned(),
            keys: vec![self.log_key.verifier()],
        }];
        let state = StateDir::open(&self.dir).unwrap();
        web::Data::new(
            Witness::new(self.cosigner.clone(), logs, state)
                .unwrap()
                .with_clock(Box::new(|| NOW)),
        )
    }

    fn witness_key(&self) -> CosignerKey {
        self.cosigner.verifier()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// POSTs an add-checkpoint; returns the status, the content type and the body.
macro_rules! add {
    ($app:expr, $old:expr, $proof:expr, $note:expr) => {{
        let body = client::request_body($old, &$proof, &$note);
        let res = test::call_service(
            $app,
            TestRequest::post()
                .uri("/add-checkpoint")
                .set_payload(body)
                .to_request(),
        )
        .await;
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        (status, content_type, body)
    }};
}

/// GETs a path; returns the status and the body.
macro_rules! get {
    ($app:expr, $uri:expr) => {{
        let res = test::call_service($app, TestRequest::get().uri($uri).to_request()).await;
        let status = res.status();
        let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        (status, body)
    }};
}

/// The value of one alarm counter in a /metrics page (0 when absent).
fn alarms(metrics: &str, kind: &str) -> u64 {
    let prefix = format!("fundtrail_witness_alarms_total{{kind=\"{kind}\",origin=\"{ORIGIN}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.parse().unwrap())
}

fn checkpoint_uri() -> String {
    format!("/{}/checkpoint", origin_hash(ORIGIN))
}

/// The size of the checkpoint the witness serves as its latest.
fn served_size(note: &str) -> u64 {
    let (text, _) = note.split_once("\n\n").unwrap();
    Checkpoint::parse(&format!("{text}\n")).unwrap().size
}

#[actix_web::test]
async fn witness_cosigns_the_first_checkpoint_of_a_log() {
    let setup = Setup::new();
    let app = test::init_service(fundtrail::witness::http::build(setup.witness())).await;
    let log = Log::new(&setup.log_key, "a").grow_to(5);
    let note = log.checkpoint();

    let (status, _, body) = add!(&app, 0, Vec::<Hash>::new(), note);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.starts_with("— witness.donor.example/w1 "), "{body}");
    assert_eq!(body.lines().count(), 1);

    // A client appends the line to its note and checks it against the witness's key.
    let cosigned = format!("{note}{body}");
    let got = verify_cosignatures(&cosigned, &[setup.witness_key()], 1).unwrap();
    assert_eq!(got[0].timestamp, NOW);
    // The log's signature still verifies on the cosigned note.
    let cp = note::verify_checkpoint(&cosigned, &setup.log_key.verifier(), Some(ORIGIN)).unwrap();
    assert_eq!(cp.size, 5);
    // The witness's key, published as a verifier key string, is a type 0x04 cosigner key.
    let published = setup.witness_key().to_verifier_string();
    assert_eq!(
        CosignerKey::from_verifier_string(&published).unwrap(),
        setup.witness_key()
    );

    // The monitoring endpoint serves the cosigned checkpoint: log signature and cosignature.
    let (status, served) = get!(&app, &checkpoint_uri());
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served, cosigned);
    let (status, _) = get!(
        &app,
        &format!("/{}/checkpoint", origin_hash("fundtrail/admin"))
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn witness_cosigns_a_consistent_later_checkpoint() {
    let setup = Setup::new();
    let app = test::init_service(fundtrail::witness::http::build(setup.witness())).await;
    let log = Log::new(&setup.log_key, "a").grow_to(5);
    let (status, _, _) = add!(&app, 0, Vec::<Hash>::new(), log.checkpoint());
    assert_eq!(status, StatusCode::OK);

    let log = log.grow_to(13);
    let note = log.checkpoint();
    // A client that does not know the witness's size learns it from a 409.
    let (status, content_type, body) = add!(&app, 0, Vec::<Hash>::new(), note);
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(content_type, "text/x.tlog.size");
    assert_eq!(body, "5\n");

    let (status, _, body) = add!(&app, 5, log.proof(5), note);
    assert_eq!(status, StatusCode::OK, "{body}");
    verify_cosignatures(&format!("{note}{body}"), &[setup.witness_key()], 1).unwrap();
    let (_, served) = get!(&app, &checkpoint_uri());
    assert_eq!(served_size(&served), 13);

    // The same checkpoint again is cosigned again (same size, same root, no proof).
    let (status, _, _) = add!(&app, 13, Vec::<Hash>::new(), note);
    assert_eq!(status, StatusCode::OK);
    let (_, metrics) = get!(&app, "/metrics");
    for kind in ["rollback", "fork", "inconsistent"] {
        assert_eq!(alarms(&metrics, kind), 0, "{metrics}");
    }
}

#[actix_web::test]
async fn witness_refuses_a_truncated_log_and_raises_a_rollback_alarm() {
    let setup = Setup::new();
    let app = test::init_service(fundtrail::witness::http::build(setup.witness())).await;
    let log = Log::new(&setup.log_key, "a").grow_to(13);
    let (status, _, _) = add!(&app, 0, Vec::<Hash>::new(), log.checkpoint());
    assert_eq!(status, StatusCode::OK);

    // The log (or whoever holds its key) now shows a tree of 8 entries.
    let truncated = Log::new(&setup.log_key, "a").grow_to(8).checkpoint();
    let (status, content_type, body) = add!(&app, 8, Vec::<Hash>::new(), truncated);
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(content_type, "text/x.tlog.size");
    assert_eq!(body, "13\n");
    // Claiming the witness's own size as old is malformed (old above the checkpoint's).
    let (status, _, _) = add!(&app, 13, Vec::<Hash>::new(), truncated);
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, metrics) = get!(&app, "/metrics");
    assert_eq!(alarms(&metrics, "rollback"), 2, "{metrics}");
    let (_, served) = get!(&app, &checkpoint_uri());
    assert_eq!(served_size(&served), 13);
}

#[actix_web::test]
async fn witness_refuses_a_fork_of_the_same_size() {
    let setup = Setup::new();
    let app = test::init_service(fundtrail::witness::http::build(setup.witness())).await;
    let log = Log::new(&setup.log_key, "a").grow_to(5);
    let (status, _, _) = add!(&app, 0, Vec::<Hash>::new(), log.checkpoint());
    assert_eq!(status, StatusCode::OK);

    // Another history of five entries, validly signed by the log's key.
    let fork = Log::new(&setup.log_key, "b").grow_to(5).checkpoint();
    note::verify_checkpoint(&fork, &setup.log_key.verifier(), Some(ORIGIN)).unwrap();
    let (status, _, body) = add!(&app, 5, Vec::<Hash>::new(), fork);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (_, metrics) = get!(&app, "/metrics");
    assert_eq!(alarms(&metrics, "fork"), 1, "{metrics}");
    // The witness still vouches for the first history only.
    let (_, served) = get!(&app, &checkpoint_uri());
    assert!(served.starts_with(&log.checkpoint()[..log.checkpoint().find("\n\n").unwrap()]));
}

#[actix_web::test]
async fn witness_refuses_a_rewritten_history_whose_proof_fails() {
    let setup = Setup::new();
    let app = test::init_service(fundtrail::witness::http::build(setup.witness())).await;
    let log = Log::new(&setup.log_key, "a").grow_to(5);
    let (status, _, _) = add!(&app, 0, Vec::<Hash>::new(), log.checkpoint());
    assert_eq!(status, StatusCode::OK);

    // A history that rewrote the first five entries and grew to nine; its own proof from
    // its size 5 is valid for it, not for the root the witness cosigned.
    let rewritten = Log::new(&setup.log_key, "b").grow_to(9);
    let (status, _, body) = add!(&app, 5, rewritten.proof(5), rewritten.checkpoint());
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // An honest growth of the cosigned history to nine would have passed.
    let honest = log.grow_to(9);
    let (_, metrics) = get!(&app, "/metrics");
    assert_eq!(alarms(&metrics, "inconsistent"), 1, "{metrics}");
    let (status, _, _) = add!(&app, 5, honest.proof(5), honest.checkpoint());
    assert_eq!(status, StatusCode::OK);
}

#[actix_web::test]
async fn witness_refuses_checkpoints_not_signed_by_the_log() {
    let setup = Setup::new();
    let app = test::init_service(fundtrail::witness::http::build(setup.witness())).await;
    // Same key name, another key: the signature is not the log's.
    let impostor = SigningKey::generate("fundtrail").unwrap();
    let note = Log::new(&impostor, "a").grow_to(5).checkpoint();
    let (status, _, _) = add!(&app, 0, Vec::<Hash>::new(), note);
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The log's key, but a tampered size: a known key's signature fails.
    let good = Log::new(&setup.log_key, "a").grow_to(5).checkpoint();
    let tampered = good.replacen("\n5\n", "\n6\n", 1);
    let (status, _, _) = add!(&app, 0, Vec::<Hash>::new(), tampered);
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An origin the witness does not follow.
    let other = good.replacen(ORIGIN, "fundtrail/admin", 1);
    let (status, _, _) = add!(&app, 0, Vec::<Hash>::new(), other);
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nothing was stored.
    let (status, _) = get!(&app, &checkpoint_uri());
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn witness_state_survives_a_restart() {
    let setup = Setup::new();
    let log = Log::new(&setup.log_key, "a").grow_to(9);
    {
        let app = test::init_service(fundtrail::witness::http::build(setup.witness())).await;
        let (status, _, _) = add!(&app, 0, Vec::<Hash>::new(), log.checkpoint());
        assert_eq!(status, StatusCode::OK);
    }
    // A new process over the same data directory.
    let app = test::init_service(fundtrail::witness::http::build(setup.witness())).await;
    let older = Log::new(&setup.log_key, "a").grow_to(5).checkpoint();
    let (status, _, body) = add!(&app, 0, Vec::<Hash>::new(), older);
    assert_eq!((status, body.as_str()), (StatusCode::CONFLICT, "9\n"));
    let (_, metrics) = get!(&app, "/metrics");
    assert_eq!(alarms(&metrics, "rollback"), 1, "{metrics}");
    let log = log.grow_to(12);
    let (status, _, body) = add!(&app, 9, log.proof(9), log.checkpoint());
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[actix_web::test]
async fn witness_client_pushes_checkpoints_over_http() {
    let setup = Setup::new();
    let witness = setup.witness();
    let server =
        actix_web::HttpServer::new(move || fundtrail::witness::http::build(witness.clone()))
            .workers(1)
            .bind("127.0.0.1:0")
            .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let log = Log::new(&setup.log_key, "a").grow_to(3);
    let note = log.checkpoint();
    let outcome = client::add_checkpoint(&url, 0, &[], &note).await.unwrap();
    let AddOutcome::Cosigned(lines) = outcome else {
        panic!("not cosigned: {outcome:?}");
    };
    verify_cosignatures(&format!("{note}{lines}"), &[setup.witness_key()], 1).unwrap();

    let log = log.grow_to(7);
    let outcome = client::add_checkpoint(&url, 0, &[], &log.checkpoint())
        .await
        .unwrap();
    assert_eq!(outcome, AddOutcome::Conflict { latest_size: 3 });
    let outcome = client::add_checkpoint(&url, 3, &log.proof(3), &log.checkpoint())
        .await
        .unwrap();
    assert!(matches!(outcome, AddOutcome::Cosigned(_)), "{outcome:?}");
    let fork = Log::new(&setup.log_key, "b").grow_to(7).checkpoint();
    let outcome = client::add_checkpoint(&url, 7, &[], &fork).await.unwrap();
    assert!(
        matches!(outcome, AddOutcome::Refused { status: 422, .. }),
        "{outcome:?}"
    );
    handle.stop(true).await;
}
