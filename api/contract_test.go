package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/loads"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// TestUnknownQueryParametersAreRefused: every operation answers 400 naming
// the query parameters swagger.yml does not declare for it (a typo such as
// knid= never silently returns everything), before authentication; the
// OAuth callback and webhooks take whatever the provider sends, and the
// start page and its click ignore what they do not take.
func TestUnknownQueryParametersAreRefused(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, key := e.tenant("Acme")
	id := "6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10"
	cases := []struct{ method, path, key string }{
		{http.MethodGet, "/api/v1/signals?knid=pull_request.opened", key},
		{http.MethodGet, "/api/v1/signals/" + id + "?knid=x", key},
		{http.MethodGet, "/api/v1/jobs?knid=x", key},
		{http.MethodGet, "/api/v1/jobs/" + id + "?knid=x", key},
		{http.MethodGet, "/api/v1/connections?knid=x", key},
		{http.MethodGet, "/api/v1/connections/" + id + "?knid=x", key},
		{http.MethodDelete, "/api/v1/connections/" + id + "?knid=x", key},
		{http.MethodGet, "/api/v1/providers?knid=x", key},
		{http.MethodGet, "/api/v1/api-keys?knid=x", key},
		{http.MethodPost, "/api/v1/tenants?knid=x", adminKey},
		{http.MethodPost, "/api/v1/sync/fake?knid=x", key},
		{http.MethodGet, "/healthz?knid=x", ""},
		{http.MethodGet, "/readyz?knid=x", ""},
		{http.MethodGet, "/api/v1/signals?knid=x", ""}, // before authentication
	}
	for _, c := range cases {
		r := e.do(c.method, c.path, c.key, "application/json", "")
		er := requireError(t, r, http.StatusBadRequest, "invalid_request")
		require.Contains(t, er.Message, "knid", "%s %s", c.method, c.path)
		require.Contains(t, er.Details, "knid", "%s %s", c.method, c.path)
	}
	// Every operation of the spec, but the two that take the provider's
	// query string, refuses it too.
	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	require.NoError(t, err)
	checked := 0
	for method, byPath := range doc.Analyzer.Operations() {
		for p, op := range byPath {
			if pass, _ := op.Extensions.GetBool("x-query-passthrough"); pass {
				require.Contains(t, []string{"completeConnect", "receiveWebhook"}, op.ID, "only provider-facing operations pass their query through")
				continue
			}
			if lax, _ := op.Extensions.GetBool("x-query-ignore-unknown"); lax {
				require.Contains(t, []string{"openConnectPage", "approveConnect"}, op.ID, "only the mailed start link ignores added parameters")
				continue
			}
			path := strings.NewReplacer("{provider}", "fake", "{id}", id).Replace(p) + "?knid=x"
			r := e.do(strings.ToUpper(method), path, key, "application/json", "{}")
			er := requireError(t, r, http.StatusBadRequest, "invalid_request")
			require.Contains(t, er.Details, "knid", "%s %s (%s)", method, path, op.ID)
			checked++
		}
	}
	require.GreaterOrEqual(t, checked, 20)

	// Every unknown one is named, the declared ones are not.
	r := e.do(http.MethodGet, "/api/v1/signals?kind=message.posted&knid=y&sorce=z", key, "", "")
	er := requireError(t, r, http.StatusBadRequest, "invalid_request")
	require.Equal(t, []string{"knid", "sorce"}, keys(er.Details))
	require.Contains(t, er.Details["knid"], "connection_id, cursor, include_retracted, kind, limit, since, source, until")

	// Provider-owned query strings pass: the callback and webhooks are
	// judged by their handlers, not refused for an extra parameter.
	r = e.do(http.MethodGet, "/api/v1/connect/fake/callback?state=nope&code=c&iss=x&authuser=0", "", "", "")
	require.Equal(t, http.StatusBadRequest, r.status)
	require.NotContains(t, string(r.body), "unknown query parameter")
	r = e.do(http.MethodPost, "/api/v1/webhooks/fake?token=x&extra=1", "", "application/json", "{}")
	require.NotContains(t, string(r.body), "unknown query parameter")
	// The start link is mailed, and mail tools add parameters: the page
	// and its click judge the session and ignore the rest.
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		er := requireError(t, e.do(method, "/api/v1/connect/fake/start?session=s&knid=x&utm_source=mail", "", "", ""), http.StatusBadRequest, poblysh.EINVALID)
		require.NotContains(t, er.Message, "knid", method)
		require.Empty(t, er.Details, method)
	}
	// Declared parameters still work.
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/api/v1/signals?kind=message.posted&limit=5", key, "", "").status)

	// A parameter given twice is refused, whichever value is bad (or
	// none): reading the first would ignore the others without a word.
	for _, path := range []string{"/api/v1/signals?since=2026-01-01T00:00:00Z&since=garbage", "/api/v1/connections?limit=5&limit=abc",
		"/api/v1/jobs?kind=backfill&kind=backfill"} {
		r := e.do(http.MethodGet, path, key, "", "")
		er := requireError(t, r, http.StatusBadRequest, "invalid_request")
		require.Contains(t, er.Message, "given more than once", path)
		require.Len(t, er.Details, 1, path)
		for _, v := range er.Details {
			require.Equal(t, "given 2 times; this parameter takes one value", v)
		}
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestCursorIsBoundToItsFilters: a cursor passed back with other filters
// than the request that returned it answers 400; with the same filters
// (and any limit) it pages on.
func TestCursorIsBoundToItsFilters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tenantID, key := e.tenant("Acme")
	ctx := context.Background()
	require.NoError(t, e.schema.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
		if err := tx.LockSignals(ctx); err != nil {
			return err
		}
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "acct"})
		if err != nil {
			return err
		}
		var sigs []db.NewSignal
		for i := range 4 {
			sigs = append(sigs, db.NewSignal{Kind: "item.created", OccurredAt: time.Now().Add(-time.Duration(i) * time.Hour),
				DedupeKey: fmt.Sprintf("k%d", i), Payload: []byte(`{"title":"t"}`)})
		}
		_, err = tx.InsertSignals(ctx, c.ID, "fake", sigs)
		return err
	}))
	next := func(path string) string {
		t.Helper()
		r := e.do(http.MethodGet, path, key, "", "")
		require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
		var page struct {
			Next *string `json:"next_cursor"`
		}
		require.NoError(t, json.Unmarshal(r.body, &page))
		require.NotNil(t, page.Next, path)
		return url.QueryEscape(*page.Next)
	}
	for _, l := range []struct{ first, same, other string }{
		{"/api/v1/signals?kind=item.created&limit=1", "/api/v1/signals?limit=2&kind=item.created", "/api/v1/signals?kind=other&limit=1"},
		{"/api/v1/signals?limit=1", "/api/v1/signals?limit=3", "/api/v1/signals?kind=item.created&limit=1"},
		{"/api/v1/signals?since=2000-01-01T00:00:00Z&limit=1", "/api/v1/signals?since=2000-01-01T00:00:00Z&limit=1", "/api/v1/signals?limit=1"},
		{"/api/v1/signals?source=fake&kind=item.created&limit=1", "/api/v1/signals?kind=item.created&source=fake&limit=1", "/api/v1/signals?source=fake&kind=item.created&connection_id=6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10&limit=1"},
	} {
		c := next(l.first)
		r := e.do(http.MethodGet, l.same+"&cursor="+c, key, "", "")
		require.Equal(t, http.StatusOK, r.status, "%s: %s", l.same, r.body)
		r = e.do(http.MethodGet, l.other+"&cursor="+c, key, "", "")
		er := requireError(t, r, http.StatusBadRequest, "invalid_request")
		require.Contains(t, er.Details["cursor"], "other filters", "%s after %s", l.other, l.first)
	}
}

