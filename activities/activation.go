package activities

import (
	"context"

	"github.com/poblysh/poblysh/db"
)

// ListPendingActivations lists connections stored but never activated (or
// an update never applied) because Temporal could not be reached when
// their request ran: the activation sweep's list (db.ActivationsDue).
func (a *Activities) ListPendingActivations(ctx context.Context, in ListDueInput) (ListDueResult, error) {
	var out DueConnections
	err := a.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		out, err = tx.ActivationsDue(ctx, in.Limit)
		return err
	})
	return ListDueResult{Connections: out}, err
}

// ActivatePending does what each connection's activation mark owes: its
// routes, schedule and watch channels, and its backfill or catch-up sync
// (lifecycle.Service.ActivatePending). A connection whose activation
// fails is logged and left marked, behind the others, for a later sweep;
// the rest go on. Started counts the connections activated.
func (a *Activities) ActivatePending(ctx context.Context, in StartManyInput) (StartManyResult, error) {
	n := 0
	for _, ref := range in.Connections {
		if err := ctx.Err(); err != nil {
			return StartManyResult{Started: n}, err
		}
		done, err := a.Connections.ActivatePending(ctx, ref)
		if err != nil {
			a.logger(ctx, ref).WithError(err).Warn("activation sweep: could not activate the connection; a later sweep tries again")
			continue
		}
		if done {
			n++
		}
	}
	return StartManyResult{Started: n}, nil
}
