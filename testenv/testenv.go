// Package testenv starts what integration tests need: a Temporal dev server
// (the CLI's `temporal server start-dev`, installed by `make test` or
// `make temporal`) on free ports, shared by the tests of one package and
// stopped by Main. Tests never skip because the CLI is missing: they fail
// with the command that installs it.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

var (
	once   sync.Once
	server *testsuite.DevServer
	srvErr error
)

// CLIPath finds the Temporal CLI: $TEMPORAL_CLI, the project cache bin
// (where make installs it), or PATH.
func CLIPath() (string, error) {
	if p := os.Getenv("TEMPORAL_CLI"); p != "" {
		return p, nil
	}
	candidates := []string{}
	if dir, err := os.UserCacheDir(); err == nil {
		candidates = append(candidates, filepath.Join(dir, "poblysh", "bin", "temporal"))
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, nil
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the Temporal CLI is not installed: run `make temporal` (go install github.com/temporalio/cli/cmd/temporal@v1.5.1) or set TEMPORAL_CLI")
}

// FreePort returns a free loopback port.
func FreePort() int {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// The kernel may hand the same free port out again at once: never
		// give one port to two callers of this process.
		handedMu.Lock()
		dup := handed[port]
		handed[port] = true
		handedMu.Unlock()
		if !dup {
			return port
		}
	}
}

var (
	handedMu sync.Mutex
	handed   = map[int]bool{}
)

// SearchAttributes are registered on the dev server, as `make dev` does.
var SearchAttributes = temporal.NewSearchAttributes(
	temporal.NewSearchAttributeKeyKeyword("TenantId").ValueSet(""),
	temporal.NewSearchAttributeKeyKeyword("ConnectionId").ValueSet(""),
	temporal.NewSearchAttributeKeyKeyword("Provider").ValueSet(""),
	temporal.NewSearchAttributeKeyKeyword("SyncKind").ValueSet(""),
)

// Temporal returns the package's dev server, starting it on first use.
// ContinueAsNew is suggested early (every 200 events) so tests exercise it.
func Temporal(tb testing.TB) *testsuite.DevServer {
	tb.Helper()
	once.Do(func() {
		path, err := CLIPath()
		if err != nil {
			srvErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		server, srvErr = testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
			ExistingPath:     path,
			ClientOptions:    &client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", FreePort()), Namespace: "default"},
			LogLevel:         "error",
			SearchAttributes: SearchAttributes,
			ExtraArgs: []string{
				"--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=200",
				"--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=true",
			},
		})
	})
	if srvErr != nil {
		tb.Fatalf("testenv: temporal dev server: %v", srvErr)
	}
	return server
}

// Main runs the tests and stops the dev server afterwards; call it from
// TestMain: func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	if server != nil {
		_ = server.Stop()
	}
	return code
}

// RestartableTemporal is a dev server of one test, persisted to a file,
// that the test stops and starts again on the same port (Temporal down).
type RestartableTemporal struct {
	tb   testing.TB
	opts testsuite.DevServerOptions
	mu   sync.Mutex
	srv  *testsuite.DevServer
}

// OwnTemporal starts a dev server for one test only (the package's shared
// one must stay up for the others, and keep its limits); it is stopped at
// the test's end. dynamicConfig are more KEY=VALUE settings for it (a
// lower limit, say, that a test reaches cheaply).
func OwnTemporal(tb testing.TB, dynamicConfig ...string) *RestartableTemporal {
	tb.Helper()
	path, err := CLIPath()
	if err != nil {
		tb.Fatal(err)
	}
	args := []string{"--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=true"}
	for _, kv := range dynamicConfig {
		args = append(args, "--dynamic-config-value", kv)
	}
	r := &RestartableTemporal{tb: tb, opts: testsuite.DevServerOptions{
		ExistingPath:     path,
		ClientOptions:    &client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", FreePort()), Namespace: "default"},
		LogLevel:         "error",
		DBFilename:       filepath.Join(tb.TempDir(), "temporal.db"),
		SearchAttributes: SearchAttributes,
		ExtraArgs:        args,
	}}
	r.Start()
	tb.Cleanup(r.Stop)
	return r
}

// Address is the frontend's host:port (the same across restarts).
func (r *RestartableTemporal) Address() string { return r.opts.ClientOptions.HostPort }

// Start starts the server on its port and database file.
func (r *RestartableTemporal) Start() {
	r.tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := r.opts
	opts.ClientOptions = &client.Options{HostPort: r.opts.ClientOptions.HostPort, Namespace: "default"}
	srv, err := testsuite.StartDevServer(ctx, opts)
	if err != nil {
		r.tb.Fatalf("testenv: temporal dev server: %v", err)
	}
	r.srv = srv
}

// Stop stops the server process (its state stays in the file).
func (r *RestartableTemporal) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		_ = r.srv.Stop()
		r.srv = nil
	}
}
