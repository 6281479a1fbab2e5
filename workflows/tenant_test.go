package workflows_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/engine"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/workflows"
)

// disconnects stands in for DisconnectForDeletion without a provider or
// Temporal side: it deletes the connection's row and counts the step on
// the job, as the real activity does, and records each connection it was
// asked for. At the pauseAt-th call it waits until the test releases it.
type disconnects struct {
	db      *db.DB
	pauseAt int
	paused  chan struct{}
	release chan struct{}

	mu    sync.Mutex
	asked map[string]int
	calls int
}

func (d *disconnects) DisconnectForDeletion(ctx context.Context, in activities.TenantDeletionInput) (struct{}, error) {
	d.mu.Lock()
	d.asked[in.ConnectionID]++
	d.calls++
	pause := d.calls == d.pauseAt
	d.mu.Unlock()
	if pause {
		close(d.paused)
		<-d.release
	}
	err := d.db.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, in.ConnectionID, false) })
	if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
		err = nil
	}
	if err != nil {
		return struct{}{}, err
	}
	return struct{}{}, d.db.WithSystem(ctx, func(tx *db.Tx) error { return tx.ProgressOperatorJob(ctx, in.JobID, 1, 0) })
}

// A tenant with more connections than one run's history holds is deleted
// across runs, each continuing as new when Temporal suggests it. The
// deletion ran one activity per connection in one run (about six events
// each), so a tenant of some 8,500 connections reached Temporal's
// 51,200-event limit, which terminates the run: its remaining connections
// were never disconnected and its job was settled cancelled. Here
// Temporal's limits are lowered so that 120 connections cross them
// (continue-as-new suggested from 200 events, about 30 connections; a run
// terminated at 600, where one run of them all needs over 740). Every run
// records itself as the job's run, GET /api/v1/jobs/{id} (engine.LiveJob)
// shows the deletion running across the runs, and the job is finished by
// the last run, with every connection disconnected exactly once and the
// counts of the whole deletion.
func TestDeleteTenantContinuesAsNew(t *testing.T) {
	const n = 120
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv := testenv.OwnTemporal(t, "limit.historyCount.suggestContinueAsNew=200", "limit.historyCount.error=600")
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: "default", Logger: quietLogger()})
	require.NoError(t, err)
	defer c.Close()

	schema := dbtest.NewSchema(t)
	tenant, first := dbtest.Seed(t, schema.DB, "big tenant", "fake", "acct-0")
	conns := map[string]bool{first: true}
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		for i := 1; i < n; i++ {
			cn, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: fmt.Sprintf("acct-%d", i)})
			if err != nil {
				return err
			}
			conns[cn.ID] = true
		}
		_, _, err := tx.CreateAPIKey(ctx, "second")
		return err
	}))
	require.NoError(t, schema.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, first, "fake", []db.NewSignal{
			{Kind: "issue.created", OccurredAt: time.Now(), DedupeKey: "s1", Payload: []byte(`{}`)},
			{Kind: "issue.created", OccurredAt: time.Now(), DedupeKey: "s2", Payload: []byte(`{}`)},
			{Kind: "issue.created", OccurredAt: time.Now(), DedupeKey: "s3", Payload: []byte(`{}`)},
		})
		return err
	}))
	require.Len(t, conns, n)

	e := &engine.Engine{Client: c, DB: schema.DB, Registry: connectors.NewRegistry(), TaskQueue: "big-tenant-" + schema.Name,
		Namespace: "default", Log: logrus.New()}
	dbActs := &activities.Activities{DB: schema.DB} // real BeginTenantDeletion, PurgeTenant and FinishOperatorJob
	d := &disconnects{db: schema.DB, pauseAt: 50, paused: make(chan struct{}), release: make(chan struct{}), asked: map[string]int{}}
	w := worker.New(c, e.TaskQueue, worker.Options{})
	for _, wf := range engine.Workflows {
		w.RegisterWorkflow(wf)
	}
	reg := func(fn any, name string) { w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name}) }
	reg(dbActs.BeginTenantDeletion, "BeginTenantDeletion")
	reg(d.DisconnectForDeletion, "DisconnectForDeletion")
	reg(dbActs.PurgeTenant, "PurgeTenant")
	reg(dbActs.FinishOperatorJob, "FinishOperatorJob")
	require.NoError(t, w.Start())
	defer w.Stop()

	job, _, err := e.DeleteTenant(ctx, tenant)
	require.NoError(t, err)
	id := workflows.TenantDeletionWorkflowID(e.TaskQueue, tenant)
	firstRun := job.RunID
	readJob := func() *db.Job {
		var j *db.Job
		require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			j, err = tx.FindOperatorJob(ctx, job.ID)
			return err
		}))
		return j
	}

	// Part-way, past the first run: the job is running, on a later run,
	// and reading it follows the chain to the run that is live.
	select {
	case <-d.paused:
	case <-ctx.Done():
		t.Fatal("the deletion never reached its 50th connection")
	}
	// Checked without stopping the test, so that its end says what became
	// of the deletion too.
	mid := readJob()
	assert.Equal(t, poblysh.JobRunning, mid.Status)
	assert.Equal(t, 49, mid.Pages, "connections disconnected so far")
	assert.NotEqual(t, firstRun, mid.RunID, "a later run records itself as the job's run")
	live, err := e.LiveJob(ctx, mid)
	if assert.NoError(t, err) && assert.NotNil(t, live, "a job whose deletion runs has a live view") {
		assert.Equal(t, "Running", live.ExecutionStatus)
	}
	// A job still naming the first run (read before a later run began it)
	// is followed to the live run, not settled from the first run's close.
	stale := *readJob()
	stale.RunID = firstRun
	live, err = e.LiveJob(ctx, &stale)
	if assert.NoError(t, err) && assert.NotNil(t, live) {
		assert.Equal(t, "Running", live.ExecutionStatus)
	}
	assert.Equal(t, poblysh.JobRunning, stale.Status, "not settled from the first run, closed as continued")
	close(d.release)

	var out workflows.DeleteTenantResult
	require.NoError(t, c.GetWorkflow(ctx, id, "").Get(ctx, &out), "the deletion's last run")
	last, err := c.DescribeWorkflow(ctx, id, "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, last.Status)
	require.NotEqual(t, firstRun, last.WorkflowExecution.RunID, "the deletion continued as new")
	require.Less(t, last.HistoryLength, 600)
	firstDesc, err := c.DescribeWorkflow(ctx, id, firstRun)
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW, firstDesc.Status)
	// It continued only when Temporal suggested it (at 200 events, about
	// six a connection, so some 30 connections a run), not after every
	// connection: the chain, followed from the first run, has a few runs.
	const suggestAt, eventsPerConnection, eventsPerRun = 200, 6, 10
	perRun := (suggestAt - eventsPerRun) / eventsPerConnection
	runs := deletionRuns(ctx, t, c, id, firstRun)
	require.Equal(t, last.WorkflowExecution.RunID, runs[len(runs)-1], "the chain ends with the last run")
	require.LessOrEqual(t, len(runs), (n+perRun-1)/perRun+1, "runs of the deletion of %d connections", n)

	require.Equal(t, workflows.DeleteTenantResult{KeysRevoked: 2, Disconnected: n, Signals: 3}, out,
		"the counts of the whole deletion: keys revoked once, every connection, the Signals purged")
	require.Len(t, d.asked, n, "every connection was disconnected")
	for conn, times := range d.asked {
		require.True(t, conns[conn], "a connection of the tenant")
		require.Equal(t, 1, times, "connection %s disconnected once", conn)
	}

	done := readJob()
	require.Equal(t, poblysh.JobSucceeded, done.Status)
	require.Equal(t, n, done.Pages)
	require.Equal(t, 3, done.Items)
	require.Equal(t, last.WorkflowExecution.RunID, done.RunID, "the job names the run that finished it")
	require.NotContains(t, string(done.ErrorContext), "reconciled", "finished by the workflow, not settled by reconciliation")
	live, err = e.LiveJob(ctx, done)
	require.NoError(t, err)
	require.Nil(t, live, "a finished job has no live view")
	var left int
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &left, `SELECT count(*) FROM tenants WHERE id = $1`, tenant)
	}))
	require.Zero(t, left, "the tenant is gone")
}

