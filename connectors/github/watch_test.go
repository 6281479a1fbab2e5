package github

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gh "github.com/google/go-github/v89/github"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// inbox is a webhook endpoint that records deliveries; while refusing, it
// answers them 401, as the service does before a hook's secret is stored.
type inbox struct {
	*httptest.Server
	mu       sync.Mutex
	reqs     []*connectors.WebhookRequest
	refusing bool
}

func (in *inbox) refuse(on bool) {
	in.mu.Lock()
	in.refusing = on
	in.mu.Unlock()
}

func newInbox(t *testing.T) *inbox {
	in := &inbox{}
	in.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		in.mu.Lock()
		in.reqs = append(in.reqs, &connectors.WebhookRequest{Header: r.Header.Clone(), Body: b, Now: time.Now()})
		refusing := in.refusing
		in.mu.Unlock()
		if refusing {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(in.Close)
	return in
}

func (in *inbox) received() []*connectors.WebhookRequest {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]*connectors.WebhookRequest(nil), in.reqs...)
}

func (h *harness) watch(t *testing.T, callback string) ([]connectors.Channel, error) {
	return h.connector().Watch(context.Background(), connectors.WatchRequest{
		Connection: h.conn, HTTP: h.client(), CallbackURL: callback, Now: time.Now(),
	})
}

