package slacksandbox

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
)

// TestRegisteredFake builds the fake through the registry: the uniform
// options reach its own, and token-rotation turns rotation on.
func TestRegisteredFake(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f, err := sandbox.New(Name, sandbox.Options{ClientID: "cid", ClientSecret: "cs", WebhookSecret: "signing",
		DeliverTo: "http://127.0.0.1:8080", Faults: []string{FaultTokenRotation}, Seed: true, Now: func() time.Time { return at }})
	require.NoError(t, err)
	s := f.(*Server)
	o := s.Options()
	require.Equal(t, []string{"cid", "cs", "signing"}, []string{o.ClientID, o.ClientSecret, o.SigningSecret})
	require.True(t, o.Rotation)
	require.Equal(t, 12*time.Hour, o.AccessTTL, "rotation's default lifetime")
	require.Equal(t, "http://127.0.0.1:8080/api/v1/webhooks/slack", s.Deliverer.Target())
	require.Equal(t, at, s.now(), "the clock is the options'")
	require.Len(t, s.store.messages[ChannelGeneral], GeneralHistory+4, "seeded")
	require.Equal(t, "signing", f.Env("http://x")["POBLYSH_SLACK_WEBHOOK_SECRET"])

	f, err = sandbox.New(Name, sandbox.Options{})
	require.NoError(t, err)
	require.False(t, f.(*Server).Options().Rotation)
	require.Empty(t, f.(*Server).store.messages[ChannelGeneral], "no seed")

	_, err = sandbox.New(Name, sandbox.Options{Faults: []string{"github-app"}})
	require.EqualError(t, err, `sandbox slack: unknown fault "github-app" (known: token-rotation)`)
}

// TestDemo runs the demo hook against the fake: it posts a message that
// the Events API delivers to the service.
func TestDemo(t *testing.T) {
	got := make(chan string, 1)
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r.URL.Path + " " + string(b)
	}))
	defer svc.Close()
	f, err := sandbox.New(Name, sandbox.Options{Seed: true, DeliverTo: svc.URL})
	require.NoError(t, err)
	srv := httptest.NewServer(f)
	defer srv.Close()
	d := f.(sandbox.Demoer).Demo()
	require.Equal(t, map[string]any{"channels": []string{ChannelGeneral, ChannelPress}}, d.Config)
	act, err := d.Activity(context.Background(), srv.Client(), srv.URL, "demo-123")
	require.NoError(t, err)
	require.Equal(t, "message.posted", act.Kind)
	require.Equal(t, "posted a message in #general (Events API delivery status [200])", act.Description)
	delivered := <-got
	require.True(t, strings.HasPrefix(delivered, "/api/v1/webhooks/slack "), delivered)
	require.Contains(t, delivered, "demo-123")
}
