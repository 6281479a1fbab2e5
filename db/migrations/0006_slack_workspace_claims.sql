-- +goose Up
-- Slack: one tenant per workspace, and channel events routed by channel.
--
-- A data migration; it can run again without changing anything more.
-- Claims and routes of every tenant are touched, so it runs in the system
-- scope (row-level security is forced on both tables).
SELECT set_config('poblysh.system', 'on', true);

-- Slack connections made before account claims existed claim their
-- workspace (or Grid org) now. When several tenants already share one, the
-- oldest live connection gets the claim; the others keep working until
-- they are deleted, and any further tenant's connect is refused with 409.
INSERT INTO account_claims (provider, external_account_id, tenant_id, connection_id)
SELECT DISTINCT ON (external_account_id) provider, external_account_id, tenant_id, id
FROM connections
WHERE provider = 'slack' AND deleted_at IS NULL
ORDER BY external_account_id, created_at, id
ON CONFLICT (provider, external_account_id) DO NOTHING;

-- Slack deliveries used to route by workspace ("team:<id>") to every
-- connection of it, with a filter dropping the channels a config did not
-- name. Channel events now route by channel ("channel:<id>") to the
-- connections that proved the bot is a member; the workspace key is kept
-- only by connections that read every channel. Connections with configured
-- channels lose it here, and their channels are routed again as soon as a
-- sync proves them.
DELETE FROM webhook_routes r
USING connections c
WHERE r.connection_id = c.id
  AND r.provider = 'slack' AND c.provider = 'slack'
  AND r.route_key LIKE 'team:%'
  AND CASE WHEN jsonb_typeof(c.config -> 'channels') = 'array'
           THEN jsonb_array_length(c.config -> 'channels') ELSE 0 END > 0;
