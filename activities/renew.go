package activities

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
)

// renewChannels extends, in place, the channels of a ChannelRenewer that
// are due for renewal and still wanted (Jira's dynamic webhooks are
// refreshed, not replaced). Extended channels keep their row with the new
// expiry; channels the provider no longer knows are marked stopped and
// left out of the returned list, so the caller registers new ones for
// their targets.
func (a *Activities) renewChannels(ctx context.Context, t poblysh.ConnectionRef, r connectors.ChannelRenewer, view connectors.Connection,
	hc *http.Client, channels []db.WatchChannel, wanted map[string]bool) ([]db.WatchChannel, error) {
	var dueChans []connectors.Channel
	for _, c := range channels {
		if wanted[c.Target] && due(c, a.now()) {
			dueChans = append(dueChans, connectors.Channel{ID: c.ChannelID, ResourceID: c.ResourceID, Target: c.Target,
				Stream: c.Stream, RouteKey: c.RouteKey})
		}
	}
	if len(dueChans) == 0 {
		return channels, nil
	}
	renewed, err := r.RenewWatch(ctx, connectors.RenewWatchRequest{Connection: view, HTTP: hc, Channels: dueChans, Now: a.now()})
	if err != nil {
		return channels, err
	}
	expiry := map[string]time.Time{}
	for _, c := range renewed {
		expiry[c.ID] = c.Expires
	}
	isDue := map[string]bool{}
	for _, c := range dueChans {
		isDue[c.ID] = true
	}
	out := channels[:0:0]
	err = a.DB.WithTenant(ctx, t.TenantID, func(tx *db.Tx) error {
		for _, c := range channels {
			if !isDue[c.ChannelID] {
				out = append(out, c)
				continue
			}
			exp, ok := expiry[c.ChannelID]
			if !ok || exp.IsZero() {
				if err := tx.MarkWatchStopped(ctx, c.ID); err != nil {
					return err
				}
				continue // gone at the provider: a new channel is opened
			}
			e := exp.UTC()
			c.ExpiresAt = &e
			if err := tx.InsertWatchChannel(ctx, a.KeyRing, c); err != nil { // same channel id: updates the row
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return channels, err
	}
	a.logger(ctx, t).WithField("renewed", len(renewed)).WithField("gone", len(dueChans)-len(renewed)).Info("watch channels renewed")
	return out, nil
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
