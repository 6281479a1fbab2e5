package engine

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/workflows"
)

// gatedUpdates is a Temporal client whose update-with-start answers each
// stream's request with a new queued job, as SyncStream does for an idle
// stream, once gate requests are in flight together (from then on at
// once): a caller that asks one stream at a time waits at the first until
// its context ends. It records the most requests it had in flight at once,
// each workflow it was asked about, and fails the request of failStream.
type gatedUpdates struct {
	client.Client
	gate       int
	failStream string
	// cost is how long each request takes once the gate is open.
	cost time.Duration
	// hold (nil: none) is called with each request's workflow id before
	// it is answered, and may wait.
	hold func(ctx context.Context, wf string)

	mu       sync.Mutex
	inFlight int
	most     int
	open     chan struct{}
	opened   bool
	asked    map[string]int
	// started are the workflows started (the rest of a sync handed on).
	started []workflows.SyncProviderInput
}

func newGatedUpdates(gate int) *gatedUpdates {
	return &gatedUpdates{gate: gate, open: make(chan struct{}), asked: map[string]int{}}
}

func (*gatedUpdates) NewWithStartWorkflowOperation(opts client.StartWorkflowOptions, _ any, _ ...any) client.WithStartWorkflowOperation {
	return startOp{id: opts.ID}
}

// startOp is the start of a stream's workflow, named by its id.
type startOp struct{ id string }

func (startOp) Get(context.Context) (client.WorkflowRun, error) { return nil, nil }

func (c *gatedUpdates) UpdateWithStartWorkflow(ctx context.Context, opts client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	wf := opts.StartWorkflowOperation.(startOp).id
	c.mu.Lock()
	c.inFlight++
	c.most = max(c.most, c.inFlight)
	if c.inFlight == c.gate && !c.opened {
		close(c.open)
		c.opened = true
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inFlight--
		c.mu.Unlock()
	}()
	select {
	case <-c.open:
	case <-ctx.Done():
		return nil, serviceerror.NewDeadlineExceeded("context deadline exceeded")
	}
	select {
	case <-time.After(c.cost):
	case <-ctx.Done():
		return nil, serviceerror.NewDeadlineExceeded("context deadline exceeded")
	}
	if c.hold != nil {
		c.hold(ctx, wf)
	}
	c.mu.Lock()
	c.asked[wf]++
	c.mu.Unlock()
	if c.failStream != "" && strings.HasSuffix(wf, c.failStream) {
		return nil, serviceerror.NewUnavailable("connection refused")
	}
	mode := poblysh.ModeIncremental
	if req, ok := opts.UpdateOptions.Args[0].(workflows.SyncRequest); ok {
		mode = req.Mode
	}
	return answeredUpdate{workflowID: wf, res: workflows.RequestResult{JobID: uuid.NewString(), Status: poblysh.JobQueued, Mode: mode}}, nil
}

func (c *gatedUpdates) ExecuteWorkflow(_ context.Context, opts client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started = append(c.started, args[0].(workflows.SyncProviderInput))
	return nil, nil
}

// answeredUpdate is an update Temporal has answered.
type answeredUpdate struct {
	workflowID string
	res        workflows.RequestResult
}

func (u answeredUpdate) WorkflowID() string { return u.workflowID }
func (answeredUpdate) RunID() string        { return "run-1" }
func (answeredUpdate) UpdateID() string     { return "update-1" }
func (u answeredUpdate) Get(_ context.Context, v any) error {
	*v.(*workflows.RequestResult) = u.res
	return nil
}

// manyStreams is a provider whose connections have n streams each.
type manyStreams struct {
	spec *connectors.Spec
	n    int
}

func (s manyStreams) Spec() *connectors.Spec { return s.spec }
func (s manyStreams) Streams(connectors.Connection) ([]string, error) {
	out := make([]string, s.n)
	for i := range out {
		out[i] = fmt.Sprintf("stream-%02d", i)
	}
	return out, nil
}
func (manyStreams) FetchPage(context.Context, connectors.PageRequest) (*connectors.Page, error) {
	return nil, nil
}

