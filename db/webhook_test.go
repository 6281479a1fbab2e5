package db_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestRecordWebhookConcurrentDuplicates: ten copies of one delivery racing
// each other are recorded once; exactly one caller is told it is new.
func TestRecordWebhookConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "a")
	var firsts atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := s.DB.WithSystem(ctx, func(tx *db.Tx) error {
				ok, err := tx.RecordWebhook(ctx, db.WebhookEvent{Provider: "fake", DeliveryID: "dlv-1", Event: "items", Status: "accepted",
					TenantIDs: []string{f.tenant}, ConnectionIDs: []string{f.conn}, Signals: i, RawBody: []byte(`{"n":1}`)})
				if ok {
					firsts.Add(1)
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Equal(t, int32(1), firsts.Load())

	var n int
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &n, `SELECT count(*) FROM webhook_events WHERE provider = 'fake' AND delivery_id = 'dlv-1'`)
	}))
	require.Equal(t, 1, n)

	// The same delivery id at another provider is a different delivery.
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		ok, err := tx.RecordWebhook(ctx, db.WebhookEvent{Provider: "github", DeliveryID: "dlv-1", Status: "unroutable"})
		require.True(t, ok)
		return err
	}))
	// SetWebhookSignals updates the recorded count.
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		if err := tx.SetWebhookSignals(ctx, "fake", "dlv-1", 42); err != nil {
			return err
		}
		return tx.GetContext(ctx, &n, `SELECT signals FROM webhook_events WHERE provider = 'fake' AND delivery_id = 'dlv-1'`)
	}))
	require.Equal(t, 42, n)
}

func TestWebhookRoutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	a, b := newFixture(t, s.DB, "fake", "a"), newFixture(t, s.DB, "fake", "b")
	replace := func(f fixture, routes ...db.Route) {
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error { return tx.ReplaceRoutes(ctx, f.conn, "fake", routes) }))
	}
	lookup := func(keys ...string) []db.Route {
		var out []db.Route
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			out, err = tx.LookupRoutes(ctx, "fake", keys)
			return err
		}))
		return out
	}
	replace(a, db.Route{RouteKey: "account:shared"}, db.Route{RouteKey: "channel:1", Stream: "items"})
	replace(b, db.Route{RouteKey: "account:shared"})
	got := lookup("account:shared")
	require.Len(t, got, 2, "a key shared by two tenants' connections routes to both")
	require.ElementsMatch(t, []string{a.tenant, b.tenant}, []string{got[0].TenantID, got[1].TenantID})
	got = lookup("channel:1", "unknown")
	require.Len(t, got, 1)
	require.Equal(t, "items", got[0].Stream)
	require.Equal(t, "healthy", got[0].Health)

	// Replacing is a full swap; a deleted connection routes nowhere.
	replace(a, db.Route{RouteKey: "account:new"})
	require.Empty(t, lookup("channel:1"))
	require.Len(t, lookup("account:shared"), 1)
	require.NoError(t, s.DB.WithTenant(ctx, b.tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, b.conn, false) }))
	require.Empty(t, lookup("account:shared"))
	require.Len(t, lookup("account:new"), 1)
}
