-- +goose Up
-- The API-key cache (db.APIKeyCache) of each process drops what it holds
-- when a key is revoked, deleted (a tenant's deletion cascades) or changes
-- tenant or hash, through a notification on poblysh_api_keys: revocation
-- stays immediate. last_used_at updates do not notify.
--
-- (Signals do not notify from a trigger: Postgres serializes the commits
-- of notifying transactions, which would serialize every Signal write.
-- db.announcer notifies after commit instead; see docs/performance.md.)

-- +goose StatementBegin
CREATE FUNCTION poblysh_notify_api_keys() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    -- The payload names the schema: listeners of other schemas sharing
    -- the database ignore it.
    PERFORM pg_notify('poblysh_api_keys', current_schema());
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER api_keys_notify AFTER UPDATE OF revoked_at, key_hash, tenant_id OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION poblysh_notify_api_keys();
-- +goose StatementEnd

GRANT EXECUTE ON FUNCTION poblysh_notify_api_keys() TO poblysh_app;
