package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// TestTimeBoundsBelowAMicrosecond: since and until are RFC 3339 date-times
// to the nanosecond, and the range is since <= timestamp < until
// (swagger.yml), while Postgres keeps microseconds and pgx dropped the
// nanoseconds of a bound as it sent it: since=T+500ns listed a Signal at T
// (before since), until=T+500ns left it out (before until), and a job
// created at T was listed by since=T+500ns. Each bound now stands for the
// first microsecond at or after it.
func TestTimeBoundsBelowAMicrosecond(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tenant, key := e.tenant("Acme")
	ctx := context.Background()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var created time.Time
	require.NoError(t, e.schema.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "acct"})
		if err != nil {
			return err
		}
		if _, err := tx.InsertSignals(ctx, c.ID, "fake", []db.NewSignal{{Kind: "item.created", OccurredAt: at, DedupeKey: "k", Payload: []byte(`{"title":"t"}`)}}); err != nil {
			return err
		}
		j, err := tx.EnsureJob(ctx, db.Job{ID: uuid.NewString(), ConnectionID: c.ID, Provider: "fake",
			Kind: poblysh.JobBackfill, Trigger: poblysh.TriggerManual, WorkflowID: "wf-" + c.ID})
		created = j.CreatedAt
		return err
	}))
	require.Equal(t, created, created.Truncate(time.Microsecond), "Postgres keeps microseconds")

	count := func(path, field string, bounds ...string) int {
		t.Helper()
		v := url.Values{}
		for i := 0; i+1 < len(bounds); i += 2 {
			v.Set(bounds[i], bounds[i+1])
		}
		r := e.do(http.MethodGet, path+"?"+v.Encode(), key, "", "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		var p map[string][]json.RawMessage
		require.NoError(t, json.Unmarshal(r.body, &p))
		return len(p[field])
	}
	signals := func(bounds ...string) int { return count("/api/v1/signals", "signals", bounds...) }
	ns := func(t time.Time, d time.Duration) string { return t.Add(d).Format(time.RFC3339Nano) }

	// The Signal at T: at or after since, before until.
	require.Equal(t, 1, signals("since", ns(at, 0)), "since=T lists the Signal at T")
	require.Equal(t, 0, signals("since", ns(at, 1)), "since=T+1ns: the Signal at T is before since")
	require.Equal(t, 0, signals("since", ns(at, 500)), "since=T+500ns: the Signal at T is before since")
	require.Equal(t, 0, signals("since", ns(at, 999)), "since=T+999ns: the Signal at T is before since")
	require.Equal(t, 0, signals("until", ns(at, 0)), "until=T leaves the Signal at T out")
	require.Equal(t, 1, signals("until", ns(at, 1)), "until=T+1ns: the Signal at T is before until")
	require.Equal(t, 1, signals("until", ns(at, 500)), "until=T+500ns: the Signal at T is before until")
	require.Equal(t, 1, signals("since", ns(at, -500), "until", ns(at, 500)), "T-500ns <= T < T+500ns")
	require.Equal(t, 0, signals("since", ns(at, 100), "until", ns(at, 200)), "a range within one microsecond after T is valid and holds nothing")
	require.Equal(t, 0, signals("since", ns(at, -999), "until", ns(at, -1)), "a range within the microsecond before T holds nothing")
	// The last date-time RFC 3339 writes rounds up past year 9999, where
	// nothing is stored.
	require.Equal(t, 0, signals("since", "9999-12-31T23:59:59.9999999Z"))
	require.Equal(t, 1, signals("until", "9999-12-31T23:59:59.9999999Z"))
	r := e.do(http.MethodGet, "/api/v1/signals?"+url.Values{"since": {ns(at, 500)}, "until": {ns(at, 500)}}.Encode(), key, "", "")
	requireError(t, r, http.StatusBadRequest, "invalid_request")

	// The job created at C: since is the only bound of jobs.
	jobs := func(since string) int { return count("/api/v1/jobs", "jobs", "since", since) }
	require.Equal(t, 1, jobs(ns(created, 0)), "since=C lists the job created at C")
	require.Equal(t, 0, jobs(ns(created, 500)), "since=C+500ns: the job created at C is before since")
	require.Equal(t, 1, jobs(ns(created, -500)), "since=C-500ns lists the job created at C")
}

// TestTimeBoundsInEveryRFC3339Form: since and until take every RFC 3339
// date-time. "T" and "Z" may be lower case (RFC 3339 section 5.6, note):
// they were refused (400). A leap second (second 60, in the last minute of
// a month in UTC, section 5.7) is the instant after the minute's 59th
// second, as Postgres reads it: it was refused too. Second 60 anywhere
// else is not a date-time.
func TestTimeBoundsInEveryRFC3339Form(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tenant, key := e.tenant("Acme")
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, e.schema.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "acct"})
		if err != nil {
			return err
		}
		_, err = tx.InsertSignals(ctx, c.ID, "fake", []db.NewSignal{{Kind: "item.created", OccurredAt: at, DedupeKey: "k", Payload: []byte(`{"title":"t"}`)}})
		return err
	}))
	get := func(path string, bounds ...string) response {
		t.Helper()
		v := url.Values{}
		for i := 0; i+1 < len(bounds); i += 2 {
			v.Set(bounds[i], bounds[i+1])
		}
		return e.do(http.MethodGet, path+"?"+v.Encode(), key, "", "")
	}
	signals := func(bounds ...string) int {
		t.Helper()
		r := get("/api/v1/signals", bounds...)
		require.Equal(t, http.StatusOK, r.status, "%v: %s", bounds, r.body)
		var p map[string][]json.RawMessage
		require.NoError(t, json.Unmarshal(r.body, &p))
		return len(p["signals"])
	}

	// The Signal at T = 2026-01-01T00:00:00Z.
	require.Equal(t, 1, signals("since", "2026-01-01t00:00:00z"), "since=T, lower case")
	require.Equal(t, 0, signals("until", "2026-01-01t00:00:00z"), "until=T, lower case")
	require.Equal(t, 1, signals("since", "2025-12-31t19:00:00-05:00", "until", "2026-01-01t00:00:00.000001z"))
	require.Equal(t, 1, signals("since", "2025-12-31T23:59:60Z"), "the leap second before T is T")
	require.Equal(t, 1, signals("since", "2026-01-01T05:29:60+05:30"), "the same leap second, at another offset")
	require.Equal(t, 0, signals("since", "2025-12-31T23:59:60.5Z"), "half a second past it is after T")
	require.Equal(t, 0, signals("until", "2025-12-31T23:59:60Z"), "until the leap second leaves T out")
	require.Equal(t, 1, signals("until", "2025-12-31t23:59:60.5z"))
	r := get("/api/v1/jobs", "since", "2026-01-01t00:00:00z")
	require.Equal(t, http.StatusOK, r.status, "jobs' since likewise: %s", r.body)

	for _, bad := range []string{
		"2025-12-31T23:58:60Z",      // not the month's last minute
		"2025-06-15T23:59:60Z",      // not the month's last day
		"2025-12-31T23:59:60+01:00", // 22:59:60 in UTC
		"2025-12-31T23:59:61Z",
		"2026-01-01 00:00:00Z", // a space is not RFC 3339's separator
		"2026-01-01x00:00:00Z",
		"2026-01-01T00:00:00",
	} {
		r := get("/api/v1/signals", "since", bad)
		er := requireError(t, r, http.StatusBadRequest, "invalid_request")
		require.Contains(t, er.Details["since"], "RFC 3339", bad)
	}
}
