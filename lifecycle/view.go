package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
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
// granted resources, and the active channels of resources still readable.
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
	return tx.RebuildRoutes(ctx, cur.ID, cur.Provider, keys)
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
