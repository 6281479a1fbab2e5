package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/workflows"
)

// Retention runs Prune once and returns its counts.
func TestRetention(t *testing.T) {
	env, j := newEnv(t)
	pruned := activities.PruneResult{Pruned: db.Pruned{RawPayloads: 12, WebhookBodies: 3, Signals: 40, States: 2, WebhookEvents: 7}}
	env.OnActivity(acts.Prune, mock.Anything, activities.PruneInput{}).Return(pruned, nil).Once()

	env.ExecuteWorkflow(workflows.Retention, workflows.RetentionInput{})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var out workflows.RetentionResult
	require.NoError(t, env.GetWorkflowResult(&out))
	require.Equal(t, workflows.RetentionResult{PruneResult: pruned}, out)
	require.Equal(t, []string{"Prune"}, j.names())
}

// A failing prune is retried five times, then the workflow fails (the next
// day's run prunes what is left).
func TestRetentionFails(t *testing.T) {
	env, j := newEnv(t)
	env.OnActivity(acts.Prune, mock.Anything, mock.Anything).Return(activities.PruneResult{}, temporal.NewApplicationError("database unavailable", activities.ErrTypeTransient))

	env.ExecuteWorkflow(workflows.Retention, workflows.RetentionInput{})

	require.ErrorContains(t, env.GetWorkflowError(), "database unavailable")
	tries := j.named("Prune")
	require.Len(t, tries, 5)
	require.Equal(t, 10*time.Second, tries[1].At.Sub(tries[0].At))
}
