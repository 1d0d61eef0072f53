-- Evidence documents (docs/domain.md, "Evidence documents"): one row per
-- `evidence_attached` entry, derived from the ledger like the rest of the derived state
-- and rebuilt from it. The documents themselves are never in the database: they are in
-- the document store (a directory or an S3-compatible bucket), named by their SHA-256.
CREATE TABLE evidence_documents (
    fund_id uuid NOT NULL REFERENCES funds (id),
    -- Seq of the evidence_attached entry.
    seq bigint NOT NULL,
    -- Seq of the entry the document is evidence for.
    entry_seq bigint NOT NULL,
    -- The cited entry's ministry (NULL for fund flows): a ministry reads only its own.
    ministry_org_id uuid REFERENCES organizations (id),
    -- Lowercase hex of the document's SHA-256.
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes bigint NOT NULL CHECK (size_bytes > 0),
    media_type text NOT NULL,
    name text,
    PRIMARY KEY (fund_id, seq)
);
-- A download finds the entries that cite a document by its hash.
CREATE INDEX evidence_documents_sha256 ON evidence_documents (fund_id, sha256);
CREATE INDEX evidence_documents_entry ON evidence_documents (fund_id, entry_seq);

GRANT SELECT, INSERT, UPDATE, DELETE ON evidence_documents TO fundtrail_app;
