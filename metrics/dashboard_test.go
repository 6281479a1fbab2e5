package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/metrics"
)

// exprs collects every PromQL expression in a Grafana dashboard: panel
// targets (rows' nested panels too) and query variables.
func exprs(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			switch s, ok := val.(string); {
			case ok && k == "expr":
				*out = append(*out, s)
			case ok && (k == "query" || k == "definition") && strings.Contains(s, "poblysh_"):
				*out = append(*out, s)
			default:
				exprs(val, out)
			}
		}
	case []any:
		for _, e := range x {
			exprs(e, out)
		}
	}
}

var metricRef = regexp.MustCompile(`\b(poblysh_[a-z0-9_]+)`)

// dashboardMetrics returns every metric name the dashboard queries, with
// the histogram suffixes a query adds (_bucket, _count, _sum) removed.
func dashboardMetrics(t *testing.T, raw []byte) []string {
	t.Helper()
	var dash map[string]any
	require.NoError(t, json.Unmarshal(raw, &dash))
	var all []string
	exprs(dash, &all)
	require.NotEmpty(t, all, "the dashboard queries something")
	var names []string
	for _, e := range all {
		for _, m := range metricRef.FindAllStringSubmatch(e, -1) {
			n := m[1]
			for _, suf := range []string{"_bucket", "_count", "_sum"} {
				n = strings.TrimSuffix(n, suf)
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names
}

// TestDashboardQueriesExistingMetrics: every metric that
// deploy/grafana/poblysh.json queries is one the service defines, and the
// dashboard covers what operators look at first.
func TestDashboardQueriesExistingMetrics(t *testing.T) {
	raw, err := os.ReadFile("../deploy/grafana/poblysh.json")
	require.NoError(t, err)
	defined := metrics.Names()
	require.Contains(t, defined, "poblysh_jobs_total")
	used := dashboardMetrics(t, raw)
	for _, n := range used {
		require.Contains(t, defined, n, "the dashboard queries %s, which the service does not export", n)
	}
	for _, must := range []string{
		"poblysh_jobs_total", "poblysh_job_duration_seconds", "poblysh_signals_stored_total",
		"poblysh_webhook_deliveries_total", "poblysh_provider_rate_limited_total", "poblysh_token_refreshes_total",
		"poblysh_connection_freshness_seconds", "poblysh_signal_ingest_lag_seconds",
	} {
		require.Contains(t, used, must, "the dashboard shows %s", must)
	}

	// The check can fail: a renamed metric is reported.
	broken := strings.Replace(string(raw), "poblysh_jobs_total", "poblysh_jobs_finished_total", 1)
	require.Contains(t, dashboardMetrics(t, []byte(broken)), "poblysh_jobs_finished_total")
	require.NotContains(t, defined, "poblysh_jobs_finished_total")
}
