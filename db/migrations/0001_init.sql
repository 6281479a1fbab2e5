-- +goose Up
-- Poblysh Connectors schema, version 1.
--
-- Tenant isolation is enforced twice: every query filters by tenant, and
-- row-level security on every tenant table admits only rows of the tenant
-- named by the per-transaction setting poblysh.tenant_id, or every row in a
-- transaction that explicitly set poblysh.system = 'on' (webhook routing,
-- token sweeps, retention). The application connects as (or SET ROLEs to)
-- poblysh_app, which is neither superuser nor BYPASSRLS, and tables FORCE
-- RLS so even their owner is subject to it.

-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'poblysh_app') THEN
        CREATE ROLE poblysh_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- another migrator created it concurrently
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION poblysh_tenant() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('poblysh.tenant_id', true), '')::uuid $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION poblysh_system() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('poblysh.system', true), '') = 'on' $$;
-- +goose StatementEnd

CREATE TABLE tenants (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL DEFAULT '',
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at DESC, id DESC);

CREATE TABLE connections (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id             uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider              text NOT NULL,
    external_account_id   text NOT NULL,
    display_name          text NOT NULL DEFAULT '',
    account               jsonb NOT NULL DEFAULT '{}',
    scopes                text[] NOT NULL DEFAULT '{}',
    config                jsonb NOT NULL DEFAULT '{}',
    health                text NOT NULL DEFAULT 'healthy'
                          CHECK (health IN ('healthy', 'degraded', 'needs_reauth', 'disabled')),
    health_reason         text NOT NULL DEFAULT '',
    health_changed_at     timestamptz NOT NULL DEFAULT now(),
    paused                boolean NOT NULL DEFAULT false,
    poll_interval_seconds integer CHECK (poll_interval_seconds IS NULL OR poll_interval_seconds >= 60),
    push_enabled          boolean NOT NULL DEFAULT false,
    access_token_ct       text,
    refresh_token_ct      text,
    token_key_id          text,
    token_type            text NOT NULL DEFAULT '',
    token_expires_at      timestamptz,
    token_refreshed_at    timestamptz,
    refresh_failures      integer NOT NULL DEFAULT 0,
    refresh_failure_day   date,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    last_sync_at          timestamptz,
    deleted_at            timestamptz,
    UNIQUE (tenant_id, provider, external_account_id)
);
CREATE INDEX connections_tenant ON connections (tenant_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX connections_token_expiry ON connections (token_expires_at) WHERE deleted_at IS NULL AND refresh_token_ct IS NOT NULL;
CREATE INDEX connections_key_id ON connections (token_key_id) WHERE access_token_ct IS NOT NULL;

CREATE TABLE oauth_states (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    state_hash              bytea NOT NULL UNIQUE,
    tenant_id               uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider                text NOT NULL,
    verifier_ct             text,
    redirect_uri            text,
    config                  jsonb,
    created_at              timestamptz NOT NULL DEFAULT now(),
    expires_at              timestamptz NOT NULL,
    used_at                 timestamptz
);
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);

CREATE TABLE sync_cursors (
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    stream        text NOT NULL,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    cursor        jsonb,
    version       bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, stream)
);

CREATE TABLE jobs (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connection_id  uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    provider       text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('backfill', 'incremental', 'token_refresh', 'watch_renewal')),
    stream         text NOT NULL DEFAULT '',
    trigger        text NOT NULL,
    status         text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    workflow_id    text NOT NULL,
    run_id         text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    pages          integer NOT NULL DEFAULT 0,
    items          integer NOT NULL DEFAULT 0,
    signals_stored integer NOT NULL DEFAULT 0,
    duplicates     integer NOT NULL DEFAULT 0,
    error          text,
    error_context  jsonb
);
CREATE INDEX jobs_tenant_created ON jobs (tenant_id, created_at DESC, id DESC);
CREATE INDEX jobs_connection ON jobs (connection_id, created_at DESC);

