package gen_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
	"testing"

	"github.com/go-openapi/loads"
	"github.com/go-openapi/spec"
	"github.com/go-openapi/strfmt"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/gen/models"
)

type validatable interface {
	Validate(strfmt.Registry) error
}

// modelFor maps each response definition to its generated model.
var modelFor = map[string]func() validatable{
	"ApiKeyCreated":           func() validatable { return new(models.APIKeyCreated) },
	"ApiKeyList":              func() validatable { return new(models.APIKeyList) },
	"ConnectCallbackResponse": func() validatable { return new(models.ConnectCallbackResponse) },
	"ConnectResponse":         func() validatable { return new(models.ConnectResponse) },
	"Connection":              func() validatable { return new(models.Connection) },
	"ConnectionList":          func() validatable { return new(models.ConnectionList) },
	"Error":                   func() validatable { return new(models.Error) },
	"Health":                  func() validatable { return new(models.Health) },
	"Job":                     func() validatable { return new(models.Job) },
	"JobList":                 func() validatable { return new(models.JobList) },
	"ProviderList":            func() validatable { return new(models.ProviderList) },
	"Readiness":               func() validatable { return new(models.Readiness) },
	"Signal":                  func() validatable { return new(models.Signal) },
	"SignalList":              func() validatable { return new(models.SignalList) },
	"SyncResponse":            func() validatable { return new(models.SyncResponse) },
	"Tenant":                  func() validatable { return new(models.Tenant) },
	"TenantCreated":           func() validatable { return new(models.TenantCreated) },
	"TenantDeletion":          func() validatable { return new(models.TenantDeletion) },
	"TenantList":              func() validatable { return new(models.TenantList) },
	"WebhookAck":              func() validatable { return new(models.WebhookAck) },
}

// TestResponseExamplesValidate decodes every response example of swagger.yml
// into its generated model and validates it, so the documented examples and
// the generated client agree (required fields, enums, formats, patterns).
// It also checks that every response has a schema and an example, except
// the bodiless 204, 302 and 303, and the HTML pages (schema type string) of
// the OAuth start page.
func TestResponseExamplesValidate(t *testing.T) {
	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	if err != nil {
		t.Fatal(err)
	}
	sw := doc.Spec()
	var paths []string
	for p := range sw.Paths.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	checked := 0
	for _, p := range paths {
		item := sw.Paths.Paths[p]
		for method, op := range map[string]*spec.Operation{
			http.MethodGet: item.Get, http.MethodPost: item.Post, http.MethodPut: item.Put,
			http.MethodPatch: item.Patch, http.MethodDelete: item.Delete,
		} {
			if op == nil {
				continue
			}
			all := map[string]spec.Response{}
			for code, r := range op.Responses.StatusCodeResponses {
				all[fmt.Sprintf("%s %s %d", method, p, code)] = r
			}
			if op.Responses.Default != nil {
				all[fmt.Sprintf("%s %s default", method, p)] = *op.Responses.Default
			}
			for name, r := range all {
				if ref := r.Ref.String(); ref != "" {
					shared, ok := sw.Responses[path.Base(ref)]
					if !ok {
						t.Errorf("%s: unresolved response %s", name, ref)
						continue
					}
					r = shared
				}
				if r.Schema != nil && r.Schema.Ref.String() == "" && r.Schema.Type.Contains("string") {
					continue // an HTML page, not JSON
				}
				if strings.HasSuffix(name, " 204") || strings.HasSuffix(name, " 302") || strings.HasSuffix(name, " 303") {
					if r.Schema != nil {
						t.Errorf("%s: a bodiless response declares a schema", name)
					}
					continue
				}
				if r.Schema == nil {
					t.Errorf("%s: no schema", name)
					continue
				}
				def := path.Base(r.Schema.Ref.String())
				newModel, ok := modelFor[def]
				if !ok {
					t.Errorf("%s: no model mapped for definition %q", name, def)
					continue
				}
				ex, ok := r.Examples["application/json"]
				if !ok {
					t.Errorf("%s: no application/json example", name)
					continue
				}
				raw, err := json.Marshal(ex)
				if err != nil {
					t.Fatal(err)
				}
				m := newModel()
				if err := json.Unmarshal(raw, m); err != nil {
					t.Errorf("%s: example does not decode into %s: %v", name, def, err)
					continue
				}
				if err := m.Validate(strfmt.Default); err != nil {
					t.Errorf("%s: example fails %s.Validate: %v", name, def, err)
				}
				checked++
			}
		}
	}
	if checked < 50 {
		t.Errorf("only %d examples checked", checked)
	}
}
