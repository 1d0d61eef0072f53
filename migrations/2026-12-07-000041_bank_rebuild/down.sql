REVOKE DELETE ON bank_accounts, bank_statements, bank_lines, bank_matches,
    reconciliation_settings FROM fundtrail_app;
