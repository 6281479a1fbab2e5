package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/engine"
	"github.com/poblysh/poblysh/gen/client/jobs"
	"github.com/poblysh/poblysh/gen/models"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	"github.com/poblysh/poblysh/workflows"
)

// runningBackfill connects the fake provider and waits until its backfill
// job is running; it returns the connection and job ids.
func (s *stack) runningBackfill(key string, cfg any) (string, string) {
	s.t.Helper()
	conn := s.connect(key, "fake", cfg)
	var jobID string
	eventually(s.t, 60*time.Second, "the backfill to be running", func() bool {
		res, err := s.client.Jobs.ListJobs(jobs.NewListJobsParams().WithConnectionID(conn.ID), httptransport.BearerToken(key))
		require.NoError(s.t, err)
		for _, j := range res.Payload.Jobs {
			if *j.Status == models.JobStatusRunning && *j.Pages >= 1 {
				jobID = string(*j.ID)
			}
		}
		return jobID != ""
	})
	return string(*conn.ID), jobID
}

func requireSettled(t *testing.T, j *models.Job, reason string) {
	t.Helper()
	require.Equal(t, models.JobStatusCancelled, *j.Status)
	require.NotNil(t, j.FinishedAt)
	require.NotNil(t, j.Error)
	require.Contains(t, *j.Error, "settled by reconciliation: the workflow was terminated: "+reason)
	raw, err := json.Marshal(j.ErrorContext)
	require.NoError(t, err)
	var ctx map[string]any
	require.NoError(t, json.Unmarshal(raw, &ctx))
	require.Equal(t, true, ctx["reconciled"], "the job records that reconciliation settled it: %s", raw)
	require.Equal(t, "Terminated", ctx["workflow_status"])
	require.Equal(t, "running", ctx["previous_status"])
}

// Jobs and Temporal cannot drift apart: a workflow terminated by hand
// leaves its job running in Postgres; GET /jobs/{id} settles it from the
// workflow's close event, and the sweep settles one nobody reads. Both
// record that they did.
func TestJobsReconcileWithTerminatedWorkflows(t *testing.T) {
	t.Parallel()
	_, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 2000, "other": 2000}, PageDelay: 500 * time.Millisecond})
	s := newStack(t, withEnv(env), withEnv(map[string]string{"POBLYSH_FAKE_PAGE_SIZE": "10"}))
	_, key := s.tenant("Drift")
	ctx := context.Background()

	// On read.
	connID, jobID := s.runningBackfill(key, map[string]any{"streams": []string{"items"}})
	require.NoError(t, s.temporal.Client().TerminateWorkflow(ctx, workflows.SyncWorkflowID(s.taskQueue, connID, "items"), "", "stopped by hand"))
	require.Equal(t, "running", s.jobStatus(jobID), "Temporal's termination leaves the job running in Postgres")
	got, err := s.client.Jobs.GetJob(jobs.NewGetJobParams().WithID(strfmt.UUID(jobID)), httptransport.BearerToken(key))
	require.NoError(t, err)
	require.NoError(t, got.Payload.Validate(strfmt.Default))
	requireSettled(t, got.Payload, "stopped by hand")
	require.Nil(t, got.Payload.Live, "live is null once the job's status is final, settled on this read too")
	require.Equal(t, "cancelled", s.jobStatus(jobID), "stored, not only shown")

	// By the sweep, for a job nobody reads.
	connID, jobID = s.runningBackfill(key, map[string]any{"streams": []string{"other"}})
	require.NoError(t, s.temporal.Client().TerminateWorkflow(ctx, workflows.SyncWorkflowID(s.taskQueue, connID, "other"), "", "stopped by hand too"))
	eng := &engine.Engine{Client: s.temporal.Client(), DB: s.schema.DB, Registry: connectors.NewRegistry(), TaskQueue: s.taskQueue, Namespace: "default"}
	eventually(t, 30*time.Second, "the sweep to settle the job", func() bool {
		n, err := eng.SweepJobs(ctx, 0)
		require.NoError(t, err)
		return n == 1
	})
	got, err = s.client.Jobs.GetJob(jobs.NewGetJobParams().WithID(strfmt.UUID(jobID)), httptransport.BearerToken(key))
	require.NoError(t, err)
	requireSettled(t, got.Payload, "stopped by hand too")
	n, err := eng.SweepJobs(ctx, 0)
	require.NoError(t, err)
	require.Zero(t, n, "a settled job is not settled twice")
}

func (s *stack) jobStatus(id string) string {
	s.t.Helper()
	var st string
	require.NoError(s.t, s.owner().QueryRow(context.Background(), `SELECT status FROM jobs WHERE id = $1`, id).Scan(&st))
	return st
}