// A manual sync of every connection of a provider (POST
// /api/v1/sync/{provider} without connection_id) asks its streams' workflows
// several at a time, at most syncRequestsAtOnce (16): it asked them one after
// the other, each an update-with-start answered in about 70 ms, so a
// tenant of some 850 streams passed the route's 60 s deadline and was
// answered 503 with its syncs half requested. Here each request waits
// until four are in flight together, which one at a time never reaches
// (the old code waited at the first until the test's deadline). Every
// stream of every active connection is asked once and answered with its
// job, stored, in the order of the connections and their streams.
func TestSyncOfEveryConnectionAsksStreamsAFewAtATime(t *testing.T) {
	t.Parallel()
	const conns, streams, atOnce = 12, 4, 4
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := dbtest.NewSchema(t)
	spec := &connectors.Spec{Name: "wide"}
	p := &connectors.Provider{Spec: spec, Connector: manyStreams{spec, streams}}
	reg := connectors.NewRegistry(p)
	tenant, first := dbtest.Seed(t, s.DB, "wide", "wide", "acct-0")
	ids := []string{first}
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		for i := 1; i < conns; i++ {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "wide", ExternalAccountID: fmt.Sprintf("acct-%d", i)})
			if err != nil {
				return err
			}
			ids = append(ids, c.ID)
		}
		return nil
	}))

	c := newGatedUpdates(atOnce)
	e := &Engine{Client: c, DB: s.DB, Registry: reg, TaskQueue: "wide", Namespace: "default", Log: logrus.New(), syncRequestsAtOnce: atOnce}
	svc := &lifecycle.Service{DB: s.DB, Registry: reg, Workflows: e}
	started, err := svc.Sync(ctx, tenant, p, nil, poblysh.ModeBackfill)
	require.NoError(t, err)
	require.Zero(t, started.Pending, "every connection asked within the bound")
	require.Empty(t, c.started, "nothing handed on")
	jobs := started.Jobs

	require.Len(t, jobs, conns*streams, "a job per stream of every connection")
	require.LessOrEqual(t, c.most, atOnce, "requests in flight at once")
	require.Len(t, c.asked, conns*streams)
	var listed []db.Connection
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		listed, err = tx.ListProviderConnections(ctx, "wide")
		return err
	}))
	for i, j := range jobs {
		conn, stream := listed[i/streams].ID, fmt.Sprintf("stream-%02d", i%streams)
		require.Equal(t, conn, j.ConnectionID, "job %d", i)
		require.Equal(t, stream, j.Stream, "job %d", i)
		require.Equal(t, poblysh.JobBackfill, j.Kind)
		require.Equal(t, poblysh.TriggerManual, j.Trigger)
		require.Equal(t, 1, c.asked[workflows.SyncWorkflowID("wide", conn, stream)], "asked once")
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			stored, err := tx.FindJob(ctx, j.ID)
			if err == nil {
				require.Equal(t, j.Stream, stored.Stream)
				require.Equal(t, poblysh.JobQueued, stored.Status)
			}
			return err
		}), "job %d is stored", i)
	}
	require.ElementsMatch(t, ids, func() []string {
		var out []string
		for _, c := range listed {
			out = append(out, c.ID)
		}
		return out
	}())

	// One stream that Temporal refuses fails the whole request as before
	// (503), and no request starts after the refusal is known.
	c = newGatedUpdates(atOnce)
	c.failStream = "/stream-01"
	e.Client = c
	_, err = svc.Sync(ctx, tenant, p, nil, poblysh.ModeIncremental)
	require.Error(t, err)
	require.Equal(t, poblysh.EUNAVAILABLE, poblysh.ErrorCode(err), "%v", err)
	require.Less(t, len(c.asked), conns*streams, "the requests stop at the refusal")
}

// A sync of every connection of a provider answers within its bound
// (lifecycle.Service.SyncAnswerWithin, 20 s; 200 ms here) whatever the
// number of streams: the connections not begun by then are handed, whole,
// to a SyncProvider workflow that goes on from the last connection asked,
// and the answer counts them (pending_connections). It waited for every
// stream's answer, about 70 ms each, so some 850 streams passed the
// route's 60 s deadline. Here each request takes 300 ms and four fit at
// once: the first connection's four streams are asked, the rest handed on;
// asking the rest as the workflow does asks every other stream once.
func TestSyncOfEveryConnectionAnswersWithinItsBound(t *testing.T) {
	t.Parallel()
	const conns, streams, atOnce = 12, 4, 4
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := dbtest.NewSchema(t)
	spec := &connectors.Spec{Name: "wide"}
	p := &connectors.Provider{Spec: spec, Connector: manyStreams{spec, streams}}
	reg := connectors.NewRegistry(p)
	tenant, _ := dbtest.Seed(t, s.DB, "wide", "wide", "acct-0")
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		for i := 1; i < conns; i++ {
			if _, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "wide", ExternalAccountID: fmt.Sprintf("acct-%d", i)}); err != nil {
				return err
			}
		}
		// One paused connection among the rest: skipped there too.
		_, err := tx.ExecContext(ctx, `UPDATE connections SET paused = true WHERE external_account_id = 'acct-7'`)
		return err
	}))
	var listed []db.Connection
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		listed, err = tx.ListProviderConnections(ctx, "wide")
		return err
	}))

	c := newGatedUpdates(1)
	c.cost = 300 * time.Millisecond
	e := &Engine{Client: c, DB: s.DB, Registry: reg, TaskQueue: "wide", Namespace: "default", Log: logrus.New(), syncRequestsAtOnce: atOnce}
	svc := &lifecycle.Service{DB: s.DB, Registry: reg, Workflows: e, SyncAnswerWithin: 200 * time.Millisecond}
	started, err := svc.Sync(ctx, tenant, p, nil, poblysh.ModeIncremental)
	require.NoError(t, err)
	require.Len(t, started.Jobs, streams, "the first connection's streams, asked before the bound")
	for i, j := range started.Jobs {
		require.Equal(t, listed[0].ID, j.ConnectionID)
		require.Equal(t, fmt.Sprintf("stream-%02d", i), j.Stream)
	}
	require.Equal(t, conns-2, started.Pending, "the active connections left to the workflow")
	after, err := db.ConnectionCursor(&listed[0])
	require.NoError(t, err)
	require.Equal(t, []workflows.SyncProviderInput{{TenantID: tenant, Provider: "wide", Mode: poblysh.ModeIncremental, After: after}}, c.started)

	// The workflow's activity (RequestProviderSyncs) asks the rest.
	c.cost = 0
	var last lifecycle.SyncProgress
	asked, jobs := 0, 0
	require.NoError(t, svc.SyncFrom(ctx, tenant, "wide", poblysh.ModeIncremental, after, func(p lifecycle.SyncProgress) {
		last, asked, jobs = p, asked+p.Connections, jobs+p.Jobs
	}))
	require.True(t, last.Done, "to the end")
	require.Empty(t, last.After)
	require.Equal(t, conns-2, asked)
	require.Equal(t, (conns-2)*streams, jobs)
	for _, conn := range listed {
		for k := range streams {
			want := 1
			if conn.Paused {
				want = 0
			}
			require.Equal(t, want, c.asked[workflows.SyncWorkflowID("wide", conn.ID, fmt.Sprintf("stream-%02d", k))], "%s stream %d", conn.ID, k)
		}
	}
}

