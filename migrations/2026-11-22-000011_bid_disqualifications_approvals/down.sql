DROP INDEX fund_entries_ministry_kind_date;
DROP TABLE approvals;
DROP TABLE bid_disqualifications;
