package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// spawn starts a long-running process detached from this tool (own session,
// output to its log file) and records its pid in .stack/run/<name>.pid.
func (s *stack) spawn(name string, env []string, argv ...string) error {
	logf, err := os.OpenFile(s.logFile(name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n==== %s starting: %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = nil
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return os.WriteFile(s.pidFile(name), []byte(strconv.Itoa(pid)+"\n"), 0o644)
}

func (s *stack) pidFile(name string) string { return s.path("run", name+".pid") }

// ownPid returns the pid recorded for name if that process is still alive and
// is ours: its command line mentions marker (a path inside .stack), so a pid
// reused by an unrelated process is never signalled.
func (s *stack) ownPid(name, marker string) (int, bool) {
	b, err := os.ReadFile(s.pidFile(name))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, false
	}
	return pid, pidMatches(pid, marker)
}

func pidMatches(pid int, marker string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// A zombie (state Z) is dead for our purposes.
		if i := bytes.LastIndexByte(st, ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
			return false
		}
	}
	return bytes.Contains(cmdline, []byte(marker))
}

// terminate stops the process recorded for name: SIGTERM, then SIGKILL after
// grace. It never touches a process whose pid file is missing or stale.
func (s *stack) terminate(ctx context.Context, name, marker string, grace time.Duration) error {
	pid, ok := s.ownPid(name, marker)
	if !ok {
		_ = os.Remove(s.pidFile(name))
		s.logf("%s was not running (no live pid in %s)", name, s.pidFile(name))
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for pidMatches(pid, marker) {
		if time.Now().After(deadline) {
			s.logf("%s (pid %d) ignored SIGTERM for %s; killing it", name, pid, grace)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			for i := 0; i < 100 && pidMatches(pid, marker); i++ {
				time.Sleep(50 * time.Millisecond)
			}
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return os.Remove(s.pidFile(name))
}

// run runs a short command to completion, appending its output to the log of
// name, and returns an error that quotes the output's tail.
func (s *stack) run(ctx context.Context, name string, env []string, argv ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.Stdin = nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err := cmd.Run()
	if logf, lerr := os.OpenFile(s.logFile(name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); lerr == nil {
		fmt.Fprintf(logf, "\n==== %s ran: %s\n%s", time.Now().UTC().Format(time.RFC3339), strings.Join(argv, " "), out.Bytes())
		logf.Close()
	}
	if err != nil {
		tail := out.String()
		if len(tail) > 2000 {
			tail = "…" + tail[len(tail)-2000:]
		}
		return fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, strings.TrimSpace(tail))
	}
	return nil
}

// asUser prefixes argv so that it runs as the system user (PostgreSQL refuses
// to run as root; ClickHouse's package expects its own user).
func asUser(name string, argv ...string) []string {
	if os.Geteuid() != 0 {
		return argv // already unprivileged: run as ourselves
	}
	return append([]string{"setpriv", "--reuid=" + name, "--regid=" + name, "--init-groups"}, argv...)
}

// ownDir creates dir (and parents) and gives it to the system user.
func ownDir(dir, userName string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return chownTo(dir, userName)
}

// chownTo gives path (recursively) to the system user, when we are root.
func chownTo(path, userName string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(userName)
	if err != nil {
		return fmt.Errorf("system user %q: %w", userName, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// The tree may belong to a running server (ClickHouse's data directory, whose merges create and remove
	// tmp_merge_* directories as we walk): what vanished meanwhile needs no owner.
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Lchown(p, uid, gid)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	})
}

// serviceDir returns the state directory of a service run as userName:
// .stack/<name>, unless userName cannot reach it (a checkout under a private
// home directory such as /root), in which case the state lives in
// /var/lib/pangate-stack/<checkout hash>/<name> and .stack/<name> links to it.
func (s *stack) serviceDir(ctx context.Context, name, userName string) (string, error) {
	dir := s.path(name)
	if fi, err := os.Lstat(dir); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return filepath.EvalSymlinks(dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if os.Geteuid() != 0 {
		return dir, nil
	}
	if s.run(ctx, name, nil, asUser(userName, "test", "-x", dir)...) == nil {
		return dir, nil
	}
	h := fnv32(s.dir)
	alt := filepath.Join("/var/lib/pangate-stack", fmt.Sprintf("%08x", h), name)
	s.logf("%s cannot reach %s (a parent directory is private); keeping %s state in %s", userName, dir, name, alt)
	if err := os.MkdirAll(alt, 0o755); err != nil {
		return "", err
	}
	if err := os.Remove(dir); err != nil {
		return "", fmt.Errorf("%s exists and is not empty; remove it: %w", dir, err)
	}
	if err := os.Symlink(alt, dir); err != nil {
		return "", err
	}
	return alt, nil
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
