package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-openapi/loads"
	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/validate"
	"github.com/gorilla/mux"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/engine"
)

// TestSwaggerSpecIsValid validates the embedded spec, so `go test` catches
// an invalid swagger.yml without the swagger CLI.
func TestSwaggerSpecIsValid(t *testing.T) {
	t.Parallel()
	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	require.NoError(t, err)
	require.NoError(t, validate.Spec(doc, strfmt.Default))
	require.Equal(t, "2.0", doc.Spec().Swagger)
}

// TestRoutesMatchSpec fails when a route is added, removed, renamed or moved
// without the same change in swagger.yml (or the other way round).
func TestRoutesMatchSpec(t *testing.T) {
	t.Parallel()
	r, _, err := newRouter(Deps{})
	require.NoError(t, err)
	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	require.NoError(t, err)
	problems := specDrift(t, r, doc)
	if len(problems) > 0 {
		t.Fatalf("routes.go and swagger.yml disagree:\n    %s", strings.Join(problems, "\n    "))
	}
}

// TestSpecDriftDetectsChanges proves the drift check can fail: a route
// without spec, a route answering every verb, a misnamed route and a spec
// operation nobody serves are all reported.
func TestSpecDriftDetectsChanges(t *testing.T) {
	t.Parallel()
	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	require.NoError(t, err)
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

	r, _, err := newRouter(Deps{})
	require.NoError(t, err)
	r.Handle("/api/v1/providers/{name:[a-z-]+}", noop).Methods(http.MethodDelete).Name("deleteProvider")
	r.Handle("/api/v1/everything", noop).Name("everything")
	r.Handle("/api/v1/nameless", noop).Methods(http.MethodGet)
	require.Equal(t, []string{
		`route "everything" (/api/v1/everything) has no .Methods(): it would answer every verb`,
		`route "nameless" has no name; name it after its operationId`,
		`routed but missing from swagger.yml: DELETE /api/v1/providers/{name} (route "deleteProvider")`,
		`routed but missing from swagger.yml: GET /api/v1/nameless (route "")`,
	}, specDrift(t, r, doc))

	// A route served under another name than its operationId, and an
	// operation that lost its route.
	r = mux.NewRouter()
	d := Deps{}
	addRoutes(r, d, nil)
	renamed := mux.NewRouter()
	require.NoError(t, r.Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, _ := rt.GetPathTemplate()
		methods, _ := rt.GetMethods()
		switch rt.GetName() {
		case "getHealth":
			renamed.Handle(tpl, noop).Methods(methods...).Name("health")
		case "getSignal":
			// dropped
		default:
			renamed.Handle(tpl, noop).Methods(methods...).Name(rt.GetName())
		}
		return nil
	}))
	require.Equal(t, []string{
		`in swagger.yml but not routed: GET /api/v1/signals/{id} (operationId getSignal)`,
		`route name "health" for GET /healthz does not match its operationId "getHealth"`,
	}, specDrift(t, renamed, doc))
}

var muxVarRe = regexp.MustCompile(`\{([^}:]+):[^}]*\}`)

