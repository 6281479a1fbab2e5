package engine

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/workflows"
)

// refusingClient is a Temporal client whose signal-with-start fails with
// err.
type refusingClient struct {
	client.Client
	err error
}

func (c refusingClient) SignalWithStartWorkflow(context.Context, string, string, any, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, c.err
}

// A nudge fails unavailable only when Temporal is not serving this process:
// the webhook intake then holds every connection's nudges back for a
// while. A refusal of one stream's workflow is that stream's (and a run at
// its signal limit has taken the nudge's work already). Every refusal used
// to be "unavailable".
func TestNudgeStreamFailsUnavailableOnlyWhenTemporalIs(t *testing.T) {
	t.Parallel()
	conn := &db.Connection{ID: "conn-1", TenantID: "tenant-1", Provider: "gmail"}
	for _, tc := range []struct {
		name string
		err  error
		want string // the error code; "" for no error
	}{
		{"signal limit", serviceerror.NewInvalidArgument("exceeded workflow execution limit for signal events"), ""},
		{"unreachable", serviceerror.NewUnavailable("connection refused"), poblysh.EUNAVAILABLE},
		{"no answer in time", serviceerror.NewDeadlineExceeded("context deadline exceeded"), poblysh.EUNAVAILABLE},
		{"the nudge's bound", fmt.Errorf("wrapped: %w", context.DeadlineExceeded), poblysh.EUNAVAILABLE},
		{"the caller left", serviceerror.NewCanceled("context canceled"), poblysh.EUNAVAILABLE},
		{"shedding load", serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT, "namespace rate limit exceeded"), poblysh.EUNAVAILABLE},
		{"namespace gone", serviceerror.NewNamespaceNotFound("default"), poblysh.EUNAVAILABLE},
		{"credentials refused", serviceerror.NewPermissionDenied("request unauthorized", ""), poblysh.EUNAVAILABLE},
		{"credentials missing", status.Error(codes.Unauthenticated, "no token"), poblysh.EUNAVAILABLE},
		{"busy workflow", serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW, "Workflow is busy."), poblysh.EINTERNAL},
		{"invalid request", serviceerror.NewInvalidArgument("input exceeds size limit"), poblysh.EINTERNAL},
		{"workflow refuses", serviceerror.NewFailedPrecondition("workflow is not ready"), poblysh.EINTERNAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &Engine{Client: refusingClient{err: tc.err}, TaskQueue: "q"}
			err := e.NudgeStream(context.Background(), conn, "label:INBOX", poblysh.TriggerWebhook)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tc.want, poblysh.ErrorCode(err), "%v", err)
			require.ErrorIs(t, err, tc.err, "the cause is kept for the log")
		})
	}
}

// Against a real server: a stream whose run has received as many signals
// as Temporal allows one run (lowered from 10,000 to 50 here) takes more
// nudges without error, and a server that is gone fails them unavailable.
// The run's page is pending for hours (a rate limit), so it cannot
// continue as new; the refusal used to read "Temporal unavailable", and
// the webhook intake held every tenant's nudges back behind it.
func TestNudgeStreamAtTheSignalLimit(t *testing.T) {
	t.Parallel()
	const limit = 50
	srv := testenv.OwnTemporal(t, fmt.Sprintf("history.maximumSignalsPerExecution=%d", limit))
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: "default", Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	require.NoError(t, err)
	defer c.Close()
	// No worker polls the queue: the run never reads its signals, as one
	// whose page is retried does not.
	e := &Engine{Client: c, TaskQueue: "signal-limit"}
	conn := &db.Connection{ID: "conn-gmail", TenantID: "tenant-1", Provider: "gmail"}
	ctx := context.Background()
	for i := range limit + 5 {
		require.NoError(t, e.NudgeStream(ctx, conn, "label:INBOX", poblysh.TriggerWebhook), "nudge %d", i+1)
	}
	id := workflows.SyncWorkflowID(e.TaskQueue, conn.ID, "label:INBOX")
	signals := 0
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
			signals++
		}
	}
	require.Equal(t, limit, signals, "the run took signals up to its limit and refused the rest")

	srv.Stop()
	nctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err = e.NudgeStream(nctx, conn, "label:INBOX", poblysh.TriggerWebhook)
	require.Error(t, err)
	require.Equal(t, poblysh.EUNAVAILABLE, poblysh.ErrorCode(err), "%v", err)
}

