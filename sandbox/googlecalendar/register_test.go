package gcalsandbox

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
)

// TestRegisteredFake builds the fake through the registry: the uniform
// options reach its own, short-pages caps pages, and Env hands the
// service's channel-token secret out only when one is set.
func TestRegisteredFake(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f, err := sandbox.New(Name, sandbox.Options{ClientID: "cid", ClientSecret: "cs", WebhookSecret: "channel-secret",
		AccessTTL: time.Minute, Faults: []string{FaultShortPages}, Seed: true, Now: func() time.Time { return at }})
	require.NoError(t, err)
	s := f.(*Server)
	require.Equal(t, "cid", s.ClientID())
	require.Equal(t, "cs", s.opts.ClientSecret)
	require.Equal(t, time.Minute, s.opts.AccessTTL)
	require.Equal(t, 4, s.opts.PageSize)
	require.Equal(t, at, s.now())
	require.Len(t, s.Events("primary"), PrimaryEvents, "seeded")
	require.Equal(t, "channel-secret", f.Env("http://x")["POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET"])
	require.Equal(t, s.Base.OAuth.Issued(), s.IssuedTokens())

	f, err = sandbox.New(Name, sandbox.Options{})
	require.NoError(t, err)
	require.Zero(t, f.(*Server).opts.PageSize)
	require.Equal(t, DefaultAccessTTL, f.(*Server).opts.AccessTTL)
	require.Empty(t, f.(*Server).Events("primary"), "no seed")
	require.NotContains(t, f.Env("http://x"), "POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET")

	_, err = sandbox.New(Name, sandbox.Options{Faults: []string{"token-rotation"}})
	require.EqualError(t, err, `sandbox google-calendar: unknown fault "token-rotation" (known: short-pages)`)
}

// TestDemo runs the demo hook against the fake: it creates an event on the
// primary calendar carrying the marker.
func TestDemo(t *testing.T) {
	s := New(Options{Seed: true})
	srv := httptest.NewServer(s)
	defer srv.Close()
	d := s.Demo()
	require.Equal(t, map[string]any{"calendars": []string{"primary"}, "backfill_days": 3650}, d.Config)
	act, err := d.Activity(context.Background(), srv.Client(), srv.URL, "demo-123")
	require.NoError(t, err)
	require.Equal(t, "calendar_event.created", act.Kind)
	require.Contains(t, act.Description, "on the primary calendar (0 push notification(s))")
	events := s.Events("primary")
	require.Len(t, events, PrimaryEvents+1)
	b, err := json.Marshal(events)
	require.NoError(t, err)
	require.Contains(t, string(b), "Interview with TechCrunch (demo-123)")
}
