DROP TABLE flag_events;
DROP TABLE flags;
DROP FUNCTION fundtrail_no_delete();
