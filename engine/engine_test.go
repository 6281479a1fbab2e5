package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	_ "github.com/poblysh/poblysh/connectors/fake" // a registered provider with a known policy
	"github.com/poblysh/poblysh/db"
)

func TestUILinkEscapesWorkflowIDs(t *testing.T) {
	t.Parallel()
	e := &Engine{UIURL: "http://127.0.0.1:8233", Namespace: "default"}
	require.Equal(t, "http://127.0.0.1:8233/namespaces/default/workflows/sync%2Fc1%2Fpulls:octo%2Fhello/run-1/history",
		e.UILink("sync/c1/pulls:octo/hello", "run-1"))
	require.Equal(t, "http://127.0.0.1:8233/namespaces/default/workflows/token-refresh%2Fc1", e.UILink("token-refresh/c1", ""))
	require.Empty(t, (&Engine{}).UILink("x", "y"), "no UI configured, no link")
}

func TestPollInterval(t *testing.T) {
	t.Parallel()
	reg, err := connectors.Build(connectors.Registered(), func(string) string { return "" }, "http://127.0.0.1:8080", false)
	require.NoError(t, err)
	e := &Engine{Registry: reg}
	p, _ := reg.Get("fake")
	pol := p.Spec.Policy
	secs := func(n int) *int { return &n }
	require.Equal(t, pol.PollInterval, e.PollInterval(&db.Connection{Provider: "fake"}), "no push: the poll interval")
	require.Equal(t, pol.ReconcileInterval, e.PollInterval(&db.Connection{Provider: "fake", PushEnabled: true}), "push: the longer reconcile interval")
	require.Equal(t, 5*time.Minute, e.PollInterval(&db.Connection{Provider: "fake", PollIntervalSeconds: secs(300)}), "a tenant override wins")
	require.Equal(t, pol.MinPollInterval, e.PollInterval(&db.Connection{Provider: "fake", PollIntervalSeconds: secs(1)}), "never below the provider's floor")
	require.Equal(t, time.Hour, e.PollInterval(&db.Connection{Provider: "unknown"}))
}
