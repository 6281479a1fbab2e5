package webhook

import (
	"context"
	"crypto/sha256"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// routed is what route-and-record decided about a delivery.
type routed struct {
	status string
	// reached are the routes of the connections that take the delivery:
	// active ones take all of it, inactive ones its retractions only.
	reached []db.Route
	// connections counts those connections.
	connections int
	// recorded is the Signal count the delivery record holds.
	recorded int
	// unsure: the delivery's route keys reach connections of several
	// accounts of a provider whose keys each name one account
	// (connectors.Spec.RouteKeysNameOneAccount). Which account it is
	// cannot be told, so it stores nothing and nudges each active
	// connection reached to read its own account instead.
	unsure bool
}

// route finds, among routes (those of the delivery's route keys:
// db.Tx.LookupRoutes), the connections the delivery reaches and records it
// in tx (the transaction's first write),
// keyed by its provider delivery id (and, when it carries events, by its
// verifying channel and body). Only active connections take deliveries;
// an inactive one (paused, disabled, needs_reauth) takes a delivery's
// retractions only, because nothing else would tell it what was deleted
// meanwhile (history no longer returns a deleted Slack message), and such
// a delivery is accepted. A channel's secret speaks for its own connection
// only. A delivery of a provider whose route keys each name one account
// that reaches connections of several accounts (a Jira connection still
// keyed by a host Atlassian has since given to another site, whose
// webhook ids are numbered alike) belongs to one of them only, and
// nothing in it says which: it is stored for none (nor does it retract),
// and each active connection reached is nudged to read its own account
// (routed.unsure). A recorded delivery comes back as a duplicate, with
// nothing to store.
func (in *Intake) route(ctx context.Context, tx *db.Tx, provider string, d *delivery, routes []db.Route) (*routed, error) {
	if len(d.batch.Rows) > 0 {
		// The delivery record is written before the Signals: announce the
		// Signals first, or the feed could pass them (db.Tx.LockSignals;
		// nothing to do when the transaction began with the lock, as
		// Receive's does).
		if err := tx.LockSignals(ctx); err != nil {
			return nil, err
		}
	}
	var reached []db.Route
	accounts := map[string]bool{}
	for _, r := range routes {
		if d.channel != nil && r.ConnectionID != d.channel.ConnectionID {
			continue
		}
		accounts[r.AccountID] = true // an inactive connection's too: it may be the one whose account it is
		if r.Active() || len(d.Retract) > 0 {
			reached = append(reached, r)
		}
	}
	unsure := d.oneAccount && len(accounts) > 1
	if unsure {
		reached = slices.DeleteFunc(reached, func(r db.Route) bool { return !r.Active() })
	}
	ev := db.WebhookEvent{Provider: provider, DeliveryID: d.DeliveryID, Event: d.Event, RawBody: d.body}
	if len(d.Signals) > 0 && len(d.body) > 0 {
		ev.BodyHash = bodyHash(d.channel, d.body)
	}
	seen := map[string]bool{}
	active := 0 // the connections that take the delivery's Signals
	for _, r := range reached {
		if !seen[r.ConnectionID] {
			seen[r.ConnectionID] = true
			ev.ConnectionIDs = append(ev.ConnectionIDs, r.ConnectionID)
			ev.TenantIDs = append(ev.TenantIDs, r.TenantID)
			if r.Active() {
				active++
			}
		}
	}
	switch {
	case len(reached) == 0:
		ev.Status = Unroutable
	case len(d.Signals) == 0 && !d.Notify && len(d.Retract) == 0 && !d.channelGone():
		ev.Status = Ignored
	case unsure:
		ev.Status = Accepted // the nudges
		in.log().WithFields(logrus.Fields{"provider": provider, "delivery_id": d.DeliveryID, "connection_ids": ev.ConnectionIDs}).
			Warn("a delivery reaches connections of several accounts, so whose it is cannot be told: it stores nothing, " +
				"and each connection reads its own account instead")
	default:
		ev.Status = Accepted
		// What store will store unless some Signals are already there
		// (then it corrects the count): one statement less per delivery.
		ev.Signals = len(d.batch.Rows) * active
	}
	fresh, err := tx.RecordWebhook(ctx, ev)
	if err != nil {
		return nil, err
	}
	if !fresh {
		return &routed{status: Duplicate}, nil
	}
	return &routed{status: ev.Status, reached: reached, connections: len(ev.ConnectionIDs), recorded: ev.Signals, unsure: unsure}, nil
}

// bodyHash keys a delivery by its verifying channel and its body: the same
// signed body replayed under another delivery id is a duplicate. Two
// connections' hooks on one repository receive identical bodies; the
// channel tells them apart.
func bodyHash(channel *db.WatchChannel, body []byte) []byte {
	h := sha256.New()
	if channel != nil {
		h.Write([]byte(channel.ChannelID))
	}
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)
}

