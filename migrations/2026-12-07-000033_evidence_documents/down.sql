DROP TABLE evidence_documents;
