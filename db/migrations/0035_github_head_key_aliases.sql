-- +goose Up
-- A GitHub commit that reached a repository's default branch claims a key
-- without the branch's name, commit:<repo id>:HEAD:<sha> (connectors/github's
-- headKey), and a commit read from the default branch matches it: once the
-- default branch is renamed (master to main), a backfill keys the commits
-- by the new name (commit:<repo id>:refs/heads/main:<sha>), and without the
-- HEAD key stored it stored every commit stored under the old name again.
-- Signals stored before claim no HEAD key. Each code.pushed Signal of a
-- GitHub connection gets one here, as an alias, for each commit key it
-- holds (its dedupe key and its aliases, commit:<repo id>:refs/heads/
-- <branch>:<sha>) whose branch was a default branch of the repository: one
-- a commit read by a sync (source backfill: the commits stream reads the
-- default branch only) was keyed by, in the same tenant. A push to any
-- other branch gets none (its commits had not reached the default branch).
-- Re-runnable (ON CONFLICT DO NOTHING).
--
-- Only GitHub's rows are read: those of GitHub connections, by
-- signals_connection_kind (connection_id, kind), and their aliases by
-- signal_aliases_signal, never a scan of every tenant's Signals. Aliases
-- of every tenant are written, so it runs in the system scope (row-level
-- security is forced, even for the owner).
SELECT set_config('poblysh.system', 'on', true);

WITH pushed AS (
    SELECT s.id, s.tenant_id, s.dedupe_key, s.payload -> 'attributes' ->> 'source' AS source
    FROM connections c
    JOIN signals s ON s.connection_id = c.id
    WHERE c.provider = 'github'
      AND s.source = 'github'
      AND s.kind = 'code.pushed'
),
held AS (
    SELECT k.id, k.tenant_id, k.source,
           regexp_match(k.key, '^github:commit:([0-9]+):refs/heads/([^:]+):([0-9a-f]+)$') AS part
    FROM (
        SELECT id, tenant_id, source, dedupe_key AS key FROM pushed
        UNION ALL
        SELECT p.id, p.tenant_id, NULL, a.key
        FROM pushed p
        JOIN signal_aliases a ON a.signal_id = p.id
    ) k
),
commit_keys AS (
    SELECT id, tenant_id, source, part[1] AS repo, part[2] AS branch, part[3] AS sha
    FROM held
    WHERE part IS NOT NULL
),
default_branches AS (
    SELECT DISTINCT tenant_id, repo, branch
    FROM commit_keys
    WHERE source = 'backfill'
)
INSERT INTO signal_aliases (tenant_id, key, signal_id)
SELECT k.tenant_id, 'github:commit:' || k.repo || ':HEAD:' || k.sha, k.id
FROM commit_keys k
JOIN default_branches d ON d.tenant_id = k.tenant_id AND d.repo = k.repo AND d.branch = k.branch
ON CONFLICT (tenant_id, key) DO NOTHING;
