package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/go-openapi/loads"
	"github.com/go-openapi/spec"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/api"
	"github.com/poblysh/poblysh/connectors"
	ghsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// requestExample is the request body swagger.yml shows for one operation:
// the body schema's own example, or an object of its properties' examples.
type requestExample struct {
	opID, method, path string
	body               map[string]any
	status             int // the first documented success status
}

func requestExamples(t *testing.T) (with []requestExample, without []string) {
	t.Helper()
	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	require.NoError(t, err)
	doc, err = doc.Expanded()
	require.NoError(t, err)
	for method, byPath := range doc.Analyzer.Operations() {
		for p, op := range byPath {
			for _, prm := range doc.Analyzer.ParamsFor(method, p) {
				if prm.In != "body" {
					continue
				}
				body := exampleOf(prm.Schema)
				if body == nil {
					without = append(without, op.ID)
					continue
				}
				status := 0
				for code := range op.Responses.StatusCodeResponses {
					if code >= 200 && code < 400 && (status == 0 || code < status) {
						status = code
					}
				}
				with = append(with, requestExample{opID: op.ID, method: strings.ToUpper(method), path: p, body: body, status: status})
			}
		}
	}
	sort.Strings(without)
	return with, without
}

func exampleOf(s *spec.Schema) map[string]any {
	if s == nil {
		return nil
	}
	if m, ok := s.Example.(map[string]any); ok {
		return m
	}
	out := map[string]any{}
	for name, prop := range s.Properties {
		if prop.Example != nil {
			out[name] = prop.Example
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// TestRequestExamplesAreAccepted sends every request example of
// swagger.yml, as written, to the real handlers (over Postgres, the real
// GitHub connector against its sandbox, with the repositories the examples
// name) and expects the documented success status, so examples cannot rot.
// Only the resource ids in an example (a path's {id}, `connection_id`,
// `tenant_id`) are replaced by the ids of the resources the test made.
func TestRequestExamplesAreAccepted(t *testing.T) {
	t.Parallel()
	gh := ghsandbox.New(ghsandbox.Options{Seed: true})
	ghsrv := httptest.NewServer(gh)
	t.Cleanup(ghsrv.Close)
	for _, repo := range []string{"octo-org/api", "octo-org/web"} {
		resp, err := http.Post(ghsrv.URL+"/_sandbox/github/repos", "application/json", strings.NewReader(`{"full_name":"`+repo+`"}`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode, repo)
	}
	examples, without := requestExamples(t)
	require.Equal(t, []string{"receiveWebhook"}, without, "operations whose body has no example (a webhook body is the provider's)")

	const redirect = "https://app.poblysh.com/integrations/done"
	e := setup(t, withProviders(t, gh.Env(ghsrv.URL)), func(d *api.Deps) { d.Connections.RedirectAllowlist = []string{redirect} })

	byOp := map[string]requestExample{}
	for _, x := range examples {
		byOp[x.opID] = x
	}
	var tenantID, key, connID string
	send := func(opID, key string) response {
		t.Helper()
		x, ok := byOp[opID]
		require.True(t, ok, "swagger.yml has a request example for %s", opID)
		delete(byOp, opID)
		body := map[string]any{}
		for k, v := range x.body {
			body[k] = v
		}
		if _, ok := body["tenant_id"]; ok {
			body["tenant_id"] = tenantID
		}
		if _, ok := body["connection_id"]; ok {
			body["connection_id"] = connID
		}
		b, err := json.Marshal(body)
		require.NoError(t, err)
		id := connID
		if strings.HasPrefix(x.path, "/api/v1/tenants/") {
			id = tenantID
		}
		path := strings.NewReplacer("{provider}", "github", "{id}", id).Replace(x.path)
		r := e.do(x.method, path, key, "application/json", string(b))
		require.Equal(t, x.status, r.status, "%s %s with its example %s: %s", x.method, path, b, r.body)
		return r
	}

	r := send("createTenant", adminKey)
	var tenant struct{ ID, APIKey string }
	require.NoError(t, json.Unmarshal(r.body, &struct {
		ID     *string `json:"id"`
		APIKey *string `json:"api_key"`
	}{&tenant.ID, &tenant.APIKey}))
	tenantID, key = tenant.ID, tenant.APIKey
	send("createApiKey", adminKey)
	send("updateTenant", adminKey)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tenants WHERE id = $1 AND name = 'Acme Communications' AND sync_concurrency = 1`, tenantID),
		"the tenant update example was applied")

	// Connect as the example says, then finish the flow in a browser.
	r = send("startConnect", key)
	var started struct {
		URL string `json:"authorization_url"`
	}
	require.NoError(t, json.Unmarshal(r.body, &started))
	connID = completeInBrowser(t, e, started.URL, redirect)

	send("startSync", key)
	send("reconnectConnection", key)
	send("updateConnection", key)
	require.Empty(t, byOp, "every request example is sent by this test")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM connections WHERE id = $1 AND paused AND config->'repos' = '["octo-org/api","octo-org/web"]'::jsonb`, connID),
		"the update example was applied")
}

// completeInBrowser runs the start page, the provider and the callback and
// returns the connection id the callback appends to redirect.
func completeInBrowser(t *testing.T, e *apiEnv, authURL, redirect string) string {
	t.Helper()
	b := e.browser()
	require.Equal(t, http.StatusOK, b.do(http.MethodGet, authURL).status)
	r := b.do(http.MethodPost, authURL)
	require.Equal(t, http.StatusSeeOther, r.status, "%s", r.body)
	r = b.do(http.MethodGet, r.header.Get("Location")) // the provider approves
	require.Equal(t, http.StatusFound, r.status, "%s", r.body)
	r = b.do(http.MethodGet, r.header.Get("Location")) // the callback
	require.Equal(t, http.StatusFound, r.status, "%s", r.body)
	loc, err := url.Parse(r.header.Get("Location"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(loc.String(), redirect), loc.String())
	id := loc.Query().Get("connection_id")
	require.Len(t, id, 36, strconv.Quote(loc.String()))
	return id
}

// TestSpecNamesTheRegisteredProviders: the providers swagger.yml's intro
// and the {provider} parameter name are exactly the registered ones (the
// engine's test provider aside), so the spec never advertises a provider
// that answers 404, nor hides one.
func TestSpecNamesTheRegisteredProviders(t *testing.T) {
	t.Parallel()
	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	require.NoError(t, err)
	intro, _, _ := strings.Cut(doc.Spec().Info.Description, "\n\n")
	param := doc.Spec().Parameters["providerPath"].Description
	_, list, ok := strings.Cut(param, ": ")
	require.True(t, ok, param)
	var names []string
	for _, n := range strings.Split(strings.TrimSuffix(list, "."), ",") {
		names = append(names, strings.TrimSpace(n))
	}
	var registered []string
	for _, s := range connectors.Registered() {
		if s.Name == "fake" {
			continue
		}
		registered = append(registered, s.Name)
		display := strings.TrimSuffix(s.DisplayName, " Cloud") // "Jira Cloud" is "Jira" in prose
		require.Contains(t, strings.Join(strings.Fields(intro), " "), display, "the intro names %s", s.DisplayName)
	}
	sort.Strings(names)
	sort.Strings(registered)
	require.Equal(t, registered, names, "the {provider} parameter lists the registered providers")
}

// TestProviderListExampleIsTheCatalog: each provider in listProviders'
// example is what GET /providers answers for it with the default settings
// (`configured` aside: the example shows both values). The GitHub entry
// had no scopes, a description and a capability order of its own.
func TestProviderListExampleIsTheCatalog(t *testing.T) {
	t.Parallel()
	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	require.NoError(t, err)
	ok200 := doc.Spec().Paths.Paths["/api/v1/providers"].Get.Responses.StatusCodeResponses[http.StatusOK]
	raw, err := json.Marshal(ok200.Examples["application/json"])
	require.NoError(t, err)
	var example struct{ Providers []map[string]any }
	require.NoError(t, json.Unmarshal(raw, &example))
	require.NotEmpty(t, example.Providers)

	e := setup(t)
	_, key := e.tenant("Acme")
	r := e.do(http.MethodGet, "/api/v1/providers", key, "", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var served struct{ Providers []map[string]any }
	require.NoError(t, json.Unmarshal(r.body, &served))
	byName := map[string]map[string]any{}
	for _, p := range served.Providers {
		byName[p["name"].(string)] = p
	}
	for _, want := range example.Providers {
		got, ok := byName[want["name"].(string)]
		require.True(t, ok, "the example names a provider the server does not list: %v", want["name"])
		delete(want, "configured")
		delete(got, "configured")
		require.Equal(t, want, got, "the example of %s is what the server answers", want["name"])
	}
}
