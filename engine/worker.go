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
	"github.com/poblysh/poblysh/db"
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
	workflows.SyncProvider,
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
// as the SDK names them, and the database it works on (see db.Identity):
// "<pid>@<host>@dbid=<database>@db=<address>", which CheckTaskQueue
// compares. The address form ends the identity, where workers of earlier
// versions read their database ("@db=<hash>" last), so that during a
// rolling upgrade they take the new workers of their database for their
// own.
func WorkerIdentity(id db.Identity) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%d@%s@dbid=%s@db=%s", os.Getpid(), host, id.Database, id.Address)
}

var (
	dbIDInIdentity = regexp.MustCompile(`@dbid=([0-9a-f]+)@db=[0-9a-f]+$`)
	dbInIdentity   = regexp.MustCompile(`@db=([0-9a-f]+)$`)
)

// sameDatabase reports whether a poller's identity names database id. One
// that names the database's own id is compared by it alone; one of an
// earlier version names only the address form, and is taken for a worker
// of this database when that form is this database's (it cannot tell two
// servers reached alike apart, as that version itself could not).
func sameDatabase(poller string, id db.Identity) bool {
	if m := dbIDInIdentity.FindStringSubmatch(poller); m != nil {
		return m[1] == id.Database
	}
	m := dbInIdentity.FindStringSubmatch(poller)
	return m != nil && m[1] == id.Address
}

// pollerFreshness is how recently a poller must have polled to count: a
// worker's long poll returns at least every ~70 s, so a poller quiet for
// longer has stopped (Temporal lists pollers for a while after they stop).
const pollerFreshness = 2 * time.Minute

// CheckTaskQueue asks Temporal who polls taskQueue before a worker joins
// it. A recent poller whose identity names another database, or none (a
// worker of a version before the check, or of another service), would run this stack's workflows and
// activities against the wrong database, and this stack's worker theirs:
// CheckTaskQueue then refuses, naming the pollers, unless join is set
// (POBLYSH_JOIN_TASK_QUEUE, for deliberately shared queues).
func CheckTaskQueue(ctx context.Context, c client.Client, taskQueue string, id db.Identity, join bool) error {
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
			if !sameDatabase(p.GetIdentity(), id) {
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
	return fmt.Errorf("task queue %q is already polled by %s, on another database (this worker's is dbid=%s@db=%s): "+
		"two stacks on one queue run each other's work against the wrong database. Give this stack its own "+
		"POBLYSH_TASK_QUEUE (make dev writes a unique one into .env), or set POBLYSH_JOIN_TASK_QUEUE=true "+
		"if they really share a database", taskQueue, strings.Join(names, ", "), id.Database, id.Address)
}
