package activities

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/metrics"
)

// poblysh_connection_freshness_seconds reads 0, not a negative age, when
// the provider's clock runs ahead of the service's and its newest item is
// dated in the service's future (docs/reliability.md, metrics under clock
// skew); a newest item in the past reads its age.
func TestFreshnessReadsZeroWhenTheProviderRunsAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	s := &connectors.Spec{Name: "stub"}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	acts := &Activities{DB: schema.DB, Registry: connectors.NewRegistry(&connectors.Provider{Spec: s, Connector: stubConnector{s}}),
		TenantConcurrency: 4, Now: func() time.Time { return now }}
	tenant, conn := dbtest.Seed(t, schema.DB, "ahead", "stub", "acct")
	ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: conn, Provider: "stub", Stream: "items"}
	freshness := func(newest time.Time) float64 {
		require.NoError(t, schema.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, conn, "stub", []db.NewSignal{{Kind: "item.created",
				OccurredAt: newest, DedupeKey: newest.String(), Payload: []byte(`{"title":"t"}`)}})
			return err
		}))
		job := uuid.NewString()
		_, err := acts.BeginJob(ctx, BeginJobInput{ConnectionRef: ref, JobID: job, Kind: poblysh.JobIncremental,
			Trigger: poblysh.TriggerManual, WorkflowID: "q:sync/x/items"})
		require.NoError(t, err)
		_, err = acts.FinishJob(ctx, FinishJobInput{ConnectionRef: ref, JobID: job, Status: poblysh.JobSucceeded, Synced: true})
		require.NoError(t, err)
		var m dto.Metric
		require.NoError(t, metrics.Freshness.WithLabelValues("stub", conn).Write(&m))
		return m.GetGauge().GetValue()
	}
	require.Equal(t, 90.0, freshness(now.Add(-90*time.Second)), "the newest item's age")
	require.Equal(t, 0.0, freshness(now.Add(10*time.Minute)), "the provider's clock 10 minutes ahead")
}
