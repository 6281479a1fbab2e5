package engine

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/workflows"
)

// Workflows lists every workflow the worker runs (replay tests use it too).
var Workflows = []any{
	workflows.SyncStream,
	workflows.RefreshToken,
	workflows.RefreshSweep,
	workflows.PollConnection,
	workflows.ReconcileWatches,
	workflows.RenewalSweep,
	workflows.ActivationSweep,
	workflows.Retention,
	workflows.DeleteTenant,
}

// NewWorker builds the worker of the task queue with every workflow and
// the activities struct registered.
func NewWorker(c client.Client, taskQueue string, acts *activities.Activities, opts worker.Options) worker.Worker {
	w := worker.New(c, taskQueue, opts)
	for _, wf := range Workflows {
		w.RegisterWorkflow(wf)
	}
	w.RegisterActivity(acts)
	return w
}

// WorkerIdentity is the identity a worker polls with: its process and host
// as the SDK names them, and the database it works on ("db=<hash>", see
// db.DB.Identity), which CheckTaskQueue compares.
func WorkerIdentity(dbIdentity string) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%d@%s@db=%s", os.Getpid(), host, dbIdentity)
}

var dbInIdentity = regexp.MustCompile(`@db=([0-9a-f]+)$`)

// pollerFreshness is how recently a poller must have polled to count: a
// worker's long poll returns at least every ~70 s, so a poller quiet for
// longer has stopped (Temporal lists pollers for a while after they stop).
const pollerFreshness = 2 * time.Minute

// CheckTaskQueue asks Temporal who polls taskQueue before a worker joins
// it. A recent poller whose identity names another database, or none (a
// worker of another version or service), would run this stack's workflows
// and activities against the wrong database, and this stack's worker
// theirs: CheckTaskQueue then refuses, naming the pollers, unless join is
// set (POBLYSH_JOIN_TASK_QUEUE, for deliberately shared queues).
func CheckTaskQueue(ctx context.Context, c client.Client, taskQueue, dbIdentity string, join bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	foreign := map[string]bool{}
	for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
		resp, err := c.DescribeTaskQueue(ctx, taskQueue, typ)
		if err != nil {
			return temporalUnavailable(fmt.Errorf("describe task queue %s: %w", taskQueue, err))
		}
		for _, p := range resp.GetPollers() {
			if t := p.GetLastAccessTime(); t != nil && time.Since(t.AsTime()) > pollerFreshness {
				continue
			}
			m := dbInIdentity.FindStringSubmatch(p.GetIdentity())
			if m == nil || m[1] != dbIdentity {
				foreign[p.GetIdentity()] = true
			}
		}
	}
	if len(foreign) == 0 {
		return nil
	}
	names := make([]string, 0, len(foreign))
	for n := range foreign {
		names = append(names, n)
	}
	sort.Strings(names)
	if join {
		return nil
	}
	return fmt.Errorf("task queue %q is already polled by %s, on another database (this worker's is db=%s): "+
		"two stacks on one queue run each other's work against the wrong database. Give this stack its own "+
		"POBLYSH_TASK_QUEUE (make dev writes a unique one into .env), or set POBLYSH_JOIN_TASK_QUEUE=true "+
		"if they really share a database", taskQueue, strings.Join(names, ", "), dbIdentity)
}
