package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	_ "github.com/poblysh/poblysh/connectors/fake" // the engine's test provider
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/gen/client"
	"github.com/poblysh/poblysh/gen/client/connect"
	"github.com/poblysh/poblysh/gen/client/tenants"
	"github.com/poblysh/poblysh/gen/models"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/vault"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// syncBuffer collects the service's logs (checked for leaked secrets).
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

// stack is the whole service (run "serve") against a real Postgres schema,
// a real Temporal dev server and provider sandboxes, used through its
// public API only.
type stack struct {
	t         testing.TB
	base      string
	adminKey  string
	cryptoKey string
	schema    *dbtest.Schema
	temporal  *testsuite.DevServer
	taskQueue string
	env       map[string]string
	logs      *syncBuffer
	client    *client.Poblysh
	http      *http.Client
	stop      func()
	done      chan error
	// command is the subcommand run in-process ("serve" or "api").
	command string

	ownerOnce sync.Once
	ownerPool *pgxpool.Pool
}

// withCommand runs another subcommand in-process (e.g. "api", with workers
// as separate processes).
func withCommand(cmd string) stackOption { return func(s *stack) { s.command = cmd } }

type stackOption func(*stack)

// withEnv sets extra environment for the service.
func withEnv(kv map[string]string) stackOption {
	return func(s *stack) {
		for k, v := range kv {
			s.env[k] = v
		}
	}
}

func newStack(t testing.TB, opts ...stackOption) *stack {
	t.Helper()
	port := testenv.FreePort()
	s := &stack{
		t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port),
		adminKey: "admin-" + strings.Repeat("k", 30), cryptoKey: vault.GenerateKey(),
		schema: dbtest.NewSchema(t), temporal: testenv.Temporal(t),
		taskQueue: fmt.Sprintf("test-%d", testenv.FreePort()),
		logs:      &syncBuffer{},
		command:   "serve",
		http:      &http.Client{Timeout: 30 * time.Second},
	}
	s.env = map[string]string{
		"DATABASE_URL":                    s.schema.OwnerURL,
		"TEMPORAL_ADDRESS":                s.temporal.FrontendHostPort(),
		"TEMPORAL_NAMESPACE":              "default",
		"POBLYSH_TASK_QUEUE":              s.taskQueue,
		"POBLYSH_HTTP_ADDR":               fmt.Sprintf("127.0.0.1:%d", port),
		"POBLYSH_PUBLIC_URL":              s.base,
		"POBLYSH_ADMIN_KEY":               s.adminKey,
		"POBLYSH_CRYPTO_KEY":              s.cryptoKey,
		"POBLYSH_ENV_FILE":                "none",
		"POBLYSH_LOG_LEVEL":               "debug",
		"POBLYSH_REDIRECT_ALLOWLIST":      "https://app.example.com/done",
		"POBLYSH_TENANT_SYNC_CONCURRENCY": "4",
	}
	for _, o := range opts {
		o(s)
	}
	s.start()
	return s
}

// start runs the service and waits until it is ready.
func (s *stack) start() {
	t := s.t
	ctx, cancel := context.WithCancel(context.Background())
	s.done = make(chan error, 1)
	go func() {
		s.done <- run(ctx, []string{s.command}, func(k string) string { return s.env[k] }, s.logs, s.logs)
	}()
	var once sync.Once
	done := s.done
	s.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("service did not stop within 30s")
			}
		})
	}
	stop := s.stop
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			path := filepath.Join(os.TempDir(), "poblysh-"+strings.ReplaceAll(t.Name(), "/", "_")+".log")
			_ = os.WriteFile(path, []byte(s.logs.String()), 0o600)
			t.Logf("service logs: %s; last lines:\n%s", path, tail(s.logs.String(), 15))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := s.http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("service exited before becoming ready: %v\nlogs:\n%s", err, tail(s.logs.String(), 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("service not ready after 60s\nlogs:\n%s", tail(s.logs.String(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	u, _ := url.Parse(s.base)
	noRedirect := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	s.client = client.New(httptransport.NewWithClient(u.Host, client.DefaultBasePath, []string{"http"}, noRedirect), strfmt.Default)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tenant creates a tenant through the admin API and returns its key.
func (s *stack) tenant(name string) (string, string) {
	s.t.Helper()
	res, err := s.client.Tenants.CreateTenant(tenants.NewCreateTenantParams().WithBody(&models.TenantCreateRequest{Name: &name}),
		httptransport.BearerToken(s.adminKey))
	require.NoError(s.t, err)
	require.NoError(s.t, res.Payload.Validate(strfmt.Default))
	return string(*res.Payload.ID), *res.Payload.APIKey
}

// fakeSandbox starts the engine's test provider sandbox, pointed at this
// stack for deliveries, and returns its POBLYSH_FAKE_* environment.
func fakeSandbox(t testing.TB, o fakesandbox.Options) (*fakesandbox.Server, map[string]string) {
	t.Helper()
	f := fakesandbox.New(o)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, f.Env(srv.URL)
}

// connect runs the OAuth flow for a provider like a browser would: start
// it through the API, follow the authorization URL to the provider, and
// follow the provider's redirect back to the callback. It returns the
// connection.
func (s *stack) connect(key, provider string, cfg any) *models.Connection {
	s.t.Helper()
	res, err := s.client.Connect.StartConnect(connect.NewStartConnectParams().WithProvider(provider).
		WithBody(&models.ConnectRequest{Config: cfg}), httptransport.BearerToken(key))
	require.NoError(s.t, err)
	require.NoError(s.t, res.Payload.Validate(strfmt.Default))
	cb := s.authorize(res.Payload.AuthorizationURL.String())
	resp, err := s.http.Get(cb)
	require.NoError(s.t, err)
	body := readAll(resp)
	resp.Body.Close()
	require.Equal(s.t, http.StatusOK, resp.StatusCode, "callback: %s", body)
	var out models.ConnectCallbackResponse
	require.NoError(s.t, json.Unmarshal([]byte(body), &out))
	require.NoError(s.t, out.Validate(strfmt.Default))
	return out.Connection
}

// authorize follows an authorization URL and returns the callback URL the
// provider redirects the browser to.
func (s *stack) authorize(authURL string) string {
	s.t.Helper()
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(authURL)
	require.NoError(s.t, err)
	resp.Body.Close()
	require.Equal(s.t, http.StatusFound, resp.StatusCode, "the provider's authorize endpoint must redirect")
	loc := resp.Header.Get("Location")
	require.True(s.t, strings.HasPrefix(loc, s.base+"/api/v1/connect/"), "redirect goes back to the callback: %s", loc)
	return loc
}
