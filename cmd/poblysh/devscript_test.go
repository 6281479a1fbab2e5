package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ensureTaskQueue runs scripts/lib.sh's ensure_task_queue (make dev's step
// for an existing .env) on dotenv, with POBLYSH_TASK_QUEUE exported as
// env (nil: not exported), and returns the task queue `poblysh` then
// reads (env_get, which reads as config.Overlay does) and the log.
func ensureTaskQueue(t *testing.T, dotenv string, env *string) (queue, log string) {
	t.Helper()
	cmd := exec.Command("bash", "-c", `set -euo pipefail; source ../../scripts/lib.sh; ensure_task_queue "$1"; env_get POBLYSH_TASK_QUEUE "$1"`, "bash", dotenv)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POBLYSH_TASK_QUEUE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if env != nil {
		cmd.Env = append(cmd.Env, "POBLYSH_TASK_QUEUE="+*env)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	require.NoError(t, cmd.Run(), "stderr: %s", errOut.String())
	return strings.TrimSpace(out.String()), errOut.String()
}

// make dev gives an existing .env without a task queue one of its own,
// once, and leaves one that has a queue alone. POBLYSH_TASK_QUEUE exported
// but empty (or blank) counts as not set: it was taken as set, so every
// run appended another queue to .env, while the service, for which a
// variable set even empty wins over .env, ran on the shared default queue
// "connectors". Now it is unset for the run, with a line saying so.
func TestDevTaskQueue(t *testing.T) {
	t.Parallel()
	const own = "DATABASE_URL=postgres://x\nPOBLYSH_TASK_QUEUE=connectors-aaaa1111\n"
	const none = "DATABASE_URL=postgres://x\n"
	empty, blank, mine := "", "  ", "mine"
	lines := regexp.MustCompile(`(?m)^POBLYSH_TASK_QUEUE=(.*)$`)
	for _, c := range []struct {
		name  string
		file  string
		env   *string
		added bool   // a queue appended to .env
		want  string // the queue poblysh reads; "" with added: the appended one
		note  bool   // the log says the empty variable was unset
	}{
		{"own queue, not exported", own, nil, false, "connectors-aaaa1111", false},
		{"own queue, exported empty", own, &empty, false, "connectors-aaaa1111", true},
		{"own queue, exported blank", own, &blank, false, "connectors-aaaa1111", true},
		{"no queue, not exported", none, nil, true, "", false},
		{"no queue, exported empty", none, &empty, true, "", true},
		{"no queue, exported", none, &mine, false, "mine", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), ".env")
			require.NoError(t, os.WriteFile(path, []byte(c.file), 0o600))
			for run := 1; run <= 2; run++ { // make dev, then make dev again
				queue, log := ensureTaskQueue(t, path, c.env)
				b, err := os.ReadFile(path)
				require.NoError(t, err)
				got := lines.FindAllStringSubmatch(string(b), -1)
				want := c.want
				if c.added {
					require.True(t, strings.HasPrefix(string(b), c.file), "run %d: .env is only appended to", run)
					require.Len(t, got, 1, "run %d: one queue appended, once:\n%s", run, b)
					require.Regexp(t, `^connectors-[0-9a-f]{8}$`, got[0][1])
					want = got[0][1]
				} else {
					require.Equal(t, c.file, string(b), "run %d: .env unchanged", run)
				}
				require.Equal(t, want, queue, "run %d: the queue poblysh reads", run)
				require.Equal(t, c.note, strings.Contains(log, "POBLYSH_TASK_QUEUE is exported but empty"), "run %d: log:\n%s", run, log)
			}
		})
	}
}
