package googlecalendar_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
	"github.com/poblysh/poblysh/connectors/googlecalendar"
	"github.com/poblysh/poblysh/sandbox"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

// inbox records the push notifications a sandbox delivers.
type inbox struct {
	mu   sync.Mutex
	reqs []*connectors.WebhookRequest
}

func newInbox(t *testing.T) (*inbox, string) {
	in := &inbox{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.mu.Lock()
		in.reqs = append(in.reqs, &connectors.WebhookRequest{Header: r.Header.Clone(), Now: time.Now()})
		in.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return in, srv.URL + "/api/v1/webhooks/google-calendar"
}

func (in *inbox) all() []*connectors.WebhookRequest {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]*connectors.WebhookRequest(nil), in.reqs...)
}

func (h *harness) watch(t *testing.T, callback string, targets ...string) []connectors.Channel {
	t.Helper()
	chans, err := h.prov.Connector.(connectors.Watcher).Watch(context.Background(), connectors.WatchRequest{
		Connection: h.conn, HTTP: h.client(), CallbackURL: callback, Targets: targets, Now: time.Now(),
	})
	require.NoError(t, err)
	h.sb.Close() // wait for the "sync" notifications
	return chans
}

func TestWatchRegistersChannels(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, map[string]string{"CHANNEL_TTL": "3600"})
	in, callback := newInbox(t)
	before := time.Now()
	chans := h.watch(t, callback)
	require.Len(t, chans, 2, "one channel per configured calendar")
	recv := h.prov.Connector.(connectors.WebhookReceiver)
	for i, target := range []string{"primary", gcalsandbox.TeamCalendarID} {
		ch := chans[i]
		require.Equal(t, target, ch.Target)
		require.Equal(t, "events:"+target, ch.Stream)
		require.Equal(t, "channel:"+ch.ID, ch.RouteKey)
		require.NotEmpty(t, ch.ResourceID)
		require.LessOrEqual(t, len(ch.ID), 64)
		require.WithinDuration(t, before.Add(time.Hour), ch.Expires, 5*time.Second, "the expiry asked for, which Google granted")
	}
	listed := h.sb.Channels()
	require.Len(t, listed, 2)
	for _, c := range listed {
		require.True(t, c.Live)
		require.Equal(t, callback, c.Address)
	}

	// The sync notification of each channel verifies and asks for nothing.
	syncs := in.all()
	require.Len(t, syncs, 2)
	for _, r := range syncs {
		require.NoError(t, recv.VerifyWebhook(r))
		d, err := recv.ParseWebhook(r)
		require.NoError(t, err)
		require.Equal(t, "sync", d.Event)
		require.False(t, d.Notify)
		require.Equal(t, d.RouteKeys[0][len("channel:"):]+":1", d.DeliveryID)
	}

	// A change notifies the channel of that calendar only, with message 2;
	// a retried copy carries the same delivery id.
	_, notes, err := h.sb.CreateEvent(context.Background(), gcalsandbox.TeamCalendarID,
		gcalsandbox.EventInput{Summary: "Embargo call"}, sandbox.DeliveryOptions{Copies: 2})
	require.NoError(t, err)
	require.Len(t, notes, 1)
	require.Equal(t, chans[1].ID, notes[0].ChannelID)
	pushes := in.all()[2:]
	require.Len(t, pushes, 2)
	var ids []string
	for _, r := range pushes {
		require.NoError(t, recv.VerifyWebhook(r))
		d, err := recv.ParseWebhook(r)
		require.NoError(t, err)
		require.True(t, d.Notify)
		require.Equal(t, "exists", d.Event)
		require.Equal(t, []string{chans[1].RouteKey}, d.RouteKeys)
		ids = append(ids, d.DeliveryID)
	}
	require.Equal(t, chans[1].ID+":2", ids[0])
	require.Equal(t, ids[0], ids[1])

	// Stopping twice: the second stop finds nothing and is not an error.
	w := h.prov.Connector.(connectors.Watcher)
	for range 2 {
		require.NoError(t, w.StopWatch(context.Background(), connectors.StopWatchRequest{Connection: h.conn, HTTP: h.client(), Channel: chans[0]}))
	}
	for _, c := range h.sb.Channels() {
		require.Equal(t, c.ID == chans[0].ID, c.Stopped)
	}
}

func TestWatchRefusesWithoutSecret(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, nil)
	p := provider(t, h.sb, h.url, "", nil)
	_, err := p.Connector.(connectors.Watcher).Watch(context.Background(), connectors.WatchRequest{
		Connection: h.conn, HTTP: h.client(), CallbackURL: "https://poblysh.example/api/v1/webhooks/google-calendar",
	})
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)
	require.Empty(t, h.sb.Channels(), "no unverifiable channel was registered")
}