func TestWatchRegistersRepositoryHook(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	in := newInbox(t)
	chans, err := h.watch(t, in.URL+"/api/v1/webhooks/github")
	require.NoError(t, err)
	require.Len(t, chans, 1)
	ch := chans[0]
	require.NotEmpty(t, ch.ID)
	require.Equal(t, "octo-org/hello-world", ch.Target)
	require.Equal(t, "hook:"+ch.ID, ch.RouteKey, "a hook's deliveries route to the hook's connection")
	require.GreaterOrEqual(t, len(ch.Secret), 40, "each hook gets a random secret of its own")
	require.NotEqual(t, testWebhookSecret, ch.Secret, "never the app-wide secret")
	require.True(t, ch.Expires.IsZero())
	targets, err := h.connector().WatchTargets(h.conn)
	require.NoError(t, err)
	require.Equal(t, []string{ch.Target}, targets)

	// GitHub pings a new hook, signed with the hook's own secret.
	h.srv.Wait()
	got := in.received()
	require.Len(t, got, 1)
	require.Equal(t, "ping", got[0].Header.Get("X-GitHub-Event"))
	require.Equal(t, ch.ID, got[0].Header.Get("X-GitHub-Hook-ID"))
	recv := h.connector()
	id, ok := recv.DeliveryChannel(got[0])
	require.True(t, ok)
	require.Equal(t, ch.ID, id)
	require.ErrorIs(t, recv.VerifyWebhook(got[0]), connectors.ErrUnauthorized, "without the hook's secret: refused")
	got[0].ChannelSecret = ch.Secret
	require.NoError(t, recv.VerifyWebhook(got[0]))
	d, err := recv.ParseWebhook(got[0])
	require.NoError(t, err)
	require.Empty(t, d.Signals)
	require.Equal(t, []string{ch.RouteKey}, d.RouteKeys)

	// Once the channel is stored, ConfirmWatch has GitHub ping the hook
	// again, signed with the same secret (the first ping came too early).
	confirm := connectors.ConfirmWatchRequest{Connection: h.conn, HTTP: h.client(), Channel: ch}
	require.NoError(t, recv.ConfirmWatch(context.Background(), confirm))
	h.srv.Wait()
	got = in.received()
	require.Len(t, got, 2)
	require.Equal(t, "ping", got[1].Header.Get("X-GitHub-Event"))
	require.Equal(t, ch.ID, got[1].Header.Get("X-GitHub-Hook-ID"))
	require.NotEqual(t, got[0].Header.Get("X-GitHub-Delivery"), got[1].Header.Get("X-GitHub-Delivery"))
	got[1].ChannelSecret = ch.Secret
	require.NoError(t, recv.VerifyWebhook(got[1]))
	bad := confirm
	bad.Channel.ID = "not-a-hook"
	require.ErrorIs(t, recv.ConfirmWatch(context.Background(), bad), connectors.ErrInvalidConfig)

	// Watching again reuses the hook and gives it a fresh secret.
	again, err := h.watch(t, in.URL+"/api/v1/webhooks/github")
	require.NoError(t, err)
	require.Len(t, again, 1)
	require.Equal(t, ch.ID, again[0].ID)
	require.Equal(t, ch.RouteKey, again[0].RouteKey)
	require.NotEqual(t, ch.Secret, again[0].Secret)
	ch = again[0]

	// Activity now reaches the hook, not the app-level target.
	resp, err := http.Post(h.ts.URL+"/_sandbox/github/repos/octo-org/hello-world/pulls", "application/json",
		bytes.NewReader([]byte(`{"title":"Through the hook","user":"hubot"}`)))
	require.NoError(t, err)
	var out struct {
		Deliveries []githubsandbox.DeliveryResult `json:"deliveries"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Len(t, out.Deliveries, 1)
	require.Equal(t, ch.ID, jsonInt(out.Deliveries[0].HookID))
	require.Equal(t, http.StatusAccepted, out.Deliveries[0].Responses[0].Status)
	got = in.received()
	require.Len(t, got, 3)
	got[2].ChannelSecret = ch.Secret
	require.NoError(t, recv.VerifyWebhook(got[2]))
	d, err = recv.ParseWebhook(got[2])
	require.NoError(t, err)
	require.Equal(t, []string{KindPullRequestOpened}, kindsOf(d.Signals))
	require.Equal(t, "hubot", d.Signals[0].Payload.Actor.Name)

	// Stop deletes the hook; stopping again is fine.
	stop := connectors.StopWatchRequest{Connection: h.conn, HTTP: h.client(), Channel: ch}
	require.NoError(t, recv.StopWatch(context.Background(), stop))
	require.NoError(t, recv.StopWatch(context.Background(), stop))
	confirm.Channel = ch
	require.ErrorIs(t, recv.ConfirmWatch(context.Background(), confirm), connectors.ErrNotFound, "a deleted hook cannot be pinged")
	chans, err = h.watch(t, in.URL+"/api/v1/webhooks/github")
	require.NoError(t, err)
	require.NotEqual(t, ch.ID, chans[0].ID, "a new hook after the old one was deleted")
}

// TestConfirmWatchRedeliversWhatTheHookRefused: what GitHub delivered to a
// new hook before its secret was stored was refused (401), and GitHub does
// not retry; ConfirmWatch has each such event redelivered (same GUID and
// body, signed with the hook's secret), once, and the hook pinged again.
func TestConfirmWatchRedeliversWhatTheHookRefused(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	in := newInbox(t)
	in.refuse(true) // the hook's secret is not stored yet
	chans, err := h.watch(t, in.URL+"/api/v1/webhooks/github")
	require.NoError(t, err)
	require.Len(t, chans, 1)
	ch := chans[0]
	hookID, err := strconv.ParseInt(ch.ID, 10, 64)
	require.NoError(t, err)
	// A pull request opened in that moment.
	resp, err := http.Post(h.ts.URL+"/_sandbox/github/repos/octo-org/hello-world/pulls", "application/json",
		bytes.NewReader([]byte(`{"title":"In the window","user":"hubot"}`)))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	h.srv.Wait()
	got := in.received()
	require.Len(t, got, 2, "the ping and the pull request, both refused")
	// Deliveries are sent as they happen, each on its own: either may
	// arrive first.
	firstPing, refused := got[0], got[1]
	if firstPing.Header.Get("X-GitHub-Event") != "ping" {
		firstPing, refused = refused, firstPing
	}
	require.Equal(t, "ping", firstPing.Header.Get("X-GitHub-Event"))
	require.Equal(t, "pull_request", refused.Header.Get("X-GitHub-Event"))

	in.refuse(false) // stored and routed: the engine confirms
	confirm := connectors.ConfirmWatchRequest{Connection: h.conn, HTTP: h.client(), Channel: ch, Now: time.Now()}
	recv := h.connector()
	require.NoError(t, recv.ConfirmWatch(context.Background(), confirm))
	h.srv.Wait()
	got = in.received()
	require.Len(t, got, 4, "the pull request again, and a new ping (the first ping is not redelivered)")
	var again, ping *connectors.WebhookRequest
	for _, r := range got[2:] {
		switch r.Header.Get("X-GitHub-Event") {
		case "pull_request":
			again = r
		case "ping":
			ping = r
		}
	}
	require.NotNil(t, again)
	require.NotNil(t, ping)
	require.Equal(t, refused.Header.Get("X-GitHub-Delivery"), again.Header.Get("X-GitHub-Delivery"), "the same event")
	require.Equal(t, refused.Body, again.Body)
	again.ChannelSecret = ch.Secret
	require.NoError(t, recv.VerifyWebhook(again))
	d, err := recv.ParseWebhook(again)
	require.NoError(t, err)
	require.Equal(t, []string{KindPullRequestOpened}, kindsOf(d.Signals))
	require.NotEqual(t, firstPing.Header.Get("X-GitHub-Delivery"), ping.Header.Get("X-GitHub-Delivery"))

	// Confirming again redelivers nothing: the event was delivered.
	require.NoError(t, recv.ConfirmWatch(context.Background(), confirm))
	h.srv.Wait()
	got = in.received()
	require.Len(t, got, 5)
	require.Equal(t, "ping", got[4].Header.Get("X-GitHub-Event"))
	log, err := h.srv.HookDeliveries("octo-org/hello-world", hookID)
	require.NoError(t, err)
	var attempts []githubsandbox.HookDeliveryRecord
	for _, a := range log {
		if a.GUID == refused.Header.Get("X-GitHub-Delivery") {
			attempts = append(attempts, a)
		}
	}
	require.Equal(t, []githubsandbox.HookDeliveryRecord{
		{GUID: attempts[0].GUID, Event: "pull_request", StatusCode: http.StatusUnauthorized},
		{GUID: attempts[0].GUID, Event: "pull_request", StatusCode: http.StatusAccepted, Redelivery: true},
	}, attempts)

	// A listing GitHub refuses is reported, and the hook is pinged anyway.
	h.srv.Faults.Add(sandbox.Fault{Status: http.StatusForbidden, PathPrefix: "/repos/octo-org/hello-world/hooks/" + ch.ID + "/deliveries"})
	require.ErrorIs(t, recv.ConfirmWatch(context.Background(), confirm), connectors.ErrForbidden)
	h.srv.Wait()
	got = in.received()
	require.Len(t, got, 6)
	require.Equal(t, "ping", got[5].Header.Get("X-GitHub-Event"))
}

// refusingHook registers the seeded repository's hook with an inbox that
// refuses every delivery (401, as the service does a delivery it cannot
// verify), and returns the inbox, the hook's channel and its id.
func refusingHook(t *testing.T, h *harness) (*inbox, connectors.Channel, int64) {
	t.Helper()
	in := newInbox(t)
	in.refuse(true)
	chans, err := h.watch(t, in.URL+"/api/v1/webhooks/github")
	require.NoError(t, err)
	hookID, err := strconv.ParseInt(chans[0].ID, 10, 64)
	require.NoError(t, err)
	return in, chans[0], hookID
}

// openRefusedPulls opens n pull requests on the seeded repository while
// in refuses deliveries, and returns the GUIDs of the refused
// pull_request deliveries hookID's log holds.
func openRefusedPulls(t *testing.T, h *harness, in *inbox, hookID int64, n int) map[string]bool {
	t.Helper()
	in.refuse(true)
	for i := 0; i < n; i++ {
		resp, err := http.Post(h.ts.URL+"/_sandbox/github/repos/octo-org/hello-world/pulls", "application/json",
			bytes.NewReader([]byte(fmt.Sprintf(`{"title":"refused %d","user":"hubot"}`, i))))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode)
	}
	h.srv.Wait()
	in.refuse(false)
	refused := map[string]bool{}
	log, err := h.srv.HookDeliveries("octo-org/hello-world", hookID)
	require.NoError(t, err)
	for _, a := range log {
		if a.Event == "pull_request" && a.StatusCode == http.StatusUnauthorized && !a.Redelivery {
			refused[a.GUID] = true
		}
	}
	return refused
}

// redeliveredPulls counts, per GUID, the redeliveries of pull_request
// events hookID's log holds that were answered 2xx.
func redeliveredPulls(t *testing.T, h *harness, hookID int64) map[string]int {
	t.Helper()
	log, err := h.srv.HookDeliveries("octo-org/hello-world", hookID)
	require.NoError(t, err)
	out := map[string]int{}
	for _, a := range log {
		if a.Event == "pull_request" && a.Redelivery && a.StatusCode >= 200 && a.StatusCode < 300 {
			out[a.GUID]++
		}
	}
	return out
}

// deliveryListings counts the calls that list a hook's deliveries.
type deliveryListings struct {
	next  http.RoundTripper
	mu    sync.Mutex
	calls int
}

func (l *deliveryListings) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/deliveries") {
		l.mu.Lock()
		l.calls++
		l.mu.Unlock()
	}
	return l.next.RoundTrip(r)
}

func (l *deliveryListings) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

// countingClient is hc, counting its delivery listings in l.
func countingClient(hc *http.Client) (*http.Client, *deliveryListings) {
	l := &deliveryListings{next: hc.Transport}
	c := *hc
	c.Transport = l
	return &c, l
}

// TestConfirmWatchRedeliversPastTheFirstPageOfDeliveries: GitHub lists a
// hook's deliveries 100 a page at most, newest first. When more than 100
// attempts were made since the hook last delivered (a service down for a
// while, a busy repository), the events refused on the older pages are
// redelivered too, each once: GitHub does not retry them, and a push to
// another branch than the default one is read by no sync.
func TestConfirmWatchRedeliversPastTheFirstPageOfDeliveries(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	in, ch, hookID := refusingHook(t, h)
	refused := openRefusedPulls(t, h, in, hookID, 120)
	require.Len(t, refused, 120)

	hc, listings := countingClient(h.client())
	confirm := connectors.ConfirmWatchRequest{Connection: h.conn, HTTP: hc, Channel: ch, Now: time.Now()}
	require.NoError(t, h.connector().ConfirmWatch(context.Background(), confirm))
	h.srv.Wait()
	again := redeliveredPulls(t, h, hookID)
	require.Len(t, again, 120, "every refused pull request, not only the newest 100")
	for guid, n := range again {
		require.True(t, refused[guid], guid)
		require.Equal(t, 1, n, "redelivered once: %s", guid)
	}
	require.Equal(t, 2, listings.count(), "121 attempts (the first ping and 120 pull requests): two pages")

	// Confirming again lists both pages (and the redeliveries' page) and
	// asks for nothing: every event was delivered by its redelivery.
	require.NoError(t, h.connector().ConfirmWatch(context.Background(), confirm))
	h.srv.Wait()
	require.Equal(t, again, redeliveredPulls(t, h, hookID))
}

// TestConfirmWatchListsDeliveriesOnlyAsFarBackAsGitHubRedelivers: GitHub
// redelivers nothing older than three days, so the listing stops at the
// first page that reaches past redeliverWindow: older pages cost calls
// and could bring nothing to redeliver.
func TestConfirmWatchListsDeliveriesOnlyAsFarBackAsGitHubRedelivers(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).Unix())
	clock := func() time.Time { return time.Unix(now.Load(), 0) }
	h := newHarness(t, githubsandbox.Options{Clock: clock}, nil)
	in, ch, hookID := refusingHook(t, h)
	old := openRefusedPulls(t, h, in, hookID, 150)
	require.Len(t, old, 150)
	now.Add(int64((72 * time.Hour).Seconds()))
	young := openRefusedPulls(t, h, in, hookID, 130)
	for guid := range old {
		delete(young, guid)
	}
	require.Len(t, young, 130)

	hc, listings := countingClient(h.client())
	confirm := connectors.ConfirmWatchRequest{Connection: h.conn, HTTP: hc, Channel: ch, Now: clock()}
	require.NoError(t, h.connector().ConfirmWatch(context.Background(), confirm))
	h.srv.Wait()
	again := redeliveredPulls(t, h, hookID)
	require.Len(t, again, 130, "the young events, and none of the old ones")
	for guid := range again {
		require.True(t, young[guid], guid)
	}
	require.Equal(t, 2, listings.count(),
		"the second page reaches past the window (30 young attempts, then old ones): the older ones are not listed")
}

// TestConfirmWatchRateLimitedWhileListingDeliveries: a rate limit that
// ends the listing part way is reported as one (the engine sees its
// kind), and the hook is pinged anyway, as when the first page was the
// only one. The pages read are judged and redelivered all the same (a
// prefix of the newest-first log is judged exactly: an event whose
// newest attempt there is not a redelivery had no other); while the
// account is held longer than a call waits, the first redelivery refused
// ends them, reported once instead of once per event.
func TestConfirmWatchRateLimitedWhileListingDeliveries(t *testing.T) {
	for _, c := range []struct {
		name       string
		retryAfter int // seconds the refusal of the second page holds the account
		again      int // redelivered pull requests
	}{
		{"held a second", 1, 100},
		{"held longer than a call waits", 120, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, githubsandbox.Options{}, nil)
			in, ch, hookID := refusingHook(t, h)
			refused := openRefusedPulls(t, h, in, hookID, 120)
			require.Len(t, refused, 120)
			before := len(in.received())

			h.srv.Faults.Add(sandbox.Fault{Status: http.StatusTooManyRequests, RetryAfter: c.retryAfter, After: 1,
				PathPrefix: "/repos/octo-org/hello-world/hooks/" + ch.ID + "/deliveries"})
			confirm := connectors.ConfirmWatchRequest{Connection: h.conn, HTTP: h.client(), Channel: ch, Now: time.Now()}
			err := h.connector().ConfirmWatch(context.Background(), confirm)
			require.ErrorIs(t, err, connectors.ErrRateLimited)
			require.Contains(t, err.Error(), "list deliveries of webhook "+ch.ID)
			h.srv.Wait()
			again := redeliveredPulls(t, h, hookID)
			require.Len(t, again, c.again, "the first page's events, when the account may call")
			for guid := range again {
				require.True(t, refused[guid], guid)
			}
			got := in.received()
			if c.again > 0 {
				require.Len(t, got, before+c.again+1)
				pings := 0 // the sandbox delivers each on its own, in no set order
				for _, r := range got[before:] {
					if r.Header.Get("X-GitHub-Event") == "ping" {
						pings++
					}
				}
				require.Equal(t, 1, pings, "pinged anyway")
				return
			}
			require.Len(t, got, before, "nothing reaches GitHub while the account is held")
			require.Equal(t, 1, strings.Count(err.Error(), "redeliver delivery"), "%v", err)
			require.Contains(t, err.Error(), "99 more not asked for")
			require.Contains(t, err.Error(), "ping webhook "+ch.ID)
		})
	}
}

// TestConfirmWatchListsAtMostMaxDeliveryPages: a hook whose log goes on
// past maxDeliveryPages pages, every attempt young, is listed no further
// (each page is a call against the account's budget); what those pages
// hold is redelivered, and the error says older events were not looked
// at.
func TestConfirmWatchListsAtMostMaxDeliveryPages(t *testing.T) {
	now := time.Now().UTC()
	var mu sync.Mutex
	var listings, pings int
	var asked []int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		const hook = "/repos/octo-org/hello-world/hooks/7"
		switch {
		case r.Method == http.MethodGet && r.URL.Path == hook+"/deliveries":
			listings++
			// Ids count down from 1,000,000 (newest first), one a minute;
			// one attempt in a hundred failed.
			top := int64(1_000_000)
			if c := r.URL.Query().Get("cursor"); c != "" {
				n, err := strconv.ParseInt(strings.TrimPrefix(c, "v1_"), 10, 64)
				if err != nil {
					t.Errorf("cursor %q: %v", c, err)
					http.Error(w, "Bad Request", http.StatusBadRequest)
					return
				}
				top = n
			}
			page := make([]*gh.HookDelivery, 100)
			for i := range page {
				id := top - int64(i)
				code := http.StatusOK
				if id%100 == 0 {
					code = http.StatusBadGateway
				}
				page[i] = &gh.HookDelivery{ID: gh.Ptr(id), GUID: gh.Ptr("guid-" + strconv.FormatInt(id, 10)),
					Event: gh.Ptr("push"), StatusCode: gh.Ptr(code), Redelivery: gh.Ptr(false),
					DeliveredAt: &gh.Timestamp{Time: now.Add(-time.Duration(1_000_000-id) * time.Minute)}}
			}
			w.Header().Set("Link", fmt.Sprintf(`<http://%s%s/deliveries?cursor=v1_%d&per_page=100>; rel="next"`, r.Host, hook, top-100))
			w.Header().Set("Content-Type", "application/json")
			if err := json.NewEncoder(w).Encode(page); err != nil {
				t.Errorf("encode page: %v", err)
			}
		case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, hook+"/deliveries/") && strings.HasSuffix(r.URL.Path, "/attempts"):
			id, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, hook+"/deliveries/"), "/attempts"), 10, 64)
			if err != nil {
				t.Errorf("redelivery path %q: %v", r.URL.Path, err)
			}
			asked = append(asked, id)
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprint(w, "{}")
		case r.Method == http.MethodPost && r.URL.Path == hook+"/pings":
			pings++
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ts.Close)
	p := providerFrom(t, map[string]string{"POBLYSH_GITHUB_CLIENT_ID": "id", "POBLYSH_GITHUB_CLIENT_SECRET": "s",
		"POBLYSH_GITHUB_API_URL": ts.URL + "/"})
	reg := connectors.NewRegistry(p)
	err := p.Connector.(*Connector).ConfirmWatch(context.Background(), connectors.ConfirmWatchRequest{
		Connection: connectors.Connection{ID: "c-1", Config: []byte(`{"repos":["octo-org/hello-world"]}`)},
		HTTP:       reg.HTTPClient(p, "1", "tok"), Channel: connectors.Channel{ID: "7", Target: "octo-org/hello-world"}, Now: now,
	})
	require.Error(t, err)
	require.Contains(t, err.Error(), "listed the newest 1000 deliveries only")
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, maxDeliveryPages, listings)
	require.Equal(t, []int64{1_000_000, 999_900, 999_800, 999_700, 999_600, 999_500, 999_400, 999_300, 999_200, 999_100}, asked,
		"the failed attempts of the pages read")
	require.Equal(t, 1, pings)
}

