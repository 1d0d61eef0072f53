DROP TABLE reconciliation_settings;
DROP TABLE bank_matches;
DROP TABLE bank_lines;
DROP TABLE bank_statements;
DROP TABLE bank_accounts;
