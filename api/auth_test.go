package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/api"
	"github.com/poblysh/poblysh/config"
	"github.com/poblysh/poblysh/vault"
)

// The longest admin key config accepts authenticates: the API refuses a
// longer bearer key unread, so a key config took (openssl rand -hex 160)
// answered 401 on every admin route.
func TestLongestAdminKeyConfigAcceptsAuthenticates(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("0123456789abcdef", config.MaxAdminKey/16)
	require.Len(t, long, config.MaxAdminKey)
	c, err := config.Load(func(k string) string {
		return map[string]string{"DATABASE_URL": "postgres://app@127.0.0.1/app", "POBLYSH_ADMIN_KEY": long,
			"POBLYSH_CRYPTO_KEY": vault.GenerateKey()}[k]
	}, config.Needs{Admin: true, Crypto: true})
	require.NoError(t, err, "config takes the longest key")
	require.Equal(t, long, c.AdminKey)
	e := setup(t, func(d *api.Deps) { d.AdminKey = long })
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/api/v1/tenants", long, "", "").status)
	requireError(t, e.do(http.MethodGet, "/api/v1/tenants", long+"0", "", ""), http.StatusUnauthorized, "unauthorized")
}

func TestAuthRejectsBadKeys(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, key := e.tenant("Acme")
	unknownKey := "pbk_AAAAAAAA_" + strings.Repeat("B", 43)

	cases := []struct {
		name   string
		header string // the Authorization header; "" sends none
	}{
		{"no header", ""},
		{"wrong key", "Bearer not-a-key"},
		{"unknown tenant-shaped key", "Bearer " + unknownKey},
		{"tenant key with one character changed", "Bearer " + key[:len(key)-1] + flip(key[len(key)-1])},
		{"basic scheme", "Basic " + key},
		{"no scheme", key},
		{"scheme without key", "Bearer"},
		{"scheme with blank key", "Bearer    "},
		{"oversized key", "Bearer pbk_" + strings.Repeat("x", 300)},
		{"admin key with a suffix", "Bearer " + adminKey + "x"},
		{"admin key prefix", "Bearer " + adminKey[:len(adminKey)-1]},
	}
	var messages []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.header != "" {
				hdr = []string{"Authorization", tc.header}
			}
			for _, path := range []string{"/api/v1/providers", "/api/v1/api-keys", "/api/v1/connections"} {
				r := e.do(http.MethodGet, path, "", "", "", hdr...)
				er := requireError(t, r, http.StatusUnauthorized, "unauthorized")
				require.Equal(t, bearerChallenge, r.header.Get("WWW-Authenticate"))
				messages = append(messages, er.Message)
			}
			r := e.do(http.MethodPost, "/api/v1/tenants", "", "application/json", `{"name":"x"}`, hdr...)
			requireError(t, r, http.StatusUnauthorized, "unauthorized")
			require.Equal(t, bearerChallenge, r.header.Get("WWW-Authenticate"), "the admin key is sent the same way")
		})
	}
	// Every rejection reads the same: no oracle for which part was wrong.
	for _, m := range messages {
		require.Equal(t, messages[0], m)
	}
	require.Contains(t, messages[0], "Bearer")

	// The genuine key still works, with any casing of the scheme.
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/api/v1/providers", key, "", "").status)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/api/v1/providers", "", "", "", "Authorization", "bearer "+key).status)
}

// bearerChallenge is the WWW-Authenticate of every 401 of a route that
// takes a key, tenant or admin (RFC 9110 §11.6.1 asks a 401 for one; both
// kinds of key are sent as Authorization: Bearer).
const bearerChallenge = `Bearer realm="poblysh"`

