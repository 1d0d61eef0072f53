-- Flags of period screens (docs/screening.md, "Period screens"): no single entry raises
-- them, so (fund, rule, seq) no longer identifies a flag. `subject` names what a period
-- flag is about and over which period (`ministry:<uuid>/vendor:<uuid>/<from>..<to>`);
-- per-entry flags keep subject '' and their ids. A period flag's `seq` is the last entry
-- of its evidence, so reports pinned at a size count it by seq like any other flag.
ALTER TABLE flags ADD COLUMN subject text NOT NULL DEFAULT '';
ALTER TABLE flags DROP CONSTRAINT flags_fund_id_rule_seq_key;
ALTER TABLE flags ADD CONSTRAINT flags_fund_id_rule_seq_subject_key
    UNIQUE (fund_id, rule, seq, subject);
