-- Whether the fund's administrators publish its public page (docs/web.md, "Public fund
-- page"); set by a `fund_public_page_set` entry of the administrative chain.
ALTER TABLE funds ADD COLUMN public_page boolean NOT NULL DEFAULT false;
GRANT UPDATE (public_page) ON funds TO fundtrail_app;
