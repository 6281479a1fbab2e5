package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/workflows"
)

// The workflows of one connection: a sync workflow per stream, one token
// refresher, one watch manager. Their ids are deterministic, so every
// trigger lands on the one writer.

func streamRef(c *db.Connection, stream string) poblysh.ConnectionRef {
	ref := lifecycle.Ref(c)
	ref.Stream = stream
	return ref
}

// requestTimeout bounds one stream's sync request (the update-with-start
// and its answer).
const requestTimeout = 20 * time.Second

// RequestSync asks every stream of a connection for a pass and returns the
// job each request became: the running pass it joined, or the queued
// follow-up. It uses update-with-start on the stream's deterministic
// workflow id, so concurrent callers never start a second writer.
func (e *Engine) RequestSync(ctx context.Context, c *db.Connection, mode poblysh.SyncMode, trigger poblysh.Trigger) ([]db.Job, error) {
	return e.RequestSyncs(ctx, []db.Connection{*c}, mode, trigger)
}

// syncRequestsAtOnce bounds the stream requests one RequestSyncs has in
// flight. Each is an update-with-start that waits for the stream's worker
// to take it (about 70 ms on an idle stack), so asked one after the other
// a tenant's sync of every connection took 70 ms a stream and passed the
// route's 60 s deadline (api.Timeouts) at some 850 streams; 16 at a time
// take a sixteenth of that while Temporal and the workers keep up. Bounded
// so that one request does not flood Temporal's frontend or the worker's
// task slots, nor hold more than that many of the pool's Postgres
// sessions (16 by default) for its job rows, and only for a moment each.
const syncRequestsAtOnce = 16

// RequestSyncs is RequestSync for several connections: it asks every
// stream of each, up to syncRequestsAtOnce at a time, and returns the jobs
// in the order of the connections and their streams.
func (e *Engine) RequestSyncs(ctx context.Context, conns []db.Connection, mode poblysh.SyncMode, trigger poblysh.Trigger) ([]db.Job, error) {
	jobs, _, err := e.RequestSyncsUntil(ctx, conns, mode, trigger, time.Time{}, nil)
	return jobs, err
}

// RequestSyncsUntil asks as RequestSyncs, but starts no connection's
// requests once until has passed (the zero time: no bound), also while it
// waits for a free slot: it returns the jobs of the first asked of conns,
// each connection with every one of its streams (a connection is asked
// whole, so the rest can go on from a connection), and how many
// connections it asked. A connection whose config names no streams fails
// the call before anything is asked. The first request that fails fails
// the call, as when they were asked one after the other: no request starts
// after it, and those already in flight end on their own (a stream
// Temporal already took keeps its job row).
//
// progress (nil: none) is called, one call at a time, each time the first
// connections of conns whose every stream was answered grow: with their
// number and their streams' (jobs). Requests run several at a time, so a
// connection answered while one before it waits is counted only once that
// one is answered too: a caller that goes on after the first asked
// connections (SyncFrom's heartbeat) asks none of them again and skips no
// connection. It is called also when the call then fails: those
// connections' jobs stand.
func (e *Engine) RequestSyncsUntil(ctx context.Context, conns []db.Connection, mode poblysh.SyncMode, trigger poblysh.Trigger, until time.Time, progress func(asked, jobs int)) ([]db.Job, int, error) {
	type request struct {
		conn   int // index in conns
		stream string
		first  bool // the connection's first stream
	}
	var reqs []request
	for i := range conns {
		streams, err := e.Streams(&conns[i])
		if err != nil {
			return nil, 0, err
		}
		for k, s := range streams {
			reqs = append(reqs, request{conn: i, stream: s, first: k == 0})
		}
	}
	// left counts each connection's streams not yet answered; answered is
	// how many of the first connections have none left (answeredJobs:
	// their streams).
	streamsOf := make([]int, len(conns))
	for _, r := range reqs {
		streamsOf[r.conn]++
	}
	left := slices.Clone(streamsOf)
	var pmu sync.Mutex
	answered, answeredJobs := 0, 0
	advance := func(conn int) { // conn: the connection of a stream just answered (-1: none)
		pmu.Lock()
		defer pmu.Unlock()
		if conn >= 0 {
			left[conn]--
		}
		n := answered
		for answered < len(conns) && left[answered] == 0 {
			answeredJobs += streamsOf[answered]
			answered++
		}
		if answered > n && progress != nil {
			progress(answered, answeredJobs)
		}
	}
	if len(conns) > 0 && streamsOf[0] == 0 {
		advance(-1) // the first connections have no stream to wait for
	}
	n := syncRequestsAtOnce
	if e.syncRequestsAtOnce > 0 {
		n = e.syncRequestsAtOnce
	}
	var stop <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		stop = t.C
	}
	expired := func() bool { return !until.IsZero() && !time.Now().Before(until) }
	jobs := make([]db.Job, len(reqs))
	slots := make(chan struct{}, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return first != nil
	}
	asked := len(conns)
	for i, r := range reqs {
		if r.first && expired() {
			asked = r.conn
			break
		}
		if r.first && stop != nil {
			// The bound ends the wait for a slot too: a connection not
			// begun by then is left, whole, to the caller.
			got := false
			select {
			case slots <- struct{}{}:
				got = true
			case <-stop:
			}
			if !got {
				asked = r.conn
				break
			}
		} else {
			slots <- struct{}{}
		}
		if failed() || ctx.Err() != nil {
			<-slots
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			j, err := e.requestStream(ctx, &conns[r.conn], r.stream, mode, trigger)
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				return
			}
			jobs[i] = *j
			advance(r.conn)
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, 0, first
	}
	if err := ctx.Err(); err != nil {
		// The caller left between two requests.
		return nil, 0, temporalUnavailable(fmt.Errorf("request sync: %w", err))
	}
	k := 0
	for k < len(reqs) && reqs[k].conn < asked {
		k++
	}
	return jobs[:k], asked, nil
}

