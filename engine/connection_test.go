package engine

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
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