// TestRedeliverable: which of a hook's deliveries ConfirmWatch asks GitHub
// to redeliver.
func TestRedeliverable(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	n := int64(0)
	d := func(guid, event string, code int, redelivery bool, age time.Duration) *gh.HookDelivery {
		n++
		return &gh.HookDelivery{ID: gh.Ptr(n), GUID: gh.Ptr(guid), Event: gh.Ptr(event), StatusCode: gh.Ptr(code),
			Redelivery: gh.Ptr(redelivery), DeliveredAt: &gh.Timestamp{Time: now.Add(-age)}}
	}
	list := []*gh.HookDelivery{ // newest first
		d("a", "push", 401, false, time.Minute),     // 1: picked
		d("b", "push", 200, true, time.Minute),      // 2: b delivered by a redelivery
		d("b", "push", 401, false, time.Hour),       // 3
		d("c", "push", 503, true, time.Hour),        // 4: c already redelivered once
		d("c", "push", 401, false, 2*time.Hour),     // 5
		d("e", "pull_request", 0, false, time.Hour), // 6: unreachable: picked
		d("f", "release", 400, false, time.Hour),    // 7: a 400 fails again
		d("g", "ping", 401, false, time.Hour),       // 8: pings are sent anew
		d("h", "push", 502, false, 72*time.Hour),    // 9: too old to redeliver
		d("i", "push", 429, false, 70*time.Hour),    // 10: picked
		d("j", "push", 500, false, 3*time.Hour),     // 11: j's newest attempt...
		d("j", "push", 401, false, 4*time.Hour),     // 12: ...is the one asked for
		d("k", "push", 404, false, 3*time.Hour),     // 13: k's newest attempt cannot be fixed
		d("k", "push", 401, false, 4*time.Hour),     // 14
		d("", "push", 401, false, time.Hour),        // 15: no GUID
		d("l", "pull_request", 408, false, 0),       // 16: timed out: picked
		d("m", "push", 200, false, time.Hour),       // 17
		d("m", "push", 401, false, 2*time.Hour),     // 18: m delivered later (a newer attempt)
	}
	require.Equal(t, []int64{1, 6, 10, 11, 16}, redeliverable(list, now))
	require.Empty(t, redeliverable(nil, now))
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestWatchWithoutHookPermission(t *testing.T) {
	t.Run("403", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{}, nil)
		h.srv.Faults.Add(sandbox.Fault{Status: 403, PathPrefix: "/repos/octo-org/hello-world/hooks"})
		_, err := h.watch(t, testCallbackURL)
		require.ErrorIs(t, err, connectors.ErrForbidden)
		require.Contains(t, err.Error(), "the connection polls instead")
		require.NotContains(t, err.Error(), testWebhookSecret, "nobody is told to copy a secret by hand")
		require.NotContains(t, err.Error(), "POBLYSH_GITHUB_WEBHOOK_SECRET")
	})
	t.Run("404 for a token without hook scopes", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{}, nil)
		tok, err := h.srv.IssueToken("", "public_repo")
		require.NoError(t, err)
		h.token = tok.AccessToken
		_, err = h.watch(t, testCallbackURL)
		require.ErrorIs(t, err, connectors.ErrForbidden)
		require.Equal(t, connectors.ErrForbidden, connectors.Kind(err))
	})
	t.Run("rate limits stay rate limits", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{}, nil)
		h.srv.Faults.Add(sandbox.Fault{Status: 429, RetryAfter: 5, PathPrefix: "/repos/octo-org/hello-world/hooks"})
		_, err := h.watch(t, testCallbackURL)
		d, ok := connectors.RetryAfter(err)
		require.True(t, ok)
		require.Equal(t, 5*time.Second, d)
	})
	t.Run("no app webhook secret: hooks have their own", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{}, nil)
		p := h.withSecret(t, "")
		chans, err := p.Connector.(*Connector).Watch(context.Background(), connectors.WatchRequest{
			Connection: h.conn, HTTP: h.client(), CallbackURL: testCallbackURL})
		require.NoError(t, err)
		require.Len(t, chans, 1)
		require.NotEmpty(t, chans[0].Secret)
	})
}

