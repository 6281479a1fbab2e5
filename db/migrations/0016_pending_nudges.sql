-- +goose Up
-- Sync nudges of notify-only pushes that could not reach Temporal.
--
-- A notify-only push (Google Calendar, Drive, Gmail) carries no events: the
-- intake nudges the stream's sync workflow. When Temporal is unreachable
-- the nudge is recorded here, in the delivery's transaction, and the
-- delivery is acknowledged; the API delivers pending nudges as soon as
-- Temporal answers again (webhook.Intake.DeliverPending). One row per
-- connection and stream ('' for every stream): nudges coalesce.
CREATE TABLE pending_nudges (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    stream        text NOT NULL DEFAULT '',
    trigger       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, stream)
);
CREATE INDEX pending_nudges_created ON pending_nudges (created_at);

ALTER TABLE pending_nudges ENABLE ROW LEVEL SECURITY;
ALTER TABLE pending_nudges FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pending_nudges
    USING (tenant_id = poblysh_tenant() OR poblysh_system())
    WITH CHECK (tenant_id = poblysh_tenant() OR poblysh_system());

GRANT SELECT, INSERT, UPDATE, DELETE ON pending_nudges TO poblysh_app;
