//! Evidence documents (docs/domain.md, "Evidence documents"): a file uploaded to an entry
//! of a fund is kept in the document store (`docstore`) under its SHA-256, and an
//! `evidence_attached` entry (`entries::kinds::EvidenceAttached`) records the hash, size
//! and media type in the fund's chain, so an inclusion proof of that entry proves the
//! document. `sniff` decides what may be stored (size and media type, read from the bytes,
//! never from the client), `http` the upload, list and download routes, `together` an
//! entry recorded with its documents in one request, `offline` the
//! check of a directory of documents against an exported chain (`fundtrail verify
//! --documents`), `bundle` the copy of a fund's documents into such a directory.

pub mod bundle;
pub mod http;
pub mod offline;
pub mod sniff;
pub mod together;