func TestWatchStopsChannelsWhenOneCalendarFails(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, nil)
	_, callback := newInbox(t)
	_, err := h.prov.Connector.(connectors.Watcher).Watch(context.Background(), connectors.WatchRequest{
		Connection: h.conn, HTTP: h.client(), CallbackURL: callback,
		Targets: []string{"primary", "missing@group.calendar.google.com"},
	})
	require.ErrorIs(t, err, connectors.ErrNotFound)
	h.sb.Close()
	chans := h.sb.Channels()
	require.Len(t, chans, 1)
	require.True(t, chans[0].Stopped, "the channel created before the failure was stopped")
}

// TestWatchLeavesACalendarGoogleCannotWatch: events.watch on a generated
// calendar (holidays, birthdays) answers 400
// pushNotSupportedForRequestedResource. That calendar is left unwatched
// (it polls); the others keep their channels, none is stopped, and the
// watch succeeds.
func TestWatchLeavesACalendarGoogleCannotWatch(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, nil)
	h.sb.AddCalendar(gcalsandbox.HolidayCalendarID, "Holidays in United States", "")
	_, callback := newInbox(t)
	chans, err := h.prov.Connector.(connectors.Watcher).Watch(context.Background(), connectors.WatchRequest{
		Connection: h.conn, HTTP: h.client(), CallbackURL: callback, Now: time.Now(),
		Targets: []string{"primary", gcalsandbox.HolidayCalendarID, gcalsandbox.TeamCalendarID},
	})
	require.NoError(t, err, "the other calendars' channels survive a calendar Google cannot watch")
	h.sb.Close()
	var targets []string
	for _, c := range chans {
		targets = append(targets, c.Target)
	}
	require.Equal(t, []string{"primary", gcalsandbox.TeamCalendarID}, targets)
	listed := h.sb.Channels()
	require.Len(t, listed, 2)
	for _, c := range listed {
		require.True(t, c.Live, "%s: not stopped", c.CalendarID)
	}
}

func TestVerifyWebhook(t *testing.T) {
	c, err := googlecalendar.Spec.New(connectors.Config{WebhookSecret: testSecret})
	require.NoError(t, err)
	recv := c.(connectors.WebhookReceiver)
	good := func() http.Header {
		h := http.Header{}
		h.Set("X-Goog-Channel-ID", "poblysh-abc")
		h.Set("X-Goog-Channel-Token", googlecalendar.ChannelToken(testSecret, "poblysh-abc"))
		h.Set("X-Goog-Message-Number", "7")
		h.Set("X-Goog-Resource-State", "exists")
		return h
	}
	cases := []struct {
		name   string
		mutate func(http.Header)
		ok     bool
	}{
		{"valid", func(http.Header) {}, true},
		{"no channel id", func(h http.Header) { h.Del("X-Goog-Channel-ID") }, false},
		{"no token", func(h http.Header) { h.Del("X-Goog-Channel-Token") }, false},
		{"token of another channel", func(h http.Header) { h.Set("X-Goog-Channel-ID", "poblysh-other") }, false},
		{"token from another secret", func(h http.Header) {
			h.Set("X-Goog-Channel-Token", googlecalendar.ChannelToken("other", "poblysh-abc"))
		}, false},
		{"truncated token", func(h http.Header) { h.Set("X-Goog-Channel-Token", h.Get("X-Goog-Channel-Token")[:20]) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := good()
			tc.mutate(h)
			err := recv.VerifyWebhook(&connectors.WebhookRequest{Header: h})
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, connectors.ErrUnauthorized)
		})
	}

	d, err := recv.ParseWebhook(&connectors.WebhookRequest{Header: good()})
	require.NoError(t, err)
	require.Equal(t, &connectors.WebhookDelivery{
		DeliveryID: "poblysh-abc:7", Event: "exists", RouteKeys: []string{"channel:poblysh-abc"}, Notify: true,
	}, d)
	bad := good()
	bad.Del("X-Goog-Message-Number")
	_, err = recv.ParseWebhook(&connectors.WebhookRequest{Header: bad})
	require.Error(t, err)

	noSecret, err := googlecalendar.Spec.New(connectors.Config{})
	require.NoError(t, err)
	require.ErrorIs(t, noSecret.(connectors.WebhookReceiver).VerifyWebhook(&connectors.WebhookRequest{Header: good()}), connectors.ErrUnauthorized)
}