// hookAt reads a hook as GitHub serves it (GET /repos/{o}/{r}/hooks/{id}).
func (h *harness) hookAt(t *testing.T, id string) *gh.Hook {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.ts.URL+"/repos/octo-org/hello-world/hooks/"+id, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var hook gh.Hook
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&hook))
	return &hook
}

// editHookAt changes a hook as its repository's admin would at GitHub.
func (h *harness) editHookAt(t *testing.T, id string, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, h.ts.URL+"/repos/octo-org/hello-world/hooks/"+id, bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestHookDeletedAtGitHubIsNoticed: hooks never expire, so a hook someone
// deletes at GitHub (Settings → Webhooks) counted as delivering for good.
// The hook subscribes to meta, which GitHub sends the hook when it is
// deleted ("This event occurs when there is activity relating to a webhook
// itself", action deleted, with the deleted hook's hook_id), signed with
// its secret: ParseWebhook reads it as the channel gone. And CheckWatch
// reads a stored hook: gone, disabled, or missing an event of hookEvents
// is stale; a hook the token may no longer see is not known to be gone.
func TestHookDeletedAtGitHubIsNoticed(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	in := newInbox(t)
	recv := h.connector()
	chans, err := h.watch(t, in.URL+"/api/v1/webhooks/github")
	require.NoError(t, err)
	require.Len(t, chans, 1)
	ch := chans[0]
	require.Contains(t, h.hookAt(t, ch.ID).Events, "meta", "the hook hears of its own deletion")
	check := func() (bool, error) {
		return recv.CheckWatch(context.Background(), connectors.CheckWatchRequest{Connection: h.conn, HTTP: h.client(), Channel: ch})
	}
	stale, err := check()
	require.NoError(t, err)
	require.False(t, stale, "the hook as Watch made it")

	// Disabled, or without meta (a hook made before it was subscribed):
	// stale, and Watch puts it right in place (same id).
	for _, edit := range []string{`{"active":false}`, `{"events":["push","pull_request","release","member","repository"]}`} {
		h.editHookAt(t, ch.ID, edit)
		stale, err = check()
		require.NoError(t, err)
		require.True(t, stale, edit)
		again, err := h.watch(t, in.URL+"/api/v1/webhooks/github")
		require.NoError(t, err)
		require.Equal(t, ch.ID, again[0].ID, "edited in place")
		ch = again[0]
		stale, err = check()
		require.NoError(t, err)
		require.False(t, stale)
	}

	// A token that may no longer see the repository's hooks gets 404 for
	// the hook too: nothing is known, the channel is not taken for gone.
	blind, err := h.srv.IssueToken("", "public_repo")
	require.NoError(t, err)
	_, err = recv.CheckWatch(context.Background(), connectors.CheckWatchRequest{Connection: h.conn,
		HTTP: h.reg.HTTPClient(h.p, "583231", blind.AccessToken), Channel: ch})
	require.ErrorIs(t, err, connectors.ErrNotFound)

	// Deleted at GitHub: the hook is sent meta deleted, signed with its
	// secret, and it is gone.
	h.srv.Wait()
	before := len(in.received())
	id, err := strconv.ParseInt(ch.ID, 10, 64)
	require.NoError(t, err)
	require.NoError(t, h.srv.DeleteHook(githubsandbox.SeedRepo, id))
	h.srv.Wait()
	got := in.received()
	require.Len(t, got, before+1)
	meta := got[before]
	require.Equal(t, "meta", meta.Header.Get("X-GitHub-Event"))
	require.Equal(t, ch.ID, meta.Header.Get("X-GitHub-Hook-ID"))
	cid, ok := recv.DeliveryChannel(meta)
	require.True(t, ok)
	require.Equal(t, ch.ID, cid)
	meta.ChannelSecret = ch.Secret
	require.NoError(t, recv.VerifyWebhook(meta), "signed with the deleted hook's secret")
	d, err := recv.ParseWebhook(meta)
	require.NoError(t, err)
	require.Equal(t, "meta.deleted", d.Event)
	require.True(t, d.ChannelGone)
	require.Equal(t, []string{ch.RouteKey}, d.RouteKeys, "its own connection only")
	require.False(t, d.Notify)
	require.Empty(t, d.Signals)
	stale, err = check()
	require.NoError(t, err)
	require.True(t, stale, "gone")

	// meta naming another hook than the one that sent it, or sent to the
	// GitHub App's webhook (the app's own hook), is no channel of ours gone.
	var payload map[string]any
	require.NoError(t, json.Unmarshal(meta.Body, &payload))
	payload["hook_id"] = id + 1
	other, err := json.Marshal(payload)
	require.NoError(t, err)
	req := hookSigned(string(other), "", ch.ID, ch.Secret)
	req.Header.Set("X-GitHub-Event", "meta")
	req.Header.Set("X-GitHub-Delivery", "d-other")
	d, err = recv.ParseWebhook(req)
	require.NoError(t, err)
	require.False(t, d.ChannelGone)
	app := signed(string(meta.Body), "")
	app.Header.Set("X-GitHub-Event", "meta")
	app.Header.Set("X-GitHub-Delivery", "d-app")
	app.Header.Set("X-GitHub-Hook-ID", ch.ID)
	d, err = recv.ParseWebhook(app)
	require.NoError(t, err)
	require.False(t, d.ChannelGone)
	require.False(t, d.Notify)
}

// watchRepos points the harness's connection at repos and watches them
// all, as the watch pass does (one Watch call for every open target).
func (h *harness) watchRepos(t *testing.T, repos ...string) ([]connectors.Channel, error) {
	t.Helper()
	raw, err := json.Marshal(map[string][]string{"repos": repos})
	require.NoError(t, err)
	h.conn.Config, err = h.connector().ValidateConfig(raw)
	require.NoError(t, err)
	return h.watch(t, testCallbackURL)
}

// TestWatchCarriesOnPastARefusedRepository: Watch registered hooks in
// config order and returned at the first repository that refused one, and
// the watch pass sends every open target in one call and only logs a
// refusal: one repository whose hooks the token may not manage (GitHub
// answers a user who does not administer it 404; a GitHub App user token
// 403 "Resource not accessible by integration" where the app is not
// installed) kept every repository after it from getting a hook, on every
// pass, and their connection polled. A refused repository (403, 404, 422)
// is now skipped: the others get their hooks, returned with an error that
// names each refused one. A rate limit, a 401 or a transient error stops
// Watch at once, with the hooks made before it and that error alone.
func TestWatchCarriesOnPastARefusedRepository(t *testing.T) {
	hooked := func(t *testing.T, h *harness, chans []connectors.Channel, repos ...string) {
		t.Helper()
		var got []string
		for _, ch := range chans {
			got = append(got, ch.Target)
			require.NotEmpty(t, ch.Secret)
		}
		require.Equal(t, repos, got)
		for _, r := range repos {
			require.Equal(t, 1, h.srv.HookCount(r), r)
		}
	}
	t.Run("a repository the user does not administer", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{}, nil)
		_, err := h.srv.CreateRepo("monalisa/public-lib", "main", false)
		require.NoError(t, err)
		chans, err := h.watchRepos(t, "monalisa/public-lib", githubsandbox.SeedRepo)
		hooked(t, h, chans, "octo-org/hello-world")
		require.Zero(t, h.srv.HookCount("monalisa/public-lib"))
		require.Equal(t, connectors.ErrForbidden, connectors.Kind(err), "%v", err)
		require.Contains(t, err.Error(), "monalisa/public-lib")
		require.Contains(t, err.Error(), "the connection polls instead")
		require.NotContains(t, err.Error(), "octo-org/hello-world")
	})
	t.Run("a repository the GitHub App is not installed on", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{AccessTTL: 8 * time.Hour}, nil)
		h.conn.Account.Metadata["token"] = tokenGitHubApp
		_, err := h.srv.CreateRepo("aaa/public-lib", "main", false)
		require.NoError(t, err)
		require.NoError(t, h.srv.SetAppInstalled("aaa/public-lib", false))
		chans, err := h.watchRepos(t, "aaa/public-lib", githubsandbox.SeedRepo)
		hooked(t, h, chans, "octo-org/hello-world")
		require.Equal(t, connectors.ErrForbidden, connectors.Kind(err), "%v", err)
		require.Contains(t, err.Error(), "app not installed on aaa/public-lib")
	})
	t.Run("each refusal is named", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{}, nil)
		for _, r := range []string{"monalisa/public-lib", "octocat/spoon-knife", "octocat/fork-me"} {
			_, err := h.srv.CreateRepo(r, "main", false)
			require.NoError(t, err)
		}
		// GitHub refuses a hook it cannot take with 422 (a repository at
		// its hooks limit): the list answers, the creation does not.
		h.srv.Faults.Add(sandbox.Fault{Status: http.StatusUnprocessableEntity, PathPrefix: "/repos/octocat/spoon-knife/hooks", After: 1})
		chans, err := h.watchRepos(t, "monalisa/public-lib", "octocat/spoon-knife", githubsandbox.SeedRepo, "octocat/fork-me")
		hooked(t, h, chans, "octo-org/hello-world", "octocat/fork-me")
		require.ErrorIs(t, err, connectors.ErrForbidden)
		require.ErrorIs(t, err, connectors.ErrInvalidConfig)
		require.Equal(t, connectors.ErrForbidden, connectors.Kind(err))
		require.Contains(t, err.Error(), "monalisa/public-lib")
		require.Contains(t, err.Error(), "octocat/spoon-knife")
		require.NotContains(t, err.Error(), "\n", "one line, for the job's watch_error")
	})
	t.Run("only a 422 refused", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{}, nil)
		_, err := h.srv.CreateRepo("octocat/spoon-knife", "main", false)
		require.NoError(t, err)
		h.srv.Faults.Add(sandbox.Fault{Status: http.StatusUnprocessableEntity, PathPrefix: "/repos/octocat/spoon-knife/hooks", After: 1})
		chans, err := h.watchRepos(t, "octocat/spoon-knife", githubsandbox.SeedRepo)
		hooked(t, h, chans, "octo-org/hello-world")
		require.Equal(t, connectors.ErrInvalidConfig, connectors.Kind(err), "the watch pass keeps the channels and polls, as for a 403")
	})
	for _, stop := range []struct {
		name  string
		fault sandbox.Fault
		kind  error
	}{
		{"a rate limit", sandbox.Fault{Status: http.StatusTooManyRequests, RetryAfter: 5}, connectors.ErrRateLimited},
		{"a 401", sandbox.Fault{Status: http.StatusUnauthorized}, connectors.ErrUnauthorized},
		{"a transient error", sandbox.Fault{Status: http.StatusBadGateway, Count: 20}, connectors.ErrTransient},
	} {
		t.Run(stop.name+" stops at once", func(t *testing.T) {
			h := newHarness(t, githubsandbox.Options{}, nil)
			for _, r := range []string{"monalisa/public-lib", "octocat/spoon-knife", "octocat/fork-me"} {
				_, err := h.srv.CreateRepo(r, "main", false)
				require.NoError(t, err)
			}
			stop.fault.PathPrefix = "/repos/octocat/spoon-knife/hooks"
			h.srv.Faults.Add(stop.fault)
			chans, err := h.watchRepos(t, "monalisa/public-lib", githubsandbox.SeedRepo, "octocat/spoon-knife", "octocat/fork-me")
			hooked(t, h, chans, "octo-org/hello-world")
			require.Zero(t, h.srv.HookCount("octocat/fork-me"), "nothing after it is tried")
			require.Equal(t, stop.kind, connectors.Kind(err), "%v: not taken for the refusal before it", err)
		})
	}
}

