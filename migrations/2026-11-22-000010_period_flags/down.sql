ALTER TABLE flags DROP CONSTRAINT flags_fund_id_rule_seq_subject_key;
ALTER TABLE flags DROP COLUMN subject;
ALTER TABLE flags ADD CONSTRAINT flags_fund_id_rule_seq_key UNIQUE (fund_id, rule, seq);
