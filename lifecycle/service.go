// Package lifecycle is the one home of a connection's life: authorizing it
// (POST /connect, POST /connections/{id}/reconnect and the start page that
// binds the flow to a browser), completing the OAuth callback, changing its
// config, pause and polling interval, syncing it on request, activating it
// (routes, schedules, watch channels, backfill), and tearing it down.
//
// HTTP handlers decode, call one method of Service and encode. Temporal is
// reached only through the small Workflows interface (engine.Engine
// implements it), so every use case runs in tests without a Temporal
// server. Health moves only by poblysh.Health.Next, stored by the db
// package.
package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/vault"
)

// Workflows is what the lifecycle asks of Temporal.
type Workflows interface {
	// SyncSchedules makes the connection's polling schedule match its
	// state (created, paused while inactive, deleted with it).
	SyncSchedules(ctx context.Context, tenantID, connID string) error
	// StartWatchReconcile starts or nudges the connection's watch manager.
	StartWatchReconcile(ctx context.Context, ref poblysh.ConnectionRef, trigger poblysh.Trigger) error
	// RequestSync asks every stream of the connection for a pass and
	// returns the job each request became.
	RequestSync(ctx context.Context, c *db.Connection, mode poblysh.SyncMode, trigger poblysh.Trigger) ([]db.Job, error)
	// RequestSyncsUntil is RequestSync for several connections, their
	// streams asked a bounded number at a time (a manual sync of every
	// connection of a provider), starting no connection once until has
	// passed (zero: no bound): the jobs of the connections it asked, the
	// first asked of conns, in their order, and how many it asked. It
	// calls progress (nil: none) as the first connections whose every
	// stream was answered grow, with their number and their jobs'.
	RequestSyncsUntil(ctx context.Context, conns []db.Connection, mode poblysh.SyncMode, trigger poblysh.Trigger, until time.Time, progress func(asked, jobs int)) ([]db.Job, int, error)
	// StartProviderSync hands the rest of a sync of every connection of a
	// provider, the connections after the cursor after
	// (db.ConnectionCursor), to a workflow that asks them (SyncFrom).
	StartProviderSync(ctx context.Context, tenantID, provider string, mode poblysh.SyncMode, after string) error
	// StopConnection deletes the connection's schedules and terminates its
	// running workflows (before its row is deleted).
	StopConnection(ctx context.Context, c *db.Connection) error
}

// AccessChecker proves a stored connection's access with its own token
// (activities.AccessService implements it: it refreshes the token first
// when needed). Errors are the neutral connector errors.
type AccessChecker interface {
	Prove(ctx context.Context, ref poblysh.ConnectionRef, cfg json.RawMessage, only []string) (*connectors.AccessReport, error)
	// Authorize returns the connection's tokens, refreshed first when the
	// access token expires within a minute (tokens are refreshed when a
	// call needs one, so an idle connection's may have expired), and an
	// HTTP client that sends it.
	Authorize(ctx context.Context, ref poblysh.ConnectionRef) (*http.Client, *db.Tokens, error)
}

// Service runs the connection use cases.
type Service struct {
	DB        *db.DB
	Registry  *connectors.Registry
	KeyRing   *vault.KeyRing
	Workflows Workflows
	Access    AccessChecker
	// RedirectAllowlist holds the URL prefixes a connect redirect_uri may use.
	RedirectAllowlist []string
	// StateTTL is how long an authorization stays valid (10 minutes when 0).
	StateTTL time.Duration
	// Log receives what goes wrong beside a request's answer (nil: the
	// standard logger).
	Log *logrus.Logger
	// SyncAnswerWithin is how long a sync of every connection of a
	// provider asks their streams before it answers and leaves the rest
	// to a workflow (DefaultSyncAnswerWithin when 0).
	SyncAnswerWithin time.Duration
	// PurgeWait is how long a callback waits for the pending Signal purge
	// of the deleted connection it would revive (10 seconds when 0).
	PurgeWait time.Duration
}

