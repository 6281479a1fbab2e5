package github

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// inbox is a webhook endpoint that records deliveries.
type inbox struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*connectors.WebhookRequest
}

func newInbox(t *testing.T) *inbox {
	in := &inbox{}
	in.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		in.mu.Lock()
		in.reqs = append(in.reqs, &connectors.WebhookRequest{Header: r.Header.Clone(), Body: b, Now: time.Now()})
		in.mu.Unlock()
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
