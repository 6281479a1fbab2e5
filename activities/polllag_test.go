package activities

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/metrics"
)

// Polling freshness: only Signals that happened after the previous pass
// count, and the connection's gauge is the largest of them.
func TestObservePollLag(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	last := now.Add(-5 * time.Minute)
	tg := poblysh.ConnectionRef{Provider: "zoho-mail", ConnectionID: "c-polllag-1"}
	observePollLag(tg, &last, []time.Time{now.Add(-48 * time.Hour), now.Add(-4 * time.Minute), now.Add(-30 * time.Second)}, now)
	require.InDelta(t, 240, gauge(t, "c-polllag-1"), 0.001)

	// A backfill (no previous pass) and a page of old Signals leave it alone.
	observePollLag(tg, nil, []time.Time{now}, now)
	observePollLag(tg, &last, []time.Time{now.Add(-time.Hour)}, now)
	require.InDelta(t, 240, gauge(t, "c-polllag-1"), 0.001)
}

func gauge(t *testing.T, conn string) float64 {
	var m dto.Metric
	require.NoError(t, metrics.PollLag.WithLabelValues("zoho-mail", conn).Write(&m))
	return m.GetGauge().GetValue()
}