func (s *Service) log() *logrus.Logger {
	if s.Log != nil {
		return s.Log
	}
	return logrus.StandardLogger()
}

func (s *Service) provider(name string) (*connectors.Provider, error) {
	p, ok := s.Registry.Get(name)
	if !ok {
		return nil, poblysh.NotFound("provider")
	}
	return p, nil
}

// Find loads a live connection of the tenant: 404 for other tenants'
// connections and for ids that are not a UUID in canonical form.
func (s *Service) Find(ctx context.Context, tenantID, id string) (*db.Connection, error) {
	if !canonicalID(id) {
		return nil, poblysh.NotFound("connection")
	}
	var c *db.Connection
	err := s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) (err error) {
		c, err = tx.FindConnection(ctx, id)
		return err
	})
	return c, err
}

// canonicalID reports whether id is a UUID in canonical form, as stored ids
// are; any other string names no connection.
func canonicalID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}

// Activate brings a new or changed connection to life: webhook routes from
// what it proved, its polling schedule, watch channels (registered by the
// connection's watch workflow, with retries) and, when backfill is true, a
// backfill of every stream, whose jobs it returns. An inactive connection
// gets its routes and a paused schedule only.
func (s *Service) Activate(ctx context.Context, c *db.Connection, backfill bool, trigger poblysh.Trigger) ([]db.Job, error) {
	if err := s.rebuildRoutes(ctx, c); err != nil {
		return nil, err
	}
	if err := s.Workflows.SyncSchedules(ctx, c.TenantID, c.ID); err != nil {
		return nil, err
	}
	if !c.Active() {
		return nil, nil
	}
	if err := s.Workflows.StartWatchReconcile(ctx, Ref(c), trigger); err != nil {
		return nil, err
	}
	if !backfill {
		return nil, nil
	}
	return s.Workflows.RequestSync(ctx, c, poblysh.ModeBackfill, trigger)
}

// DeleteWithin bounds a delete once it has marked its connection: from
// then on it runs on its own clock, not the request's, so a client that
// hangs up does not stop it half-way (its schedules deleted, its row
// live). It ends well within the ten minutes the mark holds watch passes
// off (db.Tx.TakeWatchLease). The API's deadline for a delete
// (api.DeleteDeadline) leaves room for it and the purge after it.
const DeleteWithin = 5 * time.Minute

// Disconnect tears a connection down and deletes its row
// (db.Tx.DeleteConnection, with purge): it is marked first, so that no
// watch pass registers a channel from then on, and one that may be
// registering some is waited for; schedules and running workflows stop,
// watch channels and hooks are stopped at the provider, the token is
// revoked where the provider allows it, and the row is deleted.
// Provider-side failures come back as warnings and do not block the
// deletion: the tokens are erased locally either way. Once marked, it
// runs on its own clock (DeleteWithin). When it fails, the connection
// lives on: its mark is taken back and it is marked for activation
// (db.ActivateApply), since its schedules, watch manager and refresher
// may be gone already, so the worker's activation sweep makes them again.
// also, when not nil, runs in the transaction that deletes the row, after
// the delete (DeleteWith).
func (s *Service) Disconnect(ctx context.Context, c *db.Connection, purge bool, also func(*db.Tx) error) (warnings []string, err error) {
	var mark time.Time
	var lease *time.Time
	err = s.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) (err error) {
		mark, lease, err = tx.MarkDisconnecting(ctx, c.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DeleteWithin)
	defer cancel()
	defer func() {
		if err != nil {
			s.keepFailedDelete(c, mark)
		}
	}()
	if warnings, err = s.stopAtProvider(ctx, c, lease); err != nil {
		return nil, err
	}
	err = s.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) error {
		if err := tx.DeleteConnection(ctx, c.ID, purge); err != nil || also == nil {
			return err
		}
		return also(tx)
	})
	return warnings, err
}

