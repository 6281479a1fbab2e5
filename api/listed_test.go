package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/go-openapi/loads"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/spec"
	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/validate"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/gen/client/jobs"
	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

// specOps is swagger.yml's operations by operationId, with every $ref
// expanded, and the method and path of each.
type specOps map[string]struct {
	op           *spec.Operation
	method, path string
}

func loadOps(t *testing.T) specOps {
	t.Helper()
	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	require.NoError(t, err)
	doc, err = doc.Expanded()
	require.NoError(t, err)
	out := specOps{}
	for method, byPath := range doc.Analyzer.Operations() {
		for p, op := range byPath {
			out[op.ID] = struct {
				op           *spec.Operation
				method, path string
			}{op, strings.ToUpper(method), p}
		}
	}
	return out
}

// requireListed checks that operation opID lists the status r answered
// (500 and 503 excepted: the default response covers them), that r sends
// each header listed for it, and that a JSON body matches the schema
// listed for it, as a strict client reads it: x-nullable admits null,
// nothing else does.
func (ops specOps) requireListed(t *testing.T, opID string, r response) {
	t.Helper()
	o, ok := ops[opID]
	require.True(t, ok, "no operation %s", opID)
	rs, listed := o.op.Responses.StatusCodeResponses[r.status]
	if !listed && (r.status == http.StatusInternalServerError || r.status == http.StatusServiceUnavailable) {
		rs, listed = *o.op.Responses.Default, true
	}
	if !assert.True(t, listed, "%s answered %d, which swagger.yml does not list for it: %s", opID, r.status, r.body) {
		return
	}
	for name := range rs.Headers {
		assert.NotEmpty(t, r.header.Get(name), "%s %d: swagger.yml lists the header %s, which the answer lacks", opID, r.status, name)
	}
	if rs.Schema == nil || !strings.Contains(r.header.Get("Content-Type"), "json") {
		return
	}
	var v any
	require.NoError(t, json.Unmarshal(r.body, &v), "%s", r.body)
	assert.NoError(t, validate.AgainstSchema(strictNullable(rs.Schema), v, strfmt.Default), "%s %d: %s", opID, r.status, r.body)
}

// strictNullable copies sc with "null" added to the type of every schema
// marked x-nullable, the one way Swagger 2.0 says a value may be null.
func strictNullable(sc *spec.Schema) *spec.Schema {
	if sc == nil {
		return nil
	}
	c := *sc
	if v, ok := c.Extensions.GetBool("x-nullable"); ok && v && len(c.Type) > 0 {
		c.Type = append(append(spec.StringOrArray{}, c.Type...), "null")
	}
	if len(c.Properties) > 0 {
		props := spec.SchemaProperties{}
		for k, p := range c.Properties {
			props[k] = *strictNullable(&p)
		}
		c.Properties = props
	}
	if c.Items != nil && c.Items.Schema != nil {
		c.Items = &spec.SchemaOrArray{Schema: strictNullable(c.Items.Schema)}
	}
	if c.AdditionalProperties != nil && c.AdditionalProperties.Schema != nil {
		c.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: strictNullable(c.AdditionalProperties.Schema)}
	}
	all := make([]spec.Schema, 0, len(c.AllOf))
	for _, a := range c.AllOf {
		all = append(all, *strictNullable(&a))
	}
	c.AllOf = all
	return &c
}

