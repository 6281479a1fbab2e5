package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/client/jobs"
	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	"github.com/poblysh/poblysh/testenv"
)

// providerCase is one provider's row of the end-to-end table: every
// provider goes through the same story against its registered fake, on a
// whole service (Postgres, Temporal, API and worker) used through its public
// API only:
//
//  1. connect through the OAuth start page and the fake's redirects;
//  2. backfill: one job per stream, each succeeded, exactly backfill Signals
//     stored and in the feed;
//  3. the connection's watches (webhooks, channels) are registered;
//  4. live: activity at the fake reaches the feed by webhook or push, and
//     nothing is stored twice;
//  5. incremental: activity whose delivery never arrived is stored by an
//     incremental sync, and nothing else;
//  6. a second backfill stores 0;
//  7. no token or secret reaches the logs or the database in clear.
//
// A new provider adds one row in its own file, e2e_<dir>_test.go (<dir> is
// its package folder: e2e_googlecalendar_test.go), with addProviderCase in
// an init function, and puts its provider-specific cases in the hooks or in
// tests of their own. TestEveryProviderIsComplete checks that every
// registered connector has a row; docs/adding-a-provider.md has an example.
type providerCase struct {
	// provider is the connector's Spec.Name; the fake registered under the
	// same name (sandbox.Register) is started.
	provider string
	// fake are the uniform options the fake is built with (sandbox.New):
	// named faults, a token lifetime. The runner sets Seed, DeliverTo (the
	// service's URL) and a random WebhookSecret when empty.
	fake sandbox.Options
	// env is extra service environment, e.g. a small page size so that the
	// seeded history takes several pages.
	env map[string]string
	// config is the connection config; it names what the fake seeds.
	config any
	// streams is the number of backfill jobs the connection starts (one
	// per stream), and of jobs every later sync request answers.
	streams int
	// backfill is the exact number of Signals the first backfill stores
	// (the fake's seed, usually a constant of its package).
	backfill int
	// watches is how many watches (repository hooks, watch channels) the
	// connection registers before live activity can arrive by push; 0
	// skips the wait (providers whose events need no registration).
	watches int
	// live creates activity at the fake (r.fake, or its control API at
	// r.url) that reaches the service by webhook or push notification, and
	// calls r.arrive(n) for the n Signals it must add to the feed, once or
	// after each step. It may assert on what r.arrive returns.
	live func(r *providerRun)
	// missed creates activity whose delivery never arrives (held, or made
	// without a notification) and returns how many Signals the following
	// incremental sync must store.
	missed func(r *providerRun) int

	// Optional hooks for provider-specific cases, in the order they run.

	// wrap wraps the fake's handler before it is served (e.g. to expire
	// tokens in the middle of the backfill).
	wrap func(r *providerRun, h http.Handler) http.Handler
	// beforeConnect runs once the service is up (e.g. to queue faults).
	beforeConnect func(r *providerRun)
	// afterConnect checks the new connection (r.conn).
	afterConnect func(r *providerRun)
	// afterBackfill checks the backfilled Signals (the whole feed).
	afterBackfill func(r *providerRun, sigs []*models.Signal)
	// after runs last, on the connected state (e.g. cursor expiry, a
	// revoked refresh token); it keeps r.total true if it stores Signals.
	after func(r *providerRun)
}

// providerCases are the rows, by provider; each provider's file adds its own.
var providerCases = map[string]providerCase{}

// addProviderCase adds a row of the end-to-end table (from an init
// function of the provider's e2e_<provider>_test.go).
func addProviderCase(c providerCase) {
	if _, dup := providerCases[c.provider]; dup || c.provider == "" {
		panic("addProviderCase: empty or duplicate provider " + c.provider)
	}
	providerCases[c.provider] = c
}

// providerRun is the state of one row's run, handed to its hooks.
type providerRun struct {
	t *testing.T
	s *stack
	// fake is the running fake (type-assert it to its package's *Server
	// for provider-specific controls); url is where it is served.
	fake sandbox.Fake
	url  string
	// key is the tenant's API key; conn the connection and id its id.
	key  string
	conn *models.Connection
	id   string
	// total is the number of Signals stored so far.
	total int
	// vals carries values between a row's hooks (e.g. a metric before).
	vals map[string]any
}

