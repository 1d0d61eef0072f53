-- Webhook notifications (docs/notifications.md): subscriptions per fund, the outbox of
-- events written in the transaction of what caused them, one delivery per event and
-- subscription, and the log of every attempt.

CREATE TABLE webhook_subscriptions (
    id uuid PRIMARY KEY,
    fund_id uuid NOT NULL REFERENCES funds (id),
    url text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
    -- Event types delivered (`flag.raised`, ...); never empty.
    event_types text[] NOT NULL CHECK (cardinality(event_types) > 0),
    -- `whsec_<base64>`; signs every delivery.
    secret text NOT NULL,
    -- The secret replaced by the last rotation, also signed with until it expires.
    previous_secret text,
    previous_expires_at timestamptz,
    owner_user_id uuid NOT NULL REFERENCES users (id),
    owner_org_id uuid NOT NULL REFERENCES organizations (id),
    owner_role text NOT NULL,
    -- A ministry's subscription receives only events about that ministry; NULL: the
    -- whole fund.
    ministry_org_id uuid REFERENCES organizations (id),
    created_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX webhook_subscriptions_fund ON webhook_subscriptions (fund_id) WHERE deleted_at IS NULL;

-- The outbox: one row per event, inserted in the transaction that made it true.
CREATE TABLE webhook_events (
    id uuid PRIMARY KEY,
    fund_id uuid NOT NULL REFERENCES funds (id),
    -- The ministry the event is about; NULL: about the fund as a whole (only subscribers
    -- who read the whole fund receive it).
    ministry_org_id uuid,
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    -- Set once the event's deliveries are made for the subscriptions it matches.
    fanned_out boolean NOT NULL DEFAULT false,
    -- A test event goes to this subscription only.
    only_subscription_id uuid REFERENCES webhook_subscriptions (id)
);
CREATE INDEX webhook_events_pending ON webhook_events (created_at) WHERE NOT fanned_out;

CREATE TABLE webhook_deliveries (
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions (id),
    event_id uuid NOT NULL REFERENCES webhook_events (id),
    -- pending, delivered, failed (attempts exhausted), cancelled (subscription deleted)
    state text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts integer NOT NULL DEFAULT 0,
    -- When the next attempt is due; while an attempt runs, the end of its lease.
    next_attempt_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';

CREATE TABLE webhook_attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id uuid NOT NULL,
    event_id uuid NOT NULL,
    attempt integer NOT NULL,
    at timestamptz NOT NULL,
    -- delivered (2xx), http_error (another status), unreachable (no response)
    outcome text NOT NULL,
    response_status integer,
    error text,
    duration_ms bigint NOT NULL,
    FOREIGN KEY (subscription_id, event_id) REFERENCES webhook_deliveries (subscription_id, event_id)
);
CREATE INDEX webhook_attempts_subscription ON webhook_attempts (subscription_id, id);

GRANT SELECT, INSERT, UPDATE ON webhook_subscriptions, webhook_events, webhook_deliveries TO fundtrail_app;
GRANT SELECT, INSERT ON webhook_attempts TO fundtrail_app;
