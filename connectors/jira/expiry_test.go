package jira_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	jirasandbox "github.com/poblysh/poblysh/sandbox/jira"
)

// Jira's Webhook schema marks expirationDate optional. A listing without it
// made a channel that "never expires" (connectors.Channel: zero Expires
// means never), never renewed, so Jira dropped its webhook after 30 days;
// and a renewal took such a listed webhook for gone.
func TestWatchListingWithoutExpiryGetsTheDefaultLifetime(t *testing.T) {
	h := newHarness(t, jirasandbox.Options{}, `["LPR"]`)
	inner := h.sb
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/rest/api/3/webhook") {
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r)
			var page map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
			for _, v := range page["values"].([]any) {
				delete(v.(map[string]any), "expirationDate")
			}
			b, _ := json.Marshal(page)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	h.url = proxy.URL
	h.prov = provider(t, inner, proxy.URL, "")
	chans, err := h.prov.Connector.(connectors.Watcher).Watch(context.Background(), connectors.WatchRequest{
		Connection: h.conn, HTTP: h.client(), CallbackURL: "https://poblysh.example/api/v1/webhooks/jira", Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, chans, 1)
	require.False(t, chans[0].Expires.IsZero(), "channel stored as never expiring: it is never renewed, and Jira drops the webhook after 30 days")

	// A renewal keeps a listed webhook without a date: it is live, not gone
	// (dropping it would register a second webhook and leave this one
	// delivering).
	renewed, err := h.prov.Connector.(connectors.ChannelRenewer).RenewWatch(context.Background(), connectors.RenewWatchRequest{
		Connection: h.conn, HTTP: h.client(), Channels: chans, Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, renewed, 1, "the listed webhook is renewed, not taken for gone")
	require.Equal(t, chans[0].ID, renewed[0].ID)
	require.False(t, renewed[0].Expires.IsZero())
}
