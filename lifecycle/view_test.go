package lifecycle_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	_ "github.com/poblysh/poblysh/connectors/fake" // a registered provider with a known policy
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
)

func TestViewFallsBackToColumns(t *testing.T) {
	t.Parallel()
	c := lifecycle.View(&db.Connection{ID: "c", TenantID: "t", ExternalAccountID: "T123", DisplayName: "Acme",
		Account: []byte(`{"metadata":{"bot_user_id":"U1"}}`), Config: []byte(`{"channels":["C1"]}`)})
	require.Equal(t, "T123", c.Account.ID)
	require.Equal(t, "Acme", c.Account.Name)
	require.Equal(t, "U1", c.Account.Metadata["bot_user_id"])
	require.JSONEq(t, `{"channels":["C1"]}`, string(c.Config))
}

func TestPollInterval(t *testing.T) {
	t.Parallel()
	reg, err := connectors.Build(connectors.Registered(), func(string) string { return "" }, "http://127.0.0.1:8080", false)
	require.NoError(t, err)
	p, _ := reg.Get("fake")
	pol := p.Spec.Policy
	secs := func(n int) *int { return &n }
	require.Equal(t, pol.PollInterval, lifecycle.PollInterval(reg, &db.Connection{Provider: "fake"}), "no push: the poll interval")
	require.Equal(t, pol.ReconcileInterval, lifecycle.PollInterval(reg, &db.Connection{Provider: "fake", PushEnabled: true}), "push: the longer reconcile interval")
	require.Equal(t, 5*time.Minute, lifecycle.PollInterval(reg, &db.Connection{Provider: "fake", PollIntervalSeconds: secs(300)}), "a tenant override wins")
	require.Equal(t, pol.MinPollInterval, lifecycle.PollInterval(reg, &db.Connection{Provider: "fake", PollIntervalSeconds: secs(1)}), "never below the provider's floor")
	require.Equal(t, time.Hour, lifecycle.PollInterval(reg, &db.Connection{Provider: "unknown"}))
}
