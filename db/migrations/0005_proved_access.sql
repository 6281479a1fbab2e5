-- +goose Up
-- Route webhooks only to resources a connection's own token has read.
--
-- connection_resources holds, per connection, each resource its config
-- names (repository, channel, calendar…) with the outcome of the last
-- access proof. Only granted resources contribute webhook routes; a sync
-- that loses access marks the resource lost (its routes are dropped) and a
-- later successful read grants it again.
CREATE TABLE connection_resources (
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    ref           text NOT NULL,
    resource_id   text NOT NULL DEFAULT '',
    name          text NOT NULL DEFAULT '',
    route_keys    text[] NOT NULL DEFAULT '{}',
    access        text NOT NULL CHECK (access IN ('granted', 'lost')),
    reason        text NOT NULL DEFAULT '',
    checked_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, ref)
);

-- An external account that several tenants must not share (a Slack
-- workspace: its bot and its events belong to one tenant). The claim is
-- held by one connection; another tenant's connect is refused.
CREATE TABLE account_claims (
    provider            text NOT NULL,
    external_account_id text NOT NULL,
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connection_id       uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, external_account_id)
);
CREATE INDEX account_claims_connection ON account_claims (connection_id);

-- Each repository hook the service creates has a secret of its own,
-- encrypted like tokens (bound to the channel row); its key id is generated
-- from the ciphertext, as for token columns (0004).
ALTER TABLE watch_channels ADD COLUMN secret_ct text;
ALTER TABLE watch_channels ADD COLUMN secret_key_id text GENERATED ALWAYS AS (split_part(secret_ct, ':', 2)) STORED;

-- The same signed body under another delivery id is a replay: deliveries
-- that carry their events are also unique by a hash of (verifying channel,
-- body).
ALTER TABLE webhook_events ADD COLUMN body_hash bytea;
CREATE UNIQUE INDEX webhook_events_body ON webhook_events (provider, body_hash) WHERE body_hash IS NOT NULL;

ALTER TABLE connection_resources ENABLE ROW LEVEL SECURITY;
ALTER TABLE connection_resources FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON connection_resources
    USING (tenant_id = poblysh_tenant() OR poblysh_system())
    WITH CHECK (tenant_id = poblysh_tenant() OR poblysh_system());

-- Claims are read across tenants (is this workspace taken?) only by the
-- system; a tenant sees and releases its own.
ALTER TABLE account_claims ENABLE ROW LEVEL SECURITY;
ALTER TABLE account_claims FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON account_claims
    USING (tenant_id = poblysh_tenant() OR poblysh_system())
    WITH CHECK (tenant_id = poblysh_tenant() OR poblysh_system());

GRANT SELECT, INSERT, UPDATE, DELETE ON connection_resources, account_claims TO poblysh_app;