// syncer is a provider with one stream, "items", for sync requests.
type syncer struct{ spec *connectors.Spec }

func (s syncer) Spec() *connectors.Spec                        { return s.spec }
func (syncer) Streams(connectors.Connection) ([]string, error) { return []string{"items"}, nil }
func (syncer) FetchPage(context.Context, connectors.PageRequest) (*connectors.Page, error) {
	return nil, nil
}

// A backfill requested while an incremental follow-up is queued joins it
// and makes it a backfill (the workflow's answer says so): the job row,
// which the API answers and GET /jobs reads, says backfill too. The row
// was inserted by the first request and kept its kind (incremental) until
// the pass started. A later incremental request keeps it a backfill.
func TestRequestSyncBackfillJoiningAQueuedFollowUp(t *testing.T) {
	ctx := context.Background()
	srv := testenv.Temporal(t)
	s := dbtest.NewSchema(t)
	spec := &connectors.Spec{Name: "joinbackfill"}
	reg := connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: syncer{spec}})
	tenant, connID := dbtest.Seed(t, s.DB, "joinbackfill", "joinbackfill", "acct")
	queue := "joinbackfill-" + s.Name
	e := &Engine{Client: srv.Client(), DB: s.DB, Registry: reg, TaskQueue: queue, Namespace: "default", Log: logrus.New()}

	acts := &activities.Activities{DB: s.DB, Registry: reg, Log: logrus.New()}
	pageStarted := make(chan struct{}, 1)
	w := worker.New(srv.Client(), queue, worker.Options{})
	w.RegisterWorkflow(workflows.SyncStream)
	w.RegisterActivityWithOptions(acts.BeginJob, activity.RegisterOptions{Name: "BeginJob"})
	w.RegisterActivityWithOptions(func(ctx context.Context, _ activities.SyncPageInput) (activities.SyncPageResult, error) {
		select {
		case pageStarted <- struct{}{}:
		default:
		}
		<-ctx.Done() // the pass runs until the test is over
		return activities.SyncPageResult{}, ctx.Err()
	}, activity.RegisterOptions{Name: "SyncPage"})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	t.Cleanup(func() {
		_ = srv.Client().TerminateWorkflow(context.Background(), workflows.SyncWorkflowID(queue, connID, "items"), "", "test over")
	})

	var c *db.Connection
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		c, err = tx.FindConnection(ctx, connID)
		return err
	}))
	running, err := e.RequestSync(ctx, c, poblysh.ModeIncremental, poblysh.TriggerManual)
	require.NoError(t, err)
	select {
	case <-pageStarted:
	case <-time.After(30 * time.Second):
		t.Fatal("the pass's page never started")
	}
	first, err := e.RequestSync(ctx, c, poblysh.ModeIncremental, poblysh.TriggerManual)
	require.NoError(t, err)
	require.NotEqual(t, running[0].ID, first[0].ID, "a follow-up is queued behind the pass")
	require.Equal(t, poblysh.JobIncremental, first[0].Kind)

	second, err := e.RequestSync(ctx, c, poblysh.ModeBackfill, poblysh.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, first[0].ID, second[0].ID, "joined the queued follow-up")
	require.Equal(t, poblysh.JobBackfill, second[0].Kind, "the follow-up is a backfill now")
	require.Equal(t, poblysh.JobQueued, second[0].Status)

	third, err := e.RequestSync(ctx, c, poblysh.ModeIncremental, poblysh.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, first[0].ID, third[0].ID)
	require.Equal(t, poblysh.JobBackfill, third[0].Kind, "an incremental request joining a backfill keeps it one")

	var stored *db.Job
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		stored, err = tx.FindJob(ctx, first[0].ID)
		return err
	}))
	require.Equal(t, poblysh.JobBackfill, stored.Kind, "GET /jobs/{id} reads a backfill")
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		stored, err = tx.FindJob(ctx, running[0].ID)
		return err
	}))
	require.Equal(t, poblysh.JobIncremental, stored.Kind, "the running pass is what it was")
}