// store stores an accepted delivery in tx for each connection its routes
// reach: its retractions (db.Tx.RetractSignals) once per connection, and
// for an active connection its Signals (through ingest) and, for a
// notify-only push or a delivery whose account cannot be told
// (routed.unsure: nothing else of it is stored), a coalesced sync nudge,
// sent before commit, or
// recorded in tx for later delivery when Temporal is unreachable
// (nudge.go). A connection deleted since the routes were looked up (they
// lock no connection row) takes no nudge; its Signals and retractions are
// stored as if the delivery had committed just before the delete (the
// row stays, soft-deleted, and a purge of its Signals waits for the
// delivery: db.DB.PurgeConnectionSignals). It notes the tenants whose
// retractions the delivery re-applies once committed (reapply). It corrects the delivery record's
// Signal count when some were already stored, and returns what each insert
// stored, for counting once tx commits.
func (in *Intake) store(ctx context.Context, tx *db.Tx, d *delivery, rt *routed) ([]db.Stored, error) {
	var out []db.Stored
	total := 0
	conns := map[string]*db.Connection{} // each routed connection is read once
	retracted := map[string]bool{}       // retractions are recorded once per connection
	reapply := !rt.unsure && (len(d.Retract) > 0 || (d.batch.Retracts && len(d.batch.Rows) > 0))
	notify := d.Notify || rt.unsure
	for _, r := range rt.reached {
		if reapply && !slices.Contains(d.reapplyIn, r.TenantID) {
			d.reapplyIn = append(d.reapplyIn, r.TenantID)
		}
		active := r.Active()
		c, ok := conns[r.ConnectionID]
		if active && !ok {
			// The connection row is read only for a nudge (the route
			// already carries tenant, health and pause): one round trip
			// less per payload delivery.
			if notify {
				var err error
				c, err = tx.FindConnection(ctx, r.ConnectionID)
				if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
					// Deleted since the route lookup, which locks no
					// connection row: it takes no nudge (DeliverPending
					// drops such a connection's recorded nudges too), and
					// the others still do. Failing here answered the
					// provider 404 and rolled back the nudges of the
					// connections before it; those after it were never
					// nudged.
					c, err = nil, nil
				}
				if err != nil {
					return out, err
				}
			}
			conns[r.ConnectionID] = c
			if len(d.batch.Rows) > 0 && !rt.unsure {
				st, err := d.batch.Store(ctx, tx, r.TenantID, r.ConnectionID)
				if err != nil {
					return out, err
				}
				out = append(out, st)
				total += len(st.Kinds)
			}
		}
		if len(d.Retract) > 0 && !rt.unsure && !retracted[r.ConnectionID] {
			retracted[r.ConnectionID] = true
			if _, err := tx.RetractSignals(ctx, r.TenantID, r.ConnectionID, d.batch.Provider, d.Retract); err != nil {
				return out, err
			}
		}
		if active && notify && c != nil && c.Active() {
			if err := in.nudge(ctx, tx, c, r.Stream); err != nil {
				return out, err
			}
		}
	}
	if total == rt.recorded {
		return out, nil
	}
	return out, tx.SetWebhookSignals(ctx, d.batch.Provider, d.DeliveryID, total)
}
