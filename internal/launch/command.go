package launch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	reporterconfig "github.com/pangate/pangate/reporter/config"
)

// Result is what a command (not a daemon: it runs and exits) left behind.
type Result struct {
	Code   int    // exit status; -1 when the process was killed by a signal or the context
	Stdout string // its standard output
	Stderr string // its standard error
}

// Output is stdout and stderr together, for messages.
func (r Result) Output() string { return strings.TrimSpace(r.Stdout + "\n" + r.Stderr) }

// Run runs bin with args until it exits (or ctx ends) in the environment Environ([]string{"PANGATE_"},
// env...): only what args and env say configures it. A non-zero exit status is a Result, not an error;
// the error is for a command that could not be started.
func Run(ctx context.Context, bin string, env []string, args ...string) (Result, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = Environ([]string{"PANGATE_"}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return r, nil
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
		return r, nil
	}
	return r, fmt.Errorf("launch: run %s %s: %w", filepath.Base(bin), strings.Join(args, " "), err)
}

// RunReporter writes cfg (the reporter's own config type; start from reporterconfig.Defaults()) to
// c.Dir/reporter.yaml and runs `reporter <sub> -config <file> args… c.Args…` (sub: generate, verify,
// transcript, review …) until it exits. The reporter is a command, not a daemon: it has no readiness to
// wait for, so c.ReadyTimeout, NoWait, OnLine, LogFile and Setpgid do not apply.
func RunReporter(ctx context.Context, c Common, cfg reporterconfig.Config, sub string, args ...string) (Result, error) {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return Result{}, err
	}
	path := filepath.Join(c.Dir, "reporter.yaml")
	if err := WriteConfig(path, cfg); err != nil {
		return Result{}, err
	}
	argv := append(append([]string{sub, "-config", path}, args...), c.Args...)
	return Run(ctx, c.Bin, c.Env, argv...)
}