// TestEveryAnswerIsListed: what the server answers, each operation of
// swagger.yml lists, with a body its schema admits. A client generated
// from the spec otherwise meets statuses it has no type for (a 413 on
// createTenant, a 400 on getJob) or rejects a body it was promised (a job
// with "live": null).
func TestEveryAnswerIsListed(t *testing.T) {
	t.Parallel()
	e, _, gc := sandboxed(t)
	ops := loadOps(t)
	tenant, key := e.tenant("Acme")
	conn := e.connected(key)
	id := "6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10"
	paths := strings.NewReplacer("{provider}", "fake", "{id}", id)

	// Unknown query parameters: 400 everywhere but where the provider
	// owns the query string or the link is mailed (the start page).
	for opID, o := range ops {
		pass, _ := o.op.Extensions.GetBool("x-query-passthrough")
		lax, _ := o.op.Extensions.GetBool("x-query-ignore-unknown")
		if pass || lax {
			continue
		}
		r := e.do(o.method, paths.Replace(o.path)+"?knid=x", key, "application/json", "{}")
		require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", opID, r.body)
		ops.requireListed(t, opID, r)
	}

	// No key: 401, with its WWW-Authenticate challenge, wherever a key
	// is asked for.
	for opID, o := range ops {
		if o.op.Security != nil && len(o.op.Security) == 0 {
			continue // public
		}
		r := e.do(o.method, paths.Replace(o.path), "", "application/json", "{}")
		require.Equal(t, http.StatusUnauthorized, r.status, "%s: %s", opID, r.body)
		ops.requireListed(t, opID, r)
	}

	// A body over the limit (MaxBodyBytes is 4096 here): 413 wherever a
	// JSON body is read.
	big := `{"name":"` + strings.Repeat("a", 5000) + `"}`
	for opID, o := range ops {
		if !takesBody(o.op) || opID == "receiveWebhook" {
			continue
		}
		k := key
		if strings.HasPrefix(o.path, "/api/v1/tenants") {
			k = adminKey
		}
		owner := conn
		if k == adminKey {
			owner = tenant
		}
		path := strings.NewReplacer("{provider}", "fake", "{id}", owner).Replace(o.path)
		r := e.do(o.method, path, k, "application/json", big)
		require.Equal(t, http.StatusRequestEntityTooLarge, r.status, "%s: %s", opID, r.body)
		ops.requireListed(t, opID, r)
	}

	// Well-formed JSON that breaks the schema: 422.
	ops.requireListed(t, "startConnect", e.do(http.MethodPost, "/api/v1/connect/fake", key, "application/json", `{"config":{"streams":["NOT OK"]}}`))
	ops.requireListed(t, "startConnect", e.do(http.MethodPost, "/api/v1/connect/fake", key, "application/json", `{"redirect_uri":5}`))
	ops.requireListed(t, "reconnectConnection", e.do(http.MethodPost, "/api/v1/connections/"+conn+"/reconnect", key, "application/json", `{"redirect_uri":5}`))
	ops.requireListed(t, "updateConnection", e.do(http.MethodPatch, "/api/v1/connections/"+conn, key, "application/json", `{"config":{"streams":["NOT OK"]}}`))
	ops.requireListed(t, "createTenant", e.do(http.MethodPost, "/api/v1/tenants", adminKey, "application/json", `{"name":5}`))

	// The provider failing while a new config is checked with the
	// connection's token: 502, and the config stays.
	cal := e.connectedTo(key, "google-calendar")
	gc.Base.Faults.Add(sandbox.Fault{Status: http.StatusInternalServerError, Count: 100})
	r := e.do(http.MethodPatch, "/api/v1/connections/"+cal, key, "application/json",
		`{"config":{"calendars":["primary","`+gcalsandbox.TeamCalendarID+`"]}}`)
	requireError(t, r, http.StatusBadGateway, poblysh.EBADGATEWAY)
	ops.requireListed(t, "updateConnection", r)
	gc.Base.Faults.Clear()

	// A signed delivery whose body the provider's parser refuses: 400.
	body := []byte("not json")
	r = e.do(http.MethodPost, "/api/v1/webhooks/fake", "", "application/json", string(body),
		"X-Fake-Signature", fakesandbox.Sign(fakesandbox.DefaultWebhookSecret, body), "X-Fake-Delivery", "d-1")
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	ops.requireListed(t, "receiveWebhook", r)

	// A delivery whose signature does not verify: 401, whose challenge
	// names the provider's signature (webhooks take no key).
	r = e.do(http.MethodPost, "/api/v1/webhooks/fake", "", "application/json", `{}`,
		"X-Fake-Signature", fakesandbox.Sign("not the secret", []byte(`{}`)), "X-Fake-Delivery", "d-2")
	requireError(t, r, http.StatusUnauthorized, poblysh.EUNAUTHORIZED)
	require.Equal(t, webhookChallenge, r.header.Get("WWW-Authenticate"))
	ops.requireListed(t, "receiveWebhook", r)

	// Jobs carry "live": null wherever Temporal's view is not read.
	r = e.do(http.MethodPost, "/api/v1/sync/fake", key, "application/json", `{"connection_id":"`+conn+`"}`)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	require.Contains(t, string(r.body), `"live":null`)
	ops.requireListed(t, "startSync", r)
}

// takesBody reports whether op declares a body parameter.
func takesBody(op *spec.Operation) bool {
	for _, p := range op.Parameters {
		if p.In == "body" {
			return true
		}
	}
	return false
}

// TestJobsWithoutLiveDecode: the generated client decodes and validates
// the jobs the server answers with "live": null (a list, a manual sync's
// 202, a job read while Temporal's view is not asked for), as swagger.yml
// now says JobLive may be null.
func TestJobsWithoutLiveDecode(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	tenant, key := e.tenant("Acme")
	conn := e.connected(key)
	auth := httptransport.BearerToken(key)

	started, err := e.client.Jobs.StartSync(jobs.NewStartSyncParams().WithProvider("fake").
		WithBody(&models.SyncRequest{ConnectionID: strfmt.UUID(conn)}), auth)
	require.NoError(t, err)
	require.NoError(t, started.Payload.Validate(strfmt.Default))
	require.Len(t, started.Payload.Jobs, 1)
	require.Nil(t, started.Payload.Jobs[0].Live)

	id := uuid.NewString()
	require.NoError(t, e.schema.DB.WithTenant(context.Background(), tenant, func(tx *db.Tx) error {
		_, err := tx.EnsureJob(context.Background(), db.Job{ID: id, ConnectionID: conn, Provider: "fake", Kind: poblysh.JobBackfill,
			Stream: "items", Trigger: poblysh.TriggerConnect, WorkflowID: "sync/" + conn + "/items", RunID: uuid.NewString()})
		return err
	}))
	list, err := e.client.Jobs.ListJobs(jobs.NewListJobsParams(), auth)
	require.NoError(t, err)
	require.NoError(t, list.Payload.Validate(strfmt.Default))
	require.Len(t, list.Payload.Jobs, 1)
	require.Equal(t, id, list.Payload.Jobs[0].ID.String())
	require.Nil(t, list.Payload.Jobs[0].Live)
	one, err := e.client.Jobs.GetJob(jobs.NewGetJobParams().WithID(strfmt.UUID(id)), auth)
	require.NoError(t, err)
	require.NoError(t, one.Payload.Validate(strfmt.Default))
	require.Nil(t, one.Payload.Live, "the fake Temporal knows no run")
}
