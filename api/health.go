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

// handleReadiness checks Postgres and Temporal; 503 names what is down.
func handleReadiness(d *db.DB, temporal func(context.Context) error) http.Handler {
	check := func(ctx context.Context, f func(context.Context) error) string {
		if f == nil {
			return "down: not configured"
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := f(ctx); err != nil {
			return "down: unreachable"
		}
		return "ok"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		checks := map[string]string{
			"postgres": check(r.Context(), d.Ping),
			"temporal": check(r.Context(), temporal),
		}
		status, code := "ready", http.StatusOK
		for _, v := range checks {
			if v != "ok" {
				status, code = "unavailable", http.StatusServiceUnavailable
			}
		}
		writeJSON(w, code, map[string]any{"status": status, "checks": checks})
	})
}
