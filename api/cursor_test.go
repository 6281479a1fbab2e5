package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// TestListsRefuseForgedCursors: a forged or garbled cursor on any list
// endpoint is a 400 invalid_request naming the cursor, never a 500; the
// cursors the API hands out keep working.
func TestListsRefuseForgedCursors(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tenantID, key := e.tenant("cursors")
	ctx := context.Background()
	require.NoError(t, e.schema.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
		if err := tx.LockSignals(ctx); err != nil { // it writes other rows before its Signals
			return err
		}
		if _, _, err := tx.CreateAPIKey(ctx, "second"); err != nil {
			return err
		}
		for i := range 2 {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: fmt.Sprintf("acct-%d", i)})
			if err != nil {
				return err
			}
			if _, err := tx.EnsureJob(ctx, db.Job{ID: uuid.NewString(), ConnectionID: c.ID, Provider: "fake",
				Kind: poblysh.JobBackfill, Trigger: poblysh.TriggerManual, WorkflowID: "wf-" + c.ID}); err != nil {
				return err
			}
			if _, err := tx.InsertSignals(ctx, c.ID, "fake", []db.NewSignal{{Kind: "item.created", OccurredAt: c.CreatedAt,
				DedupeKey: fmt.Sprintf("k%d", i), Payload: []byte(`{"title":"t"}`)}}); err != nil {
				return err
			}
		}
		return nil
	}))

	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	garbage := map[string]string{
		"not base64":           "!!!",
		"a NUL byte":           "\x00",
		"JSON null":            b64("null"),
		"empty object":         b64("{}"),
		"id not a UUID":        b64(`{"t":"2026-01-01T00:00:00Z","i":"not-a-uuid"}`),
		"id almost a UUID":     b64(`{"t":"2026-01-01T00:00:00Z","i":"00000000-0000-0000-0000-00000000000g"}`),
		"SQL in the id":        b64(`{"t":"2026-01-01T00:00:00Z","i":"x'); DROP TABLE signals; --"}`),
		"time not a time":      b64(`{"t":"yesterday","i":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}`),
		"feed txid not number": b64("f1:abc:1"),
		"feed seq not number":  b64("f1:1:x"),
		"feed wrong version":   b64("f9:1:1"),
		"feed txid negative":   b64("f1:-1:1"),
	}
	lists := []struct{ path, field string }{
		{"/api/v1/connections", "connections"},
		{"/api/v1/jobs", "jobs"},
		{"/api/v1/api-keys", "api_keys"},
		{"/api/v1/signals", "signals"},                                    // the feed
		{"/api/v1/signals?since=2000-01-01T00:00:00Z", "signals"},         // by time
		{"/api/v1/signals?until=2100-01-01T00:00:00Z", "signals"},         // by time
		{"/api/v1/jobs?kind=backfill&since=2000-01-01T00:00:00Z", "jobs"}, // with filters
	}
	with := func(path, cursor string) string {
		sep := "?"
		if u, _ := url.Parse(path); u.RawQuery != "" {
			sep = "&"
		}
		return path + sep + "limit=1&cursor=" + url.QueryEscape(cursor)
	}
	for _, l := range lists {
		// The API's own cursor works.
		r := e.do(http.MethodGet, with(l.path, ""), key, "", "")
		require.Equal(t, http.StatusOK, r.status, "%s: %s", l.path, r.body)
		var page map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(r.body, &page))
		var next *string
		require.NoError(t, json.Unmarshal(page["next_cursor"], &next))
		require.NotNil(t, next, "%s has a second page", l.path)
		r = e.do(http.MethodGet, with(l.path, *next), key, "", "")
		require.Equal(t, http.StatusOK, r.status, "%s with its own cursor: %s", l.path, r.body)
		require.NoError(t, json.Unmarshal(r.body, &page))
		var items []json.RawMessage
		require.NoError(t, json.Unmarshal(page[l.field], &items))
		require.Len(t, items, 1, "%s: the second page", l.path)

		for name, c := range garbage {
			r := e.do(http.MethodGet, with(l.path, c), key, "", "")
			er := requireError(t, r, http.StatusBadRequest, "invalid_request")
			require.Contains(t, er.Details, "cursor", "%s, %s: %s", l.path, name, r.body)
		}
	}
	require.NotContains(t, e.logs.String(), "invalid input syntax", "no cursor reached Postgres unchecked")
}
