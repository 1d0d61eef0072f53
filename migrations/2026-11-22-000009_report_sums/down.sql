DROP TRIGGER flags_invalidate_report_blocks ON flags;
DROP FUNCTION report_blocks_flag_raised();
DROP INDEX flags_fund_seq;
DROP TABLE report_flag_sums;
DROP TABLE report_entry_sums;
DROP TABLE report_blocks;
