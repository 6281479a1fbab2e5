package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/testenv"
)

// readmeShellBlocks returns the ```sh blocks of the README section titled
// heading, in order; a block indented under a list item loses its indent.
func readmeShellBlocks(t *testing.T, readme, heading string) []string {
	t.Helper()
	_, sec, ok := strings.Cut(readme, "\n## "+heading+"\n")
	require.True(t, ok, "README.md has a %q section", heading)
	sec, _, _ = strings.Cut(sec, "\n## ")
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)\n( *)```sh\n(.*?)\n *```").FindAllStringSubmatch("\n"+sec, -1) {
		lines := strings.Split(m[2], "\n")
		for i, l := range lines {
			lines[i] = strings.TrimPrefix(l, m[1])
		}
		blocks = append(blocks, strings.Join(lines, "\n"))
	}
	return blocks
}

// syncBuf collects a child process's output while the test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// checkout links the working tree's files (tracked and untracked, not
// ignored: no .env, .dev or bin) into a directory of its own, so that
// scripts/dev.sh can write its .env and .dev there. The directory's path is
// stable per working tree so the Go build cache serves the next run.
func checkout(t *testing.T, root string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "poblysh-readme-"+hex.EncodeToString(sum[:6]))
	require.NoError(t, os.RemoveAll(dir))
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	require.NoError(t, err, "git ls-files")
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, f)
		if fi, err := os.Lstat(src); err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the working tree, or not a file
		}
		dst := filepath.Join(dir, f)
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		if os.Link(src, dst) != nil {
			b, err := os.ReadFile(src)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(dst, b, 0o644))
		}
		if fi, _ := os.Stat(src); fi.Mode()&0o111 != 0 {
			require.NoError(t, os.Chmod(dst, fi.Mode().Perm()))
		}
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// ensureJQ installs jq with apt-get when it is missing (the README's
// commands use it).
func ensureJQ(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("jq"); err == nil {
		return
	}
	_, err := exec.LookPath("apt-get")
	require.NoError(t, err, "jq is missing and there is no apt-get to install it: install jq")
	out, err := exec.Command("bash", "-c", "apt-get install -y jq || (apt-get update && apt-get install -y jq)").CombinedOutput()
	require.NoError(t, err, "apt-get install jq: %s", out)
}

