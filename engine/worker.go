package engine

import (
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
	workflows.Retention,
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