// deletionRuns follows a workflow's chain of runs from run, each closed
// as continued as new naming the next, to the one that did not continue.
func deletionRuns(ctx context.Context, t *testing.T, c client.Client, id, run string) []string {
	t.Helper()
	runs := []string{run}
	for {
		it := c.GetWorkflowHistory(ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
		require.True(t, it.HasNext(), "run %s has a close event", run)
		ev, err := it.Next()
		require.NoError(t, err)
		can := ev.GetWorkflowExecutionContinuedAsNewEventAttributes()
		if can == nil {
			return runs
		}
		run = can.GetNewExecutionRunId()
		runs = append(runs, run)
	}
}

// A tenant's connections reach the deletion a page at a time, so that no
// activity's answer grows with the tenant. BeginTenantDeletion answered
// every connection id in one result (about 39 bytes each), which Temporal
// refuses past its blob size limit (2 MB by default, some 50,000
// connections): the deletion failed at its first step and nothing of the
// tenant went. Here the limit is lowered to 4 KB, which the 120
// connections' ids (about 4.7 KB) pass and a page of 25 (about 1 KB) does
// not. Every connection is disconnected once, the tenant is gone, and no
// activity's answer came near the limit.
func TestDeleteTenantPagesItsConnections(t *testing.T) {
	const n, page, blobLimit = 120, 25, 4096
	defer workflows.SetTenantDeletionPageForTest(page)()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv := testenv.OwnTemporal(t, fmt.Sprintf("limit.blobSize.error=%d", blobLimit), fmt.Sprintf("limit.blobSize.warn=%d", blobLimit/2))
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: "default", Logger: quietLogger()})
	require.NoError(t, err)
	defer c.Close()

	schema := dbtest.NewSchema(t)
	tenant, first := dbtest.Seed(t, schema.DB, "wide tenant", "fake", "acct-0")
	conns := map[string]bool{first: true}
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		for i := 1; i < n; i++ {
			cn, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: fmt.Sprintf("acct-%d", i)})
			if err != nil {
				return err
			}
			conns[cn.ID] = true
		}
		return nil
	}))
	require.Len(t, conns, n)

	e := &engine.Engine{Client: c, DB: schema.DB, Registry: connectors.NewRegistry(), TaskQueue: "wide-tenant-" + schema.Name,
		Namespace: "default", Log: logrus.New()}
	d := &disconnects{db: schema.DB, asked: map[string]int{}}
	w := worker.New(c, e.TaskQueue, worker.Options{})
	for _, wf := range engine.Workflows {
		w.RegisterWorkflow(wf)
	}
	// The real activities (the listing, purge and finish), as the worker
	// registers them, but for the disconnects.
	w.RegisterActivity(&disconnectsOnly{Activities: &activities.Activities{DB: schema.DB}, d: d})
	require.NoError(t, w.Start())
	defer w.Stop()

	job, _, err := e.DeleteTenant(ctx, tenant)
	require.NoError(t, err)
	id := workflows.TenantDeletionWorkflowID(e.TaskQueue, tenant)
	var out workflows.DeleteTenantResult
	require.NoError(t, c.GetWorkflow(ctx, id, "").Get(ctx, &out), "the deletion's last run")
	require.Equal(t, n, out.Disconnected)
	require.Len(t, d.asked, n, "every connection was disconnected")
	for conn, times := range d.asked {
		require.True(t, conns[conn], "a connection of the tenant")
		require.Equal(t, 1, times, "connection %s disconnected once", conn)
	}
	var done *db.Job
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		done, err = tx.FindOperatorJob(ctx, job.ID)
		return err
	}))
	require.Equal(t, poblysh.JobSucceeded, done.Status, "error: %v", done.Error)
	require.Equal(t, n, done.Pages)
	var left int
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &left, `SELECT count(*) FROM tenants WHERE id = $1`, tenant)
	}))
	require.Zero(t, left, "the tenant is gone")

	// Every run's activity answers stayed a page: the largest is a page
	// of ids, not the tenant's.
	largest := 0
	for _, run := range deletionRuns(ctx, t, c, id, job.RunID) {
		for it := c.GetWorkflowHistory(ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT); it.HasNext(); {
			ev, err := it.Next()
			require.NoError(t, err)
			for _, p := range ev.GetActivityTaskCompletedEventAttributes().GetResult().GetPayloads() {
				largest = max(largest, len(p.GetData()))
			}
		}
	}
	require.Less(t, largest, blobLimit/2, "the largest activity answer (bytes)")
}

// disconnectsOnly is the worker's activities with DisconnectForDeletion
// standing in for the real one (no provider or Temporal side).
type disconnectsOnly struct {
	*activities.Activities
	d *disconnects
}

func (a *disconnectsOnly) DisconnectForDeletion(ctx context.Context, in activities.TenantDeletionInput) (struct{}, error) {
	return a.d.DisconnectForDeletion(ctx, in)
}
