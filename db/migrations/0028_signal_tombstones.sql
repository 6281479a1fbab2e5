-- +goose Up
-- The keys of Signals a provider said are gone (a deleted Slack message),
-- recorded by every retraction whether or not the Signal is stored yet. A
-- retraction's UPDATE marks only rows already committed, so a message
-- stored after it (a sync page read before the deletion, a message
-- delivery still open when the deletion committed) stayed live for good:
-- the store of a provider that retracts now re-applies the tombstones of
-- its keys once it has committed, and the retraction re-applies itself
-- once it has committed (docs/decisions.md, "Retractions racing a
-- store"). Kept as long as the webhook intake records, purged with the
-- connection's Signals and with the tenant.
CREATE TABLE signal_tombstones (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    dedupe_key    text NOT NULL,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    retracted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, dedupe_key, connection_id)
);
CREATE INDEX signal_tombstones_connection ON signal_tombstones (connection_id);
CREATE INDEX signal_tombstones_retracted ON signal_tombstones (retracted_at);

ALTER TABLE signal_tombstones ENABLE ROW LEVEL SECURITY;
ALTER TABLE signal_tombstones FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON signal_tombstones
    USING (tenant_id = (SELECT poblysh_tenant()) OR (SELECT poblysh_system()))
    WITH CHECK (tenant_id = (SELECT poblysh_tenant()) OR (SELECT poblysh_system()));

GRANT SELECT, INSERT, UPDATE, DELETE ON signal_tombstones TO poblysh_app;