// TestMethodNotAllowedNamesAllowed: a 405 carries an Allow header listing
// the methods the path is served with.
func TestMethodNotAllowedNamesAllowed(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for path, allow := range map[string]string{
		"/api/v1/signals": "GET, HEAD",
		"/api/v1/connections/6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10": "GET, HEAD, PATCH, DELETE",
		"/api/v1/connect/fake/start":                               "GET, POST", // a step of the OAuth flow: no HEAD
		"/healthz":                                                 "GET, HEAD",
	} {
		r := e.do(http.MethodPut, path, "", "", "")
		requireError(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
		require.Equal(t, allow, r.header.Get("Allow"), path)
	}
}

// TestHeadWhereGetIsSafe: HEAD answers as GET does, without a body (load
// balancers probe /healthz with it); the OAuth flow's GET steps act, so
// they refuse it.
func TestHeadWhereGetIsSafe(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, key := e.tenant("Acme")
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusOK, "/api/v1/providers": http.StatusOK,
		"/api/v1/signals?limit=1": http.StatusOK, "/api/v1/connections/6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10": http.StatusNotFound,
		"/api/v1/connect/fake/callback?state=x&code=y": http.StatusMethodNotAllowed, "/swagger.json": http.StatusOK} {
		r := e.do(http.MethodHead, path, key, "", "")
		require.Equal(t, want, r.status, path)
		require.Empty(t, r.body, path)
	}
	get := e.do(http.MethodGet, "/api/v1/providers", key, "", "")
	head := e.do(http.MethodHead, "/api/v1/providers", key, "", "")
	require.Equal(t, get.header.Get("Content-Type"), head.header.Get("Content-Type"))
	require.Equal(t, http.StatusUnauthorized, e.do(http.MethodHead, "/api/v1/providers", "", "", "").status, "HEAD is authenticated as GET")
}

