package fake

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
)

// TestRegisteredFake builds the fake through the registry: the uniform
// options reach its own, and Seed decides whether items exist.
func TestRegisteredFake(t *testing.T) {
	f, err := sandbox.New(Name, sandbox.Options{ClientID: "cid", ClientSecret: "cs", WebhookSecret: "ws",
		AccessTTL: time.Minute, DeliverTo: "http://127.0.0.1:8080", Seed: true})
	require.NoError(t, err)
	s := f.(*Server)
	require.Equal(t, []string{"cid", "cs", "ws"}, []string{s.opts.ClientID, s.opts.ClientSecret, s.opts.WebhookSecret})
	require.Equal(t, time.Minute, s.opts.AccessTTL)
	require.Equal(t, 25, s.Count("items"))
	require.Equal(t, "http://127.0.0.1:8080/api/v1/webhooks/fake", s.Deliverer.Target())

	f, err = sandbox.New(Name, sandbox.Options{})
	require.NoError(t, err)
	require.Zero(t, f.(*Server).Count("items"), "no seed, no items")
	require.Empty(t, f.(*Server).Deliverer.Target())

	_, err = sandbox.New(Name, sandbox.Options{Faults: []string{"short-pages"}})
	require.EqualError(t, err, `sandbox fake: unknown fault "short-pages" (this fake has no named faults)`)
}
