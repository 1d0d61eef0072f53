-- Bank reconciliation (docs/reconciliation.md). Every row here is derived from an entry of
-- the fund's chain (bank_account, bank_statement, bank_match, reconciliation_config),
-- written in the same transaction as that entry.

-- The fund's bank accounts: the secretariat's, or a ministry's.
CREATE TABLE bank_accounts (
    id uuid PRIMARY KEY,
    fund_id uuid NOT NULL REFERENCES funds (id),
    -- Seq of the bank_account entry that registered it.
    seq bigint NOT NULL,
    -- The account as statements name it: an IBAN, or the bank's own identifier.
    account text NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    owner text NOT NULL CHECK (owner IN ('secretariat', 'ministry')),
    ministry_org_id uuid REFERENCES organizations (id),
    name text NOT NULL,
    UNIQUE (fund_id, account),
    CHECK ((owner = 'ministry') = (ministry_org_id IS NOT NULL))
);

-- One row per bank_statement entry.
CREATE TABLE bank_statements (
    fund_id uuid NOT NULL REFERENCES funds (id),
    seq bigint NOT NULL,
    account_id uuid NOT NULL REFERENCES bank_accounts (id),
    -- The bank's statement identification (camt.053 Stmt/Id, or the CSV's declared one).
    statement_id text NOT NULL,
    from_date date NOT NULL,
    to_date date NOT NULL,
    currency text NOT NULL,
    -- Signed balances: credit positive, debit negative.
    opening numeric NOT NULL,
    closing numeric NOT NULL,
    PRIMARY KEY (fund_id, seq),
    UNIQUE (account_id, statement_id),
    CHECK (from_date <= to_date)
);

-- The booked lines of a statement.
CREATE TABLE bank_lines (
    fund_id uuid NOT NULL REFERENCES funds (id),
    -- Seq of the bank_statement entry.
    seq bigint NOT NULL,
    -- Position of the line in the statement, from 1.
    line integer NOT NULL CHECK (line > 0),
    account_id uuid NOT NULL REFERENCES bank_accounts (id),
    booking_date date NOT NULL,
    -- Signed: a credit positive, a debit negative; never zero.
    amount numeric NOT NULL CHECK (amount <> 0),
    currency text NOT NULL,
    reference text NOT NULL,
    counterparty text NOT NULL,
    PRIMARY KEY (fund_id, seq, line)
);
CREATE INDEX bank_lines_account ON bank_lines (account_id, booking_date);

-- What a bank_match entry matched: one statement line with one or more ledger entries.
CREATE TABLE bank_matches (
    fund_id uuid NOT NULL REFERENCES funds (id),
    -- Seq of the bank_match entry.
    seq bigint NOT NULL,
    statement_seq bigint NOT NULL,
    line integer NOT NULL,
    account_id uuid NOT NULL REFERENCES bank_accounts (id),
    entry_seq bigint NOT NULL,
    -- The part of the line's amount (absolute) matched to this entry.
    amount numeric NOT NULL CHECK (amount > 0),
    PRIMARY KEY (fund_id, seq, entry_seq),
    FOREIGN KEY (fund_id, statement_seq, line) REFERENCES bank_lines (fund_id, seq, line)
);
CREATE INDEX bank_matches_line ON bank_matches (fund_id, statement_seq, line);
CREATE INDEX bank_matches_entry ON bank_matches (fund_id, entry_seq);

-- The fund's reconciliation settings, as the latest reconciliation_config entry set them.
CREATE TABLE reconciliation_settings (
    fund_id uuid PRIMARY KEY REFERENCES funds (id),
    seq bigint NOT NULL,
    settings jsonb NOT NULL
);

GRANT SELECT, INSERT ON bank_accounts, bank_statements, bank_lines, bank_matches TO fundtrail_app;
GRANT SELECT, INSERT, UPDATE ON reconciliation_settings TO fundtrail_app;
