package api_test

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// TestEmptyQueryValueIsRefused: a query parameter given with an empty
// value (`kind=`) is present, and "" is outside every parameter's pattern,
// enum, format or type, so it answers 400 naming it. It used to be read as
// the parameter's absence: `?kind=` listed every kind and `?connection_id=`
// every connection (a typo'd or unfilled filter silently widened the
// query), and `DELETE ...?purge_signals=` disconnected keeping the Signals.
func TestEmptyQueryValueIsRefused(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	tenant, key := e.tenant("Acme")
	conn := e.connected(key)
	ctx := context.Background()
	require.NoError(t, e.schema.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, conn, "fake", []db.NewSignal{
			{Kind: "item.created", OccurredAt: time.Now(), DedupeKey: "a", Payload: []byte(`{}`)},
			{Kind: "item.updated", OccurredAt: time.Now(), DedupeKey: "b", Payload: []byte(`{}`)},
		})
		return err
	}))

	cases := []struct{ path, param string }{
		{"/api/v1/signals?kind=", "kind"},
		{"/api/v1/signals?source=", "source"},
		{"/api/v1/signals?connection_id=", "connection_id"},
		{"/api/v1/signals?since=", "since"},
		{"/api/v1/signals?until=", "until"},
		{"/api/v1/signals?wait=", "wait"},
		{"/api/v1/signals?include_retracted=", "include_retracted"},
		{"/api/v1/signals?limit=", "limit"},
		{"/api/v1/jobs?connection_id=", "connection_id"},
		{"/api/v1/jobs?provider=", "provider"},
		{"/api/v1/jobs?kind=", "kind"},
		{"/api/v1/jobs?status=", "status"},
		{"/api/v1/jobs?since=", "since"},
		{"/api/v1/connections?provider=", "provider"},
		{"/api/v1/connections?health=", "health"},
		{"/api/v1/api-keys?tenant_id=", "tenant_id"},
	}
	for _, tc := range cases {
		r := e.do(http.MethodGet, tc.path, key, "", "")
		er := requireError(t, r, http.StatusBadRequest, poblysh.EINVALID)
		require.Equal(t, map[string]string{tc.param: "must not be empty"}, er.Details, tc.path)
	}
	// Beside a valid filter, the empty one is still named.
	r := e.do(http.MethodGet, "/api/v1/signals?kind=item.created&connection_id=", key, "", "")
	er := requireError(t, r, http.StatusBadRequest, poblysh.EINVALID)
	require.Equal(t, map[string]string{"connection_id": "must not be empty"}, er.Details)

	// A filter given filters; cursor= is documented as the first page.
	r = e.do(http.MethodGet, "/api/v1/signals?kind=item.updated", key, "", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Contains(t, string(r.body), `"kind":"item.updated"`)
	require.NotContains(t, string(r.body), `"kind":"item.created"`)
	r = e.do(http.MethodGet, "/api/v1/signals?cursor=", key, "", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Contains(t, string(r.body), `"kind":"item.created"`)
	require.Contains(t, string(r.body), `"kind":"item.updated"`)

	// purge_signals= is refused before anything is deleted.
	r = e.do(http.MethodDelete, "/api/v1/connections/"+conn+"?purge_signals=", key, "", "")
	er = requireError(t, r, http.StatusBadRequest, poblysh.EINVALID)
	require.Equal(t, map[string]string{"purge_signals": "must not be empty"}, er.Details)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM connections WHERE id = $1 AND deleted_at IS NULL`, conn))
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/api/v1/connections/"+conn, key, "", "").status)
}

// TestSyncRefusesAConnectionIDOrModeOutsideTheSchema: SyncRequest's
// connection_id is a UUID ("every active connection of the provider when
// absent") and mode is incremental or backfill. {"connection_id": ""} used
// to be read as absent and synced (here: backfilled) every connection of
// the provider, and {"mode": ""} as incremental; a connection_id that is
// not a UUID answered 404 instead of the 422 a format violation is.
func TestSyncRefusesAConnectionIDOrModeOutsideTheSchema(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	tenant, key := e.tenant("Acme")
	first := e.connected(key)
	second := uuid.NewString()
	e.exec(`INSERT INTO connections (id, tenant_id, provider, external_account_id) VALUES ($1, $2, 'fake', 'another-account')`, second, tenant)
	e.temporal.take()

	const notUUID, badMode = "must be a UUID", "must be one of incremental, backfill"
	cases := []struct {
		body    string
		details map[string]string
	}{
		{`{"connection_id": "", "mode": "backfill"}`, map[string]string{"connection_id": notUUID}},
		{`{"connection_id": ""}`, map[string]string{"connection_id": notUUID}},
		{`{"connection_id": "not-a-uuid"}`, map[string]string{"connection_id": notUUID}},
		{`{"connection_id": "{` + first + `}"}`, map[string]string{"connection_id": notUUID}},
		{`{"connection_id": "` + first + `", "mode": ""}`, map[string]string{"mode": badMode}},
		{`{"mode": ""}`, map[string]string{"mode": badMode}},
		{`{"mode": "full"}`, map[string]string{"mode": badMode}},
		{`{"connection_id": "", "mode": ""}`, map[string]string{"connection_id": notUUID, "mode": badMode}},
	}
	for _, tc := range cases {
		r := e.do(http.MethodPost, "/api/v1/sync/fake", key, "application/json", tc.body)
		er := requireError(t, r, http.StatusUnprocessableEntity, poblysh.EVALIDATION)
		require.Equal(t, tc.details, er.Details, tc.body)
		require.Empty(t, e.temporal.take(), "%s: nothing is synced", tc.body)
	}

	// Absent or null: every active connection of the provider, incrementally.
	both := []string{"sync " + first + " incremental manual", "sync " + second + " incremental manual"}
	sort.Strings(both)
	for _, body := range []string{``, `{}`, `{"connection_id": null, "mode": null}`} {
		r := e.do(http.MethodPost, "/api/v1/sync/fake", key, "application/json", body)
		require.Equal(t, http.StatusAccepted, r.status, "%s: %s", body, r.body)
		calls := e.temporal.take()
		sort.Strings(calls)
		require.Equal(t, both, calls, body)
	}
	r := e.do(http.MethodPost, "/api/v1/sync/fake", key, "application/json", `{"connection_id": "`+strings.ToUpper(second)+`", "mode": "backfill"}`)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	require.Equal(t, []string{"sync " + second + " backfill manual"}, e.temporal.take(), "a UUID's case means nothing")
}

// TestAPIKeyTenantIDMustBeAUUIDWhenGiven: ApiKeyCreateRequest's tenant_id
// is a UUID a tenant key may omit. An empty one used to be read as absent
// (201 for the caller's tenant; 422 "required" with the admin key), and one
// that is not a UUID answered 404 instead of the 422 a format violation is.
func TestAPIKeyTenantIDMustBeAUUIDWhenGiven(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tenant, key := e.tenant("Acme")
	keys := func() int {
		return e.count(`SELECT count(*) FROM api_keys WHERE tenant_id = $1`, tenant)
	}
	before := keys()
	for _, k := range []string{key, adminKey} {
		for _, body := range []string{`{"name":"x","tenant_id":""}`, `{"name":"x","tenant_id":"nope"}`} {
			r := e.do(http.MethodPost, "/api/v1/api-keys", k, "application/json", body)
			er := requireError(t, r, http.StatusUnprocessableEntity, poblysh.EVALIDATION)
			require.Equal(t, map[string]string{"tenant_id": "must be a UUID"}, er.Details, body)
		}
	}
	require.Equal(t, before, keys(), "no key was made")

	// Absent or null, a tenant key's own tenant; the admin key must name one.
	for _, body := range []string{`{"name":"a"}`, `{"name":"b","tenant_id":null}`} {
		r := e.do(http.MethodPost, "/api/v1/api-keys", key, "application/json", body)
		require.Equal(t, http.StatusCreated, r.status, "%s: %s", body, r.body)
		require.Contains(t, string(r.body), `"tenant_id":"`+tenant+`"`)
		er := requireError(t, e.do(http.MethodPost, "/api/v1/api-keys", adminKey, "application/json", body),
			http.StatusUnprocessableEntity, poblysh.EVALIDATION)
		require.Equal(t, map[string]string{"tenant_id": "required"}, er.Details, body)
	}
	require.Equal(t, before+2, keys())
}
