package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/poblysh/poblysh"
)

// Job is the durable record of one workflow pass.
type Job struct {
	ID            string            `db:"id"`
	TenantID      string            `db:"tenant_id"`
	ConnectionID  string            `db:"connection_id"`
	Provider      string            `db:"provider"`
	Kind          poblysh.JobKind   `db:"kind"`
	Stream        string            `db:"stream"`
	Trigger       poblysh.Trigger   `db:"trigger"`
	Status        poblysh.JobStatus `db:"status"`
	WorkflowID    string            `db:"workflow_id"`
	RunID         string            `db:"run_id"`
	CreatedAt     time.Time         `db:"created_at"`
	StartedAt     *time.Time        `db:"started_at"`
	FinishedAt    *time.Time        `db:"finished_at"`
	UpdatedAt     time.Time         `db:"updated_at"`
	Pages         int               `db:"pages"`
	Items         int               `db:"items"`
	SignalsStored int               `db:"signals_stored"`
	Duplicates    int               `db:"duplicates"`
	Error         *string           `db:"error"`
	ErrorContext  []byte            `db:"error_context"`
}

// tenant_id and connection_id are NULL for an operator's job (a tenant's
// deletion); they read as "".
const jobCols = `id, coalesce(tenant_id::text, '') AS tenant_id, coalesce(connection_id::text, '') AS connection_id, provider, kind, stream, trigger, status, workflow_id, run_id,
	created_at, started_at, finished_at, updated_at, pages, items, signals_stored, duplicates, error, error_context`

