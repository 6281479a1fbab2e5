package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
)

// authorized loads a connection and returns an HTTP client authorized with
// its token, refreshed first when it expires within a minute. refresh
// spends the token once more after a 401 (the caller passes the token that
// failed).
type authorized struct {
	conn   *db.Connection
	tok    *db.Tokens
	client *http.Client
}

func (a *Activities) authorize(ctx context.Context, ref poblysh.ConnectionRef) (*authorized, error) {
	p, err := a.provider(ref.Provider)
	if err != nil {
		return nil, err
	}
	var out authorized
	err = a.DB.WithTenant(ctx, ref.TenantID, func(tx *db.Tx) (err error) {
		if out.conn, err = tx.FindConnection(ctx, ref.ConnectionID); err != nil {
			return err
		}
		out.tok, err = tx.LoadTokens(ctx, a.KeyRing, ref.ConnectionID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if out.tok.RefreshToken != "" && out.tok.Expiry != nil && out.tok.Expiry.Before(a.now().Add(time.Minute)) {
		if out.tok, err = a.refresh(ctx, ref, out.tok.AccessToken, true); err != nil {
			return nil, err
		}
	}
	out.client = a.Registry.HTTPClient(p, out.conn.ExternalAccountID, out.tok.AccessToken)
	return &out, nil
}

// proveStored proves, with the connection's stored token, that it can read
// the resources cfg names (the connection's own config when cfg is nil;
// only those refs when only is set). A 401 refreshes the token once.
func (a *Activities) proveStored(ctx context.Context, ref poblysh.ConnectionRef, cfg json.RawMessage, only []string) (*connectors.AccessReport, error) {
	p, err := a.provider(ref.Provider)
	if err != nil {
		return nil, err
	}
	prover, ok := p.Connector.(connectors.AccessProver)
	if !ok {
		return &connectors.AccessReport{}, nil
	}
	auth, err := a.authorize(ctx, ref)
	if err != nil {
		return nil, err
	}
	view := lifecycle.View(auth.conn)
	if cfg != nil {
		view.Config = cfg
	}
	report, err := prover.ProveAccess(ctx, connectors.AccessRequest{Connection: view, HTTP: auth.client, Only: only})
	if errors.Is(err, connectors.ErrUnauthorized) && auth.tok.RefreshToken != "" {
		tok, rerr := a.refresh(ctx, ref, auth.tok.AccessToken, true)
		if rerr != nil {
			return nil, rerr
		}
		report, err = prover.ProveAccess(ctx, connectors.AccessRequest{Connection: view, HTTP: a.Registry.HTTPClient(p, auth.conn.ExternalAccountID, tok.AccessToken), Only: only})
	}
	return report, err
}

// recordProof stores the outcome of a proof of some resources: granted ones
// are (re)granted, denied ones lost; routes follow, and so does push
// (lifecycle.RecordPush: a lost resource's channel is no longer routed, so
// push no longer covers it and the connection polls at its interval until
// the resource is read again). Only resources the connection's config
// names when the proof is stored are recorded (see named); it returns the
// part of report it recorded. When push changed, the connection's polling
// schedule follows (SyncSchedules); when a resource granted again has no
// open channel (a watch pass stopped it while the resource was lost), the
// connection's watch pass starts, to register one. Both are logged when
// they fail: the proof is stored.
func (a *Activities) recordProof(ctx context.Context, ref poblysh.ConnectionRef, p *connectors.Provider, report *connectors.AccessReport) (*connectors.AccessReport, error) {
	kept := &connectors.AccessReport{}
	var push lifecycle.Push
	var regained []string
	err := a.DB.WithTenant(ctx, ref.TenantID, func(tx *db.Tx) error {
		// Locked before the grants' inserts, as RebuildRoutes locks it:
		// taken after them, it deadlocked with a PATCH that pauses.
		c, err := tx.LockConnection(ctx, ref.ConnectionID)
		if err != nil {
			return err
		}
		if kept, err = named(p, c, report); err != nil {
			return err
		}
		regained = nil
		if len(kept.Granted) > 0 {
			rows, err := tx.ListResources(ctx, c.ID)
			if err != nil {
				return err
			}
			for _, r := range rows {
				if r.Access != db.AccessGranted && slices.ContainsFunc(kept.Granted, func(g connectors.Resource) bool { return g.Ref == r.Ref }) {
					regained = append(regained, r.Ref)
				}
			}
		}
		for _, r := range lifecycle.ResourceRows(kept.Granted) {
			if err := tx.GrantResource(ctx, c.ID, r); err != nil {
				return err
			}
		}
		for _, d := range kept.Denied {
			if _, err := tx.LoseResource(ctx, c.ID, d.Ref, d.Reason); err != nil {
				return err
			}
		}
		if err := lifecycle.RebuildRoutes(ctx, tx, p, c); err != nil {
			return err
		}
		push, err = lifecycle.RecordPush(ctx, tx, p, c)
		return err
	})
	if err != nil || a.Orchestrator == nil {
		return kept, err
	}
	log := a.logger(ctx, ref)
	if push.Changed {
		if err := a.Orchestrator.SyncSchedules(ctx, ref.TenantID, ref.ConnectionID); err != nil {
			log.WithError(err).Warn("push changed with access to a resource, but the polling schedule could not follow; the next watch pass or change of push sets it")
		}
	}
	if slices.ContainsFunc(regained, func(r string) bool { return slices.Contains(push.Uncovered, r) }) {
		if err := a.Orchestrator.StartWatchReconcile(ctx, ref.Connection(), poblysh.TriggerSchedule); err != nil {
			log.WithError(err).Warn("a resource read again has no push channel, and its watch pass could not start; the connection polls at its interval")
		}
	}
	return kept, nil
}

// named is the part of report about resources c's config names (c: the
// connection's row, locked). A proof is read before it is stored, under
// the config as it was then (a page or a watch pass that loaded the
// connection before a PATCH or a reconnect with a new config): a resource
// the tenant removed since is neither granted again, which would route it
// again, nor lost, which would keep the connection degraded for a
// resource it no longer names. A connector without proofs names none.
func named(p *connectors.Provider, c *db.Connection, report *connectors.AccessReport) (*connectors.AccessReport, error) {
	prover, ok := p.Connector.(connectors.AccessProver)
	if !ok {
		return report, nil
	}
	refs, err := prover.ResourceRefs(lifecycle.View(c))
	if err != nil {
		return nil, fmt.Errorf("list the resources of the connection's config: %w", err)
	}
	out := &connectors.AccessReport{}
	for _, r := range report.Granted {
		if slices.Contains(refs, r.Ref) {
			out.Granted = append(out.Granted, r)
		}
	}
	for _, d := range report.Denied {
		if slices.Contains(refs, d.Ref) {
			out.Denied = append(out.Denied, d)
		}
	}
	return out, nil
}

// loseAccess records that a sync found a resource unreadable: its routes
// are dropped and the connection is degraded with the reason, until a later
// sync reads it again. It returns false when the connection's config no
// longer names the resource (nothing is recorded: the tenant removed it).
func (a *Activities) loseAccess(ctx context.Context, conn poblysh.ConnectionRef, p *connectors.Provider, ref string, cause error) bool {
	d, err := connectors.Denied(ref, cause)
	if err != nil || d == nil {
		return true
	}
	kept, err := a.recordProof(context.WithoutCancel(ctx), conn, p, &connectors.AccessReport{Denied: []connectors.Denial{*d}})
	if err != nil {
		a.logger(ctx, conn).WithError(err).Warn("could not record lost access")
		return true
	}
	if len(kept.Denied) == 0 {
		a.logger(ctx, conn).WithField("resource", ref).Info("a resource the connection's config no longer names is unreadable; not recorded")
		return false
	}
	a.logger(ctx, conn).WithField("resource", ref).Warn("lost access to a resource; its webhook routes are dropped")
	a.recordHealth(ctx, conn, poblysh.HealthEvent{Kind: poblysh.EventAccessLost, Detail: d.String()})
	return true
}

// regainAccess re-proves a resource a successful sync just read when it is
// not recorded as granted (lost earlier, or never proved because the
// connection predates proofs), so its routes come back.
func (a *Activities) regainAccess(ctx context.Context, conn poblysh.ConnectionRef, p *connectors.Provider, ref string, hc *http.Client, view connectors.Connection) error {
	prover, ok := p.Connector.(connectors.AccessProver)
	if !ok {
		return nil
	}
	report, err := prover.ProveAccess(ctx, connectors.AccessRequest{Connection: view, HTTP: hc, Only: []string{ref}})
	if err != nil {
		return err
	}
	kept, err := a.recordProof(ctx, conn, p, report)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(kept.Granted, func(r connectors.Resource) bool { return r.Ref == ref }) {
		a.logger(ctx, conn).WithField("resource", ref).Info("access to a resource proved; it is routed")
	}
	return nil
}

// AccessService proves connections' access with their stored tokens outside
// any workflow (the API checks a new config before it stores it).
type AccessService struct{ A *Activities }

// Authorize returns the connection's tokens, refreshed first when the
// access token expires within a minute, and a client that sends it.
func (s AccessService) Authorize(ctx context.Context, ref poblysh.ConnectionRef) (*http.Client, *db.Tokens, error) {
	auth, err := s.A.authorize(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	return auth.client, auth.tok, nil
}

// Prove proves the resources cfg names for the connection ref (only those
// refs when only is set). Errors are the neutral connector errors.
func (s AccessService) Prove(ctx context.Context, ref poblysh.ConnectionRef, cfg json.RawMessage, only []string) (*connectors.AccessReport, error) {
	return s.A.proveStored(ctx, ref, cfg, only)
}
