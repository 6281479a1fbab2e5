package main

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMetricsOnlyOnTheMetricsAddress: the API port serves neither metrics
// (they name every tenant's connections) nor profiles; the metrics address
// serves both.
func TestMetricsOnlyOnTheMetricsAddress(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := s.http.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		return resp.StatusCode, readAll(resp)
	}
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/goroutine?debug=1"} {
		code, _ := get(s.base + path)
		require.Equal(t, http.StatusNotFound, code, "the API port must not serve %s", path)
	}
	code, body := get(s.metrics + "/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `poblysh_http_request_duration_seconds_count{method="GET",route="getReadiness",status="200"}`)
	code, body = get(s.metrics + "/debug/pprof/goroutine?debug=1")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "goroutine profile:")
}

// TestReadmeMetricsExistFromStartUp: every metric the README's Operations
// section names is exported by a freshly started process before anything
// happened, with a zero series for each provider (and kind, job kind and
// status) the process knows; the per-connection gauges are the documented
// exception.
func TestReadmeMetricsExistFromStartUp(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, ops, ok := strings.Cut(string(readme), "- **Metrics.**")
	require.True(t, ok, "the README has a Metrics paragraph")
	ops, _, _ = strings.Cut(ops, "\n- **")
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`(poblysh_[a-z_]+)`").FindAllStringSubmatch(ops, -1) {
		named[m[1]] = true
	}
	require.Contains(t, named, "poblysh_jobs_total")
	require.GreaterOrEqual(t, len(named), 9)

	s := newStack(t)
	resp, err := s.http.Get(s.metrics + "/metrics")
	require.NoError(t, err)
	body := readAll(resp)
	resp.Body.Close()
	for name := range named {
		if strings.HasPrefix(name, "poblysh_connection_") {
			require.Contains(t, ops, "only the per-connection gauges", "the README says when %s appears", name)
			continue
		}
		require.Contains(t, body, "# TYPE "+name+" ", "%s is exported from start-up", name)
	}
	for _, p := range []string{"github", "gmail", "google-calendar", "google-drive", "jira", "slack", "zoho-cliq", "zoho-mail"} {
		for _, series := range []string{
			`poblysh_jobs_total{kind="backfill",provider="` + p + `",status="failed"}`,
			`poblysh_job_duration_seconds_count{kind="incremental",provider="` + p + `"}`,
			`poblysh_webhook_deliveries_total{provider="` + p + `",result="accepted"}`,
			`poblysh_provider_rate_limited_total{provider="` + p + `"}`,
			`poblysh_token_refreshes_total{provider="` + p + `",result="revoked"}`,
			`poblysh_signal_ingest_lag_seconds_count{provider="` + p + `"}`,
		} {
			require.Contains(t, body, series+" ", "a zero series exists for a known label")
		}
	}
	require.Contains(t, body, `poblysh_signals_stored_total{kind="pull_request.merged",provider="github"} `)
	require.Contains(t, body, `poblysh_http_request_duration_seconds_count{method="POST",route="createTenant",status="201"} `)
}
