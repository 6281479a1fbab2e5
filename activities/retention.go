package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/poblysh/poblysh/db"
)

// PruneInput is empty; retention settings come from configuration.
type PruneInput struct{}

// PruneResult reports a retention pass.
type PruneResult struct {
	db.Pruned
	// PurgedSignals counts the Signals of connections deleted with
	// purge_signals whose purge a stopped process had left unfinished.
	PurgedSignals int
}

// Prune applies retention in batches until nothing is left to prune, and
// first finishes the Signal purges of deleted connections that a stopped
// process left unfinished (finishPurges).
func (a *Activities) Prune(ctx context.Context, _ PruneInput) (PruneResult, error) {
	var total PruneResult
	if err := a.finishPurges(ctx, &total); err != nil {
		return total, err
	}
	rawBefore := a.now().Add(-a.RawRetention)
	eventsBefore := a.now().Add(-max(a.RawRetention, 7*24*time.Hour))
	var signalsBefore, jobsBefore *time.Time
	if a.SignalTTL > 0 {
		t := a.now().Add(-a.SignalTTL)
		signalsBefore = &t
	}
	if a.JobRetention > 0 {
		t := a.now().Add(-a.JobRetention)
		jobsBefore = &t
	}
	for {
		p, err := a.DB.Prune(ctx, rawBefore, signalsBefore, eventsBefore, jobsBefore, 5000)
		if err != nil {
			return total, err
		}
		total.RawPayloads += p.RawPayloads
		total.WebhookBodies += p.WebhookBodies
		total.Signals += p.Signals
		total.States += p.States
		total.WebhookEvents += p.WebhookEvents
		total.Retractions += p.Retractions
		total.Tombstones += p.Tombstones
		total.Jobs += p.Jobs
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, total)
		}
		if p.RawPayloads+p.WebhookBodies+p.Signals+p.States+p.WebhookEvents+p.Retractions+p.Tombstones+p.Jobs == 0 {
			return total, nil
		}
	}
}

// finishPurges purges the Signals of every connection still marked for it
// (db.DB.PurgeConnectionSignals), counting them in total: deleted with
// purge_signals by a process that stopped before the purge ended. Running
// beside a delete's own purge of the same connection is safe.
func (a *Activities) finishPurges(ctx context.Context, total *PruneResult) error {
	var pending []db.SignalScope
	if err := a.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		pending, err = tx.PendingSignalPurges(ctx)
		return err
	}); err != nil {
		return err
	}
	for _, s := range pending {
		_, err := a.DB.PurgeConnectionSignals(ctx, s.TenantID, s.ConnectionID, func(n int) {
			total.PurgedSignals += n
			if activity.IsActivity(ctx) {
				activity.RecordHeartbeat(ctx, *total)
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}