// webhookChallenge is the WWW-Authenticate of a webhook's 401: a delivery
// authenticates with its provider's signature, not with a key.
const webhookChallenge = `Signature realm="poblysh-webhooks"`

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestKeyKindsAreSeparated: the admin key acts on no tenant, a tenant key
// administers nothing.
// Two Authorization headers are ambiguous: the server acted as the first,
// whatever the second said (a proxy adding its own, a client merging two
// configurations). Any request with more than one answers 401, as a bad
// key does, even when both carry the same valid key.
func TestTwoAuthorizationHeadersAreRefused(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, key := e.tenant("Acme")
	_, other := e.tenant("Globex")
	for _, pair := range [][2]string{{key, other}, {key, "not-a-key"}, {adminKey, key}, {key, key}} {
		req, err := http.NewRequest(http.MethodGet, e.url+"/api/v1/connections", nil)
		require.NoError(t, err)
		req.Header.Add("Authorization", "Bearer "+pair[0])
		req.Header.Add("Authorization", "Bearer "+pair[1])
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		requireError(t, response{status: resp.StatusCode, header: resp.Header, body: body}, http.StatusUnauthorized, "unauthorized")
	}
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/api/v1/connections", key, "", "").status)
}

func TestKeyKindsAreSeparated(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, key := e.tenant("Acme")

	tenantOnly := []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/connections", ""},
		{http.MethodGet, "/api/v1/connections/6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10", ""},
		{http.MethodPatch, "/api/v1/connections/6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10", `{}`},
		{http.MethodDelete, "/api/v1/connections/6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10", ""},
		{http.MethodPost, "/api/v1/connect/fake", `{}`},
		{http.MethodPost, "/api/v1/sync/fake", `{"mode":"incremental"}`},
		{http.MethodGet, "/api/v1/signals", ""},
		{http.MethodGet, "/api/v1/signals/6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10", ""},
	}
	for _, rt := range tenantOnly {
		r := e.do(rt.method, rt.path, adminKey, "application/json", rt.body)
		requireError(t, r, http.StatusUnauthorized, "unauthorized")
		require.Equal(t, bearerChallenge, r.header.Get("WWW-Authenticate"), rt.path)
	}
	adminOnly := []struct{ method, path, body string }{
		{http.MethodPost, "/api/v1/tenants", `{"name":"Evil"}`},
		{http.MethodGet, "/api/v1/tenants", ""},
		{http.MethodGet, "/api/v1/tenants/6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10", ""},
		{http.MethodPatch, "/api/v1/tenants/6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10", `{"sync_concurrency":1}`},
		{http.MethodDelete, "/api/v1/tenants/6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10?confirm=x", ""},
	}
	for _, rt := range adminOnly {
		r := e.do(rt.method, rt.path, key, "application/json", rt.body)
		requireError(t, r, http.StatusUnauthorized, "unauthorized")
		require.Equal(t, bearerChallenge, r.header.Get("WWW-Authenticate"), rt.path)
	}
	// Jobs: a tenant key reads its tenant's, the admin key the operator's
	// (tenant deletions); neither sees the other's.
	r := e.do(http.MethodGet, "/api/v1/jobs", adminKey, "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `{"jobs":[],"next_cursor":null}`, string(r.body))
	requireError(t, e.do(http.MethodGet, "/api/v1/jobs/6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10", adminKey, "", ""), http.StatusNotFound, "not_found")

	// Both kinds may read the provider catalog.
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/api/v1/providers", adminKey, "", "").status)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/api/v1/providers", key, "", "").status)
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// A sane incoming id is kept and quoted in errors.
	r := e.do(http.MethodGet, "/api/v1/providers", "", "", "", "X-Request-Id", "trace-123")
	require.Equal(t, "trace-123", requireError(t, r, http.StatusUnauthorized, "unauthorized").RequestID)
	// A hostile one (control characters, oversized) is replaced.
	for _, bad := range []string{"has space", strings.Repeat("a", 65), "tab\tinside"} {
		r := e.do(http.MethodGet, "/healthz", "", "", "", "X-Request-Id", bad)
		require.Equal(t, http.StatusOK, r.status)
		require.Regexp(t, requestIDFormat, r.header.Get("X-Request-Id"))
	}
	// Every response carries one, successes included, each different.
	a, b := e.do(http.MethodGet, "/healthz", "", "", ""), e.do(http.MethodGet, "/healthz", "", "", "")
	require.NotEmpty(t, a.header.Get("X-Request-Id"))
	require.NotEqual(t, a.header.Get("X-Request-Id"), b.header.Get("X-Request-Id"))
}

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, key := e.tenant("Acme")

	for _, path := range []string{"/nope", "/api/v1/nope", "/api/v2/providers", "/api/v1/providers/github/extra"} {
		r := e.do(http.MethodGet, path, key, "", "")
		er := requireError(t, r, http.StatusNotFound, "not_found")
		require.Contains(t, er.Message, path)
	}
	for _, m := range []struct{ method, path string }{
		{http.MethodDelete, "/api/v1/providers"},
		{http.MethodPut, "/api/v1/tenants"},
		{http.MethodPost, "/healthz"},
		{http.MethodGet, "/api/v1/webhooks/fake"},
		{http.MethodPut, "/api/v1/connections/6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10"},
	} {
		r := e.do(m.method, m.path, key, "", "")
		er := requireError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
		require.Contains(t, er.Message, m.method)
	}
}

