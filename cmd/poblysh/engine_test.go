package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/poblysh/poblysh/gen/client/jobs"
	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	"github.com/poblysh/poblysh/workflows"
)

// requireItems asserts the stored Signals of a stream are exactly items
// 1..n, each once: no duplicates and no gaps.
func (s *stack) requireItems(stream string, n int) {
	s.t.Helper()
	require.Equal(s.t, n, s.count(`SELECT count(*) FROM signals`), "exactly %d Signals", n)
	require.Equal(s.t, n, s.count(`SELECT count(DISTINCT dedupe_key) FROM signals`))
	missing := s.count(`SELECT count(*) FROM generate_series(1, $1::int) AS g(i)
		WHERE NOT EXISTS (SELECT 1 FROM signals WHERE dedupe_key = 'fake:item:' || $2::text || ':' || g.i)`, n, stream)
	require.Zero(s.t, missing, "no gaps")
}

func TestBackfill20000Items(t *testing.T) {
	t.Parallel()
	_, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 20000}})
	// Pages of 50: 400 pages in 40 batches (activities) make a history
	// long enough for the dev server to suggest continuing as new.
	s := newStack(t, withEnv(env), withEnv(map[string]string{"POBLYSH_FAKE_PAGE_SIZE": "50"}))
	_, key := s.tenant("Big")
	conn := s.connect(key, "fake", nil)
	js := s.waitJobs(key, string(*conn.ID), "backfill", 1, 5*time.Minute)
	require.Equal(t, models.JobStatusSucceeded, *js[0].Status)
	require.EqualValues(t, 20000, *js[0].SignalsStored)
	require.EqualValues(t, 400, *js[0].Pages)
	s.requireItems("items", 20000)

	// The run continued as new along the way (history stays small) and
	// the job followed it.
	wid := workflows.SyncWorkflowID(s.taskQueue, string(*conn.ID), "items")
	eventually(t, 20*time.Second, "a ContinuedAsNew run in visibility", func() bool {
		res, err := s.temporal.Client().ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("WorkflowId = '%s' AND ExecutionStatus = 'ContinuedAsNew'", wid)})
		require.NoError(t, err)
		return len(res.Executions) > 0
	})
}

// TestWorkerKilledMidBackfill kills the worker process (SIGKILL) in the
// middle of a backfill and starts a new one: the backfill completes from the
// stored cursor with every item exactly once.
func TestWorkerKilledMidBackfill(t *testing.T) {
	t.Parallel()
	_, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 3000}, PageDelay: 150 * time.Millisecond})
	s := newStack(t, withEnv(env), withEnv(map[string]string{"POBLYSH_FAKE_PAGE_SIZE": "100"}), withCommand("api"))
	w1 := s.spawn("worker")
	_, key := s.tenant("Crash")
	conn := s.connect(key, "fake", nil)
	eventually(t, 90*time.Second, "the backfill to be under way", func() bool {
		return s.count(`SELECT coalesce(max(pages), 0) FROM jobs WHERE kind = 'backfill'`) >= 5
	})
	w1.kill()
	stored := s.count(`SELECT count(*) FROM signals`)
	require.Less(t, stored, 3000, "killed mid-backfill")
	s.spawn("worker")
	js := s.waitJobs(key, string(*conn.ID), "backfill", 1, 3*time.Minute)
	require.Equal(t, models.JobStatusSucceeded, *js[0].Status)
	s.requireItems("items", 3000)
}