// specDrift compares the router with the spec in both directions and
// returns every disagreement, sorted.
func specDrift(t *testing.T, r *mux.Router, doc *loads.Document) []string {
	t.Helper()
	base := strings.TrimSuffix(doc.BasePath(), "/")
	spec := map[string]string{} // "METHOD /path" -> operationId
	for method, byPath := range doc.Analyzer.Operations() {
		for p, op := range byPath {
			spec[strings.ToUpper(method)+" "+base+p] = op.ID
		}
	}
	var problems []string
	routed := map[string]bool{}
	err := r.Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		name := rt.GetName()
		if infraRoutes[name] {
			return nil
		}
		tpl, err := rt.GetPathTemplate()
		if err != nil {
			tpl, _ = rt.GetPathRegexp()
		}
		tpl = muxVarRe.ReplaceAllString(tpl, "{$1}")
		methods, err := rt.GetMethods()
		if err != nil || len(methods) == 0 {
			problems = append(problems, fmt.Sprintf("route %q (%s) has no .Methods(): it would answer every verb", name, tpl))
			return nil
		}
		if name == "" {
			problems = append(problems, fmt.Sprintf("route %q has no name; name it after its operationId", strings.TrimPrefix(tpl, "/api/v1/")))
		}
		for _, m := range methods {
			key := m + " " + tpl
			if m == http.MethodHead && slices.Contains(methods, http.MethodGet) && !withSideEffects[name] {
				continue // HEAD beside a safe GET is implied (the spec's introduction says so)
			}
			routed[key] = true
			opID, ok := spec[key]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("routed but missing from swagger.yml: %s (route %q)", key, name))
			case opID != name && name != "":
				problems = append(problems, fmt.Sprintf("route name %q for %s does not match its operationId %q", name, key, opID))
			}
		}
		return nil
	})
	require.NoError(t, err)
	for key, opID := range spec {
		if !routed[key] {
			problems = append(problems, fmt.Sprintf("in swagger.yml but not routed: %s (operationId %s)", key, opID))
		}
	}
	for name := range infraRoutes {
		if r.Get(name) == nil {
			problems = append(problems, fmt.Sprintf("infraRoutes names %q but no route has that name", name))
		}
	}
	sort.Strings(problems)
	return problems
}

// TestErrorCodesMatchSpec: the codes the error table can answer are the
// ErrorBody.code enum of swagger.yml, no more (a code a client has no case
// for) and no less (a documented code nothing produces, as 429
// rate_limited was).
func TestErrorCodesMatchSpec(t *testing.T) {
	t.Parallel()
	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	require.NoError(t, err)
	var documented []string
	for _, v := range doc.Spec().Definitions["ErrorBody"].Properties["code"].Enum {
		documented = append(documented, v.(string))
	}
	answered := make([]string, 0, len(statusOf))
	for code := range statusOf {
		answered = append(answered, code)
	}
	sort.Strings(documented)
	sort.Strings(answered)
	require.Equal(t, documented, answered)
}

// TestJobLiveDocNamesItsValues: JobLive documents the values the engine
// gives: activity_state names the one that is not Temporal's (a queued
// follow-up behind its stream's running pass), and attempt is 0, not 1,
// when no activity is pending (engine's TestLiveJobReadsNoWorker).
func TestJobLiveDocNamesItsValues(t *testing.T) {
	t.Parallel()
	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	require.NoError(t, err)
	props := doc.Spec().Definitions["JobLive"].Properties
	require.Contains(t, props["activity_state"].Description, "`"+engine.QueuedBehindPass+"`")
	require.Contains(t, props["attempt"].Description, "0 when none is pending")
}

// TestPendingActivityExamplesAreActivities: every pending_activity that
// swagger.yml shows (JobLive's example, the jobs' examples) is the name of
// an activity the worker registers, as GET /jobs/{id} reports it (the
// activity type Temporal describes). The examples said FetchPage, which
// no worker runs: a page is SyncPage. engine.NewWorker registers every
// exported method of activities.Activities (RegisterActivity refuses a
// struct with one that is no activity).
func TestPendingActivityExamplesAreActivities(t *testing.T) {
	t.Parallel()
	registered := map[string]bool{}
	typ := reflect.TypeOf(&activities.Activities{})
	for i := range typ.NumMethod() {
		registered[typ.Method(i).Name] = true
	}
	require.True(t, registered["SyncPage"], "the walk sees the activities")

	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	require.NoError(t, err)
	var spec any
	require.NoError(t, json.Unmarshal(doc.Raw(), &spec))
	var shown []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, sub := range v {
				if k == "pending_activity" {
					switch ex := sub.(type) {
					case string: // an example's value
						shown = append(shown, ex)
					case map[string]any: // the property's schema
						if name, ok := ex["example"].(string); ok {
							shown = append(shown, name)
						}
					}
				}
				walk(sub)
			}
		case []any:
			for _, sub := range v {
				walk(sub)
			}
		}
	}
	walk(spec)
	require.GreaterOrEqual(t, len(shown), 2, "JobLive's example and getJob's")
	for _, name := range shown {
		require.True(t, registered[name], "swagger.yml shows pending_activity %q, which is no activity the worker registers", name)
	}
}