CREATE TABLE webhook_events (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider       text NOT NULL,
    delivery_id    text NOT NULL,
    event          text NOT NULL DEFAULT '',
    status         text NOT NULL CHECK (status IN ('accepted', 'unroutable', 'ignored')),
    tenant_ids     uuid[] NOT NULL DEFAULT '{}',
    connection_ids uuid[] NOT NULL DEFAULT '{}',
    signals        integer NOT NULL DEFAULT 0,
    received_at    timestamptz NOT NULL DEFAULT now(),
    raw_body       bytea,
    UNIQUE (provider, delivery_id)
);
CREATE INDEX webhook_events_received ON webhook_events (received_at);

CREATE TABLE webhook_routes (
    provider      text NOT NULL,
    route_key     text NOT NULL,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    stream        text NOT NULL DEFAULT '',
    PRIMARY KEY (provider, route_key, connection_id)
);
CREATE INDEX webhook_routes_connection ON webhook_routes (connection_id);

CREATE TABLE watch_channels (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    provider      text NOT NULL,
    channel_id    text NOT NULL,
    resource_id   text NOT NULL DEFAULT '',
    target        text NOT NULL,
    stream        text NOT NULL DEFAULT '',
    route_key     text NOT NULL,
    expires_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    stopped_at    timestamptz,
    UNIQUE (provider, channel_id)
);
CREATE INDEX watch_channels_expiry ON watch_channels (expires_at) WHERE stopped_at IS NULL;

CREATE TABLE signals (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    source        text NOT NULL,
    kind          text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    ingested_at   timestamptz NOT NULL DEFAULT now(),
    -- Feed order: the inserting transaction, then the row sequence. The feed
    -- only exposes rows whose transaction ended (txid below the oldest
    -- running transaction), so concurrent writers committing out of order
    -- can never make a consumer skip a row.
    txid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    seq           bigserial NOT NULL,
    dedupe_key    text NOT NULL,
    payload       jsonb NOT NULL,
    raw           jsonb,
    UNIQUE (tenant_id, dedupe_key)
);
CREATE INDEX signals_feed ON signals (tenant_id, txid, seq);
CREATE INDEX signals_kind_time ON signals (tenant_id, kind, occurred_at, id);
CREATE INDEX signals_time ON signals (tenant_id, occurred_at, id);
CREATE INDEX signals_connection_kind ON signals (connection_id, kind);
CREATE INDEX signals_raw_retention ON signals (ingested_at) WHERE raw IS NOT NULL;

-- Further stable ids of a stored happening (commits carried by a push).
CREATE TABLE signal_aliases (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key       text NOT NULL,
    signal_id uuid NOT NULL REFERENCES signals (id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX signal_aliases_signal ON signal_aliases (signal_id);

-- Per-tenant caps on concurrently running sync activities.
CREATE TABLE sync_leases (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, holder)
);

-- Row-level security on every tenant table.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = poblysh_tenant() OR poblysh_system())
    WITH CHECK (id = poblysh_tenant() OR poblysh_system());

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['api_keys', 'connections', 'oauth_states', 'sync_cursors', 'jobs',
                              'webhook_routes', 'watch_channels', 'signals', 'signal_aliases', 'sync_leases']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = poblysh_tenant() OR poblysh_system()) '
                       'WITH CHECK (tenant_id = poblysh_tenant() OR poblysh_system())', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

ALTER TABLE webhook_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_events
    USING (poblysh_tenant() = ANY (tenant_ids) OR poblysh_system())
    WITH CHECK (poblysh_system());

-- Privileges for the application role in this schema.
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO poblysh_app', current_schema());
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO poblysh_app', current_schema());
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO poblysh_app', current_schema());
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO poblysh_app', current_schema());
END
$$;
-- +goose StatementEnd

REVOKE ALL ON TABLE schema_migrations FROM poblysh_app;
GRANT SELECT ON TABLE schema_migrations TO poblysh_app;