func TestChannelToken(t *testing.T) {
	a := googlecalendar.ChannelToken("s3cret", "poblysh-1")
	require.Equal(t, a, googlecalendar.ChannelToken("s3cret", "poblysh-1"), "derived, so stable")
	require.NotEqual(t, a, googlecalendar.ChannelToken("s3cret", "poblysh-2"))
	require.NotEqual(t, a, googlecalendar.ChannelToken("s3cret2", "poblysh-1"))
	require.Regexp(t, `^[A-Za-z0-9_-]{43}$`, a)
}

// TestWatchExpiresByTheExpiryAskedFor: a channel ends at the earlier of the
// expiry asked for (now + params.ttl) and the expiration Google answers. An
// answer without one (optional in the Channel resource) used to be stored
// as a channel that never expires, which the renewal sweep never renewed
// while Google ended it.
func TestWatchExpiresByTheExpiryAskedFor(t *testing.T) {
	now := time.Now()
	cases := connectortest.WatchExpiryCases(now, time.Hour)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			h := newHarness(t, gcalsandbox.Options{Seed: true}, map[string]string{"CHANNEL_TTL": "3600"})
			_, callback := newInbox(t)
			reg := connectors.NewRegistry(h.prov)
			reg.SetBaseTransport(connectortest.WatchExpiration(http.DefaultTransport, tc.Answer))
			chans, err := h.prov.Connector.(connectors.Watcher).Watch(context.Background(), connectors.WatchRequest{
				Connection: h.conn, HTTP: reg.HTTPClient(h.prov, h.conn.Account.ID, h.tok), CallbackURL: callback, Now: now,
			})
			require.NoError(t, err)
			require.Len(t, chans, 2)
			for _, ch := range chans {
				require.Truef(t, tc.Want.Equal(ch.Expires), "channel on %s expires %v, want %v", ch.Target, ch.Expires, tc.Want)
				require.Equal(t, time.UTC, ch.Expires.Location())
			}
		})
	}
}

// A webhook secret rotated out stays accepted on notifications while it is
// set as WEBHOOK_SECRET_RETIRED (the channels made under it notify with
// tokens derived from it until the renewal sweep replaces them); the
// channels are made under the current one, which SecretID names. The
// setting is refused without a current secret, or equal to it.
func TestRetiredWebhookSecret(t *testing.T) {
	header := func(secret string) http.Header {
		h := http.Header{}
		h.Set("X-Goog-Channel-ID", "poblysh-abc")
		h.Set("X-Goog-Channel-Token", googlecalendar.ChannelToken(secret, "poblysh-abc"))
		return h
	}
	verify := func(c connectors.Connector, secret string) error {
		return c.(connectors.WebhookReceiver).VerifyWebhook(&connectors.WebhookRequest{Header: header(secret)})
	}
	rotated, err := googlecalendar.Spec.New(connectors.Config{WebhookSecret: "new-secret"}.WithSettings(map[string]string{"WEBHOOK_SECRET_RETIRED": "old-secret"}))
	require.NoError(t, err)
	require.NoError(t, verify(rotated, "new-secret"))
	require.NoError(t, verify(rotated, "old-secret"), "a channel made before the rotation still notifies")
	require.ErrorIs(t, verify(rotated, "other-secret"), connectors.ErrUnauthorized)

	plain, err := googlecalendar.Spec.New(connectors.Config{WebhookSecret: "new-secret"})
	require.NoError(t, err)
	require.ErrorIs(t, verify(plain, "old-secret"), connectors.ErrUnauthorized, "without the setting the old secret is refused")

	old, err := googlecalendar.Spec.New(connectors.Config{WebhookSecret: "old-secret"})
	require.NoError(t, err)
	id := rotated.(connectors.SecretBound).SecretID()
	require.Equal(t, id, plain.(connectors.SecretBound).SecretID(), "channels are made under the current secret, retired or not")
	require.NotEqual(t, id, old.(connectors.SecretBound).SecretID())
	require.NotContains(t, id, "secret")
	none, err := googlecalendar.Spec.New(connectors.Config{})
	require.NoError(t, err)
	require.Empty(t, none.(connectors.SecretBound).SecretID())

	_, err = googlecalendar.Spec.New(connectors.Config{}.WithSettings(map[string]string{"WEBHOOK_SECRET_RETIRED": "old-secret"}))
	require.ErrorIs(t, err, connectors.ErrInvalidConfig, "a retired secret without a current one")
	require.NotContains(t, err.Error(), "old-secret")
	_, err = googlecalendar.Spec.New(connectors.Config{WebhookSecret: "same"}.WithSettings(map[string]string{"WEBHOOK_SECRET_RETIRED": "same"}))
	require.ErrorIs(t, err, connectors.ErrInvalidConfig, "a retired secret equal to the current one")
	require.NotContains(t, err.Error(), "same")
}
