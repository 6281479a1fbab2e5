package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
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
	"github.com/sirupsen/logrus"
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

func TestMain(m *testing.M) {
	if arg := os.Getenv(loadEnv); arg != "" { // a benchmark's load process (bench_load_test.go)
		os.Exit(loadMain(arg))
	}
	os.Exit(testenv.Main(m))
}

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
	t    testing.TB
	base string
	// metrics is the base URL of the metrics address (not the API's).
	metrics   string
	adminKey  string
	cryptoKey string
	schema    *dbtest.Schema
	temporal  *testsuite.DevServer
	taskQueue string
	env       map[string]string
	logs      *syncBuffer
	client    *client.Poblysh
	http      *http.Client
	// browser is the user's browser: it keeps cookies (the start page binds
	// each authorization to it) and follows no redirect, so each leg of an
	// OAuth flow can be checked.
	browser *http.Client
	stop    func()
	// command is the subcommand run in-process ("serve" or "api").
	command string
	// fixedPort: the HTTP port was chosen by the test (withPort) and must
	// not change.
	fixedPort bool

	ownerOnce sync.Once
	ownerPool *pgxpool.Pool
}

// withCommand runs another subcommand in-process (e.g. "api", with workers
// as separate processes).
func withCommand(cmd string) stackOption { return func(s *stack) { s.command = cmd } }

type stackOption func(*stack)

