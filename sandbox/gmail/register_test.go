package gmailsandbox

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
)

// TestRegisteredFake builds the fake through the registry: the uniform
// options reach its own, pushes go to the service's webhook URL carrying
// the webhook secret, short-pages caps pages.
func TestRegisteredFake(t *testing.T) {
	f, err := sandbox.New(Name, sandbox.Options{ClientID: "cid", ClientSecret: "cs", WebhookSecret: "url token",
		DeliverTo: "http://127.0.0.1:8080", AccessTTL: time.Minute, Faults: []string{FaultShortPages}, Seed: true})
	require.NoError(t, err)
	s := f.(*Server)
	require.Equal(t, "cid", s.ClientID())
	require.Equal(t, time.Minute, s.opts.AccessTTL)
	require.Equal(t, 2, s.opts.PageSize)
	require.Equal(t, "http://127.0.0.1:8080/api/v1/webhooks/gmail?token=url+token", s.Base.Deliverer.Target())
	require.Equal(t, "url token", f.Env("http://x")["POBLYSH_GMAIL_WEBHOOK_SECRET"])
	require.Equal(t, s.Base.OAuth.Issued(), s.IssuedTokens())

	f, err = sandbox.New(Name, sandbox.Options{})
	require.NoError(t, err)
	require.Empty(t, f.(*Server).Base.Deliverer.Target())
	require.NotContains(t, f.Env("http://x"), "POBLYSH_GMAIL_WEBHOOK_SECRET")
	_, err = sandbox.New(Name, sandbox.Options{Faults: []string{"nope"}})
	require.EqualError(t, err, `sandbox gmail: unknown fault "nope" (known: short-pages)`)
}

// TestDemo runs the demo hook: a reporter's request for comment lands in
// the inbox, carrying the marker.
func TestDemo(t *testing.T) {
	s := New(Options{Seed: true})
	srv := httptest.NewServer(s)
	defer srv.Close()
	d := s.Demo()
	require.Equal(t, map[string]any{"labels": []string{"INBOX", "SENT"}}, d.Config)
	act, err := d.Activity(context.Background(), srv.Client(), srv.URL, "demo-123")
	require.NoError(t, err)
	require.Equal(t, "email.press_thread", act.Kind)
	require.Contains(t, act.Description, "(0 push(es))", "the mailbox is not watched")
	s.mu.Lock()
	defer s.mu.Unlock()
	found := false
	for _, m := range s.boxLocked(s.opts.User).messages {
		for _, h := range m.headers {
			found = found || (h[0] == "Subject" && h[1] == "Request for comment on the launch (demo-123)")
		}
	}
	require.True(t, found)
}
