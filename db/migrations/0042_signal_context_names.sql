-- +goose Up
-- Every Signal's payload.context carries a name (the payload core, and
-- swagger's SignalContext, which requires it). Earlier versions left it out
-- where the connector knew none: Slack Signals pushed before a sync of the
-- same process had cached the channel's name (or of a channel Slack does
-- not name), and Zoho Cliq bot calls of a chat without a title. A client
-- validating against the spec refuses such a Signal. The connectors now
-- name such a context by its id; this names the stored ones the same way.
-- A context with a name, or without an id, is left as it is. Re-runnable
-- (only contexts still without a name are written). The feed order
-- (txid, seq) is set at insert and does not move.
--
-- Only the Signals of Slack and Zoho Cliq connections (a small table) are
-- read, by signals_connection_kind (connection_id, kind), never a scan of
-- every tenant's Signals. Every tenant's Signals are written, so it runs
-- in the system scope (row-level security is forced, even for the owner).
SELECT set_config('poblysh.system', 'on', true);

UPDATE signals s
SET payload = jsonb_set(s.payload, '{context,name}', s.payload -> 'context' -> 'id')
FROM connections c
WHERE s.connection_id = c.id
  AND c.provider IN ('slack', 'zoho-cliq')
  AND s.source = c.provider
  AND jsonb_typeof(s.payload -> 'context') = 'object'
  AND jsonb_typeof(s.payload -> 'context' -> 'id') = 'string'
  AND s.payload -> 'context' ->> 'id' <> ''
  AND coalesce(s.payload -> 'context' ->> 'name', '') = '';
