package main

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/metrics"
)

// seriesOf reports which of ids have a series of g.
func seriesOf(t *testing.T, g *prometheus.GaugeVec, ids ...string) map[string]bool {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	out := map[string]bool{}
	ch := make(chan prometheus.Metric, 1024)
	go func() { g.Collect(ch); close(ch) }()
	for m := range ch {
		var pb dto.Metric
		require.NoError(t, m.Write(&pb))
		for _, l := range pb.GetLabel() {
			if l.GetName() == "connection_id" && want[l.GetValue()] {
				out[l.GetValue()] = true
			}
		}
	}
	return out
}

// A worker drops its per-connection metric series of deleted connections
// and keeps the live ones'. (They stayed until the process restarted:
// series grew with connection churn, and dashboards read deleted
// connections' last values.)
func TestDeletedConnectionsLeaveTheMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	_, live := dbtest.Seed(t, schema.DB, "live", "fake", "a")
	goneTenant, gone := dbtest.Seed(t, schema.DB, "gone", "fake", "b")
	for _, id := range []string{live, gone} {
		metrics.SetConnection(metrics.Freshness, "fake", id, 30)
		metrics.SetConnection(metrics.PollInterval, "fake", id, 600)
	}
	require.NoError(t, schema.DB.WithTenant(ctx, goneTenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, gone, false) }))

	// Asked about these two only: the stacks of other tests in this
	// process keep theirs (their connections are in other schemas).
	n, err := forgetDeletedConnections(ctx, schema.DB, []string{live, gone})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	for _, g := range []*prometheus.GaugeVec{metrics.Freshness, metrics.PollInterval} {
		require.Equal(t, map[string]bool{live: true}, seriesOf(t, g, live, gone))
	}
}
