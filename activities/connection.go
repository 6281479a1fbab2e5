package activities

import (
	"context"
	"net/http"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
)

// TriggerConnectionSync asks every stream of an active connection for a
// coalesced incremental pass (the polling schedule's action).
func (a *Activities) TriggerConnectionSync(ctx context.Context, in ConnectionInput) (TriggerResult, error) {
	t := Target{TenantID: in.TenantID, ConnectionID: in.ConnectionID, Provider: in.Provider}
	var conn *db.Connection
	err := a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) (err error) {
		conn, err = tx.FindConnection(ctx, in.ConnectionID)
		return err
	})
	if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
		return TriggerResult{Skipped: true}, nil
	}
	if err != nil {
		return TriggerResult{}, a.translate(ctx, t, err)
	}
	if !conn.Active() {
		return TriggerResult{Skipped: true}, nil
	}
	n, err := a.Orchestrator.NudgeConnection(ctx, in.TenantID, in.ConnectionID, poblysh.TriggerSchedule)
	if err != nil {
		return TriggerResult{}, a.translate(ctx, t, err)
	}
	return TriggerResult{Streams: n}, nil
}

// renewBefore is how long before expiry a channel is replaced: a day, or a
// third of its lifetime for short-lived channels (so a 2-hour channel is not
// replaced on every sweep).
func renewBefore(c db.WatchChannel) time.Duration {
	d := 24 * time.Hour
	if c.ExpiresAt != nil {
		if third := c.ExpiresAt.Sub(c.CreatedAt) / 3; third < d {
			d = third
		}
	}
	return d
}

// due reports whether a channel must be replaced now.
func due(c db.WatchChannel, now time.Time) bool {
	return c.ExpiresAt != nil && !c.ExpiresAt.After(now.Add(renewBefore(c)))
}

// ReconcileWatches brings a connection's push channels in line with its
// config: opens channels for targets without one, replaces channels that
// expire within a day (the new channel first, then the old one is stopped,
// so no change falls between them), stops channels of targets no longer
// configured, and rewrites the connection's webhook routes. Without a public
// URL nothing is registered and the connection polls.
func (a *Activities) ReconcileWatches(ctx context.Context, in ConnectionInput) (WatchResult, error) {
	t := Target{TenantID: in.TenantID, ConnectionID: in.ConnectionID, Provider: in.Provider}
	p, err := a.provider(in.Provider)
	if err != nil {
		return WatchResult{}, err
	}
	var conn *db.Connection
	var tok *db.Tokens
	var channels []db.WatchChannel
	err = a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) (err error) {
		if conn, err = tx.FindConnection(ctx, in.ConnectionID); err != nil {
			return err
		}
		if channels, err = tx.ActiveWatchChannels(ctx, in.ConnectionID); err != nil {
			return err
		}
		tok, err = tx.LoadTokens(ctx, a.KeyRing, in.ConnectionID)
		return err
	})
	if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
		return WatchResult{}, temporal.NewNonRetryableApplicationError("connection was deleted", ErrTypeConnectionInactive, nil)
	}
	if err != nil {
		return WatchResult{}, a.translate(ctx, t, err)
	}
	if !conn.Active() {
		return WatchResult{}, inactive(conn)
	}
	view := ConnectorConnection(conn)
	hc := a.Registry.HTTPClient(p, conn.ExternalAccountID, tok.AccessToken)
	var res WatchResult

	watcher, canWatch := p.Connector.(connectors.Watcher)
	if canWatch && p.Config.PublicURLSet {
		want, err := watcher.WatchTargets(view)
		if err != nil {
			return res, a.translate(ctx, t, err)
		}
		have := map[string][]db.WatchChannel{}
		for _, c := range channels {
			have[c.Target] = append(have[c.Target], c)
		}
		var open []string
		for _, target := range want {
			fresh := false
			for _, c := range have[target] {
				if !due(c, a.now()) {
					fresh = true
				}
			}
			if !fresh {
				open = append(open, target)
			}
		}
		if len(open) > 0 || len(want) == 0 {
			created, err := watcher.Watch(ctx, connectors.WatchRequest{
				Connection: view, HTTP: hc, CallbackURL: p.Config.WebhookURL(p.Spec.Name), Targets: open, Now: a.now(),
			})
			if k := connectors.Kind(err); k == connectors.ErrForbidden || k == connectors.ErrInvalidConfig {
				// The grant may not register hooks (or no webhook secret is
				// set): deliveries can still be set up by hand; meanwhile the
				// connection polls. Not a health problem.
				a.logger(ctx, t).WithError(err).Warn("could not register push channels; the connection polls instead")
				res.WatchError = err.Error()
				created, err = nil, nil
			}
			if err != nil {
				return res, a.translate(ctx, t, err)
			}
			err = a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error {
				for _, c := range created {
					w := db.WatchChannel{ConnectionID: in.ConnectionID, Provider: in.Provider, ChannelID: c.ID,
						ResourceID: c.ResourceID, Target: c.Target, Stream: c.Stream, RouteKey: c.RouteKey}
					if !c.Expires.IsZero() {
						e := c.Expires.UTC()
						w.ExpiresAt = &e
					}
					if err := tx.InsertWatchChannel(ctx, w); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return res, a.translate(ctx, t, err)
			}
			res.Created = len(created)
			if activity.IsActivity(ctx) {
				activity.RecordHeartbeat(ctx, res.Created)
			}
		}
		// Stop what is superseded or no longer configured (new ones exist now).
		wanted := map[string]bool{}
		for _, target := range want {
			wanted[target] = true
		}
		for _, c := range channels {
			if wanted[c.Target] && !due(c, a.now()) {
				continue
			}
			if err := a.stopChannel(ctx, t, watcher, view, hc, c); err != nil {
				return res, a.translate(ctx, t, err)
			}
			res.Stopped++
		}
	} else if canWatch {
		// No public URL: channels cannot reach us; stop any left over.
		for _, c := range channels {
			if err := a.stopChannel(ctx, t, watcher, view, hc, c); err != nil {
				return res, a.translate(ctx, t, err)
			}
			res.Stopped++
		}
	}
	if err := a.rewriteRoutes(ctx, t, p, view); err != nil {
		return res, a.translate(ctx, t, err)
	}
	err = a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error {
		active, err := tx.ActiveWatchChannels(ctx, in.ConnectionID)
		if err != nil {
			return err
		}
		res.Active = len(active)
		_, hooks := p.Connector.(connectors.WebhookReceiver)
		_, routed := p.Connector.(connectors.Router)
		// Push works when channels are open, or when the provider pushes to an
		// app-level URL (Slack events, GitHub App) that routes by account.
		res.PushEnabled = res.Active > 0 || (hooks && routed && !canWatch && p.Config.WebhookSecret != "")
		return tx.SetPushEnabled(ctx, in.ConnectionID, res.PushEnabled)
	})
	if err != nil {
		return res, a.translate(ctx, t, err)
	}
	if a.Orchestrator != nil {
		if err := a.Orchestrator.SyncSchedules(ctx, in.TenantID, in.ConnectionID); err != nil {
			return res, a.translate(ctx, t, err)
		}
	}
	return res, nil
}

