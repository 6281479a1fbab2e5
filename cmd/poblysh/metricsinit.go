package main

import (
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/metrics"
)

// initMetrics creates every metric series whose labels the registry knows,
// at zero, so each metric the README names exists from start-up.
func initMetrics(reg *connectors.Registry) {
	var ps []metrics.Provider
	for _, p := range reg.Providers() {
		ps = append(ps, metrics.Provider{Name: p.Spec.Name, Kinds: p.Spec.Kinds})
	}
	metrics.Init(ps)
}