// EnsureJob inserts a job if its id is new and returns the stored row. Both
// the API (when a request is accepted) and the workflow (when a pass starts)
// call it with the same id, so whichever runs first creates the row. A
// backfill request that joins a queued incremental follow-up makes it a
// backfill (the sync workflow's answer): a row still queued then becomes a
// backfill too, so the API's answer and GET /jobs say what will run. A
// queued row never goes back to incremental (requests answered in another
// order than the workflow took them), and a running or final row is left
// as it is (StartJob records the kind a pass runs).
func (tx *Tx) EnsureJob(ctx context.Context, j Job) (*Job, error) {
	if j.Status == "" {
		j.Status = poblysh.JobQueued
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, tenant_id, connection_id, provider, kind, stream, trigger, status, workflow_id, run_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, updated_at = now()
		WHERE jobs.status = 'queued' AND jobs.kind = 'incremental' AND EXCLUDED.kind = 'backfill'`,
		j.ID, tx.TenantID, j.ConnectionID, j.Provider, j.Kind, j.Stream, j.Trigger, j.Status, j.WorkflowID, j.RunID)
	if err != nil {
		return nil, wrapConnErr(err)
	}
	return tx.FindJob(ctx, j.ID)
}

// StartJob marks a job running (idempotent: a retried activity keeps the
// first start time) and records the run id.
func (tx *Tx) StartJob(ctx context.Context, id, runID string, kind poblysh.JobKind) error {
	_, err := tx.ExecContext(ctx, `UPDATE jobs SET status = 'running', run_id = $3, kind = $4,
			started_at = coalesce(started_at, now()), updated_at = now()
		WHERE id = $1 AND tenant_id = $2 AND status IN ('queued', 'running')`, id, tx.TenantID, runID, kind)
	return wrapConnErr(err)
}

// PassRunning reports whether another job of the same workflow is running:
// a queued job then waits behind that pass (the stream's sync workflow runs
// one pass at a time and holds at most one follow-up).
func (tx *Tx) PassRunning(ctx context.Context, j *Job) (bool, error) {
	var running bool
	err := tx.GetContext(ctx, &running, passRunningSQL, tx.TenantID, j.ConnectionID, j.WorkflowID, j.ID)
	return running, wrapConnErr(err)
}

// passRunningSQL is PassRunning's query ($1 tenant, $2 connection, $3
// workflow, $4 the job itself).
const passRunningSQL = `SELECT EXISTS (SELECT 1 FROM jobs WHERE tenant_id = $1 AND connection_id = $2
		AND workflow_id = $3 AND status = 'running' AND id <> $4)`

// JobProgress is added to a job's counters after each stored page.
type JobProgress struct {
	Pages, Items, Stored, Duplicates int
	RunID                            string
}

// AddJobProgress adds a page's counts.
func (tx *Tx) AddJobProgress(ctx context.Context, id string, p JobProgress) error {
	_, err := tx.ExecContext(ctx, `UPDATE jobs SET pages = pages + $3, items = items + $4,
			signals_stored = signals_stored + $5, duplicates = duplicates + $6,
			run_id = CASE WHEN $7 = '' THEN run_id ELSE $7 END, updated_at = now()
		WHERE id = $1 AND tenant_id = $2`, id, tx.TenantID, p.Pages, p.Items, p.Stored, p.Duplicates, p.RunID)
	return wrapConnErr(err)
}

// errText is a job's error as stored: NULL when empty, cleaned for
// Postgres (CleanText) otherwise, since it may quote a provider's words.
func errText(msg string) *string {
	if msg == "" {
		return nil
	}
	msg = CleanText(msg)
	return &msg
}

// errContext is a job's error context as stored (CleanJSON).
func errContext(c map[string]any) []byte {
	b, err := json.Marshal(c)
	if err != nil {
		return nil
	}
	b, _ = CleanJSON(b)
	return b
}

// FinishJob records a final status with the last error and its context on
// a job that is still queued or running, and returns the job as stored
// (for metrics) and whether this call finished it. A job already final
// (a retried FinishJob whose first attempt committed, or one settled by
// someone else first) is returned as it is, unchanged: its first final
// status, error and finished_at stay, and finished is false, so the
// caller counts nothing.
func (tx *Tx) FinishJob(ctx context.Context, id string, status poblysh.JobStatus, errMsg string, errCtx map[string]any) (j *Job, finished bool, err error) {
	msg := errText(errMsg)
	var ctxJSON []byte
	if len(errCtx) > 0 {
		ctxJSON = errContext(errCtx)
	}
	j = new(Job)
	// Under READ COMMITTED a concurrent attempt that finished the row first
	// makes this one re-check the status and match nothing.
	err = tx.GetContext(ctx, j, `UPDATE jobs SET status = $3, error = $4, error_context = $5,
			started_at = coalesce(started_at, now()), finished_at = now(), updated_at = now()
		WHERE id = $1 AND tenant_id = $2 AND status IN ('queued', 'running') RETURNING `+jobCols, id, tx.TenantID, status, msg, ctxJSON)
	if errors.Is(err, sql.ErrNoRows) {
		j, err = tx.FindJob(ctx, id) // final already, or not here (not_found)
		return j, false, err
	}
	if err != nil {
		return nil, false, wrapConnErr(err)
	}
	return j, true, nil
}

// FinishUnrecordedJob gives a final status to a job FinishJob did not
// find (a follow-up its workflow cancels before anyone wrote its row):
// the row is written final, so that EnsureJob after it (the API's row of
// a POST /sync answered before the cancellation) changes nothing. A row
// written meanwhile, still queued or running, is finished instead; one
// already final is returned as it is, with finished false.
func (tx *Tx) FinishUnrecordedJob(ctx context.Context, j Job, status poblysh.JobStatus, errMsg string, errCtx map[string]any) (*Job, bool, error) {
	var ctxJSON []byte
	if len(errCtx) > 0 {
		ctxJSON = errContext(errCtx)
	}
	var out Job
	// started_at as FinishJob gives a queued job it finishes.
	err := tx.GetContext(ctx, &out, `INSERT INTO jobs (id, tenant_id, connection_id, provider, kind, stream, trigger, status, workflow_id, run_id,
			error, error_context, started_at, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now(), now())
		ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, error = EXCLUDED.error, error_context = EXCLUDED.error_context,
			started_at = coalesce(jobs.started_at, now()), finished_at = now(), updated_at = now()
		WHERE jobs.status IN ('queued', 'running')
		RETURNING `+jobCols, j.ID, tx.TenantID, j.ConnectionID, j.Provider, j.Kind, j.Stream, j.Trigger, status, j.WorkflowID, j.RunID,
		errText(errMsg), ctxJSON)
	if errors.Is(err, sql.ErrNoRows) {
		found, err := tx.FindJob(ctx, j.ID)
		return found, false, err
	}
	if err != nil {
		return nil, false, wrapConnErr(err)
	}
	return &out, true, nil
}

// FindJob returns one job of the tenant.
func (tx *Tx) FindJob(ctx context.Context, id string) (*Job, error) {
	var j Job
	err := tx.GetContext(ctx, &j, `SELECT `+jobCols+` FROM jobs WHERE id = $1 AND tenant_id = $2`, id, tx.TenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, poblysh.NotFound("job")
	}
	return &j, wrapConnErr(err)
}

// JobFilter narrows ListJobs.
type JobFilter struct {
	ConnectionID string
	Provider     string
	Kind         string
	Status       string
	Since        *time.Time
	Page         Page
}

// ListJobs pages through the tenant's jobs, newest first.
func (tx *Tx) ListJobs(ctx context.Context, f JobFilter) ([]Job, string, error) {
	after, err := f.Page.decode()
	if err != nil {
		return nil, "", err
	}
	q := newWhere(tx.TenantID)
	if f.ConnectionID != "" {
		q.add("connection_id = %s::uuid", f.ConnectionID)
	}
	if f.Provider != "" {
		q.add("provider = %s", f.Provider)
	}
	if f.Kind != "" {
		q.add("kind = %s", f.Kind)
	}
	if f.Status != "" {
		q.add("status = %s", f.Status)
	}
	if f.Since != nil {
		q.add("created_at >= %s", *f.Since)
	}
	if after.Time != nil {
		q.add("(created_at, id) < (%s, %s::uuid)", *after.Time, *after.ID)
	}
	var js []Job
	err = tx.SelectContext(ctx, &js, `SELECT `+jobCols+` FROM jobs WHERE `+q.sql()+
		` ORDER BY created_at DESC, id DESC LIMIT `+q.arg(f.Page.Limit+1), q.args...)
	if err != nil {
		return nil, "", wrapConnErr(err)
	}
	return trimPage(js, f.Page.Limit, func(j Job) pageKey { return pageKey{Time: j.CreatedAt, ID: j.ID} })
}

// CancelOpenJobs marks a connection's queued and running jobs cancelled.
// It has no index of its own: Postgres ANDs the open jobs' index
// (jobs_open) with the connection's (jobs_connection) and reads the heap
// of the open jobs alone. The walk of the connection's index entries is
// what grows with its history: measured here at 1 ms for 30,000 finished
// jobs (three streams polled every 5 minutes for the default 30 days of
// POBLYSH_JOB_RETENTION) and 9–15 ms for 315,000 (a year), once per
// connection delete, which terminates its workflows besides. Not worth an
// index that every job's insert and status change would keep up.
func (tx *Tx) CancelOpenJobs(ctx context.Context, connID, reason string) error {
	_, err := tx.ExecContext(ctx, `UPDATE jobs SET status = 'cancelled', error = $3, finished_at = now(), updated_at = now()
		WHERE tenant_id = $1 AND connection_id = $2 AND status IN ('queued', 'running')`, tx.TenantID, connID, CleanText(reason))
	return wrapConnErr(err)
}

// SettleJob gives a job that is still queued or running the final status
// Temporal reports for its workflow (system scope: reconciliation works
// across tenants). It answers nil when the job was final already (its
// workflow's own FinishJob won the race).
func (tx *Tx) SettleJob(ctx context.Context, id string, status poblysh.JobStatus, errMsg string, errCtx map[string]any) (*Job, error) {
	msg, ctxJSON := errText(errMsg), errContext(errCtx)
	var j Job
	err := tx.GetContext(ctx, &j, `UPDATE jobs SET status = $2, error = coalesce($3, error), error_context = $4,
			finished_at = now(), updated_at = now()
		WHERE id = $1 AND status IN ('queued', 'running') RETURNING `+jobCols, id, status, msg, ctxJSON)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &j, wrapConnErr(err)
}

// OpenJobs lists up to limit jobs, of every tenant, that are queued or
// running and have not changed for at least idle (system scope): the
// reconciliation sweep checks them against Temporal. The jobs neither
// changed nor checked (MarkJobsChecked) for longest come first, so jobs
// whose workflows still run do not hold the batch for good.
func (tx *Tx) OpenJobs(ctx context.Context, idle time.Duration, limit int) ([]Job, error) {
	var js []Job
	err := tx.SelectContext(ctx, &js, openJobsSQL, idle.Seconds(), limit)
	return js, wrapConnErr(err)
}

// openJobsSQL is OpenJobs' query ($1 idle seconds, $2 limit).
const openJobsSQL = `SELECT ` + jobCols + ` FROM jobs WHERE status IN ('queued', 'running')
		AND updated_at < now() - make_interval(secs => $1) ORDER BY greatest(updated_at, checked_at), id LIMIT $2`

// MarkJobsChecked records that the sweep found these open jobs' workflows
// still running (system scope). It leaves updated_at alone: that is the
// job's own last change, which the sweep's idle bound reads.
func (tx *Tx) MarkJobsChecked(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE jobs SET checked_at = now() WHERE id = ANY($1::uuid[]) AND status IN ('queued', 'running')`, ids)
	return wrapConnErr(err)
}

// FollowJobRun records that an open job's run continued as new into run
// (system scope), so the next read describes that run first instead of
// walking the chain again. It leaves updated_at alone, and a job whose run
// changed meanwhile (a pass began it) keeps its own.
func (tx *Tx) FollowJobRun(ctx context.Context, id, from, run string) error {
	_, err := tx.ExecContext(ctx, `UPDATE jobs SET run_id = $3
		WHERE id = $1 AND run_id = $2 AND status IN ('queued', 'running')`, id, from, run)
	return wrapConnErr(err)
}
