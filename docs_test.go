package poblysh_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeCountsTheFuzzTargets: the README's count of fuzz targets is
// the number scripts/fuzz.sh runs (`--list` prints them): it said 32 while
// the module had 34, and a count written by hand drifts with every target.
func TestReadmeCountsTheFuzzTargets(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("bash", "scripts/fuzz.sh", "--list").Output()
	require.NoError(t, err, "scripts/fuzz.sh --list")
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	targets := map[string]bool{}
	for _, l := range lines {
		require.Regexp(t, `^\S+ Fuzz\w+$`, l, "a line is <package> <target>")
		targets[l] = true
	}
	require.Len(t, targets, len(lines), "each target once")
	require.GreaterOrEqual(t, len(targets), 30, "every package's targets are found:\n%s", out)

	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	m := regexp.MustCompile(`\[scripts/fuzz\.sh\]\(scripts/fuzz\.sh\)\s+\((\d+) targets;`).FindSubmatch(readme)
	require.NotNil(t, m, "README.md names the number of fuzz targets make test runs, \"(N targets; …\"")
	n, _ := strconv.Atoi(string(m[1]))
	require.Equal(t, len(targets), n, "README.md's count of fuzz targets, what scripts/fuzz.sh runs:\n%s", out)
}

// TestTemporalDevTaskQueueLine: temporal-dev.md's line that reads this
// checkout's task queue from .env reads the queue the service reads, the
// last POBLYSH_TASK_QUEUE line (an .env of an earlier make dev may hold
// several, README.md "Upgrading past migration 0036"); it read them all,
// and "$Q:sync/…" named no workflow.
func TestTemporalDevTaskQueueLine(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("temporal-dev.md")
	require.NoError(t, err)
	line := regexp.MustCompile(`(?m)^Q=\$\(.*$`).Find(doc)
	require.NotNil(t, line, "temporal-dev.md sets Q from .env")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".env"),
		[]byte("POBLYSH_TASK_QUEUE=connectors-aaaa1111\nDATABASE_URL=postgres://x\nPOBLYSH_TASK_QUEUE=connectors-bbbb2222\n"), 0o600))
	cmd := exec.Command("bash", "-c", string(line)+"\nprintf '%s' \"$Q\"")
	cmd.Dir = dir
	q, err := cmd.Output()
	require.NoError(t, err)
	require.Equal(t, "connectors-bbbb2222", string(q), "the last line's queue, as poblysh reads .env")
}
