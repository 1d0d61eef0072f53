-- Identifiers that other registers give an organisation (docs/import.md): an OCDS party's
-- `identifier` (scheme and id, e.g. `GB-COH` / `01234567`). The OCDS import matches
-- parties by them before it matches by name. State, not ledger: each row is written in
-- the transaction of the administrative-chain entry that records it
-- (`vendor_registered` or `organization_identifier_added`). An identifier names one
-- organisation; an organisation may have several.
CREATE TABLE organization_identifiers (
    scheme text NOT NULL CHECK (length(scheme) BETWEEN 1 AND 100),
    identifier text NOT NULL CHECK (length(identifier) BETWEEN 1 AND 200),
    org_id uuid NOT NULL REFERENCES organizations (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scheme, identifier)
);
CREATE INDEX organization_identifiers_org ON organization_identifiers (org_id);

GRANT SELECT, INSERT ON organization_identifiers TO fundtrail_app;
