package main

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestWorkerStoppedByTemporalExits deletes the namespace a `poblysh worker`
// process polls. The SDK stops a worker whose polls fail with a
// non-retriable error (here NamespaceNotFound) after its grace period of two
// minutes; the process then exits non-zero, naming the error, so that its
// supervisor restarts it, instead of running on without polling.
func TestWorkerStoppedByTemporalExits(t *testing.T) {
	t.Parallel()
	s := newStack(t, withCommand("api"))
	ns := "fatal-" + strings.ToLower(rand.Text()[:10])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nsc, err := client.NewNamespaceClient(client.Options{HostPort: s.temporal.FrontendHostPort()})
	require.NoError(t, err)
	defer nsc.Close()
	require.NoError(t, nsc.Register(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)}))
	tc, err := client.Dial(client.Options{HostPort: s.temporal.FrontendHostPort(), Namespace: ns})
	require.NoError(t, err)
	defer tc.Close()
	eventually(t, 30*time.Second, "the namespace to be served", func() bool {
		_, err := tc.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{Namespace: ns,
			TaskQueue: &taskqueuepb.TaskQueue{Name: s.taskQueue}, TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW})
		return err == nil
	})

	w := s.spawnWith("worker", map[string]string{"TEMPORAL_NAMESPACE": ns})
	eventually(t, 60*time.Second, "the worker to start", func() bool {
		return strings.Contains(w.logs.String(), `"msg":"worker started"`)
	})
	exited := make(chan error, 1)
	go func() { exited <- w.cmd.Wait() }()
	_, err = tc.OperatorService().DeleteNamespace(ctx, &operatorservice.DeleteNamespaceRequest{Namespace: ns})
	require.NoError(t, err)
	deleted := time.Now()

	select {
	case err := <-exited:
		t.Logf("the worker exited %s after the namespace was deleted: %v", time.Since(deleted).Round(time.Second), err)
		require.Error(t, err, "a worker Temporal stopped exits non-zero")
		require.Contains(t, w.logs.String(), "temporal worker stopped")
		require.Contains(t, w.logs.String(), "not found")
	case <-time.After(4 * time.Minute):
		t.Fatalf("the worker still runs 4 minutes after its namespace was deleted; logs:\n%s", tail(w.logs.String(), 20))
	}
}
