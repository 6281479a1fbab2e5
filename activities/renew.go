package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
)

// renewChannels extends, in place, the channels of a ChannelRenewer that
// are still wanted and due for renewal, or whose route key the connector
// would now build otherwise (connectors.ChannelRekeyer: a Jira site's
// renamed host). Extended channels keep their row with the new expiry and
// the route key the renewal answers with; when a route key changed, the
// connection's routes are rebuilt in the same transaction, so deliveries
// under the new key route from the moment it is stored. Channels the
// provider no longer knows are marked stopped and left out of the
// returned list, so the caller registers new ones for their targets.
//
// A renewal whose cleanup failed (connectors.RenewCleanupError: Jira's
// DELETE of the webhooks at a former public URL) is logged, and what it
// extended is stored all the same; the channels it holds are returned as
// they are and named in held (by row id), which the caller neither
// replaces nor stops: the next pass finds them due and tries again.
func (a *Activities) renewChannels(ctx context.Context, t poblysh.ConnectionRef, p *connectors.Provider, r connectors.ChannelRenewer,
	conn *db.Connection, view connectors.Connection, hc *http.Client, channels []db.WatchChannel, wanted map[string]bool,
) ([]db.WatchChannel, map[string]bool, error) {
	var dueChans []connectors.Channel
	for _, c := range channels {
		ch := connectors.Channel{ID: c.ChannelID, ResourceID: c.ResourceID, Target: c.Target, Stream: c.Stream, RouteKey: c.RouteKey}
		if wanted[c.Target] && (a.due(c) || a.rekeyed(ctx, t, r, view, ch)) {
			dueChans = append(dueChans, ch)
		}
	}
	if len(dueChans) == 0 {
		return channels, nil, nil
	}
	renewed, err := r.RenewWatch(ctx, connectors.RenewWatchRequest{Connection: view, HTTP: hc, Channels: dueChans, Now: a.now()})
	holds := map[string]bool{} // by channel id
	if cleanup := (*connectors.RenewCleanupError)(nil); errors.As(err, &cleanup) {
		for _, id := range cleanup.Held {
			holds[id] = true
		}
		a.logger(ctx, t).WithError(err).WithField("held", len(cleanup.Held)).
			Warn("a push channel renewal's cleanup failed; the channels it renewed are stored, the others are left as they are and tried again at the next pass")
		err = nil
	}
	if err != nil {
		return channels, nil, err
	}
	answer := map[string]connectors.Channel{}
	for _, c := range renewed {
		answer[c.ID] = c
	}
	isDue := map[string]bool{}
	for _, c := range dueChans {
		isDue[c.ID] = true
	}
	rekeys := 0
	for _, c := range channels {
		if k := answer[c.ChannelID].RouteKey; isDue[c.ChannelID] && k != "" && k != c.RouteKey {
			rekeys++
		}
	}
	out := channels[:0:0]
	held := map[string]bool{} // by row id
	err = a.DB.WithTenant(ctx, t.TenantID, func(tx *db.Tx) error {
		if rekeys > 0 {
			// The row first, as RebuildRoutes below locks it (see the
			// store of new channels in reconcileWatches).
			if _, err := tx.LockConnection(ctx, conn.ID); err != nil {
				return err
			}
		}
		for _, c := range channels {
			if !isDue[c.ChannelID] || holds[c.ChannelID] {
				if holds[c.ChannelID] {
					held[c.ID] = true
				}
				out = append(out, c)
				continue
			}
			ans, ok := answer[c.ChannelID]
			if !ok || ans.Expires.IsZero() {
				if err := tx.MarkWatchStopped(ctx, c.ID); err != nil {
					return err
				}
				continue // gone at the provider: a new channel is opened
			}
			e := ans.Expires.UTC()
			c.ExpiresAt = &e
			if ans.RouteKey != "" {
				c.RouteKey = ans.RouteKey
			}
			if err := tx.InsertWatchChannel(ctx, a.KeyRing, c); err != nil { // same channel id: updates the row
				return err
			}
			out = append(out, c)
		}
		if rekeys > 0 {
			return lifecycle.RebuildRoutes(ctx, tx, p, conn)
		}
		return nil
	})
	if err != nil {
		return channels, nil, err
	}
	a.logger(ctx, t).WithFields(map[string]any{"renewed": len(renewed), "held": len(held), "gone": len(dueChans) - len(renewed) - len(held),
		"rekeyed": rekeys}).Info("watch channels renewed")
	return out, held, nil
}

// rekeyed reports whether a connector would key a channel otherwise now
// (connectors.ChannelRekeyer). A connector that cannot say leaves it as it
// is, logged.
func (a *Activities) rekeyed(ctx context.Context, t poblysh.ConnectionRef, r connectors.ChannelRenewer, view connectors.Connection, ch connectors.Channel) bool {
	rk, ok := r.(connectors.ChannelRekeyer)
	if !ok {
		return false
	}
	key, err := rk.ChannelRouteKey(view, ch)
	if err != nil {
		a.logger(ctx, t).WithError(err).WithField("channel_id", ch.ID).Warn("could not tell a push channel's current route key; it keeps its stored one")
		return false
	}
	return key != "" && key != ch.RouteKey
}

// checkGrant applies a GrantExpirer's end of authorization: once it has
// passed, the refresh is refused as unauthorized (the connection then
// needs re-authorization); within TokenPolicy.ExpiryWarning of it, a
// healthy connection's health_reason names the date.
func (a *Activities) checkGrant(ctx context.Context, t poblysh.ConnectionRef, p *connectors.Provider, conn *db.Connection) error {
	ge, ok := p.Connector.(connectors.GrantExpirer)
	if !ok {
		return nil
	}
	end := ge.GrantExpiry(lifecycle.View(conn))
	if end.IsZero() {
		return nil
	}
	now := a.now()
	if !now.Before(end) {
		return fmt.Errorf("%w: the %s authorization ended on %s (%s ends every grant a year after consent); reconnect",
			connectors.ErrUnauthorized, p.Spec.DisplayName, end.UTC().Format("2006-01-02"), p.Spec.DisplayName)
	}
	warn := p.Spec.Policy.Token.ExpiryWarning
	if warn > 0 && end.Sub(now) <= warn && conn.Health == poblysh.HealthHealthy {
		a.recordHealth(ctx, t, poblysh.HealthEvent{Kind: poblysh.EventGrantExpiring, Detail: fmt.Sprintf("the %s authorization ends on %s: "+
			"reconnect before then (POST /api/v1/connections/%s/reconnect)", p.Spec.DisplayName, end.UTC().Format("2006-01-02"), conn.ID)})
	}
	return nil
}
