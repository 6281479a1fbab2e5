-- +goose Up
-- OAuth authorizations are bound to the browser that starts them, and
-- Google accounts are keyed by their stable OpenID subject.
--
-- POST /connect now answers a service-hosted start page
-- (GET /api/v1/connect/{provider}/start?session=…), not the provider's URL.
-- The page sets a cookie in the browser that opened it; only a hash of the
-- session value and of that cookie are stored. The browser continues to the
-- provider on an explicit click (approved_at), and the callback completes
-- only with the same cookie. The OAuth state itself is kept sealed (like the
-- PKCE verifier) so the provider URL can be built at the click; both
-- ciphertexts are cleared as soon as the state is spent.
--
-- States pending at upgrade time have no session and cannot complete; they
-- expire within their TTL (10 minutes by default). Written to run twice
-- (IF NOT EXISTS), so a test can replay it over rows shaped by older code.

ALTER TABLE oauth_states
    ADD COLUMN IF NOT EXISTS session_hash  bytea UNIQUE,
    ADD COLUMN IF NOT EXISTS state_ct      text,
    ADD COLUMN IF NOT EXISTS binding_hash  bytea,
    ADD COLUMN IF NOT EXISTS approved_at   timestamptz,
    ADD COLUMN IF NOT EXISTS connection_id uuid REFERENCES connections (id) ON DELETE CASCADE;

-- Google Calendar connections were keyed by the account's email, which can
-- change (and be reassigned); the OpenID subject ("sub") cannot. Every row
-- written by the earlier code carries the subject in account.metadata.sub:
-- key the row by it, keep the email as account.metadata.email (display,
-- and the id of the primary calendar). A row whose subject already has a
-- row in the same tenant is left alone (the newer key wins).
SELECT set_config('poblysh.system', 'on', true); -- row-level security is forced, even for the owner

WITH todo AS (
    SELECT DISTINCT ON (tenant_id, account -> 'metadata' ->> 'sub')
           id, account -> 'metadata' ->> 'sub' AS sub
    FROM connections
    WHERE provider = 'google-calendar'
      AND coalesce(account -> 'metadata' ->> 'sub', '') <> ''
      AND external_account_id <> account -> 'metadata' ->> 'sub'
    ORDER BY tenant_id, account -> 'metadata' ->> 'sub', deleted_at NULLS FIRST, updated_at DESC
)
UPDATE connections c
SET external_account_id = todo.sub,
    account = jsonb_set(
        jsonb_set(c.account #- '{metadata,sub}', '{id}', to_jsonb(todo.sub)),
        '{metadata,email}', to_jsonb(c.external_account_id)),
    updated_at = now()
FROM todo
WHERE c.id = todo.id
  AND NOT EXISTS (SELECT 1 FROM connections o
                  WHERE o.tenant_id = c.tenant_id AND o.provider = c.provider AND o.external_account_id = todo.sub);