// withPort serves the stack on a port chosen beforehand: a fake built
// before the stack needs the service's URL to deliver to.
func withPort(port int) stackOption {
	return func(s *stack) {
		s.fixedPort = true
		s.base = fmt.Sprintf("http://127.0.0.1:%d", port)
		s.env["POBLYSH_HTTP_ADDR"] = fmt.Sprintf("127.0.0.1:%d", port)
		s.env["POBLYSH_PUBLIC_URL"] = s.base
	}
}

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
	port, metricsPort := testenv.FreePort(), testenv.FreePort()
	s := &stack{
		t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), metrics: fmt.Sprintf("http://127.0.0.1:%d", metricsPort),
		adminKey: "admin-" + strings.Repeat("k", 30), cryptoKey: vault.GenerateKey(),
		schema: dbtest.NewSchema(t), temporal: testenv.Temporal(t),
		taskQueue: "test-" + rand.Text()[:10], // unique: never another stack's queue
		logs:      &syncBuffer{},
		command:   "serve",
		http:      &http.Client{Timeout: 30 * time.Second},
	}
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	s.browser = &http.Client{Timeout: 30 * time.Second, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	s.env = map[string]string{
		"DATABASE_URL":                    s.schema.OwnerURL,
		"TEMPORAL_ADDRESS":                s.temporal.FrontendHostPort(),
		"TEMPORAL_NAMESPACE":              "default",
		"POBLYSH_TASK_QUEUE":              s.taskQueue,
		"POBLYSH_HTTP_ADDR":               fmt.Sprintf("127.0.0.1:%d", port),
		"POBLYSH_METRICS_ADDR":            fmt.Sprintf("127.0.0.1:%d", metricsPort),
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

// start runs the service and waits until it is ready. A port that another
// process took between testenv.FreePort and the service's listen (other
// test binaries and dev servers bind ephemeral ports too) is picked again,
// on the first start only and unless the test fixed it (withPort): a
// restart keeps its ports on purpose.
func (s *stack) start() {
	t := s.t
	first := s.client == nil
	for attempt := 1; ; attempt++ {
		err := s.launch()
		if err == nil {
			break
		}
		if first && attempt < 4 && s.repickPort(err) {
			t.Logf("start attempt %d: %v; trying another port", attempt, err)
			continue
		}
		t.Fatal(err)
	}
	u, _ := url.Parse(s.base)
	noRedirect := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	s.client = client.New(httptransport.NewWithClient(u.Host, client.DefaultBasePath, []string{"http"}, noRedirect), strfmt.Default)
}

// repickPort gives the service a new port for the address err says was
// taken, and reports whether it did.
func (s *stack) repickPort(err error) bool {
	msg := err.Error()
	if !strings.Contains(msg, "address already in use") {
		return false
	}
	switch {
	case strings.Contains(msg, "POBLYSH_METRICS_ADDR:"):
		port := testenv.FreePort()
		s.metrics = fmt.Sprintf("http://127.0.0.1:%d", port)
		s.env["POBLYSH_METRICS_ADDR"] = fmt.Sprintf("127.0.0.1:%d", port)
		return true
	case strings.Contains(msg, "listen on "+s.env["POBLYSH_HTTP_ADDR"]+":") && !s.fixedPort:
		port := testenv.FreePort()
		s.base = fmt.Sprintf("http://127.0.0.1:%d", port)
		s.env["POBLYSH_HTTP_ADDR"] = fmt.Sprintf("127.0.0.1:%d", port)
		s.env["POBLYSH_PUBLIC_URL"] = s.base
		return true
	}
	return false
}

// launch runs the service once and waits until it is ready; an error if
// it exits first or is not ready within a minute (it is then stopped).
func (s *stack) launch() error {
	t := s.t
	logStart := len(s.logs.String())
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	var exitErr error
	go func() {
		exitErr = run(ctx, []string{s.command}, envOf(s.env), s.logs, s.logs)
		close(exited)
	}()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-exited:
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
		// Only this launch's own listener may answer: between a stop and a
		// start on the same port, another test binary (go test runs
		// packages in parallel) can take the port and answer /readyz.
		if s.listening(logStart) {
			resp, err := s.http.Get(s.base + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("service exited before becoming ready: %w\nlogs:\n%s", exitErr, tail(s.logs.String(), 40))
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("service not ready after 60s\nlogs:\n%s", tail(s.logs.String(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// listening reports whether the service logged, after offset from of its
// logs, that its API listens on the stack's address. A stack that logs
// less than info (the benchmarks, which run alone) cannot tell, and says
// yes.
func (s *stack) listening(from int) bool {
	if lvl, err := logrus.ParseLevel(s.env["POBLYSH_LOG_LEVEL"]); err == nil && lvl < logrus.InfoLevel {
		return true
	}
	addr := `"addr":"` + s.env["POBLYSH_HTTP_ADDR"] + `"`
	for _, line := range strings.Split(s.logs.String()[from:], "\n") {
		if strings.Contains(line, `"msg":"API listening"`) && strings.Contains(line, addr) {
			return true
		}
	}
	return false
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
// it through the API, open the start page and click on it, follow the
// provider's redirect back to the callback. It returns the connection.
func (s *stack) connect(key, provider string, cfg any) *models.Connection {
	s.t.Helper()
	res, err := s.client.Connect.StartConnect(connect.NewStartConnectParams().WithProvider(provider).
		WithBody(&models.ConnectRequest{Config: cfg}), httptransport.BearerToken(key))
	require.NoError(s.t, err)
	require.NoError(s.t, res.Payload.Validate(strfmt.Default))
	return s.complete(s.authorize(res.Payload.AuthorizationURL.String()))
}

// complete opens a callback URL in the user's browser and returns the
// connection it answers.
func (s *stack) complete(callback string) *models.Connection {
	s.t.Helper()
	code, body := s.callback(callback)
	require.Equal(s.t, http.StatusOK, code, "callback: %s", body)
	var out models.ConnectCallbackResponse
	require.NoError(s.t, json.Unmarshal([]byte(body), &out))
	require.NoError(s.t, out.Validate(strfmt.Default))
	return out.Connection
}

// authorize plays the user's browser from the start page (the
// authorization URL) to the provider and back: it opens the page (which
// sets the binding cookie), clicks on it (a form POST to the page's URL),
// follows the redirect to the provider's authorize endpoint and returns the
// callback URL the provider redirects the browser to. edit, when given,
// changes the provider's authorization URL the way a user could (a sandbox
// `login` to sign in as another user).
func (s *stack) authorize(startURL string, edit ...func(url.Values)) string {
	s.t.Helper()
	get := func(method, u string) *http.Response {
		req, err := http.NewRequest(method, u, nil)
		require.NoError(s.t, err)
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := s.browser.Do(req)
		require.NoError(s.t, err)
		_ = readAll(resp)
		resp.Body.Close()
		return resp
	}
	require.True(s.t, strings.HasPrefix(startURL, s.base+"/api/v1/connect/"), "the start page is the service's: %s", startURL)
	resp := get(http.MethodGet, startURL)
	require.Equal(s.t, http.StatusOK, resp.StatusCode, "the start page opens")
	resp = get(http.MethodPost, startURL)
	require.Equal(s.t, http.StatusSeeOther, resp.StatusCode, "the click continues to the provider")
	provider, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(s.t, err)
	q := provider.Query()
	for _, e := range edit {
		e(q)
	}
	provider.RawQuery = q.Encode()
	resp = get(http.MethodGet, provider.String())
	require.Equal(s.t, http.StatusFound, resp.StatusCode, "the provider's authorize endpoint must redirect")
	loc := resp.Header.Get("Location")
	require.True(s.t, strings.HasPrefix(loc, s.base+"/api/v1/connect/"), "redirect goes back to the callback: %s", loc)
	return loc
}

// The harness survives a port that another process takes between
// testenv.FreePort and the service's listen: the service refuses to start
// (it names the address) before its worker takes a task, and the stack
// starts again on another port. The metrics address is bound before the
// API answers: a ready service serves /metrics at once.
func TestStackRetriesATakenPort(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = taken.Close() })
	s := newStack(t, withEnv(map[string]string{"POBLYSH_METRICS_ADDR": taken.Addr().String()}))
	require.NotEqual(t, "http://"+taken.Addr().String(), s.metrics)
	resp, err := s.http.Get(s.metrics + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	logs := s.logs.String()
	require.Equal(t, 1, strings.Count(logs, `"msg":"worker started"`), "the refused start stopped before its worker took a task")
	require.Equal(t, 1, strings.Count(logs, `"msg":"metrics and profiles listening"`), "then one start on another port")
}

// A server of another process on the stack's port between a stop and a
// start (a parallel test binary's, which answers /readyz too) is not taken
// for the restarted service: launch waits for its own listener and reports
// the service's failure to bind. (CI once ran a test against such a server.)
func TestStackWaitsForItsOwnListener(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.stop()
	foreign := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })}
	ln, err := net.Listen("tcp", s.env["POBLYSH_HTTP_ADDR"])
	require.NoError(t, err)
	go func() { _ = foreign.Serve(ln) }()
	t.Cleanup(func() { _ = foreign.Close() })
	err = s.launch()
	require.Error(t, err, "a foreign server's /readyz is not this service's")
	require.Contains(t, err.Error(), "address already in use")
}
