-- +goose Up
-- GitHub connections route their own user (user:<account id>) so that
-- deliveries saying the user lost access (membership, organization
-- member_removed, github_app_authorization revoked) reach them; only
-- connections created or changed since had the route. And the hooks made
-- before member and repository were among their events are due for a watch
-- pass now, which edits each hook (the same id, a new secret, the new
-- events) instead of waiting for an expiry GitHub hooks do not have.
INSERT INTO webhook_routes (provider, route_key, connection_id, tenant_id, stream)
SELECT 'github', 'user:' || external_account_id, id, tenant_id, ''
FROM connections WHERE provider = 'github' AND deleted_at IS NULL
ON CONFLICT DO NOTHING;
UPDATE watch_channels SET expires_at = now()
WHERE provider = 'github' AND stopped_at IS NULL AND expires_at IS NULL;
