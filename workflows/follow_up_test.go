package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/workflows"
)

// A pass started by a webhook nudge fails permanently while a second nudge
// has queued a follow-up. A follow-up requested by signal (webhook, poll,
// schedule) has no job row: only BeginJob writes one, and the API before
// it for POST /sync. Cancelling it is no failure: it was never recorded.
// It used to fail as Missing, "belongs to another stack polling the same
// task queue", logged at ERROR by the worker and recorded in the history
// as a failed activity, on every such permanent failure. The workflow
// describes it, and its row is written cancelled (so that a POST /sync's
// row written after the cancellation cannot stay queued).
func TestSyncStreamCancelsSignalledFollowUpWithoutRow(t *testing.T) {
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, schema.DB, "follow-up", "github", "acct")
	ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: conn, Provider: "github", Stream: "pulls:o/r"}

	env, j := newEnv(t)
	env.RegisterActivity(&activities.Activities{DB: schema.DB}) // real BeginJob and FinishJob
	env.OnActivity(acts.SyncPage, mock.Anything, mock.Anything).After(time.Second).Return(
		activities.SyncPageResult{}, temporal.NewNonRetryableApplicationError("repository not found", activities.ErrTypeNotFound, nil))
	var finishErrs []error
	env.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, err error) {
		if info.ActivityType.Name == "FinishJob" {
			finishErrs = append(finishErrs, err)
		}
	})
	// The first nudge starts the run; the second arrives during the page.
	signalAt(env, 0, poblysh.ModeIncremental)
	signalAt(env, 500*time.Millisecond, poblysh.ModeIncremental)

	env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: ref})

	require.Equal(t, workflows.SyncResult{Passes: 1}, syncResult(t, env))
	fins := j.finishes()
	require.Len(t, fins, 2, "the failed pass, then the cancelled follow-up")
	require.Equal(t, poblysh.JobFailed, fins[0].Status)
	require.False(t, fins[0].FollowUp)
	require.Equal(t, poblysh.JobCancelled, fins[1].Status)
	require.True(t, fins[1].FollowUp, "the workflow says it cancels a follow-up that never began")
	require.Len(t, finishErrs, 2, "each FinishJob ran once: no retry")
	require.NoError(t, finishErrs[0], "the failed pass is recorded")
	require.NoError(t, finishErrs[1], "cancelling the follow-up queued by the second nudge")

	var jobs []db.Job
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		jobs, _, err = tx.ListJobs(ctx, db.JobFilter{Page: db.Page{Limit: 10}})
		return err
	}))
	require.Len(t, jobs, 2, "the failed pass, and the follow-up that never began, written cancelled")
	byID := map[string]db.Job{jobs[0].ID: jobs[0], jobs[1].ID: jobs[1]}
	failed, followUp := byID[fins[0].JobID], byID[fins[1].JobID]
	require.Equal(t, poblysh.JobFailed, failed.Status)
	require.Equal(t, "repository not found", *failed.Error)
	require.Equal(t, poblysh.JobCancelled, followUp.Status)
	require.Equal(t, "cancelled: the previous pass failed permanently (NotFound)", *followUp.Error)
	require.Equal(t, poblysh.JobIncremental, followUp.Kind)
	require.Equal(t, poblysh.TriggerWebhook, followUp.Trigger)
	require.Equal(t, "pulls:o/r", followUp.Stream)
	require.Equal(t, failed.WorkflowID, followUp.WorkflowID)
}
