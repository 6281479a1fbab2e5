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

// hookConnector watches one target with channels that expire in an hour;
// when it stops a channel it records whether the newest channel's route
// already existed (routesAtStop), and when it confirms one, whether that
// channel was stored and routed by then (storedAtConfirm).
type hookConnector struct {
	spec            *connectors.Spec
	schema          *dbtest.Schema
	created         int
	routesAtStop    []int
	stopped         []string
	confirmed       []string
	storedAtConfirm []int
}

func (c *hookConnector) Spec() *connectors.Spec { return c.spec }

func (c *hookConnector) WatchTargets(connectors.Connection) ([]string, error) {
	return []string{"board"}, nil
}

func (c *hookConnector) Watch(_ context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	c.created++
	return []connectors.Channel{{ID: fmt.Sprintf("hook-%d", c.created), Target: "board",
		RouteKey: fmt.Sprintf("rk-%d", c.created), Secret: fmt.Sprintf("secret-%d", c.created), Expires: req.Now.Add(time.Hour)}}, nil
}

func (c *hookConnector) StopWatch(ctx context.Context, req connectors.StopWatchRequest) error {
	var n int
	if err := c.schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &n, `SELECT count(*) FROM webhook_routes WHERE route_key = $1`, fmt.Sprintf("rk-%d", c.created))
	}); err != nil {
		return err
	}
	c.routesAtStop = append(c.routesAtStop, n)
	c.stopped = append(c.stopped, req.Channel.ID)
	return nil
}

func (c *hookConnector) ConfirmWatch(ctx context.Context, req connectors.ConfirmWatchRequest) error {
	var n int
	if err := c.schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &n, `SELECT count(*) FROM watch_channels w JOIN webhook_routes r ON r.route_key = $2
			WHERE w.channel_id = $1 AND w.secret_ct IS NOT NULL`, req.Channel.ID, req.Channel.RouteKey)
	}); err != nil {
		return err
	}
	c.confirmed = append(c.confirmed, req.Channel.ID)
	c.storedAtConfirm = append(c.storedAtConfirm, n)
	return nil
}

// A channel that replaces an expiring one is routed in the transaction
// that stores it, before the old one is stopped: a delivery on the new
// channel is never unroutable. (The routes used to be rebuilt only after
// the old channels were stopped; a Jira delivery in between was
// acknowledged as unroutable and lost.)
func TestNewChannelsAreRoutedWhenStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "hooked"}
	conn := &hookConnector{spec: spec, schema: schema}
	acts := &Activities{DB: schema.DB, KeyRing: kr, Registry: connectors.NewRegistry(&connectors.Provider{
		Spec: spec, Connector: conn, Config: connectors.Config{PublicURL: "https://poblysh.example", PublicURLSet: true}})}
	tenant, connID := seedWithToken(t, schema, kr, "hooks", "hooked")
	expired := time.Now().Add(-time.Minute)
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.InsertWatchChannel(ctx, kr, db.WatchChannel{ConnectionID: connID, Provider: "hooked", ChannelID: "hook-0",
			Target: "board", RouteKey: "rk-0", ExpiresAt: &expired})
	}))
	routes := func() []string {
		var keys []string
		require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.SelectContext(ctx, &keys, `SELECT route_key FROM webhook_routes WHERE connection_id = $1 ORDER BY route_key`, connID)
		}))
		return keys
	}

	res, err := acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{
		TenantID: tenant, ConnectionID: connID, Provider: "hooked"}})
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	require.Equal(t, 1, res.Stopped)
	require.Equal(t, []string{"hook-0"}, conn.stopped, "the expiring channel is replaced")
	require.Equal(t, []int{1}, conn.routesAtStop, "the new channel was routed before the old one stopped")
	require.Equal(t, []string{"rk-1"}, routes(), "only the live channel is routed afterwards")
	// The provider is asked to greet the new channel again only once the
	// channel is stored with its secret and routed (GitHub's first ping).
	require.Equal(t, []string{"hook-1"}, conn.confirmed)
	require.Equal(t, []int{1}, conn.storedAtConfirm)
}
