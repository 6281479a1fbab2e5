package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/api"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/gen/client/system"
	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/metrics"
)

func TestHealthz(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res, err := e.client.System.GetHealth(system.NewGetHealthParams())
	require.NoError(t, err)
	require.NoError(t, res.Payload.Validate(strfmt.Default))
	require.Equal(t, "ok", *res.Payload.Status)
}

func readiness(t *testing.T, e *apiEnv) (int, models.Readiness) {
	t.Helper()
	r := e.do(http.MethodGet, "/readyz", "", "", "")
	var body models.Readiness
	require.NoError(t, json.Unmarshal(r.body, &body), "%s", r.body)
	require.NoError(t, body.Validate(strfmt.Default))
	return r.status, body
}

// brokenDB is a handle whose pool points at a port nothing listens on, as
// if Postgres were down (Open cannot build one: it checks the role).
func brokenDB(t *testing.T) *db.DB {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2")
	require.NoError(t, err)
	d := &db.DB{Pool: pool, X: sqlx.NewDb(stdlib.OpenDBFromPool(pool), "pgx")}
	t.Cleanup(d.Close)
	return d
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	t.Run("both up", func(t *testing.T) {
		t.Parallel()
		status, body := readiness(t, setup(t))
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "ready", *body.Status)
		require.Equal(t, "ok", *body.Checks.Postgres)
		require.Equal(t, "ok", *body.Checks.Temporal)
	})
	t.Run("temporal down", func(t *testing.T) {
		t.Parallel()
		e := setup(t, func(d *api.Deps) {
			d.TemporalHealth = func(context.Context) error { return errors.New("dial tcp 10.0.0.7:7233: connection refused") }
		})
		// Still ready: webhook intake works without Temporal (deliveries
		// stored, nudges recorded), so the instance stays in the balancer.
		status, body := readiness(t, e)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "ready", *body.Status)
		require.Equal(t, "ok", *body.Checks.Postgres)
		require.True(t, strings.HasPrefix(*body.Checks.Temporal, "down"), *body.Checks.Temporal)
		require.NotContains(t, *body.Checks.Temporal, "10.0.0.7", "no internals in a public probe")
	})
	t.Run("temporal hangs", func(t *testing.T) {
		t.Parallel()
		// A Temporal that does not answer (packets dropped, a frontend
		// overloaded) must not hold the probe: Kubernetes' default probe
		// timeout is 1 s, and a probe that times out takes the instance
		// out of the balancer as a 503 would.
		e := setup(t, func(d *api.Deps) {
			d.TemporalHealth = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
		})
		start := time.Now()
		status, body := readiness(t, e)
		took := time.Since(start)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "ready", *body.Status)
		require.Equal(t, "ok", *body.Checks.Postgres)
		require.Equal(t, "down: unreachable", *body.Checks.Temporal)
		require.Less(t, took, 700*time.Millisecond, "the answer comes well within a 1 s probe timeout")
	})
	t.Run("temporal slow within its budget", func(t *testing.T) {
		t.Parallel()
		e := setup(t, func(d *api.Deps) {
			d.TemporalHealth = func(ctx context.Context) error {
				select {
				case <-time.After(50 * time.Millisecond):
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		})
		status, body := readiness(t, e)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "ok", *body.Checks.Temporal)
	})
	t.Run("temporal not configured", func(t *testing.T) {
		t.Parallel()
		status, body := readiness(t, setup(t, func(d *api.Deps) { d.TemporalHealth = nil }))
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "down: not configured", *body.Checks.Temporal)
	})
	t.Run("draining", func(t *testing.T) {
		t.Parallel()
		status, body := readiness(t, setup(t, func(d *api.Deps) { d.Draining = func() bool { return true } }))
		require.Equal(t, http.StatusServiceUnavailable, status)
		require.Equal(t, "draining", *body.Status)
		require.Equal(t, "ok", *body.Checks.Postgres)
	})
	t.Run("postgres pool closed", func(t *testing.T) {
		t.Parallel()
		s := dbtest.NewSchema(t)
		closed, err := db.Open(context.Background(), dbtest.URL(t), db.Options{Role: "poblysh_app", Schema: s.Name})
		require.NoError(t, err)
		closed.Close()
		status, body := readiness(t, serve(t, s, closed))
		require.Equal(t, http.StatusServiceUnavailable, status)
		require.True(t, strings.HasPrefix(*body.Checks.Postgres, "down"), *body.Checks.Postgres)
		require.Equal(t, "ok", *body.Checks.Temporal)
	})
	t.Run("postgres unreachable", func(t *testing.T) {
		t.Parallel()
		e := serve(t, dbtest.NewSchema(t), brokenDB(t))
		status, body := readiness(t, e)
		require.Equal(t, http.StatusServiceUnavailable, status)
		require.True(t, strings.HasPrefix(*body.Checks.Postgres, "down"), *body.Checks.Postgres)
		require.Equal(t, "ok", *body.Checks.Temporal)

		// An authenticated call while Postgres is down is 503, not 500
		// and not 401: the key may well be valid.
		r := e.do(http.MethodGet, "/api/v1/providers", "pbk_AAAAAAAA_"+strings.Repeat("B", 43), "", "")
		requireError(t, r, http.StatusServiceUnavailable, "unavailable")
		require.Equal(t, "5", r.header.Get("Retry-After"))
		require.NotContains(t, string(r.body), "127.0.0.1")
		// The admin key needs no database.
		require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/api/v1/providers", adminKey, "", "").status)
	})
}

