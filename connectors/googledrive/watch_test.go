package googledrive_test

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
	"github.com/poblysh/poblysh/connectors/google"
	"github.com/poblysh/poblysh/connectors/googledrive"
	"github.com/poblysh/poblysh/sandbox"
	drivesandbox "github.com/poblysh/poblysh/sandbox/googledrive"
)

type inbox struct {
	mu  sync.Mutex
	got []http.Header
}

func newInbox(t *testing.T) (*inbox, string) {
	in := &inbox{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.mu.Lock()
		in.got = append(in.got, r.Header.Clone())
		in.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return in, srv.URL + "/api/v1/webhooks/google-drive"
}

func (in *inbox) all() []http.Header {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]http.Header(nil), in.got...)
}

func TestWatchOpensOneChannelPerFeed(t *testing.T) {
	h := newHarness(t, drivesandbox.Options{Seed: true}, pressConfig, map[string]string{"CHANNEL_TTL": "3600"})
	in, callback := newInbox(t)
	w := h.prov.Connector.(connectors.Watcher)
	targets, err := w.WatchTargets(h.conn)
	require.NoError(t, err)
	require.Equal(t, []string{"my-drive", drivesandbox.CommsDriveID}, targets)
	before := time.Now()
	chans, err := w.Watch(context.Background(), connectors.WatchRequest{Connection: h.conn, HTTP: h.client(), CallbackURL: callback, Now: time.Now()})
	require.NoError(t, err)
	h.sb.Close()
	require.Len(t, chans, 2)
	for i, want := range []struct{ target, stream string }{{"my-drive", "changes"}, {drivesandbox.CommsDriveID, "drive:" + drivesandbox.CommsDriveID}} {
		ch := chans[i]
		require.Equal(t, want.target, ch.Target)
		require.Equal(t, want.stream, ch.Stream)
		require.Equal(t, "channel:"+ch.ID, ch.RouteKey)
		require.NotEmpty(t, ch.ResourceID)
		require.WithinDuration(t, before.Add(time.Hour), ch.Expires, 5*time.Second, "the expiration asked for, which Drive granted")
	}
	feeds := map[string]bool{}
	for _, c := range h.sb.Channels() {
		feeds[c.Feed] = c.Live
	}
	require.Equal(t, map[string]bool{"user:ada@example.com": true, "drive:" + drivesandbox.CommsDriveID: true}, feeds)

	recv := h.prov.Connector.(connectors.WebhookReceiver)
	syncs := in.all()
	require.Len(t, syncs, 2)
	for _, hdr := range syncs {
		require.NoError(t, recv.VerifyWebhook(&connectors.WebhookRequest{Header: hdr}))
		d, err := recv.ParseWebhook(&connectors.WebhookRequest{Header: hdr})
		require.NoError(t, err)
		require.False(t, d.Notify, "sync announces the channel, nothing changed")
	}

	// A change on the shared drive notifies its channel only.
	_, notes, err := h.sb.CreateFile(context.Background(), drivesandbox.FileInput{Name: "Q&A", Parent: drivesandbox.BriefsFolderID}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	require.Len(t, notes, 1)
	require.Equal(t, chans[1].ID, notes[0].ChannelID)
	last := in.all()[2]
	d, err := recv.ParseWebhook(&connectors.WebhookRequest{Header: last})
	require.NoError(t, err)
	require.Equal(t, &connectors.WebhookDelivery{DeliveryID: chans[1].ID + ":2", Event: "change", RouteKeys: []string{chans[1].RouteKey}, Notify: true}, d)

	// Stopping twice: the second finds nothing, which is fine.
	for range 2 {
		require.NoError(t, w.StopWatch(context.Background(), connectors.StopWatchRequest{Connection: h.conn, HTTP: h.client(), Channel: chans[0]}))
	}
	for _, c := range h.sb.Channels() {
		require.Equal(t, c.ID == chans[0].ID, c.Stopped)
	}
}

func TestWatchRefusesWithoutSecretAndUndoesHalfDoneWatches(t *testing.T) {
	h := newHarness(t, drivesandbox.Options{Seed: true}, pressConfig, nil)
	p := provider(t, h.sb, h.url, "", nil)
	_, err := p.Connector.(connectors.Watcher).Watch(context.Background(), connectors.WatchRequest{Connection: h.conn, HTTP: h.client(), CallbackURL: "https://x.example/cb"})
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)
	require.Empty(t, h.sb.Channels())

	_, callback := newInbox(t)
	_, err = h.prov.Connector.(connectors.Watcher).Watch(context.Background(), connectors.WatchRequest{
		Connection: h.conn, HTTP: h.client(), CallbackURL: callback, Targets: []string{"my-drive", "0AMissingDrive"},
	})
	require.ErrorIs(t, err, connectors.ErrNotFound)
	h.sb.Close()
	chans := h.sb.Channels()
	require.Len(t, chans, 1)
	require.True(t, chans[0].Stopped, "the channel opened before the failure was stopped")
}

