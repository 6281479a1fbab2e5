-- +goose Up
-- A claim on an exclusive account notes the wider accounts it is within
-- (db.Claim): a Slack workspace install inside an Enterprise Grid org is
-- within the org, whose org-wide install reaches that workspace under the
-- enterprise id. A claim keyed on the account id alone let one tenant hold
-- the org and another a workspace of it, both receiving its events. The
-- callback now refuses a claim nesting with another tenant's; two claims
-- within one org (two workspaces) do not conflict. The GIN index serves
-- an org's check for claims within it.
ALTER TABLE account_claims ADD COLUMN IF NOT EXISTS within_account_ids text[] NOT NULL DEFAULT '{}';
CREATE INDEX IF NOT EXISTS account_claims_within ON account_claims USING gin (within_account_ids);

-- Claims made before this note their org now, from the account Identify
-- stored (metadata enterprise_id, set since the Slack connector existed;
-- an org-wide install has enterprise_install "true" and is the org
-- itself). Every tenant's claims are written, so it runs in the system
-- scope (row-level security is forced, even for the owner). The whole
-- file can run again: a claim noting its org already is left alone.
-- Tenants whose claims already nest keep working (the older claim wins a
-- later re-connect): the README's upgrade notes say how to find them.
SELECT set_config('poblysh.system', 'on', true);

UPDATE account_claims ac
SET within_account_ids = ARRAY[c.account -> 'metadata' ->> 'enterprise_id']
FROM connections c
WHERE ac.connection_id = c.id
  AND ac.provider = 'slack' AND c.provider = 'slack'
  AND ac.external_account_id = c.external_account_id
  AND coalesce(c.account -> 'metadata' ->> 'enterprise_id', '') NOT IN ('', c.external_account_id)
  AND coalesce(c.account -> 'metadata' ->> 'enterprise_install', '') <> 'true'
  AND ac.within_account_ids = '{}';
