package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
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

// devTerminal is scripts/dev.sh (or a script like it) run in a terminal
// as `make dev` typed in a shell runs it: a shell leads the terminal's
// session and runs it as its child. The shell stays after the script
// exits, as the user's does (when a session's leader exits, the kernel
// hangs up the terminal's foreground group, which would stop, or hide,
// what the script left running), and prints the script's exit status.
type devTerminal struct {
	out    *syncBuf
	tty    *os.File // the terminal's controlling side: what is typed
	dir    string
	shell  int           // the session's leader
	pid    int           // the script's process (make's child in make dev)
	exited chan struct{} // closed when it exited, with status set
	status int
}

// startDevInTerminal runs `bash script args...` in dir, in a terminal (a
// pty) of its own, with env. On cleanup it ends what is still running in
// dir (a script's leftovers, so that a failing test leaks nothing).
func startDevInTerminal(t *testing.T, dir string, env []string, script string, args ...string) *devTerminal {
	t.Helper()
	leader := exec.Command("bash", append([]string{"-c", `bash "$@"; echo "dev.sh exited with status $?"; exec sleep 3600`, "bash", script}, args...)...)
	leader.Dir, leader.Env = dir, env
	d := &devTerminal{out: &syncBuf{}, dir: dir, exited: make(chan struct{})}
	tty, err := pty.Start(leader)
	require.NoError(t, err, "open a pty (make dev is run from a terminal)")
	d.tty, d.shell = tty, leader.Process.Pid
	copied := make(chan struct{})
	go func() { // ends when every process has let go of the terminal
		defer close(copied)
		_, _ = io.Copy(noCR{d.out}, tty)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default: // a test that failed first: stop the script as make dev is stopped
			if d.pid > 0 {
				_ = syscall.Kill(d.pid, syscall.SIGTERM)
				select {
				case <-d.exited:
				case <-time.After(60 * time.Second):
				}
			}
		}
		for _, p := range d.left(t) {
			pid, _ := strconv.Atoi(strings.Fields(p)[0])
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = leader.Process.Kill()
		_ = leader.Wait()
		_ = tty.Close()
		select {
		case <-copied:
		case <-time.After(10 * time.Second):
		}
	})
	for deadline := time.Now().Add(10 * time.Second); d.pid == 0; d.pid = childOf(leader.Process.Pid) {
		require.True(t, time.Now().Before(deadline), "the shell did not start %s", script)
		time.Sleep(10 * time.Millisecond)
	}
	status := regexp.MustCompile(`dev.sh exited with status (\d+)\n`)
	go func() {
		for ended := false; ; {
			if m := status.FindStringSubmatch(d.out.String()); m != nil {
				d.status, _ = strconv.Atoi(m[1])
				close(d.exited)
				return
			}
			if ended {
				return
			}
			select {
			case <-copied:
				ended = true // one more look at what was copied
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return d
}

// childOf returns a child process of pid, 0 when it has none.
func childOf(pid int) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, not ")".
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			n, _ := strconv.Atoi(e.Name())
			return n
		}
	}
	return 0
}

// stop sends sig to the script's process and returns its exit status.
func (d *devTerminal) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	require.NoError(t, syscall.Kill(d.pid, sig))
	return d.wait(t)
}

// wait returns the script's exit status.
func (d *devTerminal) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-d.exited:
		return d.status
	case <-time.After(60 * time.Second):
		t.Fatalf("%d did not exit within 60s:\n%s", d.pid, d.out.String())
		return -1
	}
}

// left lists the processes (pid and command line) running in the
// script's directory, but for the shell that ran it.
func (d *devTerminal) left(t *testing.T) []string {
	t.Helper()
	dir := d.dir
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err, "/proc lists the processes")
	var found []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil && cwd == dir && e.Name() != strconv.Itoa(d.shell) {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			found = append(found, e.Name()+" "+strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
		}
	}
	return found
}

// noCR drops the carriage returns a terminal writes before each newline.
type noCR struct{ w io.Writer }

func (c noCR) Write(p []byte) (int, error) {
	if _, err := c.w.Write(bytes.ReplaceAll(p, []byte("\r"), nil)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// gone reports whether no process has pid (an exited child reaped).
func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

// The terminal wrapper of make dev (scripts/lib.sh's own_terminal): in a
// terminal, dev.sh runs its work in a shell that is the terminal's
// foreground process group, so that Ctrl-C reaches only that shell (make,
// around it, would die of it). A SIGTERM (or SIGINT) to the dev.sh that
// make started, the wrapper, used to kill the wrapper alone (status 143)
// and leave the stack running; the wrapper now passes it on to the group
// and exits with its status, 0 after a clean stop. TestReadmeWalkthrough
// stops the real stack this way.
func TestDevWrapperInATerminal(t *testing.T) {
	t.Parallel()
	lib, err := filepath.Abs("../../scripts/lib.sh")
	require.NoError(t, err)
	// The work of make dev, in little: a long-running child in a session of
	// its own (as dev.sh starts Temporal, the sandbox and serve), stopped by
	// the shell's trap, which then exits 0.
	const script = `set -euo pipefail
source "$1"
if [[ -z ${INNER:-} ]]; then
	INNER=1 own_terminal "$0" "$@"
	exit 0
fi
set +m
stop() { echo "inner got $1"; kill -TERM "$child"; wait "$child" || true; exit 0; }
trap 'stop TERM' TERM
trap 'stop INT' INT
setsid sleep 300 &
child=$!
read -r _ _ _ _ pgrp _ _ tpgid _ </proc/$$/stat
echo "inner=$$ pgrp=$pgrp tpgid=$tpgid child=$child ready"
wait "$child"
`
	for _, c := range []struct {
		name string
		stop func(t *testing.T, d *devTerminal) int
		want string // what the inner shell was sent
	}{
		{"SIGTERM to the wrapper", func(t *testing.T, d *devTerminal) int { return d.stop(t, syscall.SIGTERM) }, "TERM"},
		{"SIGINT to the wrapper", func(t *testing.T, d *devTerminal) int { return d.stop(t, syscall.SIGINT) }, "INT"},
		{"Ctrl-C", func(t *testing.T, d *devTerminal) int {
			_, err := d.tty.Write([]byte{3})
			require.NoError(t, err)
			return d.wait(t)
		}, "INT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "dev.sh"), []byte(script), 0o644))
			d := startDevInTerminal(t, dir, os.Environ(), "dev.sh", lib)
			ready := regexp.MustCompile(`inner=(\d+) pgrp=(\d+) tpgid=(\d+) child=(\d+) ready`)
			var m []string
			for deadline := time.Now().Add(30 * time.Second); m == nil; m = ready.FindStringSubmatch(d.out.String()) {
				require.True(t, time.Now().Before(deadline), "the inner shell did not start:\n%s", d.out.String())
				time.Sleep(20 * time.Millisecond)
			}
			inner, _ := strconv.Atoi(m[1])
			child, _ := strconv.Atoi(m[4])
			require.NotEqual(t, d.pid, inner, "the work runs in a shell of its own")
			require.Equal(t, m[1], m[2], "in a process group of its own")
			require.Equal(t, m[1], m[3], "which is the terminal's foreground group: Ctrl-C reaches it, not make")

			require.Equal(t, 0, c.stop(t, d), "the wrapper exits 0 when its work stopped cleanly:\n%s", d.out.String())
			require.Contains(t, d.out.String(), fmt.Sprintf("inner got %s\n", c.want))
			require.True(t, gone(inner), "the inner shell is gone")
			require.True(t, gone(child), "and what it started")
			require.Empty(t, d.left(t))
		})
	}
}
