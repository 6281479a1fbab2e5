package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/lifecycle/lifecycletest"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/workflows"
)

// seedWide stores a tenant with n connections of the provider "wide" and
// lists them in SyncFrom's order.
func seedWide(t *testing.T, s *dbtest.Schema, n int) (string, []db.Connection) {
	t.Helper()
	ctx := context.Background()
	tenant, _ := dbtest.Seed(t, s.DB, "wide", "wide", "acct-0")
	var listed []db.Connection
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		for i := 1; i < n; i++ {
			if _, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "wide", ExternalAccountID: fmt.Sprintf("acct-%d", i)}); err != nil {
				return err
			}
		}
		listed, err = tx.ListProviderConnections(ctx, "wide")
		return err
	}))
	require.Len(t, listed, n)
	return tenant, listed
}

// until waits for cond, or for ctx to end.
func until(ctx context.Context, cond func() bool) {
	for !cond() && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

// SyncFrom reports each connection as soon as it and every connection
// before it are answered, with its cursor, not only at the end of a page
// of 100: the workflow's activity heartbeats that cursor, and a page that
// outlived the heartbeat timeout was asked again from its start, up to 20
// times, and the connections after it never. Its streams are asked
// several at a time, so a connection answered while one before it waits
// is not reported before that one. Here the first connection's last stream
// is answered only after the third connection's streams, and the fourth
// connection's first stream only once something was reported (before,
// nothing was until the page's end: that request waited until the test's
// deadline). Every report's cursor covers only connections whose every
// stream was answered, and the reports add up to the page.
func TestSyncFromReportsEachConnectionOnceAnswered(t *testing.T) {
	t.Parallel()
	const conns, streams, atOnce = 6, 2, 4
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s := dbtest.NewSchema(t)
	spec := &connectors.Spec{Name: "wide"}
	reg := connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: manyStreams{spec, streams}})
	tenant, listed := seedWide(t, s, conns)
	wf := func(conn, stream int) string {
		return workflowsSyncID(listed[conn].ID, stream)
	}
	at := map[string]int{} // a connection's cursor: its index in listed
	for i := range listed {
		cur, err := db.ConnectionCursor(&listed[i])
		require.NoError(t, err)
		at[cur] = i
	}

	c := newGatedUpdates(1)
	answered := func(id string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.asked[id] > 0
	}
	var mu sync.Mutex
	var reports []lifecycle.SyncProgress
	var wrong []string
	c.hold = func(ctx context.Context, id string) {
		switch id {
		case wf(0, 1):
			until(ctx, func() bool { return answered(wf(2, 0)) && answered(wf(2, 1)) })
		case wf(3, 0):
			until(ctx, func() bool { mu.Lock(); defer mu.Unlock(); return len(reports) > 0 })
		}
	}
	e := &Engine{Client: c, DB: s.DB, Registry: reg, TaskQueue: "wide", Namespace: "default", Log: logrus.New(), syncRequestsAtOnce: atOnce}
	svc := &lifecycle.Service{DB: s.DB, Registry: reg, Workflows: e}
	err := svc.SyncFrom(ctx, tenant, "wide", poblysh.ModeIncremental, "", func(p lifecycle.SyncProgress) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, p)
		if p.Done {
			return
		}
		k, ok := at[p.After]
		if !ok {
			wrong = append(wrong, "a cursor that is no connection's")
			return
		}
		for i := 0; i <= k; i++ {
			for st := range streams {
				if !answered(wf(i, st)) {
					wrong = append(wrong, fmt.Sprintf("report up to connection %d before connection %d's stream %d was answered", k, i, st))
				}
			}
		}
	})
	require.NoError(t, err)
	require.Empty(t, wrong)
	require.Greater(t, len(reports), 1, "reports before the page's end")
	require.False(t, reports[0].Done)
	var sum lifecycle.SyncProgress
	for _, p := range reports {
		sum.Connections += p.Connections
		sum.Jobs += p.Jobs
		sum.Skipped += p.Skipped
	}
	require.Equal(t, lifecycle.SyncProgress{Connections: conns, Jobs: conns * streams}, sum)
	require.True(t, reports[len(reports)-1].Done)
	for i := range listed {
		for st := range streams {
			require.Equal(t, 1, c.asked[wf(i, st)], "connection %d stream %d asked once", i, st)
		}
	}
}

// workflowsSyncID is the sync workflow of a connection's stream-NN on the
// "wide" queue.
func workflowsSyncID(conn string, stream int) string {
	return workflows.SyncWorkflowID("wide", conn, fmt.Sprintf("stream-%02d", stream))
}

// picky is manyStreams whose connector refuses a config that names "bad"
// (a config newly invalid: a connector whose parse rule tightened).
type picky struct{ manyStreams }

func (p picky) Streams(c connectors.Connection) ([]string, error) {
	if strings.Contains(string(c.Config), "bad") {
		return nil, fmt.Errorf("wide: config: %w", connectors.ErrInvalidConfig)
	}
	return p.manyStreams.Streams(c)
}

