DROP TABLE screening_thresholds;
