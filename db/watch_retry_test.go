package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestStuckWatchesAreRetriedAfterUpgrade: migration 0041 marks for a watch
// retry every live connection of a provider that watches and has no open
// channel (a first watch pass that failed, a refused renewal that stopped
// its last channel), which nothing would ever list again, so the first
// renewal sweep runs its pass; a connection with an open channel, one of a
// provider that does not watch and a deleted one are left alone.
// Re-runnable.
func TestStuckWatchesAreRetriedAfterUpgrade(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	never := newFixture(t, s.DB, "gmail", "never")            // no channel ever
	stopped := newFixture(t, s.DB, "google-drive", "stopped") // its last channel stopped
	watched := newFixture(t, s.DB, "google-calendar", "fine") // an open channel
	newFixture(t, s.DB, "slack", "no-watcher")                // a provider that does not watch
	deleted := newFixture(t, s.DB, "github", "deleted")       // deleted
	later := time.Now().Add(6 * 24 * time.Hour)
	for _, f := range []struct {
		fx       fixture
		provider string
		stop     bool
	}{{stopped, "google-drive", true}, {watched, "google-calendar", false}} {
		require.NoError(t, s.DB.WithTenant(ctx, f.fx.tenant, func(tx *db.Tx) error {
			if err := tx.InsertWatchChannel(ctx, kr, db.WatchChannel{ConnectionID: f.fx.conn, Provider: f.provider,
				ChannelID: "ch-" + f.fx.conn, Target: "t", RouteKey: "channel:" + f.fx.conn, ExpiresAt: &later}); err != nil {
				return err
			}
			if !f.stop {
				return nil
			}
			_, err := tx.ExecContext(ctx, `UPDATE watch_channels SET stopped_at = now() WHERE connection_id = $1`, f.fx.conn)
			return err
		}))
	}
	require.NoError(t, s.DB.WithTenant(ctx, deleted.tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, deleted.conn, false) }))
	due := func() []string {
		var refs []poblysh.ConnectionRef
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			refs, _, err = tx.WatchesDue(ctx, time.Now().Add(time.Second), 0, nil, nil, 10)
			return err
		}))
		var out []string
		for _, r := range refs {
			out = append(out, r.ConnectionID)
		}
		return out
	}
	require.Empty(t, due())

	s.Replay(t, 41, "")
	require.ElementsMatch(t, []string{never.conn, stopped.conn}, due())
	s.Replay(t, 41, "") // again: the same
	require.ElementsMatch(t, []string{never.conn, stopped.conn}, due())
}
