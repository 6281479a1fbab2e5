package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
)

// View is the connector's view of a stored connection. The account's id
// and name fall back to the columns when the stored account JSON lacks
// them (rows from before it was stored).
func View(c *db.Connection) connectors.Connection {
	var acct connectors.Account
	_ = json.Unmarshal(c.Account, &acct)
	if acct.ID == "" {
		acct.ID = c.ExternalAccountID
	}
	if acct.Name == "" {
		acct.Name = c.DisplayName
	}
	return connectors.Connection{ID: c.ID, TenantID: c.TenantID, Account: acct, Config: c.Config}
}

// Ref names a stored connection (no stream).
func Ref(c *db.Connection) poblysh.ConnectionRef {
	return poblysh.ConnectionRef{TenantID: c.TenantID, ConnectionID: c.ID, Provider: c.Provider}
}

// ResourceRows converts the resources an access proof granted for storage.
func ResourceRows(granted []connectors.Resource) []db.Resource {
	out := make([]db.Resource, 0, len(granted))
	for _, r := range granted {
		out = append(out, db.Resource{Ref: r.Ref, ResourceID: r.ID, Name: r.Name, RouteKeys: r.RouteKeys})
	}
	return out
}

// RebuildRoutes recomputes a connection's webhook routes in tx from what it
// has proved: the static keys its connector derives from the account
// itself (proved by the grant: a Slack team, never tenant input), its
// granted resources, and the active channels of resources still readable
// whose target its config still names (connectors.Watcher.WatchTargets,
// the rule by which the watch pass keeps or stops a channel; a config
// whose targets cannot be read names none). A channel that watches the
// account rather than a configured resource carries a target every
// config names (Gmail's mailbox), so it stays routed.
// The keys come from c's row as it is now, locked until tx ends
// (db.Tx.LockConnection), not from c: callers read c before a change may
// have committed (the activation sweep reads it, then activates it; a
// watch pass reads it, then calls the provider), and routes from the old
// config written after the change's own rebuild stayed (a Slack connection
// narrowed to one channel routed the whole workspace again). A deleted
// connection gets none.
func RebuildRoutes(ctx context.Context, tx *db.Tx, p *connectors.Provider, c *db.Connection) error {
	cur, err := tx.LockConnection(ctx, c.ID)
	if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	var keys []string
	if r, ok := p.Connector.(connectors.Router); ok {
		if keys, err = r.RouteKeys(View(cur)); err != nil {
			return err
		}
	}
	var watched func(string) bool
	if w, ok := p.Connector.(connectors.Watcher); ok {
		// Pure functions of the config: an error is a config that names
		// nothing to watch (a GitHub one without repositories).
		targets, _ := w.WatchTargets(View(cur))
		watched = func(target string) bool { return slices.Contains(targets, target) }
	}
	return tx.RebuildRoutes(ctx, cur.ID, cur.Provider, keys, watched)
}

// Push is whether push delivers for a connection (push_enabled, which its
// polling schedule reads: PollInterval).
type Push struct {
	// On: every watch target has an open, routed channel (or, for a
	// provider without channels, an app-level webhook routes by account).
	On bool
	// Active counts the connection's open channels.
	Active int
	// Uncovered lists the watch targets without an open channel that is
	// routed (none, refused, or of a resource whose access was lost), in
	// config order; while there is one, On is false.
	Uncovered []string
	// Changed: the stored push_enabled was the other way.
	Changed bool
}

// RecordPush decides in tx whether push delivers for every target of c
// and stores it (push_enabled), from c's row as it is now (locked until tx
// ends, as RebuildRoutes locks it), its open channels and its resources.
// Push counts as on when channels are open, or when the provider pushes
// to an app-level URL that routes by account (Slack events), and only
// when every watch target (the config's, while the service has a public
// URL) has an open channel whose resource is not lost, that is, one
// RebuildRoutes routes: a target the provider refused a channel for (a
// Jira webhook past a limit), or whose resource a sync found unreadable
// (its channel's route dropped), would otherwise be read only at the
// reconciliation poll, hours apart. The watch pass records it after each
// pass, and a proof after it grants or loses a resource. A deleted
// connection records nothing.
func RecordPush(ctx context.Context, tx *db.Tx, p *connectors.Provider, c *db.Connection) (Push, error) {
	cur, err := tx.LockConnection(ctx, c.ID)
	if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
		return Push{}, nil
	}
	if err != nil {
		return Push{}, err
	}
	channels, err := tx.ActiveWatchChannels(ctx, cur.ID)
	if err != nil {
		return Push{}, err
	}
	resources, err := tx.ListResources(ctx, cur.ID)
	if err != nil {
		return Push{}, err
	}
	watcher, canWatch := p.Connector.(connectors.Watcher)
	_, hooks := p.Connector.(connectors.WebhookReceiver)
	_, routed := p.Connector.(connectors.Router)
	out := Push{Active: len(channels)}
	out.On = out.Active > 0 || (hooks && routed && !canWatch && p.Config.WebhookSecret != "")
	var targets []string
	if canWatch && p.Config.PublicURLSet {
		if targets, err = watcher.WatchTargets(View(cur)); err != nil {
			return Push{}, err
		}
	}
	lost := map[string]bool{}
	for _, r := range resources {
		if r.Access != db.AccessGranted {
			lost[r.Ref] = true
		}
	}
	covered := map[string]bool{}
	for _, ch := range channels {
		if !lost[ch.Target] {
			covered[ch.Target] = true
		}
	}
	for _, target := range targets {
		if !covered[target] {
			out.Uncovered = append(out.Uncovered, target)
		}
	}
	if len(out.Uncovered) > 0 {
		out.On = false
	}
	if out.On == cur.PushEnabled {
		return out, nil
	}
	out.Changed = true
	return out, tx.SetPushEnabled(ctx, cur.ID, out.On)
}

// rebuildRoutes is RebuildRoutes in a transaction of its own. A connector
// that cannot derive keys from the config makes it a validation error.
func (s *Service) rebuildRoutes(ctx context.Context, c *db.Connection) error {
	p, err := s.provider(c.Provider)
	if err != nil {
		return err
	}
	return s.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) error {
		if err := RebuildRoutes(ctx, tx, p, c); err != nil {
			var pe *poblysh.Error
			if errors.As(err, &pe) {
				return err
			}
			return &poblysh.Error{Code: poblysh.EVALIDATION, Message: "invalid connection config: " + err.Error(), Err: err}
		}
		return nil
	})
}

// PollInterval is a connection's effective polling interval: its own
// override (never below the provider's floor), else the provider's poll
// interval without push, or its longer reconcile interval when webhooks or
// watch channels deliver. An unknown provider polls hourly.
func PollInterval(reg *connectors.Registry, c *db.Connection) time.Duration {
	p, ok := reg.Get(c.Provider)
	if !ok {
		return time.Hour
	}
	pol := p.Spec.Policy
	if c.PollIntervalSeconds != nil {
		return max(time.Duration(*c.PollIntervalSeconds)*time.Second, pol.MinPollInterval)
	}
	if c.PushEnabled && pol.ReconcileInterval > 0 {
		return pol.ReconcileInterval
	}
	return pol.PollInterval
}