// TestHookWithoutItsSecretIsStale: GitHub removes a hook's secret when an
// edit of its config names none ("If you previously had a secret set, you
// must provide the same secret or set a new secret or the secret will be
// removed"): the hook then delivers unsigned, every delivery is refused
// (401), and CheckWatch, which looked at active and events only, took it
// for delivering, so push stayed on for good with nothing arriving. A hook
// whose config.secret is empty (a set one reads "********") is now stale,
// and Watch edits it in place with the secret its stored channel holds
// (req.Secrets): GitHub signs with a secret already stored, so no delivery
// in between is refused. Without a stored secret it gets a new one.
func TestHookWithoutItsSecretIsStale(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	in := newInbox(t)
	callback := in.URL + "/api/v1/webhooks/github"
	recv := h.connector()
	chans, err := h.watch(t, callback)
	require.NoError(t, err)
	require.Len(t, chans, 1)
	ch := chans[0]
	require.Equal(t, "********", h.hookAt(t, ch.ID).GetConfig().GetSecret())
	check := func() bool {
		t.Helper()
		stale, err := recv.CheckWatch(context.Background(), connectors.CheckWatchRequest{Connection: h.conn, HTTP: h.client(), Channel: ch})
		require.NoError(t, err)
		return stale
	}
	require.False(t, check())
	open := func(title string) {
		t.Helper()
		act, err := h.srv.OpenPull(githubsandbox.SeedRepo, githubsandbox.PullInput{Title: title, User: "hubot"})
		require.NoError(t, err)
		for _, ev := range act.Events {
			h.srv.Emit(context.Background(), ev, sandbox.DeliveryOptions{})
		}
	}

	// Someone edits the hook's URL at GitHub (the same URL, retyped)
	// without its secret: GitHub removes it, and signs nothing.
	h.editHookAt(t, ch.ID, `{"config":{"url":"`+hookURL(callback, h.conn.ID)+`","content_type":"json"}}`)
	require.Empty(t, h.hookAt(t, ch.ID).GetConfig().GetSecret())
	h.srv.Wait()
	before := len(in.received())
	open("Unsigned")
	got := in.received()
	require.Len(t, got, before+1)
	got[before].ChannelSecret = ch.Secret
	require.ErrorIs(t, recv.VerifyWebhook(got[before]), connectors.ErrUnauthorized, "unsigned: refused")
	require.True(t, check(), "a hook without its secret is stale")

	// The watch pass hands Watch the stale channel's stored secret: the
	// hook is edited in place with it, and signs with it at once.
	again, err := recv.Watch(context.Background(), connectors.WatchRequest{Connection: h.conn, HTTP: h.client(),
		CallbackURL: callback, Targets: []string{ch.Target}, Secrets: map[string]string{ch.ID: ch.Secret}})
	require.NoError(t, err)
	require.Len(t, again, 1)
	require.Equal(t, ch.ID, again[0].ID, "edited in place")
	require.Equal(t, ch.Secret, again[0].Secret, "with the secret already stored")
	require.Equal(t, "********", h.hookAt(t, ch.ID).GetConfig().GetSecret())
	require.False(t, check())
	open("Signed again")
	got = in.received()
	last := got[len(got)-1]
	require.Equal(t, "pull_request", last.Header.Get("X-GitHub-Event"))
	last.ChannelSecret = ch.Secret
	require.NoError(t, recv.VerifyWebhook(last), "verified with the stored secret")

	// A secret stored for another hook is not this one's: a new secret.
	h.editHookAt(t, ch.ID, `{"config":{"url":"`+hookURL(callback, h.conn.ID)+`"}}`)
	again, err = recv.Watch(context.Background(), connectors.WatchRequest{Connection: h.conn, HTTP: h.client(),
		CallbackURL: callback, Targets: []string{ch.Target}, Secrets: map[string]string{"1": ch.Secret}})
	require.NoError(t, err)
	require.Equal(t, ch.ID, again[0].ID)
	require.NotEqual(t, ch.Secret, again[0].Secret)
	require.NotEmpty(t, again[0].Secret)
}