// StartProviderSync hands the rest of a sync of every connection of a
// provider to a SyncProvider workflow: it asks the streams of the
// tenant's connections of the provider that come after the cursor after
// (db.ConnectionCursor; "" for all of them), as POST /sync would have.
func (e *Engine) StartProviderSync(ctx context.Context, tenantID, provider string, mode poblysh.SyncMode, after string) error {
	id := workflows.SyncProviderWorkflowID(e.TaskQueue, tenantID, provider, uuid.NewString())
	opts := client.StartWorkflowOptions{ID: id, TaskQueue: e.TaskQueue, StaticSummary: "sync the rest of tenant " + tenantID + "'s " + provider + " connections"}
	_, err := e.Client.ExecuteWorkflow(ctx, opts, workflows.SyncProvider, workflows.SyncProviderInput{TenantID: tenantID, Provider: provider, Mode: mode, After: after})
	if err != nil {
		return temporalUnavailable(fmt.Errorf("start %s: %w", id, err))
	}
	// Nothing returns the id (the answer gives pending_connections only):
	// the log line ties a request to the workflow that goes on with it.
	e.log().WithFields(logrus.Fields{"tenant_id": tenantID, "provider": provider, "workflow_id": id}).Info("sync of the rest of the provider's connections handed to a workflow")
	return nil
}

func (e *Engine) requestStream(ctx context.Context, c *db.Connection, stream string, mode poblysh.SyncMode, trigger poblysh.Trigger) (*db.Job, error) {
	// Bounded, so that while Temporal is unreachable the caller (an API
	// request) is answered 503 well before its route's deadline
	// (api.Timeouts) rather than cut off.
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	ref := streamRef(c, stream)
	id := workflows.SyncWorkflowID(e.TaskQueue, c.ID, stream)
	var handle client.WorkflowUpdateHandle
	var err error
	for attempt := 1; ; attempt++ {
		start := e.Client.NewWithStartWorkflowOperation(e.startOptions(id, ref, "sync"), workflows.SyncStream, workflows.SyncInput{ConnectionRef: ref})
		handle, err = e.Client.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: start,
			UpdateOptions: client.UpdateWorkflowOptions{
				UpdateName:   workflows.UpdateRequest,
				Args:         []any{workflows.SyncRequest{Mode: mode, Trigger: trigger}},
				WaitForStage: client.WorkflowUpdateStageCompleted,
			},
		})
		if err == nil || !taskFailed(err) || attempt == requestAttempts {
			break
		}
		t := time.NewTimer(time.Duration(attempt) * requestRetryDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, temporalUnavailable(fmt.Errorf("request sync of %s: %w", id, err))
		case <-t.C:
		}
	}
	if err != nil {
		return nil, temporalUnavailable(fmt.Errorf("request sync of %s: %w", id, err))
	}
	var res workflows.RequestResult
	if err := handle.Get(ctx, &res); err != nil {
		return nil, temporalUnavailable(fmt.Errorf("request sync of %s: %w", id, err))
	}
	var job *db.Job
	err = e.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) (err error) {
		job, err = tx.EnsureJob(ctx, db.Job{
			ID: res.JobID, ConnectionID: c.ID, Provider: c.Provider, Kind: poblysh.JobKindFor(res.Mode),
			Stream: stream, Trigger: trigger, Status: poblysh.JobQueued, WorkflowID: id, RunID: handle.RunID(),
		})
		return err
	})
	return job, err
}

// A sync request is asked again, up to requestAttempts times in all and
// requestRetryDelay times the attempt apart, when Temporal aborted its
// update because the workflow task that carried it failed (taskFailed).
const (
	requestAttempts   = 4
	requestRetryDelay = 100 * time.Millisecond
)

// taskFailed reports whether err is Temporal's abort of an update whose
// workflow task failed (WorkflowNotReady, which the SDK does not retry).
// The task that carried the request also closed the run (SyncStream
// continued it as new; a task that brings a request never completes it)
// and a signal arrived while the worker held the task: Temporal refused
// the close (UnhandledCommand: a run may not close with a signal unread)
// and dropped the request with the task. Or the run's tasks have failed
// several times in a row. The run goes on (its next task reads the
// signal) and the request was never recorded: asked again, it reaches
// that run or the next one. Nothing else is asked again here: the SDK
// already retries Temporal's unavailability within requestTimeout.
func taskFailed(err error) bool {
	var notReady *serviceerror.WorkflowNotReady
	return errors.As(err, &notReady)
}

