-- Derived state of fund chains (docs/domain.md). Every row here is a pure function of the
-- fund's ledger entries: it is written in the same transaction as the entry that causes it
-- and `fundtrail rebuild --check` recomputes it from the entries and compares. So no
-- column may hold anything the entries do not determine (no now(), no serials).
-- Amounts named `*_fund` are in the fund's currency; others in their own `currency`.

-- One row per fund.
CREATE TABLE fund_positions (
    fund_id uuid PRIMARY KEY REFERENCES funds (id),
    pledged numeric NOT NULL DEFAULT 0,
    received numeric NOT NULL DEFAULT 0,
    allocated numeric NOT NULL DEFAULT 0,
    disbursed numeric NOT NULL DEFAULT 0,
    expended numeric NOT NULL DEFAULT 0,
    paid numeric NOT NULL DEFAULT 0,
    -- The first invariant, held by the database too.
    CHECK (received - disbursed >= 0)
);

CREATE TABLE donor_positions (
    fund_id uuid NOT NULL REFERENCES funds (id),
    donor_org_id uuid NOT NULL REFERENCES organizations (id),
    pledged numeric NOT NULL DEFAULT 0,
    received numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (fund_id, donor_org_id)
);
CREATE INDEX donor_positions_donor ON donor_positions (donor_org_id);

CREATE TABLE ministry_positions (
    fund_id uuid NOT NULL REFERENCES funds (id),
    ministry_org_id uuid NOT NULL REFERENCES organizations (id),
    allocated numeric NOT NULL DEFAULT 0,
    disbursed numeric NOT NULL DEFAULT 0,
    expended numeric NOT NULL DEFAULT 0,
    paid numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (fund_id, ministry_org_id)
);
CREATE INDEX ministry_positions_ministry ON ministry_positions (ministry_org_id);

CREATE TABLE allocations (
    fund_id uuid NOT NULL REFERENCES funds (id),
    seq bigint NOT NULL,
    ministry_org_id uuid NOT NULL REFERENCES organizations (id),
    budget_line text NOT NULL,
    category text NOT NULL,
    amount_fund numeric NOT NULL CHECK (amount_fund > 0),
    period_start date NOT NULL,
    period_end date NOT NULL,
    disbursed_fund numeric NOT NULL DEFAULT 0 CHECK (disbursed_fund >= 0 AND disbursed_fund <= amount_fund),
    reversed boolean NOT NULL DEFAULT false,
    PRIMARY KEY (fund_id, seq)
);

CREATE TABLE fx_rates (
    fund_id uuid NOT NULL REFERENCES funds (id),
    seq bigint NOT NULL,
    base text NOT NULL,
    quote text NOT NULL,
    rate_date date NOT NULL,
    rate numeric NOT NULL CHECK (rate > 0),
    reversed boolean NOT NULL DEFAULT false,
    PRIMARY KEY (fund_id, seq)
);
CREATE INDEX fx_rates_lookup ON fx_rates (fund_id, base, quote, rate_date);

-- Procurement stage per tender: open -> awarded -> contracted; cancelled by a reversal.
CREATE TABLE tenders (
    fund_id uuid NOT NULL REFERENCES funds (id),
    seq bigint NOT NULL,
    ministry_org_id uuid NOT NULL REFERENCES organizations (id),
    method text NOT NULL,
    stage text NOT NULL CHECK (stage IN ('open', 'awarded', 'contracted', 'cancelled')),
    bids integer NOT NULL DEFAULT 0,
    award_seq bigint,
    PRIMARY KEY (fund_id, seq)
);

CREATE TABLE contracts (
    -- UUIDv5(fund id, decimal seq): stable, so a rebuild reproduces it.
    id uuid NOT NULL UNIQUE,
    fund_id uuid NOT NULL REFERENCES funds (id),
    seq bigint NOT NULL,
    tender_seq bigint NOT NULL,
    award_seq bigint NOT NULL,
    ministry_org_id uuid NOT NULL REFERENCES organizations (id),
    vendor_org_id uuid NOT NULL REFERENCES organizations (id),
    currency text NOT NULL,
    original_value numeric NOT NULL,
    value numeric NOT NULL CHECK (value > 0),
    starts_on date NOT NULL,
    ends_on date NOT NULL,
    amendments integer NOT NULL DEFAULT 0,
    invoiced numeric NOT NULL DEFAULT 0 CHECK (invoiced >= 0 AND invoiced <= value),
    paid numeric NOT NULL DEFAULT 0 CHECK (paid >= 0 AND paid <= invoiced),
    reversed boolean NOT NULL DEFAULT false,
    PRIMARY KEY (fund_id, seq)
);

-- What an amendment replaced, so its reversal can restore it.
CREATE TABLE contract_amendments (
    fund_id uuid NOT NULL REFERENCES funds (id),
    seq bigint NOT NULL,
    contract_seq bigint NOT NULL,
    old_value numeric NOT NULL,
    new_value numeric NOT NULL,
    old_starts_on date NOT NULL,
    old_ends_on date NOT NULL,
    reversed boolean NOT NULL DEFAULT false,
    PRIMARY KEY (fund_id, seq)
);

CREATE TABLE invoices (
    fund_id uuid NOT NULL REFERENCES funds (id),
    seq bigint NOT NULL,
    contract_seq bigint NOT NULL,
    ministry_org_id uuid NOT NULL REFERENCES organizations (id),
    vendor_org_id uuid NOT NULL REFERENCES organizations (id),
    invoice_number text NOT NULL,
    currency text NOT NULL,
    amount numeric NOT NULL CHECK (amount > 0),
    paid numeric NOT NULL DEFAULT 0 CHECK (paid >= 0 AND paid <= amount),
    reversed boolean NOT NULL DEFAULT false,
    PRIMARY KEY (fund_id, seq)
);

-- One row per typed entry: what the read API filters on and what reversals undo.
CREATE TABLE fund_entries (
    fund_id uuid NOT NULL REFERENCES funds (id),
    seq bigint NOT NULL,
    kind text NOT NULL,
    business_date date NOT NULL,
    ministry_org_id uuid REFERENCES organizations (id),
    vendor_org_id uuid REFERENCES organizations (id),
    donor_org_id uuid REFERENCES organizations (id),
    category text,
    currency text,
    amount numeric,
    -- `amount` converted at the business date's recorded rate (docs/domain.md).
    amount_fund numeric,
    -- The entry this one refers to (allocation of a disbursement, invoice of a payment,
    -- reversed entry of a reversal, ...), and the tender it belongs to, if any.
    ref_seq bigint,
    tender_seq bigint,
    reversed_by bigint,
    PRIMARY KEY (fund_id, seq)
);
CREATE INDEX fund_entries_kind ON fund_entries (fund_id, kind, seq);
CREATE INDEX fund_entries_ministry ON fund_entries (fund_id, ministry_org_id, seq);
CREATE INDEX fund_entries_vendor ON fund_entries (fund_id, vendor_org_id, seq);
CREATE INDEX fund_entries_tender ON fund_entries (fund_id, tender_seq) WHERE tender_seq IS NOT NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON fund_positions, donor_positions, ministry_positions,
    allocations, fx_rates, tenders, contracts, contract_amendments, invoices, fund_entries
    TO fundtrail_app;