func TestRequestBodies(t *testing.T) {
	t.Parallel()
	e := setup(t, func(d *api.Deps) { d.WebhookMaxBytes = 8192 }) // MaxBodyBytes is 4096
	_, key := e.tenant("Acme")
	big := `{"name":"` + strings.Repeat("a", 5000) + `"}`

	t.Run("over the limit", func(t *testing.T) {
		for _, rt := range []struct{ path, key string }{{"/api/v1/tenants", adminKey}, {"/api/v1/api-keys", key}} {
			r := e.do(http.MethodPost, rt.path, rt.key, "application/json", big)
			er := requireError(t, r, http.StatusRequestEntityTooLarge, "payload_too_large")
			require.Contains(t, er.Message, "4096")
		}
		// The webhook limit is separate.
		r := e.do(http.MethodPost, "/api/v1/webhooks/fake", "", "application/json", strings.Repeat(" ", 8193))
		er := requireError(t, r, http.StatusRequestEntityTooLarge, "payload_too_large")
		require.Contains(t, er.Message, "8192")
	})
	t.Run("not JSON", func(t *testing.T) {
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "not a media type"} {
			r := e.do(http.MethodPost, "/api/v1/tenants", adminKey, ct, `{"name":"x"}`)
			requireError(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
		}
		// Parameters and +json types are fine.
		r := e.do(http.MethodPost, "/api/v1/tenants", adminKey, "application/json; charset=utf-8", `{"name":"ok"}`)
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
		r = e.do(http.MethodPost, "/api/v1/api-keys", key, "application/vnd.poblysh+json", `{"name":"ok"}`)
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	})
	t.Run("malformed", func(t *testing.T) {
		cases := []struct {
			body, detail string
		}{
			{`{"name":"x"`, "unexpected EOF"},
			{`{"name": x}`, "invalid character"},
			{`{"name":"x","nmae":"typo"}`, `unknown field "nmae"`},
			{`["name"]`, "the body must be a JSON object"},
			{`"name"`, "the body must be a JSON object"},
			{`null`, "the body must be a JSON object"},
			// encoding/json matches names case-insensitively; the spec's
			// names are exact.
			{`{"NAME":"x"}`, `unknown field "NAME"`},
			{`{"Name":"x"}`, `unknown field "Name"`},
		}
		for _, tc := range cases {
			r := e.do(http.MethodPost, "/api/v1/tenants", adminKey, "application/json", tc.body)
			er := requireError(t, r, http.StatusBadRequest, "invalid_request")
			require.Contains(t, er.Details["body"], tc.detail, tc.body)
		}
		// Nothing may follow the object: another value, or a stray ']' or
		// '}' (json.Decoder.More does not see those), and nothing is made.
		for _, body := range []string{`{"name":"a"} {"name":"b"}`, `{"name":"a"}]not json`, `{"name":"a"}}}garbage`, `{"name":"a"} x`} {
			r := e.do(http.MethodPost, "/api/v1/tenants", adminKey, "application/json", body)
			er := requireError(t, r, http.StatusBadRequest, "invalid_request")
			require.Equal(t, "request body must hold a single JSON object", er.Message, body)
		}
		r := e.do(http.MethodGet, "/api/v1/tenants", adminKey, "", "")
		require.NotContains(t, string(r.body), `"name":"a"`, "no tenant was made")
		// Trailing whitespace is fine.
		r = e.do(http.MethodPost, "/api/v1/tenants", adminKey, "application/json", "{\"name\":\"ws\"} \n\t")
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
		r = e.do(http.MethodPost, "/api/v1/tenants", adminKey, "application/json", ``)
		er := requireError(t, r, http.StatusBadRequest, "invalid_request")
		require.Contains(t, er.Message, "required")
	})
	t.Run("wrong JSON types", func(t *testing.T) {
		// Well-formed JSON that breaks the schema is 422 validation_failed
		// naming the field, whichever operation and however the field is
		// read: {"name":5} answered 400 and {"sync_concurrency":"5"} 422.
		tenant, _ := e.tenant("Typed")
		cases := []struct{ method, path, key, body, field, problem string }{
			{http.MethodPost, "/api/v1/tenants", adminKey, `{"name":5}`, "name", "must be a string"},
			{http.MethodPatch, "/api/v1/tenants/" + tenant, adminKey, `{"name":["x"]}`, "name", "must be a string"},
			{http.MethodPatch, "/api/v1/tenants/" + tenant, adminKey, `{"sync_concurrency":"5"}`, "sync_concurrency", "must be an integer from 1 to 1000, or null for the default"},
			{http.MethodPost, "/api/v1/api-keys", key, `{"name":true}`, "name", "must be a string"},
			{http.MethodPost, "/api/v1/api-keys", adminKey, `{"name":"k","tenant_id":{}}`, "tenant_id", "must be a string"},
			{http.MethodPost, "/api/v1/sync/fake", key, `{"mode":1}`, "mode", "must be a string"},
			{http.MethodPost, "/api/v1/connect/fake", key, `{"redirect_uri":false}`, "redirect_uri", "must be a string"},
			{http.MethodPost, "/api/v1/connections/6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10/reconnect", key, `{"redirect_uri":[]}`, "redirect_uri", "must be a string"},
			{http.MethodPatch, "/api/v1/connections/6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10", key, `{"paused":"yes"}`, "paused", "must be true or false"},
		}
		for _, tc := range cases {
			r := e.do(tc.method, tc.path, tc.key, "application/json", tc.body)
			er := requireError(t, r, http.StatusUnprocessableEntity, "validation_failed")
			require.Equal(t, map[string]string{tc.field: tc.problem}, er.Details, "%s %s", tc.path, tc.body)
		}
		// The provider's rules for a config are its schema: a config they
		// refuse is 422 too, each field named.
		r := e.do(http.MethodPost, "/api/v1/connect/fake", key, "application/json", `{"config":{"streams":["NOT OK"]}}`)
		er := requireError(t, r, http.StatusUnprocessableEntity, "validation_failed")
		require.Contains(t, er.Details, "config.streams")
	})
	t.Run("duplicate keys", func(t *testing.T) {
		// encoding/json keeps the last of two equal keys: {"name":"x",
		// "name":"y"} created "y", and a client (or a proxy that merged two
		// bodies) meaning "x" was never told. Refused at any depth, before
		// anything is made.
		cases := []struct{ method, path, key, body, detail string }{
			{http.MethodPost, "/api/v1/tenants", adminKey, `{"name":"first","name":"second"}`, `key "name" is given more than once`},
			{http.MethodPost, "/api/v1/tenants", adminKey, `{"name":"first","nam\u0065":"second"}`, `key "name" is given more than once`},
			{http.MethodPost, "/api/v1/api-keys", key, `{"name":"k","tenant_id":"a","tenant_id":"b"}`, `key "tenant_id" is given more than once`},
			{http.MethodPost, "/api/v1/sync/fake", key, `{"mode":"backfill","mode":"incremental"}`, `key "mode" is given more than once`},
			{http.MethodPost, "/api/v1/connect/fake", key, `{"config":{"streams":["a"],"streams":["b"]}}`, `key "config.streams" is given more than once`},
			{http.MethodPost, "/api/v1/connect/fake", key, `{"config":{"x":[{"a":1},{"b":1,"b":2}]}}`, `key "config.x[1].b" is given more than once`},
		}
		for _, tc := range cases {
			r := e.do(tc.method, tc.path, tc.key, "application/json", tc.body)
			er := requireError(t, r, http.StatusBadRequest, "invalid_request")
			require.Equal(t, tc.detail, er.Details["body"], tc.body)
		}
		r := e.do(http.MethodGet, "/api/v1/tenants", adminKey, "", "")
		require.NotContains(t, string(r.body), "second", "no tenant was made")
		// Equal keys in different objects are not duplicates.
		r = e.do(http.MethodPost, "/api/v1/connect/fake", key, "application/json", `{"config":{"x":[{"a":1},{"a":2}],"a":3}}`)
		require.NotContains(t, string(r.body), "more than once")
	})
	t.Run("schema violations", func(t *testing.T) {
		for _, body := range []string{`{}`, `{"name":""}`, `{"name":"   "}`, `{"name":"` + strings.Repeat("é", 201) + `"}`} {
			r := e.do(http.MethodPost, "/api/v1/tenants", adminKey, "application/json", body)
			er := requireError(t, r, http.StatusUnprocessableEntity, "validation_failed")
			require.Equal(t, "must be 1 to 200 characters", er.Details["name"])
		}
	})
}