// TestReadyzWithABusyPool: a pool whose every session is taken (token
// locks held while providers answer, a burst of pages) is not Postgres
// down. The probe has a session of its own, so the instance stays in the
// load balancer and webhook intake goes on queueing for a session.
func TestReadyzWithABusyPool(t *testing.T) {
	t.Parallel()
	s := dbtest.NewSchema(t)
	ctx := context.Background()
	busy, err := db.Open(ctx, dbtest.URL(t), db.Options{Role: "poblysh_app", Schema: s.Name, MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(busy.Close)
	e := serve(t, s, busy)
	status, body := readiness(t, e)
	require.Equal(t, http.StatusOK, status, "idle pool")
	require.Equal(t, "ok", *body.Checks.Postgres)

	for range busy.Pool.Config().MaxConns {
		c, err := busy.Pool.Acquire(ctx)
		require.NoError(t, err)
		defer c.Release()
	}
	require.Equal(t, busy.Pool.Config().MaxConns, busy.Pool.Stat().AcquiredConns(), "every session of the work pool is taken")
	// Postgres itself answers.
	direct, err := pgx.Connect(ctx, dbtest.URL(t))
	require.NoError(t, err)
	var one int
	require.NoError(t, direct.QueryRow(ctx, "SELECT 1").Scan(&one))
	require.NoError(t, direct.Close(ctx))

	status, body = readiness(t, e)
	require.Equal(t, http.StatusOK, status, "a busy pool is not Postgres down")
	require.Equal(t, "ready", *body.Status)
	require.Equal(t, "ok", *body.Checks.Postgres)
	require.Equal(t, busy.Pool.Config().MaxConns, busy.Pool.Stat().AcquiredConns(), "the probe took no session of the work pool")
}

func TestSpecAndDocs(t *testing.T) {
	t.Parallel()
	e := setup(t)

	r := e.do(http.MethodGet, "/swagger.json", "", "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var spec struct {
		Swagger string                     `json:"swagger"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(r.body, &spec))
	require.Equal(t, "2.0", spec.Swagger)
	require.Contains(t, spec.Paths, "/api/v1/signals")

	r = e.do(http.MethodGet, "/swagger.yml", "", "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, poblysh.SwaggerYAML, r.body)

	r = e.do(http.MethodGet, "/docs", "", "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, r.header.Get("Content-Type"), "text/html")
	page := string(r.body)
	require.Contains(t, page, "/swagger.json")
	for _, cdn := range []string{"unpkg.com", "jsdelivr", "cdnjs", "googleapis", "validator.swagger.io"} {
		require.NotContains(t, page, cdn)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	require.NotEmpty(t, refs)
	for _, m := range refs {
		u := m[1]
		require.True(t, strings.HasPrefix(u, "/docs/assets/"), "every asset is served locally: %s", u)
		a := e.do(http.MethodGet, u, "", "", "")
		require.Equal(t, http.StatusOK, a.status, u)
		require.NotEmpty(t, a.body, u)
	}
}

// TestMetricsExposeRouteLabels: request metrics are labelled by route name
// and a bounded method; they are served by metrics.Handler (the operator's
// address), and the API port does not serve them.
func TestMetricsExposeRouteLabels(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, key := e.tenant("Acme")
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/api/v1/providers", key, "", "").status)
	require.Equal(t, http.StatusNotFound, e.do(http.MethodGet, "/api/v1/secret-path-xyz", key, "", "").status)
	// A made-up method creates no series of its own.
	e.do("BREWCOFFEE", "/api/v1/providers", key, "", "")
	e.do("BREWCOFFEE", "/api/v1/secret-path-xyz", key, "", "")

	requireNotFound(t, e.do(http.MethodGet, "/metrics", "", "", ""))
	requireNotFound(t, e.do(http.MethodGet, "/debug/pprof/", "", "", ""))

	srv := httptest.NewServer(metrics.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body := string(b)
	require.Regexp(t, `poblysh_http_request_duration_seconds_count\{method="GET",route="listProviders",status="200"\} [1-9]`, body)
	require.Regexp(t, `poblysh_http_request_duration_seconds_count\{method="POST",route="createTenant",status="201"\} [1-9]`, body)
	// Unmatched paths share one label value: no unbounded cardinality.
	require.Regexp(t, `poblysh_http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} [1-9]`, body)
	require.Regexp(t, `poblysh_http_request_duration_seconds_count\{method="other",route="[a-zA-Z]+",status="405"\} [1-9]`, body)
	require.NotContains(t, body, "secret-path-xyz")
	require.NotContains(t, body, "BREWCOFFEE")

	resp, err = http.Get(srv.URL + "/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(b), "goroutine profile:", "profiles are served next to the metrics")
}

// requireNotFound checks the API answers 404 in its error shape.
func requireNotFound(t *testing.T, r response) {
	t.Helper()
	requireError(t, r, http.StatusNotFound, "not_found")
}
