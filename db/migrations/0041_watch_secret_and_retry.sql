-- +goose Up
-- The webhook secret a push channel was made under, as a fingerprint
-- (connectors.SecretBound: google.SecretID, never the secret), for the
-- providers whose channel tokens are derived from their one webhook secret
-- (Google Calendar and Drive); NULL for the others and for channels made
-- before this column. A channel under another secret than the provider's
-- current one is refused at every notification once the secret is rotated
-- (unless kept as POBLYSH_<NAME>_WEBHOOK_SECRET_RETIRED), so the renewal
-- sweep lists its connection (db.WatchesDue) and the watch pass replaces
-- it: only channels due for renewal were replaced, and a rotation left
-- every channel deaf for up to six days with push_enabled true. Channels
-- made before this column (NULL) are replaced once, by the first sweep.
ALTER TABLE watch_channels ADD COLUMN IF NOT EXISTS secret_id text;

-- When a connection's watch is to be tried again (db.MarkWatchRetry): set
-- as each watch pass of a connection that can watch begins, cleared when
-- the pass ends with nothing refused, so a pass that fails (Google 503
-- past the workflow's attempts), ends unfinished, or is refused
-- (forbidden, invalid configuration: the connection polls) leaves it set.
-- The renewal sweep lists the connection once it is due (db.WatchesDue),
-- though it may have no channel left: the sweep listed only connections
-- with a channel, so a first pass that failed, or a refused renewal that
-- stopped the last channel, left push off for good. watch_retry_since is
-- when the passes began to fail: the next try waits as long as they have
-- failed, from one sweep interval up to the provider's reconcile interval.
ALTER TABLE connections ADD COLUMN IF NOT EXISTS watch_retry_at timestamptz;
ALTER TABLE connections ADD COLUMN IF NOT EXISTS watch_retry_since timestamptz;
CREATE INDEX IF NOT EXISTS connections_watch_retry ON connections (watch_retry_at) WHERE watch_retry_at IS NOT NULL;
-- Live connections of the providers that watch (those with a Watcher)
-- left without an open channel before this migration are tried once more
-- by the first sweep: nothing would ever list them. A pass that cannot
-- watch (no public URL) or watches takes the mark off; one refused keeps
-- it and backs off.
SELECT set_config('poblysh.system', 'on', true);
UPDATE connections c SET watch_retry_at = now(), watch_retry_since = now()
WHERE c.deleted_at IS NULL
  AND c.provider IN ('github', 'gmail', 'google-calendar', 'google-drive', 'jira')
  AND NOT EXISTS (SELECT 1 FROM watch_channels w WHERE w.connection_id = c.id AND w.stopped_at IS NULL);
