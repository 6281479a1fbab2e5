package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// The per-connection gauges (Freshness, PollInterval, PollLag) carry a
// connection_id label. A process that ever ran a connection's work kept
// its series after the connection was deleted, until it restarted: series
// grew with connection churn, and dashboards read deleted connections'
// last values. Setting them through SetConnection records the series, and
// ForgetConnections drops those of connections no longer live.

var (
	connMu     sync.Mutex
	connSeries = map[connKey]bool{}
)

type connKey struct{ provider, id string }

// perConnection are the gauges labelled provider, connection_id.
var perConnection = []*prometheus.GaugeVec{Freshness, PollInterval, PollLag}

// SetConnection sets g's series of one connection. The series is recorded
// and set under one lock, so a prune never drops it in between (and leaves
// an untracked series behind).
func SetConnection(g *prometheus.GaugeVec, provider, connectionID string, v float64) {
	connMu.Lock()
	defer connMu.Unlock()
	connSeries[connKey{provider, connectionID}] = true
	g.WithLabelValues(provider, connectionID).Set(v)
}

// ConnectionSeries lists the connection ids this process has series of.
func ConnectionSeries() []string {
	connMu.Lock()
	defer connMu.Unlock()
	out := make([]string, 0, len(connSeries))
	for k := range connSeries {
		out = append(out, k.id)
	}
	return out
}

// ForgetConnections drops the per-connection series of the connections
// asked (ConnectionSeries, when the prune began) that live does not hold,
// and answers how many connections it forgot. A connection whose first
// series came after the question was not asked about and stays.
func ForgetConnections(asked []string, live map[string]bool) int {
	connMu.Lock()
	defer connMu.Unlock()
	was := make(map[string]bool, len(asked))
	for _, id := range asked {
		was[id] = true
	}
	n := 0
	for k := range connSeries {
		if live[k.id] || !was[k.id] {
			continue
		}
		for _, g := range perConnection {
			g.DeleteLabelValues(k.provider, k.id)
		}
		delete(connSeries, k)
		n++
	}
	return n
}
