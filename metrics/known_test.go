package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// Every metric the service defines, but the per-connection gauges, is on
// /metrics from start-up (README, Operations, Metrics): what start-up runs
// (Init with the registry's providers, InitRoute for each API route) gives
// each one a series. A metric added without a place in Init fails here.
func TestInitCreatesEveryMetric(t *testing.T) {
	perConn := map[prometheus.Collector]bool{}
	for _, g := range perConnection {
		perConn[g] = true
	}
	// From nothing, as at start-up: series other tests made do not count.
	for _, c := range own {
		if !perConn[c] {
			c.(interface{ Reset() }).Reset()
		}
	}
	Init([]Provider{{Name: "github", Kinds: []string{"pull_request.merged"}}})
	InitRoute("getReadiness", "GET", "200")

	fams, err := Registry.Gather()
	require.NoError(t, err)
	exported := map[string]bool{}
	for _, f := range fams {
		exported[f.GetName()] = len(f.GetMetric()) > 0
	}
	var missing []string
	for _, c := range own {
		ch := make(chan *prometheus.Desc, 1)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			n := descName(d)
			if perConn[c] {
				require.True(t, strings.HasPrefix(n, "poblysh_connection_"), "the README names the per-connection gauges poblysh_connection_*: %s", n)
			} else if !exported[n] {
				missing = append(missing, n)
			}
		}
	}
	require.Empty(t, missing, "defined, not per-connection, yet without a series after Init")
}
