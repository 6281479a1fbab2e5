package activities

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// A delete with purge_signals whose process stopped after the delete
// committed, before its purge ended, left the connection marked: the
// retention run finishes the purge (every one of its Signals, in batches)
// and keeps everything else.
func TestPruneFinishesAPurgeCutShort(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, schema.DB, "cut short", "fake", "gone")
	otherTenant, other := dbtest.Seed(t, schema.DB, "bystander", "fake", "kept")
	store := func(tenant, conn string, n int) {
		t.Helper()
		sigs := make([]db.NewSignal, n)
		for i := range sigs {
			sigs[i] = db.NewSignal{Kind: "item.created", OccurredAt: time.Now(), DedupeKey: fmt.Sprint(i), Payload: []byte(`{"title":"t"}`)}
		}
		require.NoError(t, schema.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, conn, "fake", sigs)
			return err
		}))
	}
	store(tenant, conn, db.PurgeBatch+10)
	store(otherTenant, other, 3)
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, conn, true) }))

	acts := &Activities{DB: schema.DB, RawRetention: 30 * 24 * time.Hour}
	res, err := acts.Prune(ctx, PruneInput{})
	require.NoError(t, err)
	require.Equal(t, db.PurgeBatch+10, res.PurgedSignals)
	var left, kept, marked int
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.QueryRowxContext(ctx, `SELECT (SELECT count(*) FROM signals WHERE connection_id = $1),
			(SELECT count(*) FROM signals WHERE connection_id = $2),
			(SELECT count(*) FROM connections WHERE signals_purge_before IS NOT NULL)`, conn, other).Scan(&left, &kept, &marked)
	}))
	require.Zero(t, left)
	require.Equal(t, 3, kept)
	require.Zero(t, marked, "the purge ended")

	res, err = acts.Prune(ctx, PruneInput{})
	require.NoError(t, err)
	require.Zero(t, res.PurgedSignals, "nothing left to finish")
}

// The retention run deletes the tenants' jobs that finished longer ago
// than JobRetention (POBLYSH_JOB_RETENTION) and keeps the rest; with no
// retention set it keeps every job.
func TestPruneDeletesJobsPastTheJobRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, schema.DB, "jobs", "fake", "acct")
	job := func(finishedDaysAgo int) string {
		t.Helper()
		var id string
		require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &id, `INSERT INTO jobs (id, tenant_id, connection_id, provider, kind, stream, trigger, status, workflow_id,
					created_at, started_at, finished_at, updated_at)
				VALUES (gen_random_uuid(), $1, $2, 'fake', 'incremental', 'items', 'schedule', 'succeeded', 'wf',
					now() - make_interval(days => $3), now() - make_interval(days => $3), now() - make_interval(days => $3), now() - make_interval(days => $3))
				RETURNING id`, tenant, conn, finishedDaysAgo)
		}))
		return id
	}
	old, recent := job(40), job(10)
	ids := func() []string {
		var ids []string
		require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error { return tx.SelectContext(ctx, &ids, `SELECT id FROM jobs`) }))
		return ids
	}

	res, err := (&Activities{DB: schema.DB, RawRetention: 30 * 24 * time.Hour}).Prune(ctx, PruneInput{})
	require.NoError(t, err)
	require.Zero(t, res.Jobs, "no job retention: every job kept")
	require.ElementsMatch(t, []string{old, recent}, ids())

	res, err = (&Activities{DB: schema.DB, RawRetention: 30 * 24 * time.Hour, JobRetention: 30 * 24 * time.Hour}).Prune(ctx, PruneInput{})
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Jobs)
	require.Equal(t, []string{recent}, ids())
}