func (a *Activities) stopChannel(ctx context.Context, t Target, w connectors.Watcher, view connectors.Connection, hc *http.Client, c db.WatchChannel) error {
	err := w.StopWatch(ctx, connectors.StopWatchRequest{Connection: view, HTTP: hc, Channel: connectors.Channel{
		ID: c.ChannelID, ResourceID: c.ResourceID, Target: c.Target, Stream: c.Stream, RouteKey: c.RouteKey,
	}})
	if err != nil && connectors.Kind(err) != connectors.ErrNotFound {
		return err
	}
	return a.DB.WithTenant(ctx, t.TenantID, func(tx *db.Tx) error { return tx.MarkWatchStopped(ctx, c.ID) })
}

// RewriteRoutes recomputes a connection's webhook routes: the connector's
// static keys plus one per active channel.
func (a *Activities) rewriteRoutes(ctx context.Context, t Target, p *connectors.Provider, view connectors.Connection) error {
	var routes []db.Route
	if r, ok := p.Connector.(connectors.Router); ok {
		keys, err := r.RouteKeys(view)
		if err != nil {
			return err
		}
		for _, k := range keys {
			routes = append(routes, db.Route{RouteKey: k})
		}
	}
	return a.DB.WithTenant(ctx, t.TenantID, func(tx *db.Tx) error {
		active, err := tx.ActiveWatchChannels(ctx, t.ConnectionID)
		if err != nil {
			return err
		}
		for _, c := range active {
			routes = append(routes, db.Route{RouteKey: c.RouteKey, Stream: c.Stream})
		}
		return tx.ReplaceRoutes(ctx, t.ConnectionID, t.Provider, routes)
	})
}

// ListDueWatches lists connections with a channel due for renewal.
func (a *Activities) ListDueWatches(ctx context.Context, in ListDueInput) (ListDueResult, error) {
	var out []db.DueConnection
	err := a.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		out, err = tx.WatchesDue(ctx, a.now(), in.Limit)
		return err
	})
	return ListDueResult{Connections: out}, err
}

// StartWatchReconciles starts one ReconcileWatches workflow per connection.
func (a *Activities) StartWatchReconciles(ctx context.Context, in StartManyInput) (StartManyResult, error) {
	n := 0
	for _, c := range in.Connections {
		if err := a.Orchestrator.StartWatchReconcile(ctx, c, poblysh.TriggerSchedule); err != nil {
			return StartManyResult{Started: n}, err
		}
		n++
	}
	return StartManyResult{Started: n}, nil
}

// Prune applies retention in batches until nothing is left to prune.
func (a *Activities) Prune(ctx context.Context, _ PruneInput) (PruneResult, error) {
	var total PruneResult
	rawBefore := a.now().Add(-a.RawRetention)
	eventsBefore := a.now().Add(-max(a.RawRetention, 7*24*time.Hour))
	var signalsBefore *time.Time
	if a.SignalTTL > 0 {
		t := a.now().Add(-a.SignalTTL)
		signalsBefore = &t
	}
	for {
		var p db.Pruned
		err := a.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			p, err = tx.Prune(ctx, rawBefore, signalsBefore, eventsBefore, 5000)
			return err
		})
		if err != nil {
			return total, err
		}
		total.RawPayloads += p.RawPayloads
		total.WebhookBodies += p.WebhookBodies
		total.Signals += p.Signals
		total.States += p.States
		total.WebhookEvents += p.WebhookEvents
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, total)
		}
		if p.RawPayloads+p.WebhookBodies+p.Signals+p.States+p.WebhookEvents == 0 {
			return total, nil
		}
	}
}
