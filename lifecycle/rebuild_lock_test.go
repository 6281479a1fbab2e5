package lifecycle_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/slack"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
)

// A transaction that inserts rows referencing a connection and then
// rebuilds its routes (activities' recordProof: grants; the watch pass's
// store: channels) locks the connection's row first, as both now do. The
// inserts' foreign keys hold KEY SHARE on the row, a PATCH that pauses
// holds NO KEY UPDATE and then asks FOR UPDATE (ApplyHealth), and
// RebuildRoutes asks NO KEY UPDATE: with the lock taken only there, the
// two deadlocked and the PATCH answered 500. This is those transactions'
// order, run beside the PATCH; it fails with FindConnection in place of
// LockConnection.
func TestProofBesidePausePatch(t *testing.T) { rebuildBesidePausePatch(t, false) }

// The watch pass's store transaction, likewise.
func TestWatchStoreBesidePausePatch(t *testing.T) { rebuildBesidePausePatch(t, true) }

func rebuildBesidePausePatch(t *testing.T, watch bool) {
	ctx := context.Background()
	base, err := slack.New(connectors.Config{})
	require.NoError(t, err)
	a := newSlackActivation(t, base)
	p, _ := a.svc.Registry.Get("slack")

	inserted, goOn := make(chan struct{}), make(chan struct{})
	proofErr := make(chan error, 1)
	go func() {
		proofErr <- a.db.WithTenant(ctx, a.tenant, func(tx *db.Tx) error {
			c, err := tx.LockConnection(ctx, a.id)
			if err != nil {
				return err
			}
			if watch {
				if err := tx.InsertWatchChannel(ctx, dbtest.KeyRing(t), db.WatchChannel{ConnectionID: c.ID, Provider: "slack",
					ChannelID: "ch1", Target: "C0999", Stream: "messages", RouteKey: "channel:C0999"}); err != nil {
					return err
				}
			} else if err := tx.GrantResource(ctx, c.ID, db.Resource{Ref: "C0999", ResourceID: "C0999", RouteKeys: db.TextArray{"channel:C0999"}}); err != nil {
				return err
			}
			close(inserted)
			<-goOn
			return lifecycle.RebuildRoutes(ctx, tx, p, c)
		})
	}()
	<-inserted
	paused := true
	patchErr := make(chan error, 1)
	go func() {
		_, err := a.svc.Update(ctx, a.tenant, a.id, lifecycle.Update{Paused: &paused})
		patchErr <- err
	}()
	time.Sleep(500 * time.Millisecond) // the PATCH now waits in ApplyHealth's FOR UPDATE
	close(goOn)
	e1, e2 := <-proofErr, <-patchErr
	require.NoError(t, e1, "recordProof")
	require.NoError(t, e2, "PATCH paused")
}
