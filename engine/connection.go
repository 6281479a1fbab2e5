package engine

import (
	"context"
	"errors"

	"go.temporal.io/api/serviceerror"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/vault"
	"github.com/poblysh/poblysh/workflows"
)

// Activate brings a new or re-connected connection to life: webhook routes
// from its config, its polling schedule, watch channels (registered by the
// connection's watch workflow, with retries), and, when backfill is true, a
// backfill of every stream. It returns the backfill jobs.
func (e *Engine) Activate(ctx context.Context, c *db.Connection, backfill bool, trigger poblysh.Trigger) ([]db.Job, error) {
	if err := e.WriteStaticRoutes(ctx, c); err != nil {
		return nil, err
	}
	if err := e.SyncSchedules(ctx, c.TenantID, c.ID); err != nil {
		return nil, err
	}
	if !c.Active() {
		return nil, nil
	}
	due := db.DueConnection{ID: c.ID, TenantID: c.TenantID, Provider: c.Provider}
	if err := e.StartWatchReconcile(ctx, due, trigger); err != nil {
		return nil, err
	}
	if !backfill {
		return nil, nil
	}
	return e.RequestSync(ctx, c, poblysh.ModeBackfill, trigger)
}

// WriteStaticRoutes stores the connector's route keys for a connection,
// keeping the routes of its active watch channels.
func (e *Engine) WriteStaticRoutes(ctx context.Context, c *db.Connection) error {
	p, err := e.provider(c.Provider)
	if err != nil {
		return err
	}
	var routes []db.Route
	if r, ok := p.Connector.(connectors.Router); ok {
		keys, err := r.RouteKeys(activities.ConnectorConnection(c))
		if err != nil {
			return &poblysh.Error{Code: poblysh.EVALIDATION, Message: "invalid connection config: " + err.Error()}
		}
		for _, k := range keys {
			routes = append(routes, db.Route{RouteKey: k})
		}
	}
	return e.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) error {
		active, err := tx.ActiveWatchChannels(ctx, c.ID)
		if err != nil {
			return err
		}
		for _, w := range active {
			routes = append(routes, db.Route{RouteKey: w.RouteKey, Stream: w.Stream})
		}
		return tx.ReplaceRoutes(ctx, c.ID, c.Provider, routes)
	})
}

// Disconnect tears a connection down before its row is deleted: schedules
// and running workflows stop, watch channels and hooks are stopped at the
// provider, and the token is revoked where the provider allows it.
// Provider-side failures are reported but do not block the deletion: the
// tokens are erased locally either way.
func (e *Engine) Disconnect(ctx context.Context, c *db.Connection, kr *vault.KeyRing) (warnings []string, err error) {
	if err := e.DeleteSchedules(ctx, c.ID); err != nil {
		return nil, err
	}
	streams, _ := e.Streams(c)
	ids := []string{workflows.RefreshWorkflowID(c.ID), workflows.WatchWorkflowID(c.ID)}
	for _, s := range streams {
		ids = append(ids, workflows.SyncWorkflowID(c.ID, s))
	}
	for _, id := range ids {
		err := e.Client.TerminateWorkflow(ctx, id, "", "connection deleted")
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			return nil, temporalUnavailable(err)
		}
	}
	p, err := e.provider(c.Provider)
	if err != nil {
		return nil, err
	}
	var tok *db.Tokens
	var channels []db.WatchChannel
	err = e.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) error {
		var err error
		if channels, err = tx.ActiveWatchChannels(ctx, c.ID); err != nil {
			return err
		}
		tok, err = tx.LoadTokens(ctx, kr, c.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	view := activities.ConnectorConnection(c)
	if w, ok := p.Connector.(connectors.Watcher); ok {
		hc := e.Registry.HTTPClient(p, c.ExternalAccountID, tok.AccessToken)
		for _, ch := range channels {
			err := w.StopWatch(ctx, connectors.StopWatchRequest{Connection: view, HTTP: hc, Channel: connectors.Channel{
				ID: ch.ChannelID, ResourceID: ch.ResourceID, Target: ch.Target, Stream: ch.Stream, RouteKey: ch.RouteKey}})
			if err != nil && connectors.Kind(err) != connectors.ErrNotFound {
				warnings = append(warnings, "could not stop channel for "+ch.Target+": "+err.Error())
				continue
			}
			if err := e.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) error { return tx.MarkWatchStopped(ctx, ch.ID) }); err != nil {
				return warnings, err
			}
		}
	}
	if _, err := e.Registry.Revoke(ctx, p, view.Account, &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken}); err != nil {
		warnings = append(warnings, "could not revoke the token at the provider: "+err.Error())
	}
	return warnings, nil
}