// TestReadmeWalkthrough runs the README's "Using the API" commands as
// written, with bash, against a stack started by scripts/dev.sh (what
// `make dev` runs) in a copy of this working tree, then the tenant
// commands of "Operations" on the tenant made there (they delete it, so
// they come last): so the README cannot drift from the service. Only the
// addresses change: the test's stack listens on free ports instead of 8080
// and 9101 (dev.sh reads them from the environment), and reuses a Temporal
// dev server as dev.sh does when one answers: the jobs' Web UI links name
// its port + 1000, as dev.sh exports them. Stopping dev.sh with SIGTERM exits 0 (what `make dev` does
// on Ctrl-C).
func TestReadmeWalkthrough(t *testing.T) {
	t.Parallel()
	ensureJQ(t)
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	blocks := readmeShellBlocks(t, string(readme), "Using the API")
	require.GreaterOrEqual(t, len(blocks), 5, "the walk-through's shell blocks")
	ops := readmeShellBlocks(t, string(readme), "Operations")
	require.Len(t, ops, 1, "the Operations section's shell block (Tenants)")
	tenants := len(blocks)

	began := time.Now()
	dir := checkout(t, root)
	dbURL := readmeDatabase(t)
	t.Logf("checkout and database ready after %s", time.Since(began))
	temporal := testenv.Temporal(t)
	port, metricsPort := testenv.FreePort(), testenv.FreePort()
	sandboxBase := freePortRun(t, 16) // the fakes take consecutive ports
	api := fmt.Sprintf("http://127.0.0.1:%d", port)
	env := append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"TEMPORAL_ADDRESS="+temporal.FrontendHostPort(),
		fmt.Sprintf("POBLYSH_TASK_QUEUE=readme-%d", port),
		fmt.Sprintf("POBLYSH_HTTP_ADDR=127.0.0.1:%d", port),
		"POBLYSH_PUBLIC_URL="+api,
		fmt.Sprintf("POBLYSH_METRICS_ADDR=127.0.0.1:%d", metricsPort),
		fmt.Sprintf("POBLYSH_SANDBOX_BASE_PORT=%d", sandboxBase),
		"POBLYSH_ENV_FILE=", "POBLYSH_SANDBOX=",
	)

	// In a terminal, as make dev is run: dev.sh then runs its work in a
	// shell of its own (the terminal's foreground group), and the SIGTERM
	// below goes to the wrapper, make's child.
	dev := startDevInTerminal(t, dir, env, "scripts/dev.sh")
	out := dev.out
	status := -1
	stop := func() int {
		if status < 0 {
			status = dev.stop(t, syscall.SIGTERM)
		}
		return status
	}

	deadline := time.Now().Add(8 * time.Minute) // a cold Go build cache compiles bin/poblysh first
	for !strings.Contains(out.String(), "Poblysh is running") {
		select {
		case <-dev.exited:
			t.Fatalf("dev.sh exited (status %d) before the stack was up:\n%s", dev.status, out.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "dev.sh did not start the stack:\n%s", out.String())
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("dev.sh had the stack up after %s", time.Since(began))
	githubFake := fmt.Sprintf("http://127.0.0.1:%d", sandboxBase) // first in name order
	require.Regexp(t, `github\s+`+regexp.QuoteMeta(githubFake)+`\n`, out.String(), "dev.sh prints the fakes")

	// The README's commands, as written, in one bash: later blocks use the
	// variables of earlier ones. Each block's output is marked.
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for i, b := range append(blocks, ops...) {
		b = strings.ReplaceAll(b, "http://127.0.0.1:8080", api)
		b = strings.ReplaceAll(b, "http://127.0.0.1:9101", githubFake)
		fmt.Fprintf(&script, "echo '--- block %d'\n%s\n", i, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	walk := exec.CommandContext(ctx, "bash", "-c", script.String())
	walk.Dir, walk.Env = dir, env
	got, err := walk.CombinedOutput()
	require.NoError(t, err, "the README's commands failed:\n%s\n--- the stack:\n%s", got, out.String())

	outputs := map[int]string{}
	sc := bufio.NewScanner(bytes.NewReader(got))
	cur := -1
	for sc.Scan() {
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "--- block %d", &n); err == nil {
			cur = n
			continue
		}
		outputs[cur] += sc.Text() + "\n"
	}
	for i := range tenants + 1 {
		require.NotEmpty(t, strings.TrimSpace(outputs[i]), "block %d printed nothing:\n%s", i, got)
	}
	all := string(got)
	require.Contains(t, outputs[0], `"api_key": "pbk_`, "the tenant is created")
	require.Contains(t, outputs[1], "Acme wants to connect your GitHub account to Poblysh", "the start page")
	require.Contains(t, outputs[1], `"provider": "github"`, "the connection")
	require.Contains(t, all, `"push_enabled": `)
	require.Contains(t, all, `"status": "`, "jobs are listed")
	require.Contains(t, lastLine(outputs[len(blocks)-1]), `Press kit"`, "the pull request opened in the sandbox is in the feed:\n%s", all)
	// Job links name the Web UI of the Temporal server dev.sh uses (its
	// dev server's: the frontend's port + 1000), not the default 8233.
	_, frontendPort, err := net.SplitHostPort(temporal.FrontendHostPort())
	require.NoError(t, err)
	p, err := strconv.Atoi(frontendPort)
	require.NoError(t, err)
	require.Contains(t, all, fmt.Sprintf(`"temporal_ui_url": "http://127.0.0.1:%d/namespaces/`, p+1000), "the jobs' Web UI links")
	// Operations → Tenants: one tenant, its update, its deletion's job.
	require.NotContains(t, outputs[tenants], `"not_found"`, "each command names the tenant by its id")
	require.Regexp(t, `"id": ?"[0-9a-f-]{36}", ?"name": ?"Acme"`, outputs[tenants], "the tenant is read")
	require.Regexp(t, `"sync_concurrency": ?2`, outputs[tenants], "and updated")
	require.Regexp(t, `"kind": ?"tenant_deletion"`, outputs[tenants], "and deleted")

	// make dev's way out: SIGTERM (or Ctrl-C) stops the stack and exits 0,
	// and leaves nothing of it running: not the API, not the sandbox, no
	// process of this checkout (dev.sh, serve and the sandbox run in it).
	require.Equal(t, 0, stop(), "dev.sh exits 0 when stopped:\n%s", out.String())
	require.Contains(t, out.String(), "stopping what make dev started")
	for _, addr := range []string{fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", sandboxBase)} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after dev.sh stopped", addr)
		}
	}
	require.Empty(t, dev.left(t), "processes of the stack left running:\n%s", out.String())
}

// freePortRun returns the first of n consecutive free loopback ports.
func freePortRun(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 20000 + rand.IntN(20000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// readmeDatabase names a database of its own on the test Postgres, which
// dev.sh creates as it does for make dev; it is dropped at the end.
func readmeDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/poblysh_test?sslmode=disable"
	}
	u, err := url.Parse(base)
	require.NoError(t, err)
	name := fmt.Sprintf("poblysh_readme_%d", testenv.FreePort())
	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	admin := *u
	admin.Path = "/postgres"
	t.Cleanup(func() {
		out, err := exec.Command("psql", admin.String(), "-Xq", "-c", `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`).CombinedOutput()
		if err != nil {
			t.Logf("drop %s: %v: %s", name, err, out)
		}
	})
	return u.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