// TestConfirmWatchRedeliversPastARedeliveryThatFailed: of two events the
// hook refused, GitHub answers the first redelivery 500. Only a rate limit
// ends the redeliveries (the account is held); any other refusal concerns
// that event alone, so the second is still asked for and redelivered, the
// failure is reported, and the hook is pinged.
func TestConfirmWatchRedeliversPastARedeliveryThatFailed(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	in, ch, hookID := refusingHook(t, h)
	refused := openRefusedPulls(t, h, in, hookID, 2)
	require.Len(t, refused, 2)
	before := len(in.received())

	h.srv.Faults.Add(sandbox.Fault{Status: http.StatusInternalServerError,
		PathPrefix: "/repos/octo-org/hello-world/hooks/" + ch.ID + "/deliveries/"})
	confirm := connectors.ConfirmWatchRequest{Connection: h.conn, HTTP: h.client(), Channel: ch, Now: time.Now()}
	err := h.connector().ConfirmWatch(context.Background(), confirm)
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.Equal(t, 1, strings.Count(err.Error(), "redeliver delivery"), "%v", err)
	require.NotContains(t, err.Error(), "not asked for")
	require.Equal(t, 1, h.srv.Faults.HitCount(), "the first redelivery was answered 500")
	h.srv.Wait()
	again := redeliveredPulls(t, h, hookID)
	require.Len(t, again, 1, "the second event is still asked for")
	for guid := range again {
		require.True(t, refused[guid], guid)
	}
	got := in.received()
	require.Len(t, got, before+2, "the second event, and the ping")
	var events []string // the sandbox delivers each on its own, in no set order
	for _, r := range got[before:] {
		events = append(events, r.Header.Get("X-GitHub-Event"))
	}
	require.ElementsMatch(t, []string{"pull_request", "ping"}, events, "the second event, and pinged anyway")
}
