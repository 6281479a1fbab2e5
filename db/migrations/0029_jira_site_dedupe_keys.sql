-- +goose Up
-- Jira dedupe keys name the site: jira:<site host>/issue:<id>:… instead of
-- jira:issue:<id>:…. Jira numbers issues and changelog entries per site,
-- so a tenant connected to two sites stored the second site's happenings
-- as duplicates of the first's whenever their ids met
-- (docs/providers/jira.md, "Dedupe keys"). The keys stored before are
-- rewritten, so that a re-backfill or a redelivered webhook of a happening
-- stored under the old form is still a duplicate. The host is that of the
-- connection's site URL (account.metadata.url), which the connector keys
-- every later read with, else that of the Signal's browse URL
-- (payload.url); a row with neither, or whose new key is stored already,
-- is left as it is. No other table holds Jira keys: Jira Signals carry no
-- alias keys, are never retracted (no tombstones) and keep no
-- fingerprints.
-- +goose StatementBegin
CREATE FUNCTION poblysh_0029_url_host(url text) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT lower(substring(url FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#]+)')) $$;
-- +goose StatementEnd

WITH moved AS (
    SELECT s.id, s.tenant_id,
           'jira:' || coalesce(poblysh_0029_url_host(c.account -> 'metadata' ->> 'url'), poblysh_0029_url_host(s.payload ->> 'url'))
                   || '/' || substr(s.dedupe_key, length('jira:') + 1) AS key
    FROM signals s JOIN connections c ON c.id = s.connection_id
    WHERE s.source = 'jira' AND s.dedupe_key LIKE 'jira:issue:%'
)
UPDATE signals s SET dedupe_key = moved.key
FROM moved
WHERE s.id = moved.id AND moved.key IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM signals o WHERE o.tenant_id = moved.tenant_id AND o.dedupe_key = moved.key);

DROP FUNCTION poblysh_0029_url_host(text);