// NudgeStream asks one stream for a coalesced incremental pass without
// waiting for an answer (webhook notifications, schedules). It fails
// unavailable only when Temporal is not serving this process (notServing,
// or the caller's bound ran out): the webhook intake then records the
// nudge, and when Temporal answered none of a delivery's nudges holds
// every connection's back for a while. Any other refusal is this stream's
// workflow's alone.
func (e *Engine) NudgeStream(ctx context.Context, c *db.Connection, stream string, trigger poblysh.Trigger) error {
	ref := streamRef(c, stream)
	id := workflows.SyncWorkflowID(e.TaskQueue, c.ID, stream)
	_, err := e.Client.SignalWithStartWorkflow(ctx, id, workflows.SignalRequest,
		workflows.SyncRequest{Mode: poblysh.ModeIncremental, Trigger: trigger},
		e.startOptions(id, ref, "sync"), workflows.SyncStream, workflows.SyncInput{ConnectionRef: ref})
	switch {
	case err == nil || atSignalLimit(err):
		return nil
	case notServing(err):
		return temporalUnavailable(fmt.Errorf("nudge %s: %w", id, err))
	}
	return fmt.Errorf("nudge %s: %w", id, err)
}

// atSignalLimit reports whether err is a run's refusal of signals past
// Temporal's limit for one run (history.maximumSignalsPerExecution, 10,000
// by default). The nudge has done its work then. A run continues as new
// long before it has received that many (it is suggested from 4,096
// events by default) unless one activity holds it, such as a page retried
// for hours: the signals that arrived meanwhile wait unread, and once the
// activity returns the run takes them into a follow-up pass, which starts
// after this refusal and so reads this change too. The server names the
// limit in its message only (an InvalidArgument,
// consts.ErrSignalsLimitExceeded in go.temporal.io/server).
func atSignalLimit(err error) bool {
	var invalid *serviceerror.InvalidArgument
	return errors.As(err, &invalid) && strings.Contains(invalid.Message, "limit for signal events")
}

// NudgeConnection nudges every stream of a connection.
func (e *Engine) NudgeConnection(ctx context.Context, ref poblysh.ConnectionRef, trigger poblysh.Trigger) (int, error) {
	c, err := e.connection(ctx, ref.TenantID, ref.ConnectionID)
	if err != nil {
		return 0, err
	}
	return e.nudgeAll(ctx, c, trigger)
}

func (e *Engine) nudgeAll(ctx context.Context, c *db.Connection, trigger poblysh.Trigger) (int, error) {
	streams, err := e.Streams(c)
	if err != nil {
		return 0, err
	}
	for _, s := range streams {
		if err := e.NudgeStream(ctx, c, s, trigger); err != nil {
			return 0, err
		}
	}
	return len(streams), nil
}

// StartRefresh starts (or joins) a connection's single refresher.
func (e *Engine) StartRefresh(ctx context.Context, ref poblysh.ConnectionRef) error {
	ref = ref.Connection()
	in := workflows.RefreshInput{ConnectionRef: ref, Trigger: poblysh.TriggerSchedule, Force: true}
	_, err := e.Client.ExecuteWorkflow(ctx, e.startOptions(workflows.RefreshWorkflowID(e.TaskQueue, ref.ConnectionID), ref, "token_refresh"), workflows.RefreshToken, in)
	return temporalUnavailable(err)
}

// StartWatchReconcile starts or nudges a connection's watch manager.
func (e *Engine) StartWatchReconcile(ctx context.Context, ref poblysh.ConnectionRef, trigger poblysh.Trigger) error {
	ref = ref.Connection()
	id := workflows.WatchWorkflowID(e.TaskQueue, ref.ConnectionID)
	in := workflows.WatchInput{ConnectionRef: ref, Trigger: trigger}
	_, err := e.Client.SignalWithStartWorkflow(ctx, id, workflows.SignalWatch, nil, e.startOptions(id, ref, "watch_renewal"), workflows.ReconcileWatches, in)
	return temporalUnavailable(err)
}

// StopConnection stops a connection's scheduled and running work before
// its row is deleted: its schedules are deleted and its refresher, watch
// manager and stream syncs terminated (those already gone are fine).
func (e *Engine) StopConnection(ctx context.Context, c *db.Connection) error {
	if err := e.DeleteSchedules(ctx, c.ID); err != nil {
		return err
	}
	streams, _ := e.Streams(c)
	ids := []string{workflows.RefreshWorkflowID(e.TaskQueue, c.ID), workflows.WatchWorkflowID(e.TaskQueue, c.ID)}
	for _, s := range streams {
		ids = append(ids, workflows.SyncWorkflowID(e.TaskQueue, c.ID, s))
	}
	for _, id := range ids {
		err := e.Client.TerminateWorkflow(ctx, id, "", "connection deleted")
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			return temporalUnavailable(err)
		}
	}
	return nil
}
