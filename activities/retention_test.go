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
