DROP TABLE fund_auditors;
DROP TABLE funds;
