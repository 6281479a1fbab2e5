package api

import (
	"context"
	"net/http"
	"time"

	"github.com/poblysh/poblysh/db"
)

func handleHealth() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// Each readiness check's budget. Temporal's is short: its state is only
// reported, and a Temporal that does not answer (packets dropped, an
// overloaded frontend) must not hold the probe past an orchestrator's
// probe timeout (Kubernetes: 1 s by default), which would take the
// instance out of the balancer as a 503 does. The checks run at once, so
// a hung Temporal costs the probe this long, never more.
const (
	postgresCheckTimeout = 2 * time.Second
	temporalCheckTimeout = 300 * time.Millisecond
)

// handleReadiness checks Postgres and Temporal; 503 when Postgres is down.
// Temporal's state is reported but does not make the instance unready:
// webhook intake works without Temporal (deliveries that carry their events
// are stored, notify-only nudges recorded in pending_nudges), and GitHub
// never redelivers a failed delivery, so taking every API instance out of a
// load balancer while Temporal is down would lose what could be kept.
// While draining (told to stop, still serving) it answers 503 "draining".
func handleReadiness(d *db.DB, temporal func(context.Context) error, draining func() bool) http.Handler {
	check := func(ctx context.Context, f func(context.Context) error, timeout time.Duration) string {
		if f == nil {
			return "down: not configured"
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		// One reason for a refusal and for no answer in time: the SDK
		// retries a refused call until the deadline, so they look alike.
		if err := f(ctx); err != nil {
			return "down: unreachable"
		}
		return "ok"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tc := make(chan string, 1)
		go func() { tc <- check(r.Context(), temporal, temporalCheckTimeout) }()
		checks := map[string]string{"postgres": check(r.Context(), d.Ping, postgresCheckTimeout)}
		checks["temporal"] = <-tc
		status, code := "ready", http.StatusOK
		if checks["postgres"] != "ok" {
			status, code = "unavailable", http.StatusServiceUnavailable
		}
		if draining != nil && draining() {
			status, code = "draining", http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]any{"status": status, "checks": checks})
	})
}
