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