// syncPageDone is the worker's activities with a SyncPage that reads one
// empty page and is done (no provider behind the streams).
type syncPageDone struct{ *activities.Activities }

func (syncPageDone) SyncPage(context.Context, activities.SyncPageInput) (activities.SyncPageResult, error) {
	return activities.SyncPageResult{Pages: 1, Done: true}, nil
}

// Against a dev server and a worker: a sync of every connection whose
// bound has passed before its first connection answers at once with no
// job and every active connection pending, and the SyncProvider workflow
// it starts asks every stream of them: each stream gets its manual job,
// which its pass runs to the end.
func TestSyncOfEveryConnectionHandedOnIsAskedByTheWorkflow(t *testing.T) {
	t.Parallel()
	const conns, streams = 6, 2
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := testenv.Temporal(t)
	s := dbtest.NewSchema(t)
	spec := &connectors.Spec{Name: "wide"}
	p := &connectors.Provider{Spec: spec, Connector: manyStreams{spec, streams}}
	reg := connectors.NewRegistry(p)
	tenant, _ := dbtest.Seed(t, s.DB, "wide", "wide", "acct-0")
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		for i := 1; i < conns; i++ {
			if _, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "wide", ExternalAccountID: fmt.Sprintf("acct-%d", i)}); err != nil {
				return err
			}
		}
		return nil
	}))
	queue := "handed-on-" + s.Name
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	e := &Engine{Client: srv.Client(), DB: s.DB, Registry: reg, TaskQueue: queue, Namespace: "default", Log: quiet}
	svc := &lifecycle.Service{DB: s.DB, Registry: reg, Workflows: e, SyncAnswerWithin: time.Nanosecond}
	acts := &activities.Activities{DB: s.DB, Registry: reg, Orchestrator: e, Connections: svc, Log: quiet}
	w := worker.New(srv.Client(), queue, worker.Options{})
	for _, wf := range Workflows {
		w.RegisterWorkflow(wf)
	}
	w.RegisterActivity(&syncPageDone{acts})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	started, err := svc.Sync(ctx, tenant, p, nil, poblysh.ModeIncremental)
	require.NoError(t, err)
	require.Empty(t, started.Jobs)
	require.Equal(t, conns, started.Pending)

	var jobs []db.Job
	for {
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
			jobs, _, err = tx.ListJobs(ctx, db.JobFilter{Page: db.Page{Limit: 100}})
			return err
		}))
		done := len(jobs) == conns*streams
		for _, j := range jobs {
			done = done && j.Status == poblysh.JobSucceeded
		}
		if done {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the workflow did not ask every stream: %d jobs", len(jobs))
		case <-time.After(200 * time.Millisecond):
		}
	}
	seen := map[string]bool{}
	for _, j := range jobs {
		require.Equal(t, poblysh.TriggerManual, j.Trigger)
		require.False(t, seen[j.ConnectionID+"/"+j.Stream], "one job a stream")
		seen[j.ConnectionID+"/"+j.Stream] = true
	}
}