// keepFailedDelete leaves the connection a delete failed to remove as it
// was: live, unmarked, and marked for activation in the same transaction
// (a connection deleted meanwhile, by another delete, is left alone).
// Whatever ended the delete (a client gone, Temporal or the database
// unreachable), it runs on a clock of its own.
func (s *Service) keepFailedDelete(c *db.Connection, mark time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) error {
		if err := tx.UnmarkDisconnecting(ctx, c.ID, mark); err != nil {
			return err
		}
		live, err := tx.FindConnection(ctx, c.ID)
		if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		return tx.MarkActivation(ctx, live, db.ActivateApply)
	})
	if err != nil {
		s.log().WithError(err).WithField("connection_id", c.ID).
			Error("a failed delete could not take back its mark nor mark the connection for activation: its watch passes wait ten minutes for the mark to lapse, and its polling schedule comes back only with its next update")
	}
}

// stopAtProvider is Disconnect's work before the row is deleted: the
// connection's workflows and schedules, then (once a watch pass holding
// lease has ended) its channels at the provider and its token.
func (s *Service) stopAtProvider(ctx context.Context, c *db.Connection, lease *time.Time) (warnings []string, err error) {
	if err := s.Workflows.StopConnection(ctx, c); err != nil {
		return nil, err
	}
	p, err := s.provider(c.Provider)
	if err != nil {
		return nil, err
	}
	if lease != nil {
		if err := s.awaitWatchPass(ctx, c, *lease); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			warnings = append(warnings, err.Error())
		}
	}
	var tok *db.Tokens
	var channels []db.WatchChannel
	err = s.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) error {
		var err error
		if channels, err = tx.ActiveWatchChannels(ctx, c.ID); err != nil {
			return err
		}
		tok, err = tx.LoadTokens(ctx, s.KeyRing, c.ID)
		return err
	})
	if unreadable(err) {
		// A token under a key the ring no longer holds (lost, or retired
		// before reencrypt ended) cannot be used to stop or revoke
		// anything; the deletion still erases it here. Failing instead
		// kept the connection (and a tenant deletion behind it) from ever
		// ending while its routes went on storing deliveries.
		return append(warnings, fmt.Sprintf("the stored token cannot be read with the configured keys: it was not revoked at the provider, "+
			"and %d push channel(s) stay there until they expire or are removed at the provider", len(channels))), nil
	}
	if err != nil {
		return nil, err
	}
	view := View(c)
	hc := s.Registry.HTTPClient(p, c.ExternalAccountID, tok.AccessToken)
	if s.Access != nil && tok.RefreshToken != "" {
		// An idle connection's access token may have expired (tokens are
		// refreshed when a call needs one): refresh it for the calls below.
		// When that fails (the grant was revoked, say), they try the
		// stored one.
		if fresh, ftok, err := s.Access.Authorize(ctx, Ref(c)); err != nil {
			warnings = append(warnings, "could not refresh the token: "+err.Error())
		} else {
			hc, tok = fresh, ftok
		}
	}
	if w, ok := p.Connector.(connectors.Watcher); ok {
		for _, ch := range channels {
			err := w.StopWatch(ctx, connectors.StopWatchRequest{Connection: view, HTTP: hc, Channel: connectors.Channel{
				ID: ch.ChannelID, ResourceID: ch.ResourceID, Target: ch.Target, Stream: ch.Stream, RouteKey: ch.RouteKey}})
			if err != nil && connectors.Kind(err) != connectors.ErrNotFound {
				warnings = append(warnings, "could not stop channel for "+ch.Target+": "+err.Error())
				continue
			}
			if err := s.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) error { return tx.MarkWatchStopped(ctx, ch.ID) }); err != nil {
				return warnings, err
			}
		}
	}
	if sharers := s.Registry.GrantSharers(p); sharers != nil {
		// Revoking would revoke the grant other connections of the
		// account live on (another tenant's, or this account's Drive
		// beside its Calendar): the last one to go revokes it.
		var others int
		if err := s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			others, err = tx.GrantHolders(ctx, sharers, c.ExternalAccountID, c.ID)
			return err
		}); err != nil {
			return warnings, err
		}
		if others > 0 {
			return append(warnings, fmt.Sprintf("the grant at the provider was kept: %d other connection(s) of this account use it", others)), nil
		}
	}
	revoke := &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken}
	if tok.Expiry != nil {
		revoke.Expiry = *tok.Expiry // a revoker that calls the API first knows whether to refresh
	}
	if _, err := s.Registry.Revoke(ctx, p, view.Account, revoke); err != nil {
		warnings = append(warnings, "could not revoke the token at the provider: "+err.Error())
	}
	return warnings, nil
}