// arrive waits until the feed holds exactly n Signals more than before,
// counts them in r.total and returns them.
func (r *providerRun) arrive(n int) []*models.Signal {
	r.t.Helper()
	require.Positive(r.t, n, "arrive counts the Signals the activity adds")
	sigs := r.s.feed(r.key, r.total+n, 30*time.Second)
	require.Len(r.t, sigs, r.total+n, "exactly %d new Signals", n)
	added := sigs[r.total:]
	r.total += n
	return added
}

// jobs checks a sync answer: one job per stream, each succeeded.
func (r *providerRun) jobs(js []*models.Job, streams int) {
	r.t.Helper()
	require.Len(r.t, js, streams, "one job per stream")
	for _, j := range js {
		require.Equal(r.t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
}

// TestProvidersEndToEnd runs every row of the table, each on its own stack.
func TestProvidersEndToEnd(t *testing.T) {
	t.Parallel()
	names := make([]string, 0, len(providerCases))
	for n := range providerCases {
		names = append(names, n)
	}
	sort.Strings(names)
	require.NotEmpty(t, names)
	for _, n := range names {
		tc := providerCases[n]
		t.Run(n, func(t *testing.T) {
			t.Parallel()
			runProviderCase(t, tc)
		})
	}
}

func runProviderCase(t *testing.T, tc providerCase) {
	require.NotNil(t, tc.live, "%s: the row needs live", tc.provider)
	require.NotNil(t, tc.missed, "%s: the row needs missed", tc.provider)
	require.Positive(t, tc.streams, "%s: the row needs streams", tc.provider)
	require.Positive(t, tc.backfill, "%s: the row needs a seeded backfill", tc.provider)
	r := &providerRun{t: t, vals: map[string]any{}}

	// The fake delivers to the service, which must know the fake's URLs:
	// choose the service's port first.
	port := testenv.FreePort()
	o := tc.fake
	o.Seed, o.DeliverTo = true, fmt.Sprintf("http://127.0.0.1:%d", port)
	if o.WebhookSecret == "" {
		o.WebhookSecret = sandbox.RandomString(32)
	}
	fake, err := sandbox.New(tc.provider, o)
	require.NoError(t, err)
	r.fake = fake
	var h http.Handler = fake
	if tc.wrap != nil {
		h = tc.wrap(r, h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r.url = srv.URL
	r.s = newStack(t, withPort(port), withEnv(fake.Env(srv.URL)), withEnv(tc.env))
	if tc.beforeConnect != nil {
		tc.beforeConnect(r)
	}
	_, r.key = r.s.tenant("Acme")

	// 1. Connect.
	r.conn = r.s.connect(r.key, tc.provider, tc.config)
	r.id = string(*r.conn.ID)
	require.Equal(t, tc.provider, *r.conn.Provider)
	if tc.afterConnect != nil {
		tc.afterConnect(r)
	}

	// 2. Backfill, exactly.
	js := r.s.waitJobs(r.key, r.id, "backfill", tc.streams, 2*time.Minute)
	r.jobs(js, tc.streams)
	require.EqualValues(t, tc.backfill, stored(js), "the backfill stores the seed exactly")
	sigs := r.s.feed(r.key, tc.backfill, 30*time.Second)
	require.Len(t, sigs, tc.backfill)
	r.total = tc.backfill
	if tc.afterBackfill != nil {
		tc.afterBackfill(r, sigs)
	}

	// 3. Watches registered, so pushes arrive live.
	if tc.watches > 0 {
		eventually(t, 30*time.Second, fmt.Sprintf("%d watches", tc.watches), func() bool {
			c := r.s.connection(r.key, r.id)
			return *c.PushEnabled && len(c.Watches) == tc.watches
		})
	}

	// 4. Live activity by webhook or push; nothing twice.
	before := r.total
	tc.live(r)
	require.Greater(t, r.total, before, "live activity added Signals (r.arrive)")
	time.Sleep(500 * time.Millisecond) // let late duplicates land
	require.Equal(t, r.total, r.s.count(`SELECT count(*) FROM signals`), "live activity is stored once")

	// 5. What was never delivered: an incremental sync stores only that.
	// A pass that a webhook's nudge or a poll started a moment earlier may
	// read it first, and the requested one then finds it stored: count what
	// every sync of the connection stores from here on.
	storedByJobs := func() int {
		return r.s.count(`SELECT coalesce(sum(signals_stored), 0) FROM jobs WHERE connection_id = $1`, r.id)
	}
	storedBefore := storedByJobs()
	n := tc.missed(r)
	require.Positive(t, n)
	js = r.s.sync(r.key, tc.provider, r.id, "incremental")
	r.jobs(js, tc.streams)
	eventually(t, 30*time.Second, fmt.Sprintf("syncs to store the %d missed", n), func() bool { return storedByJobs()-storedBefore >= n })
	require.Equal(t, n, storedByJobs()-storedBefore, "incremental adds only what is new")
	r.total += n
	require.Len(t, r.s.feed(r.key, r.total, 30*time.Second), r.total)

	// 6. Backfill again: nothing new.
	js = r.s.sync(r.key, tc.provider, r.id, "backfill")
	r.jobs(js, tc.streams)
	require.Zero(t, stored(js), "re-running backfill stores no duplicates")
	require.Equal(t, r.total, r.s.count(`SELECT count(*) FROM signals`))

	// 7. Provider-specific cases, then no secret in clear.
	iss, ok := fake.(sandbox.Issuer)
	require.True(t, ok, "the %s fake lists the tokens it issued (sandbox.Issuer)", tc.provider)
	tokens := iss.IssuedTokens()
	if tc.after != nil {
		tc.after(r)
	}
	r.s.requireNoSecrets(append(tokens, iss.IssuedTokens()...)...)
}

// control calls a sandbox control endpoint and decodes its JSON answer.
func control(t *testing.T, method, url string, body any) map[string]any {
	t.Helper()
	var rd *bytes.Reader
	if body == nil {
		rd = bytes.NewReader(nil)
	} else {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw := readAll(resp)
	require.Less(t, resp.StatusCode, 300, "%s %s: %s", method, url, raw)
	out := map[string]any{}
	_ = json.Unmarshal([]byte(raw), &out)
	return out
}

func kinds(sigs []*models.Signal) map[string]int {
	out := map[string]int{}
	for _, s := range sigs {
		out[*s.Kind]++
	}
	return out
}

// sync asks for a sync of a connection and waits for its jobs.
func (s *stack) sync(key, provider, connID, mode string) []*models.Job {
	s.t.Helper()
	res, err := s.client.Jobs.StartSync(jobs.NewStartSyncParams().WithProvider(provider).
		WithBody(&models.SyncRequest{ConnectionID: strfmt.UUID(connID), Mode: &mode}), httptransport.BearerToken(key))
	require.NoError(s.t, err)
	require.NoError(s.t, res.Payload.Validate(strfmt.Default))
	var out []*models.Job
	for _, j := range res.Payload.Jobs {
		out = append(out, s.waitJob(key, *j.ID, 90*time.Second))
	}
	return out
}

func stored(js []*models.Job) (n int64) {
	for _, j := range js {
		n += *j.SignalsStored
	}
	return n
}

func (s *stack) connection(key, id string) *models.Connection {
	s.t.Helper()
	res, err := s.client.Connections.GetConnection(connections.NewGetConnectionParams().WithID(strfmt.UUID(id)), httptransport.BearerToken(key))
	require.NoError(s.t, err)
	require.NoError(s.t, res.Payload.Validate(strfmt.Default))
	return res.Payload
}

func findString(m map[string]any, key string) string {
	for k, v := range m {
		if k == key {
			if s, ok := v.(string); ok {
				return s
			}
		}
		if sub, ok := v.(map[string]any); ok {
			if s := findString(sub, key); s != "" {
				return s
			}
		}
	}
	return ""
}
