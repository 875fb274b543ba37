package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pangate/pangate/internal/launch"
)

// proc is a service the demo started (internal/launch, the integration tests' launcher underneath); its
// output goes to dir/logs/<name>.log. stop ends it with SIGTERM, then SIGKILL.
type proc struct {
	*launch.Proc
	name string
	log  string
}

func logPath(dir, name string) string { return filepath.Join(dir, "logs", name+".log") }

// start runs bin with args in a process group of its own, its output in dir/logs/name.log.
func start(dir, name, bin string, env []string, args ...string) (*proc, error) {
	p, err := launch.Start(launch.Spec{Name: name, Bin: bin, Args: args, Env: childEnv(env), LogFile: logPath(dir, name), Setpgid: true})
	if err != nil {
		return nil, err
	}
	return &proc{Proc: p, name: name, log: logPath(dir, name)}, nil
}

// started wraps a process a launch.Start* function started.
func started(dir, name string, p *launch.Proc) *proc {
	return &proc{Proc: p, name: name, log: logPath(dir, name)}
}

func (p *proc) stop() {
	if p == nil || p.Proc == nil {
		return
	}
	p.Stop(10 * time.Second)
}

// execOut runs a short command and returns its combined output.
func execOut(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv(nil)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// commandEnv is exec.CommandContext with extra environment variables.
func commandEnv(ctx context.Context, bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv(env)
	return cmd
}

// childEnv is the environment of a service the demo starts: the demo's own environment without any
// PANGATE_ variable, plus env. Each service's whole configuration is what the demo passes (its file and
// env); an operator who exported the local stack's .stack/env (for its clickhouse-client passwords) once
// had the demo's approver join the stack's Kafka instead of the demo's (issue 15).
func childEnv(env []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PANGATE_") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}
