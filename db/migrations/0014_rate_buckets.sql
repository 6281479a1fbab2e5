-- +goose Up
-- Provider call budgets shared by every process of the service
-- (connectors.Pacer, db.Pacer): one row per budget key, such as
-- "slack:T024BE7LD:tier3" (a Slack workspace's Tier 3 methods), holding the
-- theoretical arrival time of the next call (GCRA). Not tenant data: keys
-- name provider accounts, and only the service's own pacing reads them.
CREATE TABLE rate_buckets (
    key text PRIMARY KEY,
    tat timestamptz NOT NULL
);

GRANT SELECT, INSERT, UPDATE, DELETE ON rate_buckets TO poblysh_app;
