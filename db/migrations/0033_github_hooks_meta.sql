-- +goose Up
-- GitHub repository hooks subscribe to meta, which GitHub sends a hook
-- when it is deleted, so that a hook deleted at GitHub is registered again
-- at once; a watch pass also reads each hook it keeps (CheckWatch) and
-- registers again one gone, disabled or missing an event. Hooks never
-- expire, so nothing brings a pass to those made before: each live one is
-- due for a watch pass now, which edits it in place (the same id, a new
-- secret, the events with meta), or creates it anew when it is gone at
-- GitHub, as 0024 did for member and repository. The system scope first:
-- row-level security binds an owner that is no superuser, and hid every
-- row from 0024 (0032 redid it).
SELECT set_config('poblysh.system', 'on', true);

UPDATE watch_channels SET expires_at = now()
WHERE provider = 'github' AND stopped_at IS NULL AND expires_at IS NULL;
