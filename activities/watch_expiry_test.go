package activities

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// farExpiry is hookConnector whose channels answer expiries far past any
// channel's life (a provider answering year 9999 or garbage).
type farExpiry struct {
	*hookConnector
	expires time.Time
}

func (c farExpiry) Watch(ctx context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	chs, err := c.hookConnector.Watch(ctx, req)
	for i := range chs {
		chs[i].Expires = c.expires
	}
	return chs, err
}

// A watch pass stores a new channel whose provider expiry is past any
// channel's life as expiring maxChannelLife after the pass (its clock),
// so that it is renewed in time; one within the life keeps its own.
func TestWatchPassCapsAChannelsExpiryFromItsClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "hooked"}
	hooks := &hookConnector{spec: spec, schema: schema} // one provider: channel ids never repeat
	for i, tc := range []struct {
		provider, stored time.Time
	}{
		{time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), now.Add(maxChannelLife)},
		{now.Add(maxChannelLife + 24*time.Hour), now.Add(maxChannelLife)},
		{now.Add(7 * 24 * time.Hour), now.Add(7 * 24 * time.Hour)},
	} {
		acts := watchActivities(schema, kr, spec, farExpiry{hooks, tc.provider})
		acts.Now = func() time.Time { return now }
		tenant, connID := seedWithToken(t, schema, kr, fmt.Sprint("hooks-", i), "hooked")
		res, err := acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{
			TenantID: tenant, ConnectionID: connID, Provider: "hooked"}})
		require.NoError(t, err)
		require.Equal(t, 1, res.Created)
		var expires time.Time
		require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &expires, `SELECT expires_at FROM watch_channels WHERE connection_id = $1 AND stopped_at IS NULL`, connID)
		}))
		require.True(t, tc.stored.Equal(expires), "provider expiry %v: stored %v, want %v", tc.provider, expires, tc.stored)
	}
}