// TestConcurrentTriggersOneWriter: two manual triggers at once join one
// workflow; passes over the stream never overlap.
func TestConcurrentTriggersOneWriter(t *testing.T) {
	t.Parallel()
	f, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 200}, PageDelay: 100 * time.Millisecond})
	s := newStack(t, withEnv(env), withEnv(map[string]string{"POBLYSH_FAKE_PAGE_SIZE": "20"}))
	_, key := s.tenant("Race")
	conn := s.connect(key, "fake", nil)
	s.waitJobs(key, string(*conn.ID), "backfill", 1, 90*time.Second)
	f.Add("items", 100)

	var wg sync.WaitGroup
	results := make([][]*models.Job, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.client.Jobs.StartSync(jobs.NewStartSyncParams().WithProvider("fake").
				WithBody(&models.SyncRequest{ConnectionID: strfmt.UUID(*conn.ID), Mode: ptr("incremental")}), httptransport.BearerToken(key))
			require.NoError(t, err)
			require.NoError(t, res.Payload.Validate(strfmt.Default))
			results[i] = res.Payload.Jobs
		}()
	}
	wg.Wait()
	require.Len(t, results[0], 1)
	require.Len(t, results[1], 1)
	require.Equal(t, *results[0][0].WorkflowID, *results[1][0].WorkflowID, "one workflow per stream")
	ids := map[string]bool{string(*results[0][0].ID): true, string(*results[1][0].ID): true}
	require.LessOrEqual(t, len(ids), 2)

	js := s.waitJobs(key, string(*conn.ID), "incremental", 1, 90*time.Second)
	require.LessOrEqual(t, len(js), 2, "at most one pass and one follow-up")
	all := s.waitJobs(key, string(*conn.ID), "", 0, 10*time.Second)
	type span struct{ from, to time.Time }
	var spans []span
	for _, j := range all {
		if j.StartedAt != nil && j.FinishedAt != nil && *j.Kind != models.JobKindWatchRenewal {
			spans = append(spans, span{time.Time(*j.StartedAt), time.Time(*j.FinishedAt)})
		}
	}
	for i := range spans {
		for k := i + 1; k < len(spans); k++ {
			overlap := spans[i].from.Before(spans[k].to) && spans[k].from.Before(spans[i].to)
			require.False(t, overlap, "two passes over the stream overlapped: %v and %v", spans[i], spans[k])
		}
	}
	s.requireItems("items", 300)
}

// TestRateLimitedJobWaits: a 429 with Retry-After leaves the job running
// and visibly waiting for its next attempt, then it completes; the
// rate-limit metric counts it.
func TestRateLimitedJobWaits(t *testing.T) {
	t.Parallel()
	f, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 50}})
	s := newStack(t, withEnv(env), withEnv(map[string]string{"POBLYSH_FAKE_PAGE_SIZE": "10"}))
	before := metricValue(t, s, `poblysh_provider_rate_limited_total{provider="fake"}`)
	f.Faults.Add(sandbox.Fault{Status: 429, RetryAfter: 6, PathPrefix: "/api/streams/", After: 2})
	_, key := s.tenant("Limited")
	conn := s.connect(key, "fake", nil)

	var waiting *models.Job
	eventually(t, 30*time.Second, "the job to show it waits on the rate limit", func() bool {
		res, err := s.client.Jobs.ListJobs(jobs.NewListJobsParams().WithConnectionID(ptr(strfmt.UUID(*conn.ID))), httptransport.BearerToken(key))
		require.NoError(t, err)
		for _, j := range res.Payload.Jobs {
			got, err := s.client.Jobs.GetJob(jobs.NewGetJobParams().WithID(*j.ID), httptransport.BearerToken(key))
			require.NoError(t, err)
			require.NoError(t, got.Payload.Validate(strfmt.Default))
			if l := got.Payload.Live; l != nil && *l.RateLimited && l.NextRetryAt != nil {
				waiting = got.Payload
				return true
			}
		}
		return false
	})
	require.Equal(t, models.JobStatusRunning, *waiting.Status, "rate limited is not failed")
	require.True(t, *waiting.Live.Waiting)
	next := time.Time(*waiting.Live.NextRetryAt)
	require.WithinDuration(t, time.Now().Add(6*time.Second), next, 6*time.Second, "next retry honours Retry-After")
	require.Equal(t, "SyncPage", *waiting.Live.PendingActivity)
	require.Contains(t, *waiting.Live.LastFailure, "rate limited")

	js := s.waitJobs(key, string(*conn.ID), "backfill", 1, 60*time.Second)
	require.Equal(t, models.JobStatusSucceeded, *js[0].Status)
	s.requireItems("items", 50)
	require.Greater(t, metricValue(t, s, `poblysh_provider_rate_limited_total{provider="fake"}`), before)
}

// metricValue reads one sample from /metrics on the metrics address (0
// when absent).
func metricValue(t *testing.T, s *stack, series string) float64 {
	t.Helper()
	resp, err := http.Get(s.metrics + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	for _, line := range strings.Split(readAll(resp), "\n") {
		if strings.HasPrefix(line, series+" ") {
			var v float64
			_, _ = fmt.Sscanf(strings.TrimPrefix(line, series+" "), "%g", &v)
			return v
		}
	}
	return 0
}