// watchPassWait bounds how long a delete waits for a watch pass to store
// the channels it is registering (a pass takes seconds; its lease ends at
// its activity's deadline, two minutes after it began).
var watchPassWait = 30 * time.Second

// awaitWatchPass waits until the watch pass holding c's lease (until
// lease) has stored what it made at the provider and ended it, so that the
// channels listed next include them.
func (s *Service) awaitWatchPass(ctx context.Context, c *db.Connection, lease time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, watchPassWait)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("a watch pass was still registering push channels after %s (its lease ends %s): a channel it makes stays at the provider until it expires or is removed there",
				watchPassWait, lease.UTC().Format(time.RFC3339))
		case <-tick.C:
		}
		var held *time.Time
		err := s.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) (err error) {
			held, err = tx.WatchLease(ctx, c.ID)
			return err
		})
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil && held == nil {
			return nil
		}
	}
}

// proveWithToken proves, with a token that is not stored yet (the one the
// callback just received), that it can read every resource view's config
// names. A config naming a resource the token cannot read is a
// *connectors.AccessError; other failures come back as they are.
func (s *Service) proveWithToken(ctx context.Context, p *connectors.Provider, view connectors.Connection, accessToken string) (*connectors.AccessReport, error) {
	prover, ok := p.Connector.(connectors.AccessProver)
	if !ok {
		return &connectors.AccessReport{}, nil
	}
	report, err := prover.ProveAccess(ctx, connectors.AccessRequest{
		Connection: view, HTTP: s.Registry.HTTPClient(p, view.Account.ID, accessToken),
	})
	if err != nil {
		return nil, err
	}
	return report, connectors.CheckReport(report)
}

// proveStored proves a stored connection's access to the resources cfg
// names (a config about to replace its own), with its stored token.
func (s *Service) proveStored(ctx context.Context, c *db.Connection, cfg json.RawMessage) (*connectors.AccessReport, error) {
	if s.Access == nil {
		return nil, poblysh.Unavailable("access checks", nil)
	}
	report, err := s.Access.Prove(ctx, Ref(c), cfg, nil)
	if err != nil {
		return nil, err
	}
	return report, connectors.CheckReport(report)
}

// accessError maps a failed access proof: resources the connection's token
// cannot read are refused (422 invalid_config, each named with its reason);
// domain errors pass through; anything else is the provider's failure.
func accessError(err error) error {
	var ae *connectors.AccessError
	if errors.As(err, &ae) {
		return &poblysh.Error{Code: poblysh.EINVALIDCONFIG, Message: ae.Error(), Details: ae.Fields()}
	}
	if poblysh.ErrorCode(err) != poblysh.EINTERNAL {
		return err
	}
	return providerError("checking access to the configured resources", err)
}

// providerError maps a failed provider call: a refused grant is the
// client's problem (400); anything else is the provider's (502).
func providerError(what string, err error) error {
	switch connectors.Kind(err) {
	case connectors.ErrUnauthorized, connectors.ErrForbidden:
		return &poblysh.Error{Code: poblysh.EINVALID, Message: "the provider refused the authorization while " + what + ": " + err.Error(), Err: err}
	default:
		return &poblysh.Error{Code: poblysh.EBADGATEWAY, Message: "the provider failed while " + what + ": " + err.Error(), Err: err}
	}
}
