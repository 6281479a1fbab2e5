-- +goose Up
-- Row-level security policies call poblysh_tenant() and poblysh_system()
-- inside scalar subqueries: Postgres then evaluates each once per statement
-- (an InitPlan) instead of once per row, and does not inline and plan the
-- functions' SQL into every statement it plans (custom plans, which every
-- read uses, are planned at each execution). The meaning is unchanged: both
-- functions are STABLE, so they return one value within a statement either
-- way. Measured on the feed (docs/performance.md, change 15). New policies
-- follow this form (db/migrations/README.md; TestPoliciesUseInitPlans).

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['account_claims', 'api_keys', 'connection_resources', 'connections', 'fingerprints',
                              'jobs', 'oauth_states', 'pending_nudges', 'signal_aliases', 'signals',
                              'sync_cursors', 'sync_leases', 'watch_channels', 'webhook_routes']
    LOOP
        EXECUTE format('ALTER POLICY tenant_isolation ON %I '
                       'USING (tenant_id = (SELECT poblysh_tenant()) OR (SELECT poblysh_system())) '
                       'WITH CHECK (tenant_id = (SELECT poblysh_tenant()) OR (SELECT poblysh_system()))', t);
    END LOOP;
END
$$;
-- +goose StatementEnd

ALTER POLICY tenant_isolation ON tenants
    USING (id = (SELECT poblysh_tenant()) OR (SELECT poblysh_system()))
    WITH CHECK (id = (SELECT poblysh_tenant()) OR (SELECT poblysh_system()));

ALTER POLICY tenant_isolation ON webhook_events
    USING ((SELECT poblysh_tenant()) = ANY (tenant_ids) OR (SELECT poblysh_system()))
    WITH CHECK ((SELECT poblysh_system()));

ALTER POLICY webhook_events_system_delete ON webhook_events
    USING ((SELECT poblysh_system()));
