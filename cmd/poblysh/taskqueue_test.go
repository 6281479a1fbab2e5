package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/poblysh/poblysh/db/dbtest"
)

// runWorker runs `poblysh worker` in-process with env until it returns, or
// until it has logged "worker started" (then it is stopped), for up to d:
// whether it had started when stopped, its logs and its error.
func runWorker(t *testing.T, env map[string]string, d time.Duration) (started bool, logs string, err error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	buf := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"worker"}, envOf(env), buf, buf) }()
	deadline := time.After(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return false, buf.String(), err
		case <-tick.C:
			if !strings.Contains(buf.String(), "worker started") {
				continue
			}
		case <-deadline:
		}
		cancel()
		err := <-done
		return strings.Contains(buf.String(), "worker started"), buf.String(), err
	}
}

// Two stacks on one Temporal server and one task queue would run each
// other's work against the wrong database: a worker on another database
// refuses to start and names the poller it found, unless told to join; a
// second worker on the same database starts. Workers poll with the
// database's identity in theirs: its own id, so that another database
// reached at the same address, under the same name and schema, is another
// database (it used to be taken for the same one).
func TestWorkerRefusesAQueueOfAnotherDatabase(t *testing.T) {
	t.Parallel()
	s := newStack(t)

	// The stack's worker polls with its database in its identity.
	var identity string
	eventually(t, 30*time.Second, "the stack's worker to poll", func() bool {
		res, err := s.temporal.Client().DescribeTaskQueue(context.Background(), s.taskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		require.NoError(t, err)
		for _, p := range res.GetPollers() {
			identity = p.GetIdentity()
		}
		return identity != ""
	})
	require.Regexp(t, `@dbid=[0-9a-f]{12}@db=[0-9a-f]{12}$`, identity)

	other := map[string]string{}
	for k, v := range s.env {
		other[k] = v
	}
	other["POBLYSH_METRICS_ADDR"] = "off"
	other["DATABASE_URL"] = dbtest.NewSchema(t).OwnerURL

	started, _, err := runWorker(t, other, 20*time.Second)
	require.False(t, started, "a worker on another database must not start")
	require.Error(t, err)
	require.Contains(t, err.Error(), `task queue "`+s.taskQueue+`" is already polled by `+identity)
	require.Contains(t, err.Error(), "POBLYSH_JOIN_TASK_QUEUE")

	// A second worker on the stack's own database starts without being told.
	same := map[string]string{}
	for k, v := range s.env {
		same[k] = v
	}
	same["POBLYSH_METRICS_ADDR"] = "off"
	started, logs, err := runWorker(t, same, 60*time.Second)
	require.True(t, started, "a worker on the same database joins its queue: %v\n%s", err, tail(logs, 20))
	require.NoError(t, err)
	require.True(t, strings.Contains(logs, "worker started"), tail(logs, 20))

	// Another database behind the same address, with the same name and
	// schema (two Postgres servers on one Unix socket path, 127.0.0.1:5432
	// on two hosts, one container address in two compose projects): here
	// the stack's schema given another id.
	s.exec(`UPDATE database_identity SET id = gen_random_uuid()`)
	started, _, err = runWorker(t, same, 20*time.Second)
	require.False(t, started, "a worker on another database reached the same way must not start")
	require.Error(t, err)
	require.Contains(t, err.Error(), `task queue "`+s.taskQueue+`" is already polled by `+identity)

	// Told to join, the worker on another database starts (and from now on
	// the queue has a foreign poller, which a worker of either database
	// would be refused for, until it has been quiet for a while).
	other["POBLYSH_JOIN_TASK_QUEUE"] = "true"
	started, _, err = runWorker(t, other, 60*time.Second)
	require.True(t, started, "told to join, the worker starts: %v", err)
	require.NoError(t, err)
}
