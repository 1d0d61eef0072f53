DROP FUNCTION screening_job_reads(uuid, uuid[], uuid[], bigint[], bigint[], uuid[], bigint[], uuid[], text[]);
