-- `fundtrail rebuild` replaces the bank tables with their replay from the fund's chain.
GRANT DELETE ON bank_accounts, bank_statements, bank_lines, bank_matches,
    reconciliation_settings TO fundtrail_app;
