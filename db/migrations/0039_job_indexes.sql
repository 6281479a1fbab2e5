-- +goose Up
-- Jobs are the history of every pass, one row each (a stream polled every
-- 5 minutes writes 105,120 a year), and the queries that run most look
-- only at the few open ones: the reconciliation sweep, every minute on
-- every worker (db.Tx.OpenJobs), and GET /api/v1/jobs/{id}'s look for the
-- pass a queued job waits behind (db.Tx.PassRunning). With no index on
-- status the first read the whole table and the second every job of the
-- connection. Each gets a partial index over the open jobs alone, in the
-- order it reads them. The daily retention run deletes tenants' jobs
-- finished before POBLYSH_JOB_RETENTION (db.Tx.Prune), oldest first,
-- through the third; operators' jobs (tenant deletions) are kept.
-- No row is read or written: no system scope needed.
CREATE INDEX jobs_open ON jobs (greatest(updated_at, checked_at), id) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_running ON jobs (connection_id, workflow_id) WHERE status = 'running';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status IN ('succeeded', 'failed', 'cancelled') AND tenant_id IS NOT NULL;
