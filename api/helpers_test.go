package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/api"
	"github.com/poblysh/poblysh/connectors"
	_ "github.com/poblysh/poblysh/connectors/all"  // every real provider
	_ "github.com/poblysh/poblysh/connectors/fake" // the engine's test provider
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/gen/client"
	"github.com/poblysh/poblysh/gen/client/tenants"
	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/vault"
	"github.com/poblysh/poblysh/webhook"
)

const adminKey = "admin-key-for-api-tests-0123456789"

// syncBuffer collects logs written concurrently by the server.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// apiEnv is the API served by httptest over a fresh schema, with a fake
// of Temporal (fakeTemporal) that records what it is asked.
type apiEnv struct {
	t      *testing.T
	schema *dbtest.Schema
	url    string
	reg    *connectors.Registry
	client *client.Poblysh
	logs   *syncBuffer
	// temporal records what the API asked of Temporal.
	temporal *fakeTemporal
	// feed wakes long polls on the feed.
	feed *db.FeedNotifier
	// connections is the lifecycle service the API calls.
	connections *lifecycle.Service
}

// setup serves the API; opts adjust its dependencies (limits, readiness).
func setup(t *testing.T, opts ...func(*api.Deps)) *apiEnv {
	t.Helper()
	s := dbtest.NewSchema(t)
	return serve(t, s, s.DB, opts...)
}

// serve serves the API over database (which may be broken on purpose).
func serve(t *testing.T, s *dbtest.Schema, database *db.DB, opts ...func(*api.Deps)) *apiEnv {
	t.Helper()
	env := map[string]string{"POBLYSH_FAKE_CLIENT_ID": "fake-id", "POBLYSH_FAKE_CLIENT_SECRET": "fake-secret"}
	reg, err := connectors.Build(connectors.Registered(), func(k string) string { return env[k] }, "http://127.0.0.1:1", false)
	require.NoError(t, err)
	logs := &syncBuffer{}
	log := logrus.New()
	log.SetOutput(logs)
	log.SetFormatter(&logrus.JSONFormatter{})
	log.SetLevel(logrus.DebugLevel)
	key, err := vault.ParseKey(vault.GenerateKey())
	require.NoError(t, err)
	kr := vault.NewKeyRing(key)
	tmp := &fakeTemporal{}
	feed := db.NewFeedNotifier(database, log)
	d := api.Deps{
		Feed: feed, Keys: db.NewAPIKeyCache(database, feed),
		Log: log, DB: database, Registry: reg, AdminKey: adminKey,
		Connections:    &lifecycle.Service{DB: database, Registry: reg, KeyRing: kr, Workflows: tmp, Log: log},
		Jobs:           tmp,
		Webhooks:       &webhook.Intake{DB: database, KeyRing: kr, Nudger: tmp, Log: log},
		MaxBodyBytes:   4096,
		TemporalHealth: func(context.Context) error { return nil },
	}
	for _, o := range opts {
		o(&d)
	}
	// Access is proved by the real activity code, with the final registry.
	d.Connections.Access = activities.AccessService{A: &activities.Activities{DB: database, Registry: d.Connections.Registry, KeyRing: kr, Log: log}}
	// Served as poblysh serves it: api.NewHTTPServer, its timeouts those
	// of d (the defaults unless an option set them).
	hs, err := api.NewHTTPServer(d)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = hs
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(feed.Close) // first: waiting readers answer, then the server closes
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	return &apiEnv{
		t: t, schema: s, url: srv.URL, reg: reg, logs: logs, temporal: tmp, feed: feed, connections: d.Connections,
		client: client.New(httptransport.New(u.Host, client.DefaultBasePath, []string{"http"}), strfmt.Default),
	}
}

// tenant creates a tenant with the admin key through the typed client and
// returns its id and first API key.
func (e *apiEnv) tenant(name string) (id, key string) {
	e.t.Helper()
	res, err := e.client.Tenants.CreateTenant(tenants.NewCreateTenantParams().WithBody(&models.TenantCreateRequest{Name: &name}),
		httptransport.BearerToken(adminKey))
	require.NoError(e.t, err)
	require.NoError(e.t, res.Payload.Validate(strfmt.Default))
	return res.Payload.ID.String(), *res.Payload.APIKey
}

// response is a raw HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a raw request (for what the typed client cannot express: bad
// headers, wrong content types, oversized or malformed bodies).
func (e *apiEnv) do(method, path, key, ctype, body string, header ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	require.NoError(e.t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// errorJSON is the error shape, decoded strictly.
type errorJSON struct {
	Code      string            `json:"code"`
	Message   string            `json:"message"`
	Details   map[string]string `json:"details"`
	RequestID string            `json:"request_id"`
}

// requireError checks status, the exact error shape and the request id,
// and returns the error body.
func requireError(t *testing.T, r response, status int, code string) errorJSON {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	require.Contains(t, r.header.Get("Content-Type"), "application/json")
	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(r.body, &top), "body: %s", r.body)
	require.Len(t, top, 1, "the error object is the only top-level field: %s", r.body)
	dec := json.NewDecoder(bytes.NewReader(top["error"]))
	dec.DisallowUnknownFields()
	var e errorJSON
	require.NoError(t, dec.Decode(&e), "body: %s", r.body)
	require.Equal(t, code, e.Code)
	require.NotEmpty(t, e.Message)
	require.NotEmpty(t, e.RequestID)
	require.Equal(t, r.header.Get("X-Request-Id"), e.RequestID, "the body quotes the X-Request-Id header")
	if status == http.StatusUnauthorized {
		// RFC 9110 §11.6.1: a 401 carries at least one challenge.
		require.NotEmpty(t, r.header.Get("WWW-Authenticate"), "a 401 names how to authenticate")
	}
	if code != "method_not_allowed" { // not in the spec's enum: see the report
		var m models.Error
		require.NoError(t, json.Unmarshal(r.body, &m))
		require.NoError(t, m.Validate(strfmt.Default), "the error must satisfy the spec's Error model")
	}
	return e
}
