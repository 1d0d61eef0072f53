DROP TABLE chain_heads;
DROP TABLE checkpoints;
DROP TABLE signing_keys;
DROP TABLE merkle_nodes;
DROP TABLE ledger_entries;
DROP TABLE chains;
DROP FUNCTION fundtrail_reject_mutation();
