-- +goose Up
-- Operators manage tenants (issue 11 §4) and set their sync parallelism
-- (issue 16, fairness).
--
-- tenants.sync_concurrency: the tenant's cap on concurrently running sync
-- pages; NULL takes POBLYSH_TENANT_SYNC_CONCURRENCY. Read on every lease, so
-- a change applies without a restart.
-- tenants.deleting_at: set when a deletion starts; the tenant's keys are
-- revoked then and the tenant is no longer listed.
ALTER TABLE tenants ADD COLUMN sync_concurrency integer CHECK (sync_concurrency BETWEEN 1 AND 1000);
ALTER TABLE tenants ADD COLUMN deleting_at timestamptz;

-- A tenant's deletion is a job of the operator's, not of the tenant's (the
-- tenant and all its rows are gone when it ends): no tenant, no connection.
ALTER TABLE jobs ALTER COLUMN tenant_id DROP NOT NULL;
ALTER TABLE jobs ALTER COLUMN connection_id DROP NOT NULL;
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('backfill', 'incremental', 'token_refresh', 'watch_renewal', 'tenant_deletion'));
ALTER TABLE jobs ADD CONSTRAINT jobs_owner
    CHECK (CASE WHEN kind = 'tenant_deletion' THEN tenant_id IS NULL AND connection_id IS NULL
                ELSE tenant_id IS NOT NULL AND connection_id IS NOT NULL END);
CREATE INDEX jobs_operator_created ON jobs (created_at DESC, id DESC) WHERE tenant_id IS NULL;
