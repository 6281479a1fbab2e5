package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/poblysh/poblysh/activities"
)

// RetentionInput is empty; settings come from configuration.
type RetentionInput struct{}

// RetentionResult reports what was pruned.
type RetentionResult struct {
	activities.PruneResult
}

// Retention runs daily: it finishes the Signal purges of deleted
// connections that a stopped process left unfinished, and drops raw
// payloads past their retention, Signals past the configured TTL, expired
// OAuth states and old intake records, with the retraction tombstones of
// their time once re-applied to the Signals stored beside them.
func Retention(ctx workflow.Context, _ RetentionInput) (RetentionResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, MaximumAttempts: 5},
	})
	var r activities.PruneResult
	err := workflow.ExecuteActivity(actx, a.Prune, activities.PruneInput{}).Get(ctx, &r)
	return RetentionResult{PruneResult: r}, err
}
