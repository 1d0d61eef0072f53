DROP TABLE organization_identifiers;
