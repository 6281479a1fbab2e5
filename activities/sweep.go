package activities

import (
	"context"
	"encoding/json"
	"time"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
)

// The sweeps (token refresh, watch renewal) list the connections due for
// work, then start one workflow per connection; both pairs of activities
// share these types.

// ListDueInput pages a sweep.
type ListDueInput struct {
	Limit int
	// Since, when set, leaves out the connections the sweep's earlier
	// rounds listed (ListDueResult.ListedAt of its first round). The token
	// and renewal sweeps' only.
	Since *time.Time `json:",omitempty"`
}

// ListDueResult lists connections due for work.
type ListDueResult struct {
	Connections DueConnections
	// ListedAt is when the listed connections were marked as listed: a
	// sweep's later rounds pass their first round's as Since. The token
	// and renewal sweeps' only.
	ListedAt *time.Time `json:",omitempty"`
}

// StartManyInput starts per-connection workflows for a sweep.
type StartManyInput struct {
	Connections DueConnections
}

// StartManyResult counts started workflows.
type StartManyResult struct {
	Started int
}

// DueConnections are the connections a sweep found due. In workflow
// histories each is {"ID", "TenantID", "Provider"} (the shape of the row
// type they were before poblysh.ConnectionRef): that JSON is kept, so a
// sweep running across an upgrade reads what earlier workers wrote, and
// earlier workers read what this one writes.
type DueConnections []poblysh.ConnectionRef

type dueJSON struct {
	ID       string
	TenantID string
	Provider string
}

// MarshalJSON writes the recorded shape.
func (d DueConnections) MarshalJSON() ([]byte, error) {
	if d == nil {
		return []byte("null"), nil
	}
	out := make([]dueJSON, len(d))
	for i, r := range d {
		out[i] = dueJSON{ID: r.ConnectionID, TenantID: r.TenantID, Provider: r.Provider}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads the recorded shape.
func (d *DueConnections) UnmarshalJSON(b []byte) error {
	var in []dueJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if in == nil {
		*d = nil
		return nil
	}
	out := make(DueConnections, len(in))
	for i, r := range in {
		out[i] = poblysh.ConnectionRef{TenantID: r.TenantID, ConnectionID: r.ID, Provider: r.Provider}
	}
	*d = out
	return nil
}

// ListDueTokens lists connections whose tokens the sweep should refresh,
// of every provider in one order (db.TokensDue): those it listed longest
// ago first, so connections whose refresh keeps failing without refusing
// the grant go behind the others instead of holding every page.
func (a *Activities) ListDueTokens(ctx context.Context, in ListDueInput) (ListDueResult, error) {
	var sweeps []db.TokenSweep
	for _, p := range a.Registry.Providers() {
		pol := p.Spec.Policy.Token
		if (!pol.Expires || pol.OnDemand) && pol.KeepAliveAfter == 0 {
			continue
		}
		// The window covers the next sweep too (it runs hourly).
		window := pol.RefreshBefore + time.Hour
		if pol.OnDemand {
			window = 0 // only the keep-alive of idle refresh tokens
		}
		sweeps = append(sweeps, db.TokenSweep{Provider: p.Spec.Name, Window: window, KeepAlive: pol.KeepAliveAfter})
	}
	var res ListDueResult
	if len(sweeps) == 0 {
		return res, nil
	}
	err := a.DB.WithSystem(ctx, func(tx *db.Tx) error {
		due, at, err := tx.TokensDue(ctx, sweeps, in.Since, in.Limit)
		if len(due) > 0 {
			res = ListDueResult{Connections: due, ListedAt: &at}
		}
		return err
	})
	return res, err
}

// StartRefreshes starts one RefreshToken workflow per connection.
func (a *Activities) StartRefreshes(ctx context.Context, in StartManyInput) (StartManyResult, error) {
	n := 0
	for _, c := range in.Connections {
		if err := a.Orchestrator.StartRefresh(ctx, c); err != nil {
			return StartManyResult{Started: n}, err
		}
		n++
	}
	return StartManyResult{Started: n}, nil
}

// ListDueWatches lists connections with a channel due for renewal, or
// made under a webhook secret rotated out (db.ListWatchesDue), those it
// listed longest ago first, so connections whose watch pass keeps failing
// go behind the others instead of holding every page.
func (a *Activities) ListDueWatches(ctx context.Context, in ListDueInput) (ListDueResult, error) {
	var res ListDueResult
	err := a.DB.WithSystem(ctx, func(tx *db.Tx) error {
		due, at, err := tx.ListWatchesDue(ctx, db.WatchSweep{Now: a.now(), Interval: a.RenewalInterval, Keyed: a.keyedProviders(),
			SecretIDs: a.secretIDs(), Since: in.Since, Limit: in.Limit})
		if len(due) > 0 {
			res = ListDueResult{Connections: due, ListedAt: &at}
		}
		return err
	})
	return res, err
}

// keyedProviders names the providers whose channels sign with a secret of
// their own.
func (a *Activities) keyedProviders() []string {
	var out []string
	for _, p := range a.Registry.Providers() {
		if _, ok := p.Connector.(connectors.ChannelKeyed); ok {
			out = append(out, p.Spec.Name)
		}
	}
	return out
}

// secretIDs names, by provider, the webhook secret a SecretBound
// provider's channels are made under now.
func (a *Activities) secretIDs() map[string]string {
	out := map[string]string{}
	for _, p := range a.Registry.Providers() {
		if b, ok := p.Connector.(connectors.SecretBound); ok {
			out[p.Spec.Name] = b.SecretID()
		}
	}
	return out
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