func TestQueryParameters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, key := e.tenant("Acme")
	cases := []struct {
		path string
		want map[string]string // field -> problem fragment
	}{
		{"/api/v1/api-keys?limit=0", map[string]string{"limit": "between 1 and 1000"}},
		{"/api/v1/api-keys?limit=abc&tenant_id=nope", map[string]string{"limit": "between 1 and 1000", "tenant_id": "UUID"}},
		{"/api/v1/api-keys?cursor=garbage", map[string]string{"cursor": "not a cursor"}},
		{"/api/v1/signals?limit=1001&since=yesterday&connection_id=1", map[string]string{
			"limit": "between 1 and 1000", "since": "RFC 3339", "connection_id": "UUID"}},
		{"/api/v1/signals?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", map[string]string{"until": "after since"}},
		// time.Parse takes these; RFC 3339's offsets are 00–23 hours, 00–59 minutes.
		{"/api/v1/signals?since=2026-01-01T00:00:00%2B24:00&until=2026-01-02T00:00:00-12:60", map[string]string{"since": "RFC 3339", "until": "RFC 3339"}},
		{"/api/v1/signals?cursor=garbage", map[string]string{"cursor": "not a feed cursor"}},
		{"/api/v1/signals?cursor=" + strings.Repeat("a", 513), map[string]string{"cursor": "at most 512"}},
		{"/api/v1/connections?health=sick", map[string]string{"health": "must be one of"}},
		// Values outside the spec's pattern name nothing: 400, not an empty list.
		{"/api/v1/signals?kind=NOT-A-KIND&source=Not_A_Provider!", map[string]string{"kind": "a Signal kind", "source": "a provider name"}},
		{"/api/v1/connections?provider=UPPER", map[string]string{"provider": "a provider name"}},
		{"/api/v1/jobs?provider=x", map[string]string{"provider": "a provider name"}},
		{"/api/v1/jobs?status=done&kind=full&since=x", map[string]string{"status": "must be one of", "kind": "must be one of", "since": "RFC 3339"}},
	}
	for _, tc := range cases {
		r := e.do(http.MethodGet, tc.path, key, "", "")
		er := requireError(t, r, http.StatusBadRequest, "invalid_request")
		require.Len(t, er.Details, len(tc.want), "%s: every problem is reported at once: %v", tc.path, er.Details)
		for field, frag := range tc.want {
			require.Contains(t, er.Details[field], frag, "%s: %s", tc.path, field)
		}
	}
	// Valid parameters on the same routes answer 200.
	for _, path := range []string{"/api/v1/api-keys?limit=1", "/api/v1/signals?limit=1000", "/api/v1/connections?health=healthy", "/api/v1/jobs?status=failed"} {
		r := e.do(http.MethodGet, path, key, "", "")
		require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
	}
}
