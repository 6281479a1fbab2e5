package db_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestWebhookEventsOnlySystemDeletes: a delivery routed to a tenant is
// visible to it, but a tenant transaction cannot delete it (the row may be
// shared with other tenants); the system scope can.
func TestWebhookEventsOnlySystemDeletes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "github", "wh")
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, err := tx.RecordWebhook(ctx, db.WebhookEvent{Provider: "github", DeliveryID: "d-1", Status: "accepted",
			TenantIDs: []string{f.tenant}, ConnectionIDs: []string{f.conn}})
		return err
	}))
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		var seen int
		require.NoError(t, tx.GetContext(ctx, &seen, `SELECT count(*) FROM webhook_events`))
		require.Equal(t, 1, seen, "routed deliveries are visible to the tenant")
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_events`)
		require.NoError(t, err)
		n, _ := res.RowsAffected()
		require.Zero(t, n, "a tenant cannot delete intake records")
		return nil
	}))
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_events`)
		require.NoError(t, err)
		n, _ := res.RowsAffected()
		require.EqualValues(t, 1, n)
		return nil
	}))
}
