package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds poblysh (with the engine's test provider) once per test run.
func binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "poblysh-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "poblysh")
		out, err := exec.Command("go", "build", "-tags", "fakeprovider", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// process runs a poblysh subcommand as a real OS process with the stack's
// environment; kill() sends SIGKILL (no graceful shutdown).
type process struct {
	cmd  *exec.Cmd
	logs *syncBuffer
}

func (s *stack) spawn(subcommand string) *process {
	s.t.Helper()
	return s.spawnWith(subcommand, nil)
}

// spawnWith is spawn with extra environment (another API address, a
// shutdown timeout).
func (s *stack) spawnWith(subcommand string, extra map[string]string) *process {
	s.t.Helper()
	p := &process{logs: &syncBuffer{}}
	p.cmd = exec.Command(binary(s.t), subcommand)
	for k, v := range s.env {
		if _, ok := extra[k]; !ok {
			p.cmd.Env = append(p.cmd.Env, k+"="+v)
		}
	}
	for k, v := range extra {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	// Each process needs its own metrics address; any free port will do.
	p.cmd.Env = append(p.cmd.Env, "POBLYSH_METRICS_ADDR=127.0.0.1:0", "PATH="+os.Getenv("PATH"), "HOME="+os.Getenv("HOME"))
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			_ = p.cmd.Wait()
		}
		if s.t.Failed() {
			s.t.Logf("%s process logs:\n%s", subcommand, tail(p.logs.String(), 30))
		}
	})
	return p
}

// terminate sends SIGTERM (a graceful stop) and returns how the process
// exited.
func (p *process) terminate() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	return p.cmd.Wait()
}

func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}
