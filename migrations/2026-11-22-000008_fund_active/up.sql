-- A deactivated fund takes no new entries; everything recorded stays readable.
ALTER TABLE funds ADD COLUMN active boolean NOT NULL DEFAULT true;
GRANT UPDATE (active) ON funds TO fundtrail_app;