func TestVerifyWebhook(t *testing.T) {
	c, err := googledrive.Spec.New(connectors.Config{WebhookSecret: testSecret})
	require.NoError(t, err)
	recv := c.(connectors.WebhookReceiver)
	hdr := http.Header{}
	hdr.Set("X-Goog-Channel-ID", "poblysh-abc")
	hdr.Set("X-Goog-Channel-Token", google.ChannelToken(testSecret, "poblysh-abc"))
	hdr.Set("X-Goog-Message-Number", "3")
	hdr.Set("X-Goog-Resource-State", "change")
	require.NoError(t, recv.VerifyWebhook(&connectors.WebhookRequest{Header: hdr}))
	forged := hdr.Clone()
	forged.Set("X-Goog-Channel-Token", google.ChannelToken("guess", "poblysh-abc"))
	require.ErrorIs(t, recv.VerifyWebhook(&connectors.WebhookRequest{Header: forged}), connectors.ErrUnauthorized)
	other := hdr.Clone()
	other.Set("X-Goog-Channel-ID", "poblysh-other")
	require.ErrorIs(t, recv.VerifyWebhook(&connectors.WebhookRequest{Header: other}), connectors.ErrUnauthorized, "a token is good for its own channel only")
}

// TestWatchExpiresByTheExpiryAskedFor: a channel ends at the earlier of the
// expiration asked for (now + CHANNEL_TTL) and the one Google answers. An
// answer without one (optional in the Channel resource) used to be stored
// as a channel that never expires, which the renewal sweep never renewed
// while Google ended it.
func TestWatchExpiresByTheExpiryAskedFor(t *testing.T) {
	now := time.Now()
	cases := connectortest.WatchExpiryCases(now, time.Hour)
	cases = append(cases, connectortest.WatchExpiryCase{Name: "an unreadable expiration", Answer: "soon", Want: now.Add(time.Hour).UTC()})
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			h := newHarness(t, drivesandbox.Options{Seed: true}, pressConfig, map[string]string{"CHANNEL_TTL": "3600"})
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

// Drive accepts a webhook secret rotated out while it is set as
// WEBHOOK_SECRET_RETIRED, makes channels under the current one (SecretID:
// google.SecretID), and refuses the setting without a current secret.
func TestRetiredWebhookSecret(t *testing.T) {
	hdr := func(secret string) http.Header {
		h := http.Header{}
		h.Set("X-Goog-Channel-ID", "poblysh-abc")
		h.Set("X-Goog-Channel-Token", google.ChannelToken(secret, "poblysh-abc"))
		return h
	}
	c, err := googledrive.Spec.New(connectors.Config{WebhookSecret: "new-secret"}.WithSettings(map[string]string{"WEBHOOK_SECRET_RETIRED": "old-secret"}))
	require.NoError(t, err)
	recv := c.(connectors.WebhookReceiver)
	require.NoError(t, recv.VerifyWebhook(&connectors.WebhookRequest{Header: hdr("new-secret")}))
	require.NoError(t, recv.VerifyWebhook(&connectors.WebhookRequest{Header: hdr("old-secret")}))
	require.ErrorIs(t, recv.VerifyWebhook(&connectors.WebhookRequest{Header: hdr("guess")}), connectors.ErrUnauthorized)
	require.Equal(t, google.SecretID("new-secret"), c.(connectors.SecretBound).SecretID())
	_, err = googledrive.Spec.New(connectors.Config{}.WithSettings(map[string]string{"WEBHOOK_SECRET_RETIRED": "old-secret"}))
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)
}
