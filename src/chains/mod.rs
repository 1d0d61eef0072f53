//! The HTTP face of the ledger (docs/api.md): chains, their entries, inclusion and
//! consistency proofs, signed checkpoints, server-side verification, the streamed export and
//! the published verifier keys. The ledger itself (`ledger`) is a library with no HTTP in
//! it; this capability adds who may call what (`auth` guards, fund scopes from `funds`).

pub mod http;
pub mod policy;
