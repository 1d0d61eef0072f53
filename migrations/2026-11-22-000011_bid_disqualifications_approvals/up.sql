-- Derived state of two fund entry kinds (docs/domain.md): `bid_disqualified` and
-- `approval`. Rebuilt from the ledger like the rest of the derived state.

-- A disqualified bid: no award may go to its vendor on its tender while it stands.
CREATE TABLE bid_disqualifications (
    fund_id uuid NOT NULL REFERENCES funds (id),
    -- Seq of the bid_disqualified entry.
    seq bigint NOT NULL,
    bid_seq bigint NOT NULL,
    tender_seq bigint NOT NULL,
    vendor_org_id uuid NOT NULL REFERENCES organizations (id),
    reversed boolean NOT NULL DEFAULT false,
    PRIMARY KEY (fund_id, seq)
);
-- A bid is disqualified at most once at a time (the application refuses it first).
CREATE UNIQUE INDEX bid_disqualifications_live ON bid_disqualifications (fund_id, bid_seq)
    WHERE NOT reversed;
CREATE INDEX bid_disqualifications_tender ON bid_disqualifications (fund_id, tender_seq, vendor_org_id);

-- An approval of an invoice, payment, award or contract by a ministry user (the ledger
-- principal's user id, kept here so "approved twice by the same user" is a key lookup).
CREATE TABLE approvals (
    fund_id uuid NOT NULL REFERENCES funds (id),
    -- Seq of the approval entry.
    seq bigint NOT NULL,
    entry_seq bigint NOT NULL,
    approver text NOT NULL,
    reversed boolean NOT NULL DEFAULT false,
    PRIMARY KEY (fund_id, seq)
);
CREATE UNIQUE INDEX approvals_live ON approvals (fund_id, entry_seq, approver)
    WHERE NOT reversed;

-- spending-before-funding (docs/screening.md) reads a ministry's disbursements, and its
-- payments dated after a payment's date, as range scans of this index.
CREATE INDEX fund_entries_ministry_kind_date
    ON fund_entries (fund_id, ministry_org_id, kind, business_date);

GRANT SELECT, INSERT, UPDATE, DELETE ON bid_disqualifications, approvals TO fundtrail_app;