// TestUncleanPathsAreNotRoutes: a path with an empty or dot segment is
// 404 in the error shape; it was a 301 to the cleaned path, which clients
// follow with a GET even after a POST.
func TestUncleanPathsAreNotRoutes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, key := e.tenant("Acme")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1//connections"},
		{http.MethodPost, "/api/v1/tenants/../api-keys"},
		{http.MethodGet, "/api/v1/./providers"},
	} {
		req, err := http.NewRequest(tc.method, e.url+tc.path, strings.NewReader(`{"name":"x"}`))
		require.NoError(t, err)
		req.URL.Opaque = tc.path // as sent, not cleaned by the client
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s: %s", tc.method, tc.path, body)
		require.Contains(t, string(body), `"code":"not_found"`)
	}
}

// TestDocsSlashRedirects: /docs/ redirects to the Swagger UI at /docs.
func TestDocsSlashRedirects(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(e.url + "/docs/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	require.Equal(t, "/docs", resp.Header.Get("Location"))
	resp, err = http.Get(e.url + "/docs/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
}

// requestIDFormat is a ULID, the format of the request ids the server makes.
const requestIDFormat = `^[0-7][0-9A-HJKMNP-TV-Z]{25}$`

// TestErrorExamplesQuoteRealRequestIDs: the generated ids are ULIDs that
// sort by time, and every request_id in swagger.yml's examples has that
// format.
func TestErrorExamplesQuoteRealRequestIDs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	first := e.do(http.MethodGet, "/api/v1/signals", "", "", "")
	time.Sleep(2 * time.Millisecond)
	second := e.do(http.MethodGet, "/api/v1/signals", "", "", "")
	a, b := requireError(t, first, 401, "unauthorized").RequestID, requireError(t, second, 401, "unauthorized").RequestID
	require.Regexp(t, requestIDFormat, a)
	require.Less(t, a, b, "request ids sort by time")

	ids := regexp.MustCompile(`request_id:[ \t]*"?([^"\s]+)`).FindAllStringSubmatch(string(poblysh.SwaggerYAML), -1)
	require.NotEmpty(t, ids)
	for _, m := range ids {
		require.Regexp(t, requestIDFormat, m[1], "swagger.yml quotes a request_id the server would never make")
	}
}

// TestTextPostgresCannotHoldIsRefused: a NUL or invalid UTF-8 in a text
// query parameter, and a NUL (\u0000) in a JSON body's string, made the
// statement fail and the API answer 500. They are the client's mistake:
// 400 naming the parameter (or the body), nothing stored. An escaped
// backslash before u0000 is text and is kept.
func TestTextPostgresCannotHoldIsRefused(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, key := e.tenant("Acme")
	for _, c := range []struct{ path, param string }{
		{"/api/v1/signals?kind=a%00b", "kind"},
		{"/api/v1/signals?source=%ff", "source"},
		{"/api/v1/jobs?provider=%ff%fe", "provider"},
		{"/api/v1/connections?provider=%00", "provider"},
	} {
		r := e.do(http.MethodGet, c.path, key, "", "")
		er := requireError(t, r, http.StatusBadRequest, poblysh.EINVALID)
		require.Equal(t, "must be UTF-8 text without NUL characters", er.Details[c.param], c.path)
	}
	tenants := func() int {
		var n int
		require.NoError(t, e.schema.DB.WithSystem(context.Background(), func(tx *db.Tx) error {
			return tx.GetContext(context.Background(), &n, `SELECT count(*) FROM tenants`)
		}))
		return n
	}
	before := tenants()
	for _, body := range []string{`{"name":"a\u0000b"}`, `{"name":"a\\\u0000b"}`, `{"name":"\u0000"}`} {
		r := e.do(http.MethodPost, "/api/v1/tenants", adminKey, "application/json", body)
		er := requireError(t, r, http.StatusBadRequest, poblysh.EINVALID)
		require.Contains(t, er.Details["body"], "NUL", body)
	}
	require.Equal(t, before, tenants(), "nothing stored")
	r := e.do(http.MethodPost, "/api/v1/tenants", adminKey, "application/json", `{"name":"a\\u0000b"}`)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var created struct {
		Name string `json:"name"`
	}
	require.NoError(t, json.Unmarshal(r.body, &created))
	require.Equal(t, `a\u0000b`, created.Name, "a backslash followed by u0000 is text")
}

// TestEveryTextInputRefusesWhatPostgresCannotHold walks swagger.yml: every
// operation's string query parameters, given a NUL and invalid UTF-8, and
// every string property of its body, given a NUL, answer 4xx (the body
// 400 naming the NUL), never a 5xx. New parameters are covered as they
// are declared.
func TestEveryTextInputRefusesWhatPostgresCannotHold(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, key := e.tenant("Acme")
	id := "6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10"
	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	require.NoError(t, err)
	queries, bodies := 0, 0
	for method, byPath := range doc.Analyzer.Operations() {
		for p, op := range byPath {
			method := strings.ToUpper(method)
			path := strings.NewReplacer("{provider}", "fake", "{id}", id).Replace(p)
			auth := key
			if strings.HasPrefix(p, "/api/v1/tenants") {
				auth = adminKey
			}
			for _, prm := range doc.Analyzer.ParamsFor(method, p) {
				switch {
				case prm.In == "query" && prm.Type == "string":
					for _, bad := range []string{"%00", "%ff"} {
						r := e.do(method, path+"?"+prm.Name+"="+bad, auth, "application/json", "{}")
						require.True(t, r.status >= 400 && r.status < 500, "%s %s?%s=%s (%s): %d %s", method, p, prm.Name, bad, op.ID, r.status, r.body)
						queries++
					}
				case prm.In == "body" && prm.Schema != nil:
					if prm.Schema.Ref.String() == "" {
						// The provider's own payload: judged by verification.
						require.Equal(t, "receiveWebhook", op.ID)
						continue
					}
					def, ok := doc.Spec().Definitions[strings.TrimPrefix(prm.Schema.Ref.String(), "#/definitions/")]
					require.True(t, ok, "%s: body schema %s", op.ID, prm.Schema.Ref.String())
					for name, prop := range def.Properties {
						if !prop.Type.Contains("string") {
							continue
						}
						body, err := json.Marshal(map[string]string{name: "a\x00b"})
						require.NoError(t, err)
						er := requireError(t, e.do(method, path, auth, "application/json", string(body)), http.StatusBadRequest, poblysh.EINVALID)
						require.Contains(t, er.Details["body"], "NUL", "%s %s", op.ID, name)
						bodies++
					}
				}
			}
		}
	}
	t.Logf("%d query values, %d body properties", queries, bodies)
	require.GreaterOrEqual(t, queries, 20, "string query parameters tried")
	require.GreaterOrEqual(t, bodies, 5, "string body properties tried")
}
