package activities

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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

// FinishJob reads the connection's newest Signal for the freshness gauge
// after its transaction committed: in a big tenant that read can take a
// second, and the transaction holds the connection's row (last sync,
// health), which every PATCH, push record and watch pass of the connection
// waits for. The read is held here by a lock on signals; meanwhile the job
// is final and the connection's row is free. It used to run inside.
func TestFinishJobReadsFreshnessAfterItsCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	s := &connectors.Spec{Name: "stub"}
	acts := &Activities{DB: schema.DB, Registry: connectors.NewRegistry(&connectors.Provider{Spec: s, Connector: stubConnector{s}}),
		TenantConcurrency: 4}
	tenant, conn := dbtest.Seed(t, schema.DB, "held", "stub", "acct")
	ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: conn, Provider: "stub", Stream: "items"}
	newest := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	require.NoError(t, schema.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, conn, "stub", []db.NewSignal{{Kind: "item.created",
			OccurredAt: newest, DedupeKey: "k", Payload: []byte(`{"title":"t"}`)}})
		return err
	}))
	job := uuid.NewString()
	_, err := acts.BeginJob(ctx, BeginJobInput{ConnectionRef: ref, JobID: job, Kind: poblysh.JobIncremental,
		Trigger: poblysh.TriggerManual, WorkflowID: "q:sync/x/items"})
	require.NoError(t, err)

	owner, err := pgx.Connect(ctx, schema.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	holder, err := owner.Begin(ctx)
	require.NoError(t, err)
	_, err = holder.Exec(ctx, "LOCK TABLE signals IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)
	released := false
	defer func() {
		if !released {
			_ = holder.Rollback(ctx)
		}
	}()

	done := make(chan error, 1)
	go func() {
		_, err := acts.FinishJob(ctx, FinishJobInput{ConnectionRef: ref, JobID: job, Status: poblysh.JobSucceeded, Synced: true})
		done <- err
	}()

	probe, err := pgx.Connect(ctx, schema.OwnerURL)
	require.NoError(t, err)
	defer probe.Close(ctx)
	free := func() (string, error) {
		tx, err := probe.Begin(ctx)
		if err != nil {
			return "", err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		var status string
		if err := tx.QueryRow(ctx, "SELECT status FROM jobs WHERE id = $1", job).Scan(&status); err != nil {
			return "", err
		}
		_, err = tx.Exec(ctx, "SELECT 1 FROM connections WHERE id = $1 FOR UPDATE NOWAIT", conn)
		return status, err
	}
	var status string
	var lastErr error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if status, lastErr = free(); lastErr == nil && status == string(poblysh.JobSucceeded) {
			break
		}
	}
	require.NoError(t, lastErr, "the connection's row is free while the freshness read waits")
	require.Equal(t, string(poblysh.JobSucceeded), status, "the job is final before the freshness read")
	select {
	case err := <-done:
		t.Fatalf("FinishJob returned (%v) while signals was locked: it did not read freshness", err)
	default:
	}

	require.NoError(t, holder.Rollback(ctx))
	released = true
	require.NoError(t, <-done)
	var m dto.Metric
	require.NoError(t, metrics.Freshness.WithLabelValues("stub", conn).Write(&m))
	require.InDelta(t, time.Hour.Seconds(), m.GetGauge().GetValue(), 60, "the gauge reads the newest Signal's age")
}
