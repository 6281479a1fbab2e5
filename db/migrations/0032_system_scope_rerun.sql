-- +goose Up
-- Migrations 0024 and 0029 again, in the system scope. Row-level security
-- is forced on every tenant table, even for the schema owner: an owner
-- that is neither superuser nor BYPASSRLS (the README's CREATEROLE owner)
-- reads and writes no tenant's row unless the transaction sets
-- poblysh.system. 0024 and 0029 did not, so on such an owner they changed
-- nothing, without an error. Each statement below touches only what is
-- still in the form those migrations meant to change, so where they did
-- their work (a superuser owner) this changes nothing, or little (the
-- hooks, below). 0024 and 0029 are left as they are: goose runs a version
-- once, so an edit would reach no database that has recorded them.
SELECT set_config('poblysh.system', 'on', true);

-- 0029: Jira dedupe keys name the site (jira:<site host>/issue:<id>:…,
-- not jira:issue:<id>:…), so that a re-backfill or a redelivered webhook
-- of a happening stored under the old form is a duplicate. The same
-- rewrite and guards as 0029: the host of the connection's site URL
-- (account.metadata.url), else of the Signal's browse URL (payload.url);
-- a row with neither, or whose new key is stored already (a copy the code
-- stored after 0029 changed nothing), is left as it is. Only Jira
-- connections' Signals are read, by signals_connection_kind, not a scan
-- of every tenant's Signals.
-- +goose StatementBegin
CREATE FUNCTION poblysh_0032_url_host(url text) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT lower(substring(url FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#]+)')) $$;
-- +goose StatementEnd

WITH moved AS (
    SELECT s.id, s.tenant_id,
           'jira:' || coalesce(poblysh_0032_url_host(c.account -> 'metadata' ->> 'url'), poblysh_0032_url_host(s.payload ->> 'url'))
                   || '/' || substr(s.dedupe_key, length('jira:') + 1) AS key
    FROM connections c JOIN signals s ON s.connection_id = c.id
    WHERE c.provider = 'jira' AND s.source = 'jira' AND s.dedupe_key LIKE 'jira:issue:%'
)
UPDATE signals s SET dedupe_key = moved.key
FROM moved
WHERE s.id = moved.id AND moved.key IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM signals o WHERE o.tenant_id = moved.tenant_id AND o.dedupe_key = moved.key);

DROP FUNCTION poblysh_0032_url_host(text);

-- 0024: every live GitHub connection routes its own user (user:<account
-- id>, the key connectors/github's RouteKeys derives: the account's id,
-- else the column), which access-loss deliveries carry. Re-runnable.
INSERT INTO webhook_routes (provider, route_key, connection_id, tenant_id, stream)
SELECT 'github', 'user:' || coalesce(nullif(account ->> 'id', ''), external_account_id), id, tenant_id, ''
FROM connections
WHERE provider = 'github' AND deleted_at IS NULL
  AND coalesce(nullif(account ->> 'id', ''), external_account_id) <> ''
ON CONFLICT DO NOTHING;

-- 0024: the hooks made before member and repository were among their
-- events are due for a watch pass, which edits each (the same id, a new
-- secret, the new events). A hook keeps no record of its events, so those
-- made before 0024 was applied are, by the time goose recorded for it (a
-- timestamp without time zone, the session's local time), with a day's
-- margin: a hook made since gets one needless pass, none made before is
-- missed. Where 0024 did its work, its hooks get a second pass.
UPDATE watch_channels SET expires_at = now()
WHERE provider = 'github' AND stopped_at IS NULL AND expires_at IS NULL
  AND created_at < (SELECT min(tstamp) FROM schema_migrations WHERE version_id = 24 AND is_applied)
                       AT TIME ZONE current_setting('TimeZone') + interval '1 day';
