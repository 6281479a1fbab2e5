-- +goose Up
-- Zoho Cliq message.posted and mention.created are keyed by the message's
-- sent time and sender (msg:<chat>:<sent ms>_<sender id>, and mention:…),
-- no longer by the message id (msg:<chat>:<message id>), which a live bot
-- call does not name; a Signal keyed the new way carries the id's key as an
-- alias. Signals stored before are keyed by the id and have no alias, and
-- an alias stops only what comes later under it: a backfill re-reading a
-- message stored before the upgrade stored it again. Each such Signal gets
-- its new key as an alias here, built as connectors/zohocliq's sentKey
-- builds it: the chat and the id from the stored key (the id is what
-- follows its last colon), the sent time from the id's milliseconds (what
-- precedes its first "_"), else, for an id without them (the float ids of
-- Zoho's mentions example), the Signal's time, which is the message's
-- time the code then uses, and the sender from payload.actor.id. A Signal
-- without an actor id gets none: the code keys a message of unknown sender
-- by its id, as before. A key that is already the new one (a live mention
-- whose id was <time>_<sender>) needs none. Re-runnable (ON CONFLICT DO
-- NOTHING).
--
-- Only Cliq's rows are read: those of Cliq connections (a small table),
-- by signals_connection_kind (connection_id, kind), never a scan of every
-- tenant's Signals. Aliases of every tenant are written, so it runs in the
-- system scope (row-level security is forced, even for the owner).
SELECT set_config('poblysh.system', 'on', true);

INSERT INTO signal_aliases (tenant_id, key, signal_id)
SELECT n.tenant_id, n.key, n.id
FROM (
    SELECT k.id, k.tenant_id, k.dedupe_key,
           'zoho-cliq:' || k.part[1] || ':' || k.part[2] || ':'
               || coalesce(nullif(substring(k.part[3] FROM '^([0-9]{1,18})_')::bigint, 0),
                           round(extract(epoch FROM date_trunc('milliseconds', k.occurred_at)) * 1000)::bigint)
               || '_' || k.sender AS key
    FROM (
        SELECT s.id, s.tenant_id, s.kind, s.occurred_at, s.dedupe_key, s.payload -> 'actor' ->> 'id' AS sender,
               regexp_match(s.dedupe_key, '^zoho-cliq:(msg|mention):(.+):([^:]+)$') AS part
        FROM connections c
        JOIN signals s ON s.connection_id = c.id
        WHERE c.provider = 'zoho-cliq'
          AND s.source = 'zoho-cliq'
          AND s.kind IN ('message.posted', 'mention.created')
    ) k
    WHERE k.part[1] = CASE k.kind WHEN 'message.posted' THEN 'msg' ELSE 'mention' END
      AND k.sender <> ''
) n
WHERE n.key <> n.dedupe_key
ON CONFLICT (tenant_id, key) DO NOTHING;
