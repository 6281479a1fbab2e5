package activities

import (
	"context"
	"fmt"
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

// cleanupConnector renews its channels in place, as renewingConnector,
// but holds those in hold: its renewal's cleanup failed for them, as
// Jira's does when the DELETE of the webhooks at a former public URL
// fails (connectors.RenewCleanupError).
type cleanupConnector struct {
	*hookConnector
	hold    map[string]bool
	renewed [][]string // the channel ids of each RenewWatch
}

func (c *cleanupConnector) WatchTargets(connectors.Connection) ([]string, error) {
	return []string{"board", "wall"}, nil
}

func (c *cleanupConnector) RenewWatch(_ context.Context, req connectors.RenewWatchRequest) ([]connectors.Channel, error) {
	var ids, held []string
	var out []connectors.Channel
	for _, ch := range req.Channels {
		ids = append(ids, ch.ID)
		if c.hold[ch.ID] {
			held = append(held, ch.ID)
			continue
		}
		ch.Expires = req.Now.Add(2 * time.Hour)
		out = append(out, ch)
	}
	c.renewed = append(c.renewed, ids)
	if len(held) > 0 {
		return out, &connectors.RenewCleanupError{Held: held, Err: fmt.Errorf("delete the webhooks at a former URL: %w: HTTP 503", connectors.ErrTransient)}
	}
	return out, nil
}

// A renewal whose cleanup failed (connectors.RenewCleanupError) stores the
// channels it extended, and the pass succeeds; the channels the cleanup
// was about are left as they are (not extended, stopped or replaced) and
// renewed again by the next pass. (The error failed the pass: the
// extended channels were not stored, nor was anything else of the pass
// done, at every sweep while the cleanup kept failing.)
func TestRenewalWithAFailedCleanupKeepsWhatItRenewed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "hooked"}
	conn := &cleanupConnector{hookConnector: &hookConnector{spec: spec, schema: schema}, hold: map[string]bool{"hook-w": true}}
	acts := watchActivities(schema, kr, spec, conn)
	tenant, connID := seedWithToken(t, schema, kr, "cleanup", "hooked")
	due := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		for _, ch := range []db.WatchChannel{
			{ConnectionID: connID, Provider: "hooked", ChannelID: "hook-b", Target: "board", RouteKey: "rk-b", ExpiresAt: &due},
			{ConnectionID: connID, Provider: "hooked", ChannelID: "hook-w", Target: "wall", RouteKey: "rk-w", ExpiresAt: &due},
		} {
			if err := tx.InsertWatchChannel(ctx, kr, ch); err != nil {
				return err
			}
		}
		return nil
	}))
	stored := func() map[string]time.Time {
		var rows []struct {
			ChannelID string    `db:"channel_id"`
			ExpiresAt time.Time `db:"expires_at"`
		}
		require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.SelectContext(ctx, &rows, `SELECT channel_id, expires_at FROM watch_channels WHERE connection_id = $1 AND stopped_at IS NULL`, connID)
		}))
		out := map[string]time.Time{}
		for _, r := range rows {
			out[r.ChannelID] = r.ExpiresAt
		}
		return out
	}
	ref := ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "hooked"}}

	res, err := acts.ReconcileWatches(ctx, ref)
	require.NoError(t, err, "a failed cleanup does not fail the pass")
	require.Len(t, conn.renewed, 1)
	require.ElementsMatch(t, []string{"hook-b", "hook-w"}, conn.renewed[0])
	got := stored()
	require.Len(t, got, 2, "both channels are still open")
	require.WithinDuration(t, time.Now().Add(2*time.Hour), got["hook-b"], time.Minute, "the renewed channel's expiry is stored")
	require.WithinDuration(t, due, got["hook-w"], time.Millisecond, "the held channel is left as it was")
	require.Zero(t, conn.created, "the held channel is not replaced")
	require.Empty(t, conn.stopped, "nor stopped")
	require.Zero(t, res.Created)
	require.Zero(t, res.Stopped)
	require.Equal(t, 2, res.Active)

	// The next pass finds the held channel due and renews it again.
	conn.hold = nil
	_, err = acts.ReconcileWatches(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, []string{"hook-w"}, conn.renewed[1], "only the held channel is due again")
	require.WithinDuration(t, time.Now().Add(2*time.Hour), stored()["hook-w"], time.Minute)
}