// A connection whose streams cannot be listed is skipped by the
// workflow's activity, logged and counted, and every other connection is
// asked. Before, it failed the page (the engine lists every connection's
// streams before asking any), as invalid_config, which no retry fixes:
// the workflow stopped there and no connection of that page or after it
// was asked.
func TestRequestProviderSyncsSkipsAConnectionWhoseStreamsCannotBeListed(t *testing.T) {
	t.Parallel()
	const conns, streams = 5, 2
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	spec := &connectors.Spec{Name: "wide"}
	reg := connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: picky{manyStreams{spec, streams}}})
	tenant, listed := seedWide(t, s, conns)
	bad := listed[1].ID
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE connections SET config = '{"bad": true}' WHERE id = $1`, bad)
		return err
	}))

	log, hook := logtest.NewNullLogger()
	c := newGatedUpdates(1)
	e := &Engine{Client: c, DB: s.DB, Registry: reg, TaskQueue: "wide", Namespace: "default", Log: log}
	svc := &lifecycle.Service{DB: s.DB, Registry: reg, Workflows: e, Log: log}
	acts := &activities.Activities{DB: s.DB, Registry: reg, Connections: svc, Log: log}
	env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	v, err := env.ExecuteActivity(acts.RequestProviderSyncs, activities.ProviderSyncsInput{TenantID: tenant, Provider: "wide", Mode: poblysh.ModeIncremental})
	require.NoError(t, err)
	var res activities.ProviderSyncsResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, activities.ProviderSyncsResult{Connections: conns - 1, Jobs: (conns - 1) * streams, Skipped: 1}, res)
	for _, conn := range listed {
		want := 1
		if conn.ID == bad {
			want = 0
		}
		for st := range streams {
			require.Equal(t, want, c.asked[workflowsSyncID(conn.ID, st)], "%s stream %d", conn.ID, st)
		}
	}
	var logged bool
	for _, en := range hook.AllEntries() {
		logged = logged || (en.Level == logrus.WarnLevel && en.Data["connection_id"] == bad)
	}
	require.True(t, logged, "the skipped connection is logged")
}

// slowSyncs is a Temporal whose stream requests for a call take cost (a
// page of 100 connections of 9 streams at the 70 ms a stream measured on a
// dev server: 63 s; one connection of many streams alike) and report its
// connections at its end; it counts how often each connection was asked.
type slowSyncs struct {
	lifecycletest.NoWorkflows
	cost  time.Duration
	mu    sync.Mutex
	asked map[string]int
}

func (s *slowSyncs) RequestSyncsUntil(ctx context.Context, conns []db.Connection, _ poblysh.SyncMode, _ poblysh.Trigger, _ time.Time, progress func(asked, jobs int)) ([]db.Job, int, error) {
	s.mu.Lock()
	for _, c := range conns {
		s.asked[c.ID]++
	}
	s.mu.Unlock()
	select {
	case <-time.After(s.cost):
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	progress(len(conns), 0)
	return nil, len(conns), nil
}

// shortHeartbeatProviderSyncs runs RequestProviderSyncs as SyncProvider
// does, with a heartbeat timeout of 5 s instead of its minute (and 3
// attempts instead of 20), so that a call outliving it takes seconds.
func shortHeartbeatProviderSyncs(ctx workflow.Context, in activities.ProviderSyncsInput) (activities.ProviderSyncsResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		HeartbeatTimeout:    5 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaximumAttempts: 3},
	})
	var a *activities.Activities
	var res activities.ProviderSyncsResult
	err := workflow.ExecuteActivity(actx, a.RequestProviderSyncs, in).Get(ctx, &res)
	return res, err
}

// Against a dev server: RequestProviderSyncs heartbeats while its
// connections' requests are in flight, so a call that outlives the
// heartbeat timeout (8 s here against 5 s) finishes in its first attempt
// and asks each connection once. Before, it heartbeated only after each
// page: the attempt timed out, the heartbeat that came after was refused,
// and each retry asked the same connections again from the same page (up
// to 20 times with SyncProvider's minute; here all 3 attempts timed out).
func TestRequestProviderSyncsHeartbeatsWhileAPageIsInFlight(t *testing.T) {
	t.Parallel()
	const conns = 3
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := testenv.Temporal(t)
	s := dbtest.NewSchema(t)
	spec := &connectors.Spec{Name: "wide"}
	reg := connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: manyStreams{spec, 9}})
	tenant, listed := seedWide(t, s, conns)
	log, _ := logtest.NewNullLogger()
	fake := &slowSyncs{cost: 8 * time.Second, asked: map[string]int{}}
	svc := &lifecycle.Service{DB: s.DB, Registry: reg, Workflows: fake, Log: log}
	acts := &activities.Activities{DB: s.DB, Registry: reg, Connections: svc, Log: log}
	queue := "heartbeat-" + s.Name
	w := worker.New(srv.Client(), queue, worker.Options{})
	w.RegisterWorkflowWithOptions(shortHeartbeatProviderSyncs, workflow.RegisterOptions{Name: "ShortHeartbeatProviderSyncs"})
	w.RegisterActivity(acts)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	run, err := srv.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: queue, TaskQueue: queue}, "ShortHeartbeatProviderSyncs",
		activities.ProviderSyncsInput{TenantID: tenant, Provider: "wide", Mode: poblysh.ModeIncremental})
	require.NoError(t, err)
	var res activities.ProviderSyncsResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, activities.ProviderSyncsResult{Connections: conns}, res)
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for _, c := range listed {
		require.Equal(t, 1, fake.asked[c.ID], "connection %s asked once", c.ID)
	}
}
