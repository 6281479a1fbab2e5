package main

import (
	"sort"
	"strings"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/client/jobs"
	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// TestProviderGarbageMidBackfill: in the middle of a backfill the provider
// answers 200 with an HTML page, then with truncated JSON, then with an
// empty body. The job stays running and shows the failure, naming the
// provider and the endpoint; it retries from the stored cursor and ends
// succeeded with every item exactly once (nothing of the garbage stored,
// no page skipped).
func TestProviderGarbageMidBackfill(t *testing.T) {
	t.Parallel()
	f, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 300}})
	s := newStack(t, withEnv(env), withEnv(map[string]string{"POBLYSH_FAKE_PAGE_SIZE": "50"}))
	for _, g := range []sandbox.Fault{
		{Status: 200, ContentType: "text/html", Body: "<html><body><h1>Service Unavailable</h1></body></html>", PathPrefix: "/api/streams/", After: 2},
		{Status: 200, Body: `{"items":[{"id":3`, PathPrefix: "/api/streams/"},
		{Status: 200, EmptyBody: true, PathPrefix: "/api/streams/"},
	} {
		f.Faults.Add(g)
	}
	_, key := s.tenant("Garbage")
	conn := s.connect(key, "fake", nil)

	seen := map[string]bool{}
	eventually(t, 60*time.Second, "the job to show each garbage failure", func() bool {
		res, err := s.client.Jobs.ListJobs(jobs.NewListJobsParams().WithConnectionID(ptr(strfmt.UUID(*conn.ID))), httptransport.BearerToken(key))
		require.NoError(t, err)
		for _, j := range res.Payload.Jobs {
			got, err := s.client.Jobs.GetJob(jobs.NewGetJobParams().WithID(*j.ID), httptransport.BearerToken(key))
			require.NoError(t, err)
			if l := got.Payload.Live; l != nil && l.LastFailure != nil {
				msg := *l.LastFailure
				require.Contains(t, msg, "fake: GET /api/streams/items", "the failure names the provider and endpoint")
				require.Equal(t, models.JobStatusRunning, *got.Payload.Status, "garbage is retried, not failed")
				for _, what := range []string{"HTML page", "not valid JSON", "empty body"} {
					if strings.Contains(msg, what) {
						seen[what] = true
					}
				}
			}
		}
		return f.Faults.HitCount() == 3 && len(seen) > 0
	})
	js := s.waitJobs(key, string(*conn.ID), "backfill", 1, 90*time.Second)
	require.Equal(t, models.JobStatusSucceeded, *js[0].Status)
	require.EqualValues(t, 300, *js[0].SignalsStored)
	s.requireItems("items", 300)
	require.Zero(t, s.count(`SELECT count(*) FROM jobs WHERE status = 'failed'`))
}

// TestProviderGarbageEndToEnd runs every provider's end-to-end story
// (connect, exact backfill, live, incremental, backfill again; not the
// row's own extra checks) with garbage queued at its fake right after the
// connect: the next API calls, whichever they are (a sync page, a watch
// registration), answer 200 with an HTML page and then with truncated
// JSON. Each is retried; every count stays exact and the garbage shows in
// poblysh_provider_api_calls_total{status="garbage"}.
func TestProviderGarbageEndToEnd(t *testing.T) {
	t.Parallel()
	names := make([]string, 0, len(providerCases))
	for n := range providerCases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		tc := providerCases[n]
		tc.afterBackfill, tc.after = nil, nil
		connected := tc.afterConnect
		tc.afterConnect = func(r *providerRun) {
			if connected != nil {
				connected(r)
			}
			r.vals["garbage before"] = metricValue(r.t, r.s, `poblysh_provider_api_calls_total{provider="`+n+`",status="garbage"}`)
			control(r.t, "POST", r.url+"/_sandbox/faults", map[string]any{"status": 200, "content_type": "text/html",
				"body": "<!DOCTYPE html><html><body>Temporarily unavailable</body></html>"})
			control(r.t, "POST", r.url+"/_sandbox/faults", map[string]any{"status": 200, "body": `{"data": [{"id": "1", "na`})
		}
		missed := tc.missed
		tc.missed = func(r *providerRun) int {
			require.Greater(r.t, metricValue(r.t, r.s, `poblysh_provider_api_calls_total{provider="`+n+`",status="garbage"}`),
				r.vals["garbage before"], "the garbage was served and refused")
			return missed(r)
		}
		t.Run(n, func(t *testing.T) {
			t.Parallel()
			runProviderCase(t, tc)
		})
	}
}
