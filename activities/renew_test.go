package activities

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// renewingConnector extends its channels in place (as Jira's dynamic
// webhooks are refreshed) and keys each channel by the account's "host"
// metadata, which can change while the channel lives (a Jira site
// renamed): "rk:<host>/<channel id>".
type renewingConnector struct {
	*hookConnector
	renewed [][]string // the channel ids of each RenewWatch
}

func (c *renewingConnector) routeKey(conn connectors.Connection, ch connectors.Channel) string {
	return "rk:" + conn.Account.Metadata["host"] + "/" + ch.ID
}

func (c *renewingConnector) ChannelRouteKey(conn connectors.Connection, ch connectors.Channel) (string, error) {
	return c.routeKey(conn, ch), nil
}

func (c *renewingConnector) RenewWatch(_ context.Context, req connectors.RenewWatchRequest) ([]connectors.Channel, error) {
	var ids []string
	out := make([]connectors.Channel, 0, len(req.Channels))
	for _, ch := range req.Channels {
		ids = append(ids, ch.ID)
		ch.Expires, ch.RouteKey = req.Now.Add(2*time.Hour), c.routeKey(req.Connection, ch)
		out = append(out, ch)
	}
	c.renewed = append(c.renewed, ids)
	return out, nil
}

// A channel whose route key names something of the account that has
// changed since (a Jira site's host, after an admin renamed the site's
// URL) is renewed by the next watch pass though it is not due, and stored
// and routed under the key the renewal answers with: deliveries, which
// name the new host, are routed again. (Only due channels were renewed,
// and a renewal's route key was dropped: the old key stayed for good.)
func TestRekeyedChannelsAreRenewedAndRouted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "hooked"}
	conn := &renewingConnector{hookConnector: &hookConnector{spec: spec, schema: schema}}
	acts := watchActivities(schema, kr, spec, conn)
	tenant, connID := seedWithToken(t, schema, kr, "hooks", "hooked")
	setHost := func(host string) {
		require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE connections SET account = jsonb_build_object('id', 'acct', 'metadata', jsonb_build_object('host', $2::text))
				WHERE id = $1`, connID, host)
			return err
		}))
	}
	setHost("acme-pr")
	later := time.Now().Add(2 * time.Hour) // not due
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.InsertWatchChannel(ctx, kr, db.WatchChannel{ConnectionID: connID, Provider: "hooked", ChannelID: "hook-0",
			Target: "board", RouteKey: "rk:acme-pr/hook-0", ExpiresAt: &later})
	}))
	stored := func() (keys []string) {
		require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
			var ch, rt []string
			if err := tx.SelectContext(ctx, &ch, `SELECT route_key FROM watch_channels WHERE connection_id = $1 AND stopped_at IS NULL`, connID); err != nil {
				return err
			}
			if err := tx.SelectContext(ctx, &rt, `SELECT route_key FROM webhook_routes WHERE connection_id = $1`, connID); err != nil {
				return err
			}
			keys = []string{"channels " + strings.Join(ch, ","), "routes " + strings.Join(rt, ",")}
			return nil
		}))
		return keys
	}
	ref := ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "hooked"}}

	res, err := acts.ReconcileWatches(ctx, ref)
	require.NoError(t, err)
	require.Empty(t, conn.renewed, "nothing changed, nothing due: no call")
	require.Equal(t, []string{"channels rk:acme-pr/hook-0", "routes rk:acme-pr/hook-0"}, stored())

	setHost("acme-launch")
	res, err = acts.ReconcileWatches(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, [][]string{{"hook-0"}}, conn.renewed, "the rekeyed channel is renewed though not due")
	require.Zero(t, res.Created, "renewed in place, not replaced")
	require.Zero(t, res.Stopped)
	require.Equal(t, 1, res.Active)
	require.Equal(t, []string{"channels rk:acme-launch/hook-0", "routes rk:acme-launch/hook-0"}, stored())

	_, err = acts.ReconcileWatches(ctx, ref)
	require.NoError(t, err)
	require.Len(t, conn.renewed, 1, "once stored under its new key, the channel is left alone")
}
