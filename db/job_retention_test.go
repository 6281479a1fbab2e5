package db_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// insertJob stores a job of the fixture's connection (tenant nil: an
// operator's job) with the status given, created and (when final)
// finished daysAgo days ago, and returns its id.
func insertJob(t *testing.T, d *db.DB, tenant, conn *string, status string, daysAgo int) string {
	t.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	kind, provider, stream := "incremental", "fake", "items"
	if tenant == nil {
		kind, provider, stream = "tenant_deletion", "", ""
	}
	require.NoError(t, d.WithSystem(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, tenant_id, connection_id, provider, kind, stream, trigger, status, workflow_id,
				created_at, started_at, finished_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, 'schedule', $7, 'wf', now() - make_interval(days => $8), now() - make_interval(days => $8),
				CASE WHEN $7 IN ('succeeded', 'failed', 'cancelled') THEN now() - make_interval(days => $8) END, now() - make_interval(days => $8))`,
			id, tenant, conn, provider, kind, stream, status, daysAgo)
		return err
	}))
	return id
}

// TestPruneDropsFinishedJobsPastRetention: every pass writes a job row, so
// the retention run deletes the tenants' jobs that finished before the job
// retention, in batches. Jobs finished since, queued or running jobs
// however old (their workflow still owns them), and the operator's jobs
// (a tenant's deletion: the record that it happened, and the job a failed
// deletion is restarted from) stay.
func TestPruneDropsFinishedJobsPastRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "acct")
	var gone []string
	for _, status := range []string{"succeeded", "failed", "cancelled"} {
		gone = append(gone, insertJob(t, s.DB, &f.tenant, &f.conn, status, 40))
	}
	kept := []string{
		insertJob(t, s.DB, &f.tenant, &f.conn, "succeeded", 10),
		insertJob(t, s.DB, &f.tenant, &f.conn, "queued", 40),
		insertJob(t, s.DB, &f.tenant, &f.conn, "running", 40),
		insertJob(t, s.DB, nil, nil, "failed", 40),
	}
	var ids []string
	count := func() {
		t.Helper()
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.SelectContext(ctx, &ids, `SELECT id FROM jobs`)
		}))
	}
	count()
	require.Len(t, ids, len(gone)+len(kept))

	now := time.Now()
	jobsBefore := now.Add(-30 * 24 * time.Hour)
	var total int64
	for range 10 {
		p, err := s.DB.Prune(ctx, now.Add(-30*24*time.Hour), nil, now.Add(-90*24*time.Hour), &jobsBefore, 2)
		require.NoError(t, err)
		require.LessOrEqual(t, p.Jobs, int64(2), "batches are bounded")
		total += p.Jobs
		if p == (db.Pruned{}) {
			break
		}
	}
	require.Equal(t, int64(len(gone)), total)
	count()
	for _, id := range gone {
		require.NotContains(t, ids, id, "finished 40 days ago")
	}
	for _, id := range kept {
		require.Contains(t, ids, id)
	}
	require.Len(t, ids, len(kept))
}

// TestOpenJobQueriesUseTheirIndexes: the reconciliation sweep (every
// minute on every worker) and GET /jobs/{id}'s look for a running pass
// read only open jobs, through partial indexes, not every finished job of
// the table or of the connection. A year of one stream polled every five
// minutes is about 105,000 finished jobs; with a fraction of that and
// fresh statistics, Postgres plans a sequential scan (the sweep) and a
// walk of the connection's jobs (the pass check) without the indexes.
func TestOpenJobQueriesUseTheirIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "acct")
	wf := "q:sync/" + f.conn + "/items"
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, tenant_id, connection_id, provider, kind, stream, trigger, status, workflow_id,
				created_at, started_at, finished_at, updated_at)
			SELECT gen_random_uuid(), $1, $2, 'fake', 'incremental', 'items', 'schedule', 'succeeded', $3,
				now() - make_interval(mins => 5*g), now() - make_interval(mins => 5*g), now() - make_interval(mins => 5*g), now() - make_interval(mins => 5*g)
			FROM generate_series(1, 30000) g`, f.tenant, f.conn, wf)
		return err
	}))
	running := insertJob(t, s.DB, &f.tenant, &f.conn, "running", 1)
	queued := insertJob(t, s.DB, &f.tenant, &f.conn, "queued", 1)
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET workflow_id = $1 WHERE id IN ($2, $3)`, wf, running, queued); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `ANALYZE jobs`)
		return err
	}))

	explain := func(scope func(context.Context, func(*db.Tx) error) error, q string, args ...any) string {
		t.Helper()
		var plan []string
		require.NoError(t, scope(ctx, func(tx *db.Tx) error {
			return tx.SelectContext(ctx, &plan, `EXPLAIN `+q, args...)
		}))
		return strings.Join(plan, "\n")
	}
	tenant := func(ctx context.Context, fn func(*db.Tx) error) error { return s.DB.WithTenant(ctx, f.tenant, fn) }

	plan := explain(s.DB.WithSystem, db.OpenJobsSQL, (2 * time.Minute).Seconds(), 500)
	require.Contains(t, plan, "jobs_open", "the sweep reads the open jobs' index:\n%s", plan)
	require.NotContains(t, plan, "Seq Scan on jobs", plan)
	plan = explain(tenant, db.PassRunningSQL, f.tenant, f.conn, wf, queued)
	require.Contains(t, plan, "jobs_running", "the pass check reads the running jobs' index:\n%s", plan)
	require.NotContains(t, plan, "Seq Scan on jobs", plan)

	// And they answer what they answered.
	var open []db.Job
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		open, err = tx.OpenJobs(ctx, 2*time.Minute, 500)
		return err
	}))
	var openIDs []string
	for _, j := range open {
		openIDs = append(openIDs, j.ID)
	}
	require.ElementsMatch(t, []string{running, queued}, openIDs)
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		for id, want := range map[string]bool{queued: true, running: false} {
			j, err := tx.FindJob(ctx, id)
			require.NoError(t, err)
			got, err := tx.PassRunning(ctx, j)
			require.NoError(t, err)
			require.Equal(t, want, got, id)
		}
		return nil
	}))
}
